"""python -m sandbox run as a driver author uses it (issue 13 items 1 and 9).

Machine-readable traces on stdout are only that format; ``--call`` takes
typed arguments and results (or types from DWARF); after a fault the run
stops or goes on as asked, and always unloads, so exit runs and leaks show.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .guest import PIO

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sandbox", "run", *args], capture_output=True, text=True, cwd=ROOT)


def test_jsonl_on_stdout_is_json_lines_only(driver) -> None:
    result = run_cli(str(driver("memlist")), "--call", "memlist_push", "7", "seven", "--call", "memlist_sum",
                     "--trace", "jsonl")
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]  # every line parses: `| jq` works
    assert events[0]["kind"] == "load" and events[-1]["kind"] == "unload"
    assert "== console ==\nmemlist: freed 1 node(s)\n" in result.stderr
    assert "memlist:memlist_sum() = 7" in result.stderr and "==" not in result.stdout


def test_chrome_on_stdout_is_one_json_document(driver) -> None:
    result = run_cli(str(driver("irqcount")), "--irq", "5", "--trace", "chrome")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert any(e.get("cat") == "irq" for e in document["traceEvents"])
    assert "irqcount: saw 1 interrupt(s)" in result.stderr


def test_text_trace_keeps_everything_on_stdout(driver) -> None:
    result = run_cli(str(driver("irqcount")), "--irq", "5", "--call", "irqcount_get")
    assert "== console ==" in result.stdout and "== trace ==" in result.stdout and result.stderr == ""
    # printk's level byte reads as the macro the driver wrote (it showed as "\x016irqcount: ...").
    assert 'printk(KERN_INFO "irqcount: handler on IRQ %d ready\\n") = 33' in result.stdout


def test_results_take_their_types_from_dwarf(driver) -> None:
    result = run_cli(str(driver("arith", "clang")), "--call", "arith_hash", "two words",
                     "--call", "arith_mul64", "4294967295", "2", "--call", "arith_sdiv", "-9", "2", "--trace", "none")
    assert result.returncode == 0, result.stdout
    assert "arith:arith_hash('two words') = 2739486668" in result.stdout  # unsigned int, not -1555480628
    assert "arith:arith_mul64(4294967295, 2) = 8589934590" in result.stdout  # u64 in, u64 out
    assert "arith:arith_sdiv(-9, 2) = -4" in result.stdout


def test_explicit_types_without_dwarf(compile_c) -> None:
    source = """
#include <kernel.h>
unsigned int big(void) { return 0xFFFFFFF0u; }
unsigned long long wide(unsigned long long a, unsigned int b) { return a * b; }
int fill(char *buf, int n) { int i; for (i = 0; i < n - 1; i++) buf[i] = 'a' + i; return i; }
"""
    obj = compile_c(source, "nodwarf", "-g0")
    result = run_cli(str(obj), "--call", "big", "--call", "big:u32", "--call", "wide:u64", "4294967295:u64", "3",
                     "--call", "fill", ":buf=8", "8", "--call", "big:ptr", "--trace", "none")
    assert result.returncode == 0, result.stdout
    lines = result.stdout.split("== results ==\n")[1].splitlines()
    assert lines[:5] == [
        "nodwarf:big() = -16",  # no DWARF, no type: a signed int, as before
        "nodwarf:big() = 4294967280",
        "nodwarf:wide(4294967295, 3) = 12884901885",
        "nodwarf:fill(<buf 8>, 8) = 7; arg 0 = b'abcdefg'",
        "nodwarf:big() = 0xfffffff0",
    ]


def test_wrong_argument_count_is_refused_by_the_dwarf_prototype(driver) -> None:
    result = run_cli(str(driver("memlist")), "--call", "memlist_push", "7", "--trace", "none")
    assert result.returncode == 1
    assert "ERROR: int memlist_push(int value, const char * name) takes 2 argument(s), 1 given" in result.stdout
    assert "memlist: freed 0 node(s)" in result.stdout  # unloaded anyway: exit ran


def test_bad_typed_values_are_one_line_errors(driver) -> None:
    result = run_cli(str(driver("arith")), "--call", "arith_hash", "x", "--call", "arith_udiv", "1:u32", "2:u8",
                     "--on-fault", "continue", "--trace", "none")
    assert result.returncode == 1
    assert "arith:arith_hash('x') = 4245442695" in result.stdout
    assert "ERROR: --call argument '1:u32': the parameter is u64 (DWARF), which does not pass as u32" in result.stdout
    result = run_cli(str(driver("arith")), "--call", "arith_shl", "1", "70000:u16", "--trace", "none")
    assert "ERROR: --call argument '70000:u16' is out of range for u16 (0..65535)" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_after_a_fault_it_stops_but_still_unloads(driver) -> None:
    result = run_cli(str(driver("faulty")), "--call", "fault_null_read", "--call", "fault_null_read",
                     "--call", "faulty_ok", "1", "2")
    assert result.returncode == 1
    assert result.stdout.count("FAULT: NULL pointer dereference") == 1
    assert "(2 later action(s) skipped: --on-fault stop)" in result.stdout
    assert "faulty_ok" not in result.stdout.split("== results ==")[1].split("== trace ==")[0]
    trace = result.stdout.split("== trace ==\n")[1]
    assert trace.splitlines()[-1].startswith("unload faulty")


def test_on_fault_continue_runs_the_rest_and_shows_leaks(compile_c) -> None:
    source = """
