"""Module parameters of real Linux 6.1 i386 modules (struct kernel_param, param_ops_*, arrays, strings).

Values go through each parameter's ``ops->set`` as Linux's ``parse_args``
does; the tests read them back through the module's own code (its init
message) or its memory, and check Linux's messages and errors.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sandbox import Kernel, LoadError
from tests.linux_corpus import ko, needs_corpus

pytestmark = needs_corpus
ROOT = Path(__file__).resolve().parent.parent
SBC = "drivers/watchdog/sbc60xxwdt.ko"


def linux() -> Kernel:
    return Kernel(profile="linux", unresolved="trap")


def test_insmod_string_reaches_the_module_code() -> None:
    k = linux()
    m = k.load(ko(SBC), params="timeout=60 nowayout")
    assert "initialised. timeout=60 sec (nowayout=1)" in k.console
    assert m.params == {"nowayout": 1, "timeout": 60, "wdt_start": 0x443, "wdt_stop": 0x45}
    k.unload(m)


def test_typed_python_values() -> None:
    k = linux()
    k.load(ko(SBC), params={"timeout": 3600, "nowayout": True, "wdt_start": 0x444})
    assert "timeout=3600 sec (nowayout=1)" in k.console


def test_defaults_without_values() -> None:
    k = linux()
    k.load(ko(SBC))
    assert "timeout=30 sec (nowayout=0)" in k.console


@pytest.mark.parametrize(("args", "shown", "errno"), [
    ("timeout=6x", "6x", "-22 (-EINVAL)"),
    ("timeout=99999999999", "99999999999", "-34 (-ERANGE)"),
    ("timeout", "", "-22 (-EINVAL)"),  # an int needs a value; only bools take none
    ("nowayout=maybe", "maybe", "-22 (-EINVAL)"),
])
def test_linux_errors_name_the_parameter(args: str, shown: str, errno: str) -> None:
    k = linux()
    name = args.partition("=")[0]
    with pytest.raises(LoadError) as error:
        k.load(ko(SBC), params=args)
    assert error.value.check == "bad-parameter"
    assert f"sbc60xxwdt: `{shown}' invalid for parameter `{name}'" in str(error.value)
    assert str(error.value).endswith(errno)
    assert f"sbc60xxwdt: `{shown}' invalid for parameter `{name}'\n" in k.console
    assert k.modules == []  # nothing left behind


def test_unknown_parameter_is_ignored_with_linux_warning() -> None:
    k = linux()
    k.load(ko(SBC), params="bogus=1 timeout=45")
    assert "sbc60xxwdt: unknown parameter 'bogus' ignored\n" in k.console
    assert "timeout=45 sec" in k.console


def test_charp_parameter_copied_and_freed() -> None:
    k = linux()
    m = k.load(ko("drivers/watchdog/eurotechwdt.ko"), params={"ev": "reboot", "io": 0x3F0, "irq": 10})
    assert "timeout event: reboot" in k.console
    assert m.params["ev"] == "reboot"
    assert k.unload(m).leaks == []


def test_block_driver_params_in_memory() -> None:
    k = linux()
    brd = k.load(ko("drivers/block/brd.ko"), params={"rd_nr": 2, "rd_size": 1024, "max_part": 4}, run_init=False)
    assert brd.params == {"max_part": 4, "rd_size": 1024, "rd_nr": 2}
    loop = k.load(ko("drivers/block/loop.ko"), params="max_loop=4 max_part=3", run_init=False)
    # max_loop has loop's own ops (module_param_cb): read back through its get callback
    assert loop.params["max_loop"] == "4" and loop.params["max_part"] == 3
    assert k.memory.read_u32(loop.symbols["max_loop"]) == 4


def test_array_parameter_elements_and_limit() -> None:
    k = linux()
    ne = k.load(ko("drivers/net/ethernet/8390/ne.ko"), params="io=0x300,0x320 irq=5,7", run_init=False)
    assert ne.params["io"] == [0x300, 0x320, 0, 0]  # no count pointer: all MAX_NE_CARDS elements
    assert ne.params["irq"] == [5, 7, 0, 0]
    k.unload(ne)
    with pytest.raises(LoadError, match=r"ne: `1,2,3,4,5' invalid for parameter `io': -22"):
        k.load(ko("drivers/net/ethernet/8390/ne.ko"), params={"io": [1, 2, 3, 4, 5]}, run_init=False)
    assert "io: can only take 4 arguments\n" in k.console


def test_array_with_count_pointer() -> None:
    k = linux()
    m = k.load(ko("drivers/char/ipmi/ipmi_si.ko"), params="ports=0xca2,0xca8", run_init=False)
    assert k.memory.read_u32(m.symbols["num_ports"]) == 2
    assert m.params["ports"] == [0xCA2, 0xCA8]


def test_array_of_charp() -> None:
    k = linux()
    m = k.load(ko("drivers/char/ipmi/ipmi_ssif.ko"), params={"adapter_name": ["i2c-0", "i2c-7"]}, run_init=False)
    assert m.params["adapter_name"] == "i2c-0,i2c-7"  # through param_array_get
    assert k.unload(m).leaks == []


def test_kparam_string_and_quotes() -> None:
    k = linux()
    m = k.load(ko("lib/test_bpf.ko"), params='test_name="abc def" test_range=1,2', run_init=False)
    assert m.params["test_name"] == "abc def"
    assert m.params["test_range"] == [1, 2]
    with pytest.raises(LoadError, match=r"too large for parameter `blkdev': -28 \(-ENOSPC\)"):
        k.load(ko("fs/pstore/pstore_blk.ko"), params="blkdev=" + "x" * 80, run_init=False)
    assert "blkdev: string doesn't fit in 79 chars.\n" in k.console


def test_info_lists_parameters_with_type_and_description() -> None:
    out = subprocess.run([sys.executable, "-m", "sandbox", "info", ko("drivers/net/ethernet/8390/ne.ko")],
                         capture_output=True, text=True, cwd=ROOT, check=True).stdout
    block = out.split("parameters:\n")[1].split("exports:")[0]
    assert "  io (array of int): I/O base address(es),required\n" in block
    assert "  msg_enable (uint): Debug message level" in block


def test_cli_param_option() -> None:
    result = subprocess.run([sys.executable, "-m", "sandbox", "run", "--profile", "linux",
                             ko(SBC), "--param", "timeout=77", "--param", "nowayout", "--trace", "none"],
                            capture_output=True, text=True, cwd=ROOT)
    assert "timeout=77 sec (nowayout=1)" in result.stdout, result.stdout + result.stderr
