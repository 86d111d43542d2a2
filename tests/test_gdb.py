"""Debugging a driver with Debian's real gdb through the sandbox's remote stub.

Each test starts a Kernel serving gdb on a free localhost port and holding
init until gdb attaches, runs ``gdb -batch -x script`` beside it, drives the
driver from Python while gdb stops and resumes it, then ends the session
(gdb is told the program exited) and checks what gdb printed.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from sandbox import GuestFault, Kernel
from sandbox.gdb import parse_address

pytestmark = pytest.mark.skipif(shutil.which("gdb") is None, reason="gdb is not installed")

SOURCE = Path(__file__).resolve().parent.parent / "drivers" / "buggy.c"
# struct buggy_req {len, tag, data[56]} and its ioctl numbers (_IOW('b', n, 64 bytes)).
SET_NAME, AVERAGE, KEEP, SUM = ((1 << 30) | (64 << 16) | (ord("b") << 8) | n for n in (1, 2, 3, 4))
TIMEOUT = 120  # seconds gdb and the stub may wait for each other before a test gives up


def request(length: int, data: bytes = b"\x01\x02\x03\x04", tag: int = 0) -> bytes:
    return struct.pack("<II56s", length, tag, data)


def gdb_session(tmp_path: Path, kernel: Kernel, commands: str, drive: Callable[[], None]) -> str:
    """Run gdb on ``commands`` against ``kernel`` while ``drive()`` runs the guest; gdb's output."""
    assert kernel.gdb is not None
    kernel.gdb.attach_timeout = TIMEOUT
    kernel.gdb.client_timeout = TIMEOUT
    script = tmp_path / "session.gdb"
    script.write_text(f"set pagination off\nset confirm off\ntarget remote :{kernel.gdb.port}\n{commands}\n")
    gdb = subprocess.Popen(["gdb", "-nx", "-batch", "-x", str(script)], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    try:
        drive()
    finally:
        kernel.gdb.close()
        try:
            output, _ = gdb.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            gdb.kill()
            output, _ = gdb.communicate()
    return output


def source_line(number: int) -> str:
    return SOURCE.read_text().splitlines()[number - 1]


def test_breakpoint_in_module_code_stops_at_its_source_line_and_bt_walks_module_frames(tmp_path: Path, driver: Callable[..., Path]) -> None:
    k = Kernel(gdb=0, gdb_wait=True)

    def drive() -> None:
        k.load(driver("buggy"))
        assert k.open("/dev/buggy").ioctl(AVERAGE, request(4)) == (1 + 2 + 3 + 4) // 4

    out = gdb_session(tmp_path, k, "break buggy_average\ncontinue\nbt\ncontinue", drive)
    # gdb read the module's DWARF at its load address before init ran...
    assert re.search(r"buggy_init \(\) at \S*buggy\.c:\d+", out), out
    # ...so the breakpoint stops in buggy_average at a line of buggy_average.
    hit = re.search(r"Breakpoint 1, buggy_average \(req=\S+\) at \S*buggy\.c:(\d+)", out)
    assert hit, out
    assert "req->len" in source_line(int(hit.group(1)))
    frames = re.findall(r"^#(\d) .*?(\w+) \(", out, re.M)
    assert [name for _, name in frames][:3] == ["buggy_average", "buggy_ioctl", "sandbox_host_call"], out
    assert "corrupt stack" not in out


def test_watchpoint_fires_and_gdb_reads_and_writes_guest_memory(tmp_path: Path, driver: Callable[..., Path]) -> None:
    k = Kernel(gdb=0, gdb_wait=True)
    results: dict[str, int] = {}

    def drive() -> None:
        m = k.load(driver("buggy"))
        f = k.open("/dev/buggy")
        results["sum"] = f.ioctl(SUM, request(4, b"\x05\x06\x07\x08"))
        results["opens"] = k.memory.read_u32(m.address_of("buggy_opens"))

    commands = """watch buggy_opens
continue
delete
break buggy_sum
continue
x/4xb req->data
set var buggy_opens = 7
print buggy_opens
print/x $eip
continue"""
    out = gdb_session(tmp_path, k, commands, drive)
    assert re.search(r"Hardware watchpoint 1: buggy_opens\s+Old value = 0\s+New value = 1", out), out
    assert re.search(r"in buggy_open \(.*\) at \S*buggy\.c:\d+", out), out
    assert re.search(r":\s+0x05\s+0x06\s+0x07\s+0x08", out), out
    assert "$1 = 7" in out
    assert re.search(r"\$2 = 0xd[0-9a-f]{7}", out), out
    assert results == {"sum": 5 + 6 + 7 + 8, "opens": 7}


def test_stepi_goes_through_a_service_stub_as_through_a_function(tmp_path: Path, driver: Callable[..., Path]) -> None:
    k = Kernel(gdb=0, gdb_wait=True)
    opened: list[int] = []

    def drive() -> None:
        k.load(driver("buggy"))
        opened.append(k.open("/dev/buggy").file)

    commands = """break buggy_open
continue
while *(unsigned char *)$pc != 0xe8
stepi
end
stepi
bt 2
stepi
info symbol $pc
print/x $eax
continue"""
    out = gdb_session(tmp_path, k, commands, drive)
    # the call lands in the kernel's kzalloc stub, named like a function, called from buggy_open
    assert re.search(r"0xc[0-9a-f]+ in kzalloc \(\)", out), out
    assert re.search(r"#1 +0xd[0-9a-f]+ in buggy_open \(", out), out
    # one more instruction (the stub's ret, after the service ran) is back in buggy_open with the block in EAX
    assert re.search(r"buggy_open \+ \d+ in section \.text", out), out
    assert re.search(r"\$1 = 0xe[0-9a-f]{7}", out), out
    assert opened


def test_faults_stop_with_their_signal(tmp_path: Path, driver: Callable[..., Path]) -> None:
    k = Kernel(gdb=0, gdb_wait=True, budget_seconds=0.5)
    kinds: list[str] = []

    def drive() -> None:
        m = k.load(driver("faulty"))
        for function, args in (("fault_divide", (0,)), ("fault_invalid_opcode", ()), ("fault_spin", ()),
                               ("fault_double_free", ()), ("fault_null_read", ())):
            with pytest.raises(GuestFault) as caught:
                m.call(function, *args)
            kinds.append(caught.value.kind)

    out = gdb_session(tmp_path, k, "continue\n" * 6, drive)
    assert kinds == ["divide-error", "invalid-opcode", "budget", "double-free", "null-pointer"]
    signals = re.findall(r"Program received signal (\w+)", out)
    assert signals == ["SIGFPE", "SIGILL", "SIGXCPU", "SIGABRT", "SIGSEGV"], out
    assert re.search(r"SIGFPE.*\n.*in fault_divide \(", out), out


def test_memcheck_heap_overflow_stops_at_the_overflowing_store(tmp_path: Path, driver: Callable[..., Path]) -> None:
    k = Kernel(gdb=0, gdb_wait=True, memcheck=True)

    def drive() -> None:
        k.load(driver("buggy"))
        with pytest.raises(GuestFault) as caught:
            k.open("/dev/buggy").ioctl(SET_NAME, request(40, bytes(range(40))))
        assert caught.value.kind == "heap-out-of-bounds"

    out = gdb_session(tmp_path, k, "continue\nbt 1\nprint i\ncontinue", drive)
    assert re.search(r"Program received signal SIGSEGV", out), out
    assert re.search(r"#0 .*buggy_set_name \(", out), out
    assert "$1 = 16" in out  # the first byte past the 16-byte name buffer


def test_cli_serves_gdb(tmp_path: Path, driver: Callable[..., Path]) -> None:
    script = tmp_path / "cli.gdb"
    script.write_text("set confirm off\nbreak hello_greet\ncontinue\nbt 1\ncontinue\n")
    run = subprocess.Popen(
        ["python3", "-m", "sandbox", "run", str(driver("hello")), "--gdb", ":0", "--gdb-wait",
         "--call", "hello_greet", "gdb", "--trace", "none"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    assert run.stderr is not None
    banner = run.stderr.readline()
    port = int(re.search(r"localhost:(\d+)", banner).group(1))  # type: ignore[union-attr]
    gdb = subprocess.run(["gdb", "-nx", "-batch", "-ex", f"target remote :{port}", "-x", str(script)],
                         capture_output=True, text=True, timeout=TIMEOUT)
    out, _ = run.communicate(timeout=TIMEOUT)
    assert re.search(r"#0 +hello_greet \(who=\S+ \"gdb\"\) at \S*hello\.c:\d+", gdb.stdout), gdb.stdout
    assert "hello:hello_greet('gdb') = " in out


def _env() -> dict[str, str]:
    import os

    return {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}


def test_address_spec() -> None:
    assert parse_address(":1234") == ("127.0.0.1", 1234)
    assert parse_address("localhost:99") == ("127.0.0.1", 99)
    with pytest.raises(ValueError, match="localhost only"):
        parse_address("0.0.0.0:1234")


def test_a_module_loaded_while_attached_is_announced_before_its_code_runs(tmp_path: Path,
                                                                           driver: Callable[..., Path]) -> None:
    k = Kernel(gdb=0, gdb_wait=True)

    def drive() -> None:
        k.load(driver("hello"))
        m = k.load(driver("memlist"))  # gdb learns of it through a library stop, then resolves the breakpoint
        assert m.call("memlist_push", 7, "seven") == 0

    out = gdb_session(tmp_path, k, "set breakpoint pending on\nbreak memlist_push\ncontinue\ninfo sharedlibrary\n"
                                   "print value\ncontinue", drive)
    assert re.search(r"Breakpoint 1, memlist_push \(value=7, name=\S+ \"seven\"\) at \S*memlist\.c:\d+", out), out
    assert re.search(r"0xd[0-9a-f]+\s+0xd[0-9a-f]+\s+Yes\s+\S*memlist\.o", out), out
    assert "$1 = 7" in out
