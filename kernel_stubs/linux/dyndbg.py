"""Dynamic debug (lib/dynamic_debug.c): ``pr_debug``/``dev_dbg`` sites that print only when enabled.

Each site has a ``struct _ddebug`` in the module's ``__dyndbg`` section
(Linux 6.1 i386, 32 bytes, aligned 8): modname 0, function 4, filename 8,
format 12, then a 32-bit word with lineno (bits 0-17), class_id (18-23) and
flags (24-31, ``_DPRINTK_FLAGS_PRINT`` = bit 0), then at 20 the site's
static key (``dd_key_true``/``dd_key_false``). Debian builds with jump
labels, so a disabled site is a NOP in the module's code and the print
function is not even called; enabling a site sets its flag and enables its
key, which rewrites the jump (sandbox/jumptable.py). ``dynamic_debug(k,
module)`` is the control file's ``module <name> +p``; the module parameter
``dyndbg=+p`` does the same at load, as on Linux.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.jumptable import update_key
from sandbox.params import UNKNOWN_PARAMETER_HANDLERS
from sandbox.services import service
from sandbox.services.varargs import VarArgs

from .printk import _device_prefix, format_guest, log

if TYPE_CHECKING:
    from sandbox.kernel import Kernel
    from sandbox.link.plan import LinkPlan
    from sandbox.module import Module

DESCRIPTOR_SIZE = 32
FLAGS_WORD = 16
KEY = 20
PRINT = 1


def _enabled(k: Kernel, descriptor: int) -> bool:
    return bool((k.memory.read_u32(descriptor + FLAGS_WORD) >> 24) & PRINT)


def descriptors(plan: LinkPlan) -> list[int]:
    """The run-time addresses of a mapped module's ``struct _ddebug`` entries."""
    section = plan.image.section_by_name("__dyndbg")
    if section is None:
        return []
    base = plan.section_address(section)
    if base is None:
        return []
    return list(range(base, base + section.sh_size - DESCRIPTOR_SIZE + 1, DESCRIPTOR_SIZE))


def dynamic_debug(k: Kernel, module: Module | str, enable: bool = True) -> int:
    """Turn every pr_debug/dev_dbg site of ``module`` on (``+p``) or off (``-p``); returns how many."""
    if isinstance(module, str):
        module = k.module(module)
    return _switch(k, module.plan, enable)


def _switch(k: Kernel, plan: LinkPlan, enable: bool) -> int:
    sites = descriptors(plan)
    for descriptor in sites:
        word = k.memory.read_u32(descriptor + FLAGS_WORD)
        flags = (word >> 24) | PRINT if enable else (word >> 24) & ~PRINT
        k.memory.write_u32(descriptor + FLAGS_WORD, (word & 0xFFFFFF) | (flags << 24))
        key = descriptor + KEY
        k.memory.write_u32(key, 1 if enable else 0)
        update_key(k, key)
    return len(sites)


def _dyndbg_parameter(k: Kernel, plan: LinkPlan, value: str | None) -> bool:
    """``dyndbg=+p`` / ``dyndbg=-p`` (a bare ``dyndbg`` is +p), as ddebug_dyndbg_module_param_cb."""
    text = (value or "+p").strip()
    if text.endswith(("+p", "-p")):
        _switch(k, plan, text.endswith("+p"))
        return True
    return False


UNKNOWN_PARAMETER_HANDLERS["dyndbg"] = _dyndbg_parameter


@service("void __dynamic_dev_dbg(struct _ddebug *descriptor, const struct device *dev, const char *fmt, ...)")
def __dynamic_dev_dbg(k: Kernel, descriptor: int, dev: int, fmt: int, args: VarArgs) -> None:
    """dev_dbg() at an enabled site: the device prefix and the message at KERN_DEBUG."""
    if _enabled(k, descriptor):
        log(k, b"\x017" + format_guest(k, fmt, args), _device_prefix(k, dev))


@service("void __dynamic_pr_debug(struct _ddebug *descriptor, const char *fmt, ...)")
def __dynamic_pr_debug(k: Kernel, descriptor: int, fmt: int, args: VarArgs) -> None:
    """pr_debug() at an enabled site."""
    if _enabled(k, descriptor):
        log(k, b"\x017" + format_guest(k, fmt, args))
