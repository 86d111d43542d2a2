"""Touchscreen helpers (drivers/input/touchscreen.c, built into the input core), Linux 6.1 i386.

``touchscreen_parse_properties`` adjusts a touchscreen's axes from the
parent device's firmware properties (``touchscreen-min-x``,
``touchscreen-size-x``, ``touchscreen-fuzz-x``, the same for y and pressure,
``touchscreen-inverted-x/y``, ``touchscreen-swapped-x-y``) and fills a
``struct touchscreen_properties`` (max_x 0, max_y 4, invert_x 8, invert_y
9, swap_x_y 10) that ``touchscreen_report_pos``/``touchscreen_set_mt_pos``
apply to every position. The emulated PC has no firmware nodes
(:mod:`.property`), so no property is present: the axes keep what the
driver set, nothing is inverted or swapped, and max_x/max_y are the axes'
maxima, as Linux leaves them on such a machine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.devices.chardev import signed32
from sandbox.services import service

from . import input as core
from .layout import Fields
from .property import _fwnode, _unmodelled

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

ABS_X, ABS_Y, ABS_MT_POSITION_X, ABS_MT_POSITION_Y = 0x00, 0x01, 0x35, 0x36
MAX_X, MAX_Y, INVERT_X, INVERT_Y, SWAP_X_Y = 0, 4, 8, 9, 10


def _abs_max(k: Kernel, dev: int, axis: int) -> int:
    absinfo = Fields(k.memory, "input_dev", dev)["absinfo"]
    return signed32(k.memory.read_u32(absinfo + axis * core.ABSINFO_SIZE + 8))


@service("void touchscreen_parse_properties(struct input_dev *input, bool multitouch, "
         "struct touchscreen_properties *prop)")
def touchscreen_parse_properties(k: Kernel, input: int, multitouch: int, prop: int) -> None:
    """Axes from firmware properties (none here), then ``prop``: the axes' maxima, no inversion or swap."""
    if not core.input_alloc_absinfo(k, input):
        return
    _unmodelled(k, "touchscreen_parse_properties", _fwnode(k, Fields(k.memory, "input_dev", input)["dev.parent"]))
    if not prop:
        return
    axis_x, axis_y = (ABS_MT_POSITION_X, ABS_MT_POSITION_Y) if multitouch & 0xFF else (ABS_X, ABS_Y)
    k.memory.write_u32(prop + MAX_X, _abs_max(k, input, axis_x))
    k.memory.write_u32(prop + MAX_Y, _abs_max(k, input, axis_y))
    k.memory.write(prop + INVERT_X, bytes(3))


def _apply(k: Kernel, prop: int, x: int, y: int) -> tuple[int, int]:
    """touchscreen_apply_prop_to_x_y(): inversion against the maxima, then the swap (u32 arithmetic)."""
    flags = k.memory.read(prop + INVERT_X, 3)
    if flags[0]:
        x = (k.memory.read_u32(prop + MAX_X) - x) & 0xFFFFFFFF
    if flags[1]:
        y = (k.memory.read_u32(prop + MAX_Y) - y) & 0xFFFFFFFF
    if flags[2]:
        x, y = y, x
    return x, y


@service("void touchscreen_report_pos(struct input_dev *input, const struct touchscreen_properties *prop, "
         "unsigned int x, unsigned int y, bool multitouch)")
def touchscreen_report_pos(k: Kernel, input: int, prop: int, x: int, y: int, multitouch: int) -> None:
    """Report a position through ``prop`` on the single-touch or the multitouch axes."""
    x, y = _apply(k, prop, x, y)
    axis_x, axis_y = (ABS_MT_POSITION_X, ABS_MT_POSITION_Y) if multitouch & 0xFF else (ABS_X, ABS_Y)
    core.report(k, input, core.EV_ABS, axis_x, signed32(x))
    core.report(k, input, core.EV_ABS, axis_y, signed32(y))


@service("void touchscreen_set_mt_pos(struct input_mt_pos *pos, const struct touchscreen_properties *prop, "
         "unsigned int x, unsigned int y)")
def touchscreen_set_mt_pos(k: Kernel, pos: int, prop: int, x: int, y: int) -> None:
    """``pos->x``/``pos->y`` (two u16) through ``prop``."""
    x, y = _apply(k, prop, x, y)
    k.memory.write(pos, (x & 0xFFFF).to_bytes(2, "little") + (y & 0xFFFF).to_bytes(2, "little"))
