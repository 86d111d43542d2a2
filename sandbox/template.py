"""``python -m sandbox new DRIVER [DIR]``: a driver, its build and its tests, passing at once.

Writes into DIR (default ``./DRIVER``):

- ``DRIVER.c``: a small driver against the sandbox's kernel headers: init
  and exit, an IRQ handler on a shared line, a kmalloc'd buffer, a function
  tests call;
- ``Makefile``: builds ``DRIVER.o`` with gcc (``make CC=clang`` for clang)
  with the flags the sandbox needs and the package's include directory;
- ``test_DRIVER.py``: pytest tests using the plugin's ``kernel`` and
  ``load_driver`` fixtures (they build first), and a ``conftest.py`` that
  loads the plugin when the package is not installed;
- ``README.md``: the commands.

``python -m sandbox.template --include-dir`` prints the header directory
(the Makefile asks it, so the project keeps working when the package moves).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from .errors import SandboxError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,39}")


def include_dir() -> Path:
    """The C headers drivers for the generic profile compile against."""
    return Path(__file__).resolve().parent.parent / "kernel_stubs" / "include"


DRIVER_C = r"""/* {name}: a driver to start from (made by `python3 -m sandbox new`).
 *
 * On load it allocates a buffer and takes IRQ {irq} (shared); every
 * interrupt adds one to a counter that {name}_count() returns; on unload it
 * frees what it took and says how many interrupts it saw.
 */
#include <kernel.h>

#define {upper}_IRQ {irq}

static unsigned int count;
static char *buffer;

static irqreturn_t {name}_interrupt(int irq, void *dev_id)
{{
	(void)irq;
	if (dev_id != &count)
		return IRQ_NONE;
	count++;
	return IRQ_HANDLED;
}}

/* Called from Python (m.call("{name}_count")) or the shell (--call {name}_count). */
unsigned int {name}_count(void)
{{
	return count;
}}

/* Writes a greeting into buf (an output buffer: --call {name}_hello :buf=32 32). */
int {name}_hello(char *buf, int size)
{{
	return snprintf(buf, size, "hello from {name}, %u irq(s)", count);
}}

static int __init {name}_init(void)
{{
	int err;

	buffer = kmalloc(64, GFP_KERNEL);
	if (!buffer)
		return -ENOMEM;
	err = request_irq({upper}_IRQ, {name}_interrupt, IRQF_SHARED, "{name}", &count);
	if (err) {{
		kfree(buffer);
		return err;
	}}
	pr_info("{name}: loaded, listening on IRQ %d\n", {upper}_IRQ);
	return 0;
}}

static void __exit {name}_exit(void)
{{
	free_irq({upper}_IRQ, &count);
	kfree(buffer);
	pr_info("{name}: unloaded after %u interrupt(s)\n", count);
}}

module_init({name}_init);
module_exit({name}_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("{name}: made by python3 -m sandbox new");
"""

MAKEFILE = """# Builds {name}.o for the module sandbox: `make` (gcc) or `make CC=clang`.
PYTHON ?= python3
CC = gcc
SANDBOX_INCLUDE ?= $(shell $(PYTHON) -m sandbox.template --include-dir)

ifneq (,$(findstring clang,$(CC)))
ARCH = --target=i386-pc-none-elf -march=i686
else
ARCH = -m32
endif
# Freestanding i386 code against the sandbox's headers. -fno-stack-protector:
# the distributions' default -fstack-protector-strong works too (the kernel
# provides the canary and __stack_chk_fail), but costs a check per function.
CFLAGS = $(ARCH) -ffreestanding -nostdinc -fno-pic -fno-stack-protector -O2 -g -Wall -Wextra \\
	-I $(SANDBOX_INCLUDE)

{name}.o: {name}.c
\t$(CC) $(CFLAGS) -c $< -o $@

test: {name}.o
\t$(PYTHON) -m pytest -q

clean:
\trm -f {name}.o

.PHONY: test clean
"""

TEST_PY = '''"""Tests for {name} (made by `python3 -m sandbox new`): run `python3 -m pytest`."""

import subprocess
from pathlib import Path

import pytest

from sandbox.testing import assert_called, assert_console, assert_no_leaks

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session", autouse=True)
def build():
    """Build {name}.o first (make does nothing when it is up to date)."""
    subprocess.run(["make", "-s", "-C", str(HERE), "{name}.o"], check=True)


def test_loads_and_unloads_cleanly(kernel, load_driver):
    m = load_driver("{name}.o")
    assert_console(kernel, r"{name}: loaded, listening on IRQ {irq}")
    assert_called(kernel, "request_irq", args=({irq},))
    report = kernel.unload(m)
    assert_no_leaks(report)
    assert_console(kernel, r"unloaded after 0 interrupt")


def test_counts_interrupts(kernel, load_driver):
    m = load_driver("{name}.o")
    kernel.raise_irq({irq})
    kernel.raise_irq({irq})
    assert m.call("{name}_count", returns="uint") == 2


def test_writes_into_a_buffer(kernel, load_driver):
    m = load_driver("{name}.o")
    buf = bytearray(32)
    n = m.call("{name}_hello", buf, len(buf))
    assert buf[:n] == b"hello from {name}, 0 irq(s)"
'''

CONFTEST = '''# Loads the module sandbox's pytest plugin when the package is not installed
# (an installed package registers it by itself).
from importlib.metadata import entry_points

if not any(ep.value == "sandbox.pytest_plugin" for ep in entry_points(group="pytest11")):
    pytest_plugins = ["sandbox.pytest_plugin"]
'''

README = """# {name}

A driver for the module sandbox, made by `python3 -m sandbox new {name}`.

```sh
make                      # builds {name}.o (gcc; `make CC=clang` for clang)
python3 -m pytest -q      # the tests in test_{name}.py (they build first)
python3 -m sandbox run {name}.o --irq {irq} --call {name}_count --call {name}_hello :buf=32 32
python3 -m sandbox run {name}.o --irq {irq} --trace jsonl | jq -c 'select(.kind == "irq")'
```
"""


def create(name: str, directory: str | Path | None = None, irq: int = 5) -> list[Path]:
    """Write the project for driver ``name`` into ``directory``; returns the files written.

    Refuses a name that is not a C identifier and a directory holding any of
    the files already (nothing is overwritten).
    """
    if not _NAME.fullmatch(name):
        raise SandboxError(f"driver name {name!r} must be a C identifier (letters, digits, _; at most 40)")
    target = Path(directory) if directory is not None else Path(name)
    files = {
        f"{name}.c": DRIVER_C.format(name=name, upper=name.upper(), irq=irq),
        "Makefile": MAKEFILE.format(name=name),
        f"test_{name}.py": TEST_PY.format(name=name, irq=irq),
        "conftest.py": CONFTEST,
        "README.md": README.format(name=name, irq=irq),
    }
    existing = [f for f in files if (target / f).exists()]
    if existing:
        raise SandboxError(f"{target} already has {', '.join(existing)}: not overwriting")
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for filename, text in files.items():
        path = target / filename
        path.write_text(text)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    """``python -m sandbox.template --include-dir``."""
    args = sys.argv[1:] if argv is None else argv
    if args == ["--include-dir"]:
        print(include_dir())
        return 0
    print("usage: python -m sandbox.template --include-dir", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
