"""python -m sandbox run: console, results, trace and exit status."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sandbox", "run", *args], capture_output=True, text=True, cwd=ROOT)


def test_run_prints_console_results_and_trace(driver) -> None:
    result = run_cli(str(driver("irqcount")), "--irq", "5", "--irq", "5", "--call", "irqcount_get")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    console = out.split("== console ==\n")[1].split("== results ==")[0]
    assert console == "irqcount: handler on IRQ 5 ready\nirqcount: saw 2 interrupt(s)\n"
    assert "irqcount:irqcount_get() = 2" in out
    trace = out.split("== trace ==\n")[1].splitlines()
    assert trace[0].startswith("load irqcount")
    assert any(line.startswith("request_irq(5, ") and "<- irqcount:irqcount_init+" in line for line in trace)
    assert sum("irq 5: irqcount:irqcount_handler -> IRQ_HANDLED" in line for line in trace) == 2
    assert trace[-1].startswith("unload irqcount")


def test_call_arguments_and_jsonl_trace(driver) -> None:
    result = run_cli(str(driver("memlist")), "--call", "memlist_push", "7", "seven", "--call", "memlist_find", "seven",
                     "--trace", "jsonl")
    assert result.returncode == 0, result.stderr
    assert "memlist:memlist_find('seven') = 7" in result.stderr  # stdout is the trace alone
    events = [json.loads(line) for line in result.stdout.splitlines()]
    kmalloc = next(e for e in events if e.get("name") == "kmalloc")
    assert kmalloc["kind"] == "service" and kmalloc["args"] == [24, 0xCC0] and kmalloc["result"] > 0


def test_fault_exits_nonzero_with_report_and_no_traceback(driver) -> None:
    result = run_cli(str(driver("faulty")), "--call", "fault_null_read")
    assert result.returncode == 1
    assert "FAULT: NULL pointer dereference" in result.stdout
    assert "faulty:fault_null_read" in result.stdout and "Traceback" not in result.stdout + result.stderr


def test_load_error_exits_nonzero_with_one_message(tmp_path) -> None:
    bogus = tmp_path / "bogus.ko"
    bogus.write_bytes(b"\x7fELF" + b"\0" * 10)
    result = run_cli(str(bogus))
    assert result.returncode == 1
    assert f"ERROR: {bogus}: file-size:" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_run_several_files_orders_them(driver) -> None:
    result = run_cli(str(driver("usb_storage")), str(driver("usb_roothub")), "--call", "usb_storage_port", "--trace", "none")
    assert result.returncode == 0, result.stdout
    assert "usb_storage:usb_storage_port() = 2" in result.stdout
    assert result.stdout.index("usb_roothub: 4 ports") < result.stdout.index("usb_storage: attached to port 2")


def test_param_option(driver) -> None:
    result = run_cli(str(driver("hello")), "--param", "hello.answer=5", "--trace", "none")
    assert "hello: loaded, answer=5" in result.stdout


def test_info_human_and_json(built) -> None:
    path = str(built[("clang", "shared", "usb_storage")])
    human = subprocess.run([sys.executable, "-m", "sandbox", "info", path], capture_output=True, text=True, cwd=ROOT)
    assert human.returncode == 0
    assert "usb_storage (shared object)" in human.stdout and "clang" in human.stdout
    assert "depends=usb_roothub" in human.stdout and "exports: usb_storage_port" in human.stdout
    data = json.loads(subprocess.run([sys.executable, "-m", "sandbox", "info", "--json", str(built[("gcc", "obj", "faulty")])],
                                     capture_output=True, text=True, cwd=ROOT).stdout)
    assert data["format"] == "relocatable object" and data["name"] == "faulty"
    assert data["unimplemented"] == ["sandbox_unimplemented_service"] and data["unresolved"] == []
    assert data["relocations"]["R_386_PC32 (2)"] > 0
    assert any(s["name"] == ".text" and s["flags"] == "AX" for s in data["sections"])
    assert {"key": "license", "value": "GPL"} in data["modinfo"]
