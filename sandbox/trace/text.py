"""The human sink: one event a line, ltrace-like, indented by nesting."""

from __future__ import annotations

from typing import Any

from ..services.prototype import Param
from ..symbolizer import Symbolizer
from .events import Event

_STRING_SHOWN = 60


# printk's level prefix (KERN_SOH + level), shown as the macro a driver wrote.
_KERN_LEVELS = {ord(str(n)): name for n, name in enumerate(
    ("KERN_EMERG", "KERN_ALERT", "KERN_CRIT", "KERN_ERR", "KERN_WARNING", "KERN_NOTICE", "KERN_INFO", "KERN_DEBUG"))}
_KERN_LEVELS[ord("c")] = "KERN_CONT"


def _show_string(raw: bytes) -> str:
    if len(raw) >= 2 and raw[0] == 1 and raw[1] in _KERN_LEVELS:
        return f"{_KERN_LEVELS[raw[1]]} {_show_string(raw[2:])}"
    text = raw[:_STRING_SHOWN].decode("latin-1")
    text = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    text = "".join(c if " " <= c <= "~" or c == "\\" else f"\\x{ord(c):02x}" for c in text)
    return f'"{text}"' + ("..." if len(raw) > _STRING_SHOWN else "")


def format_value(value: Any, param: Param | None, symbols: Symbolizer | None, when: int | None = None) -> str:
    """Show one argument or result the way its C type suggests."""
    if isinstance(value, bytes):
        return _show_string(value)
    if value is None:
        return "?"
    kind = param.kind if param is not None else "uint"
    if kind in ("ptr", "funcptr", "str"):
        if value == 0:
            return "NULL"
        if symbols is not None:
            found = symbols.symbol_at(value, when)
            if found is not None:
                return f"{value:#x} <{symbols.short(value, when)}>"
        return f"{value:#x}"
    if kind == "int":
        return str(value)
    return str(value) if value < 0x10000 else f"{value:#x}"


def _device_label(fields: dict[str, Any]) -> str:
    """`` [com1 LSR]``: the device and, when it names it, the register."""
    register = fields.get("register")
    return f" [{fields['device']} {register}]" if register else f" [{fields['device']}]"


def format_event(event: Event, symbols: Symbolizer | None = None) -> str:
    """Render ``event`` as a single line of text.

    Indentation is the call nesting; what runs in IRQ context (a handler's
    service calls, port accesses, instructions) is indented one step more
    than the ``irq N: raised`` line it belongs to, and tagged ``[irq]``.
    """
    nested_in_irq = event.context == "irq" and event.kind != "irq"
    indent = "  " * (event.depth + nested_in_irq)
    where = f"[{event.context}] " if event.context != "task" else ""
    caller = ""
    if event.caller and symbols is not None:
        caller = f"  <- {symbols.short(event.caller, event.seq)}"
    if event.kind == "service":
        proto = event.fields.get("_proto")
        params = proto.params if proto is not None else ()
        shown = [
            format_value(v, params[i] if i < len(params) else None, symbols, event.seq)
            for i, v in enumerate(event.args)
        ]
        text = f"{event.name}({', '.join(shown)})"
        if proto is None or proto.returns.kind != "void":
            ret = proto.returns if proto is not None else None
            text += f" = {format_value(event.result, ret, symbols, event.seq)}"
        if "output" in event.fields:
            text += f"  {_show_string(event.fields['output'])}"
        if "error" in event.fields:
            text += f"  !! {event.fields['error']}"
        return f"{indent}{where}{text}{caller}"
    if event.kind == "port":
        f = event.fields
        device = _device_label(f) if f.get("device") else " [unclaimed]"
        arrow = "->" if f["direction"] == "in" else "<-"
        return (
            f"{indent}{where}port {f['direction']}{f['width']} {f['port']:#06x} {arrow} "
            f"{f['value']:#0{2 + f['width'] // 4}x}{device}{caller}"
        )
    if event.kind == "mmio":
        f = event.fields
        arrow = "->" if f["direction"] == "read" else "<-"
        return (
            f"{indent}{where}mmio {f['direction']}{f['width']} {f['address']:#010x} {arrow} "
            f"{f['value']:#0{2 + f['width'] // 4}x}{_device_label(f)}{caller}"
        )
    if event.kind == "irq":
        f = event.fields
        if event.name == "raise":
            return f"{indent}irq {f['line']}: raised, {f['handlers']} handler(s)"
        if event.name == "pending":
            return f"{indent}{where}irq {f['line']}: pending (interrupts disabled)"
        result = f.get("result_name", event.result)
        return f"{indent}[irq] irq {f['line']}: {f['handler_name']} -> {result}"
    if event.kind in ("alloc", "free"):
        f = event.fields
        leaked = " (leaked, freed at unload)" if f.get("leaked") else ""
        return f"{indent}{where}{event.kind} {f['size']} bytes at {f['address']:#x} ({event.name}){leaked}{caller}"
    if event.kind == "fault":
        f = event.fields
        at = symbols.short(f["pc"], event.seq) if symbols is not None else f"{f['pc']:#x}"
        return f"{indent}{where}fault {event.name} at {at}, address {f['address']:#x}: {f['message']}"
    if event.kind == "insn":
        at = symbols.short(event.caller, event.seq) if symbols is not None else f"{event.caller:#x}"
        return f"{indent}{where}insn {event.caller:#010x} {at:<32} {event.fields['text']}"
    detail = " ".join(f"{k}={v}" for k, v in event.fields.items() if not k.startswith("_"))
    subject = f"{event.name}" + (f" {detail}" if detail else "")
    result = f" = {event.result}" if event.result is not None else ""
    return f"{indent}{where}{event.kind} {subject}{result}{caller}"
