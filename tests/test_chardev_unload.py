"""A character device still open when its driver unloads (issue 13 item 4)."""

from __future__ import annotations

import pytest

from sandbox import Kernel
from sandbox.errors import DeviceError


@pytest.mark.parametrize("fmt", ["obj", "exec"])
def test_open_file_at_unload_is_reported_and_the_handle_goes_stale(driver, fmt: str) -> None:
    k = Kernel(memcheck=True)
    m = k.load(driver("scratch", fmt=fmt))
    handle = k.open("/dev/scratch")
    assert handle.write(b"hello") == 5
    report = k.unload(m)
    assert report.leaks == ["file /dev/scratch still open (Linux would refuse the unload: module in use)"]
    assert [e.fields["what"] for e in k.trace.of_kind("leak")] == report.leaks
    for use in (lambda: handle.read(5), lambda: handle.write(b"x"), lambda: handle.ioctl(0), lambda: handle.position):
        with pytest.raises(DeviceError) as caught:
            use()
        assert caught.value.errno == 19  # ENODEV, not a jump into unmapped memory
        assert "its driver scratch was unloaded while the file was open" in str(caught.value)
    assert handle.close() == 0
    assert not k.trace.of_kind("fault")
    # The module can come back, and its device works again.
    m = k.load(driver("scratch", fmt=fmt))
    with k.open("/dev/scratch") as again:
        again.write(b"hi")
    assert k.unload(m).clean


def test_files_closed_before_unload_leave_nothing(driver) -> None:
    k = Kernel(memcheck=True)
    m = k.load(driver("scratch"))
    k.open("/dev/scratch").close()
    assert k.unload(m).clean