#include <kernel.h>
static void *kept;
int grab(void) { kept = kmalloc(40, GFP_KERNEL); return kept != 0; }
int crash(void) { return *(volatile int *)0; }
static void __exit leaky_exit(void) { pr_info("leaky: exit ran\\n"); }
module_exit(leaky_exit);
"""
    obj = compile_c(source, "leaky")
    result = run_cli(str(obj), "--call", "crash", "--call", "grab", "--on-fault", "continue", "--trace", "none")
    assert result.returncode == 1
    results = result.stdout.split("== results ==\n")[1]
    assert results.startswith("FAULT: NULL pointer dereference")
    assert "leaky:grab() = 1" in results
    assert "leak in leaky: 40 bytes" in results
    assert "leaky: exit ran" in result.stdout


DEVICE = '''
from sandbox.devices.device import Device

class Answer(Device):
    name = "answer"
    port_ranges = ((0x300, 1),)
    port_base = 0x300
    registers = {0: "ANSWER"}

    def port_read(self, port, width):
        return 42
'''


def test_device_option_attaches_a_python_model(compile_c, tmp_path: Path) -> None:
    (tmp_path / "answer.py").write_text(DEVICE)
    obj = compile_c(PIO, "pio")
    result = run_cli(str(obj), "--device", f"{tmp_path / 'answer.py'}:Answer", "--call", "read8", "0x300")
    assert result.returncode == 0, result.stdout
    assert "pio:read8(768) = 42" in result.stdout
    assert "port in8 0x0300 -> 0x2a [answer ANSWER]" in result.stdout
    bad = run_cli(str(obj), "--device", f"{tmp_path / 'answer.py'}:Nothing")
    assert bad.returncode == 1 and "has no Nothing" in bad.stdout


WIDE = """
typedef unsigned long long u64;
u64 mix(int a, int b, u64 c) { return c + a * 1000 + b; }
u64 first(u64 c, int a) { return c * 2 + a; }
"""


def test_64_bit_arguments_follow_the_profiles_convention(compile_c) -> None:
    """regparm(3): (int, int, u64) puts the u64 on the stack and leaves ECX unused; (u64, int) uses all three."""
    for profile, flags in (("generic", ()), ("generic-regparm", ("-mregparm=3",))):
        obj = compile_c(WIDE, f"wide_{profile.replace('-', '_')}", *flags)
        result = run_cli(str(obj), "--profile", profile, "--call", "mix", "1", "2", "5000000000",
                         "--call", "first", "5000000000", "7", "--trace", "none")
        assert result.returncode == 0, result.stdout
        assert "mix(1, 2, 5000000000) = 5000001002" in result.stdout, profile
        assert "first(5000000000, 7) = 10000000007" in result.stdout, profile
