"""Polled input devices (drivers/input/input-poller.c, built in), Linux 6.1 i386.

``input_setup_polling(dev, poll)`` gives the device a ``struct
input_dev_poller`` (poll 0, poll_interval 4, poll_interval_max 8,
poll_interval_min 12, input 16, a ``struct delayed_work`` at 20: 64 bytes)
whose work calls ``poll(dev)`` and requeues itself on
``system_freezable_wq`` every ``poll_interval`` ms (rounded to whole seconds
from one second up, as ``round_jiffies_relative``). Registration fills the
defaults (500 ms; max = the interval); the first open polls once at once
and starts the work, the last close cancels it (the core calls
:func:`start` and :func:`stop`). The work runs as the sandbox runs any work:
when its timer has fired and a flush, a sleep or ``run_work`` lets the
queue run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kernel_stubs.memory import allocate, release
from sandbox.services import service

from . import workqueue
from .layout import Fields
from .timers import _jiffies

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

POLL, INTERVAL, INTERVAL_MAX, INTERVAL_MIN, INPUT, WORK = 0, 4, 8, 12, 16, 20
POLLER_SIZE = WORK + 44  # struct delayed_work is 44 bytes on 6.1 i386
DEFAULT_INTERVAL_MS = 500


def poller_of(k: Kernel, dev: int) -> int:
    """dev->poller (0 for a device that is not polled)."""
    return Fields(k.memory, "input_dev", dev)["poller"]


def _queue(k: Kernel, poller: int) -> None:
    """input_dev_poller_queue_work(): the next poll after poll_interval ms."""
    hz = k.clock.hz
    delay = -(-k.memory.read_u32(poller + INTERVAL) * hz // 1000)  # msecs_to_jiffies rounds up
    if delay >= hz:  # round_jiffies_relative: to a whole second, down if within the first quarter
        now = _jiffies(k)
        target = now + delay
        rem = target % hz
        rounded = target - rem if rem < hz // 4 else target - rem + hz
        if rounded > now:
            delay = rounded - now
    wq = k.memory.read_u32(k.export_address("system_freezable_wq") or 0)
    workqueue.queue_delayed_work_on(k, 0, wq, poller + WORK, delay)


@service("void input_dev_poller_work(struct work_struct *work)")
def input_dev_poller_work(k: Kernel, work: int) -> None:
    """The poller's work (internal to the input core): poll, then queue the next poll."""
    poller = work - WORK
    k.call_function_pointer(k.memory.read_u32(poller + POLL), k.memory.read_u32(poller + INPUT))
    _queue(k, poller)


def finalize(k: Kernel, dev: int) -> None:
    """input_dev_poller_finalize() at registration: 500 ms unless set, max defaults to the interval."""
    poller = poller_of(k, dev)
    if not poller:
        return
    if not k.memory.read_u32(poller + INTERVAL):
        k.memory.write_u32(poller + INTERVAL, DEFAULT_INTERVAL_MS)
    if not k.memory.read_u32(poller + INTERVAL_MAX):
        k.memory.write_u32(poller + INTERVAL_MAX, k.memory.read_u32(poller + INTERVAL))


def start(k: Kernel, dev: int) -> None:
    """input_dev_poller_start() (first open): poll once now, then every interval (if polling is on)."""
    poller = poller_of(k, dev)
    if poller and k.memory.read_u32(poller + INTERVAL):
        k.call_function_pointer(k.memory.read_u32(poller + POLL), dev)
        _queue(k, poller)


def stop(k: Kernel, dev: int) -> None:
    """input_dev_poller_stop() (last close): no more polls."""
    poller = poller_of(k, dev)
    if poller:
        workqueue.cancel_delayed_work_sync(k, poller + WORK)


def free(k: Kernel, dev: int) -> None:
    """The device is released: its poller goes (its work was stopped at the last close)."""
    poller = poller_of(k, dev)
    if poller:
        workqueue.cancel_delayed_work_sync(k, poller + WORK)
        release(k, poller)
        Fields(k.memory, "input_dev", dev)["poller"] = 0


@service("int input_setup_polling(struct input_dev *dev, void (*poll_fn)(struct input_dev *dev))")
def input_setup_polling(k: Kernel, dev: int, poll_fn: int) -> int:
    """Make the device polled by ``poll_fn``; -ENOMEM without memory."""
    poller = allocate(k, POLLER_SIZE, owner="kernel")
    if not poller:
        k.console_write("input_setup_polling: unable to allocate poller structure\n", 3)
        return -12
    work = poller + WORK
    k.memory.write_u32(work + workqueue.WORK_FUNC, k.export_address("input_dev_poller_work") or 0)
    k.memory.write_u32(work + 4, work + 4)  # work.entry: an empty list
    k.memory.write_u32(work + 8, work + 4)
    timer = work + workqueue.DWORK_TIMER
    k.memory.write_u32(timer + 12, k.export_address("delayed_work_timer_fn") or 0)  # timer.function
    k.memory.write_u32(poller + POLL, poll_fn)
    k.memory.write_u32(poller + INPUT, dev)
    Fields(k.memory, "input_dev", dev)["poller"] = poller
    return 0


def _ensure(k: Kernel, dev: int) -> int:
    poller = poller_of(k, dev)
    if not poller:
        k.console_write("input: poller structure has not been set up\n", 3)
    return poller


@service("void input_set_poll_interval(struct input_dev *dev, unsigned int interval)")
def input_set_poll_interval(k: Kernel, dev: int, interval: int) -> None:
    """The polling period in ms (0 turns polling off at the next open)."""
    if poller := _ensure(k, dev):
        k.memory.write_u32(poller + INTERVAL, interval)


@service("void input_set_min_poll_interval(struct input_dev *dev, unsigned int interval)")
def input_set_min_poll_interval(k: Kernel, dev: int, interval: int) -> None:
    """The shortest period user space may set (sysfs poll attribute)."""
    if poller := _ensure(k, dev):
        k.memory.write_u32(poller + INTERVAL_MIN, interval)


@service("void input_set_max_poll_interval(struct input_dev *dev, unsigned int interval)")
def input_set_max_poll_interval(k: Kernel, dev: int, interval: int) -> None:
    """The longest period user space may set."""
    if poller := _ensure(k, dev):
        k.memory.write_u32(poller + INTERVAL_MAX, interval)


@service("int input_get_poll_interval(struct input_dev *dev)")
def input_get_poll_interval(k: Kernel, dev: int) -> int:
    """The period in ms, -EINVAL for a device that is not polled."""
    poller = poller_of(k, dev)
    return k.memory.read_u32(poller + INTERVAL) if poller else -22
