"""The hw_random core (drivers/char/hw_random/core.c, built into Debian's kernel) and ``/dev/hwrng``.

Drivers register a ``struct hwrng`` (name 0, init 4, cleanup 8,
data_present 12, data_read 16, read 20, priv 24, quality 28, list 32, ref
40, cleanup_done 44, dying 60; 76 bytes). ``hwrng_register`` refuses one
without a name or a read method (-EINVAL) and a second one of the same
name (-EEXIST); the new one becomes the current rng when there is none or
its quality is higher and the user has not chosen one (``select``, what
writing ``rng_current`` in sysfs does). Becoming current runs its ``init``;
dropping the last reference runs its ``cleanup``. At registration the core
takes 32 bytes without waiting (``add_early_randomness``) for the input
pool, as Linux does; the ``hwrng`` kthread that keeps feeding the pool is
not started, so every other byte goes to ``/dev/hwrng`` readers.

``/dev/hwrng`` (misc 10:183) is read as ``rng_dev_read`` reads it: opened
read-only (read-write is -EINVAL), a shared buffer of ``rng_buffer_size()``
= SMP_CACHE_BYTES (64) bytes is refilled with the current rng's ``read(rng,
buf, 64, wait)`` — or ``data_present``/``data_read`` — and handed out from
its end, waiting unless O_NONBLOCK (then -EAGAIN when the rng has nothing).
No rng: -ENODEV. ``devm_hwrng_register`` unregisters at unbind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sandbox.devices.chardev import O_NONBLOCK, DeviceNode, OpenFile, signed32
from sandbox.errors import DeviceError, SandboxError
from sandbox.services import service

from ..memory import allocate
from . import devres
from .layout import Fields, offset
from .registrations import EEXIST, EINVAL, ENODEV, guest_string, owner_name

if TYPE_CHECKING:
    from sandbox.kernel import Kernel
    from sandbox.module import Module

RNG_BUFFER_SIZE = 64  # rng_buffer_size(): SMP_CACHE_BYTES on a 686 kernel (L1_CACHE_SHIFT 6)
EARLY_RANDOMNESS = 32  # add_early_randomness() reads this much
HWRNG_MINOR, MISC_MAJOR, MINORBITS = 183, 10, 20
EAGAIN, EFAULT = 11, 14
O_ACCMODE = 3
MAX_EMPTY_READS = 64
CLEANUP_DONE, DYING, REF = offset("hwrng", "cleanup_done"), offset("hwrng", "dying"), offset("hwrng", "ref")
DEV_PATH = "/dev/hwrng"


@dataclass(slots=True)
class Rng:
    """One registered struct hwrng."""

    address: int
    name: str
    quality: int
    owner: str
    refs: int = 0  # kref: 1 while current, +1 while a read uses it
    inited: bool = False


@dataclass
class HwrngCore:
    """Registered rngs in order, the current one, and the reader's shared buffer."""

    rngs: list[Rng] = field(default_factory=list)
    current: int = 0
    set_by_user: bool = False
    buffer: int = 0  # rng_buffer: kmalloc'd once
    data_avail: int = 0  # bytes of rng_buffer not yet handed out (from its start)
    early: list[bytes] = field(default_factory=list)  # what add_early_randomness took, for tests
    reads: int = 0

    def find(self, address: int) -> Rng | None:
        return next((r for r in self.rngs if r.address == address), None)

    # -- life of an rng --------------------------------------------------------------------
    def init_rng(self, k: Kernel, rng: Rng) -> int:
        """hwrng_init(): the driver's init unless already referenced; the kref starts at 1."""
        if rng.refs:
            rng.refs += 1
            return 0
        init = Fields(k.memory, "hwrng", rng.address)["init"]
        if init:
            result = signed32(k.call_function_pointer(init, rng.address))
            if result:
                return result
        rng.refs, rng.inited = 1, True
        k.memory.write_u32(rng.address + REF, 1)
        k.memory.write_u32(rng.address + CLEANUP_DONE, 0)  # reinit_completion(&rng->cleanup_done)
        return 0

    def put(self, k: Kernel, rng: Rng) -> None:
        """kref_put(): the last reference runs cleanup and completes cleanup_done."""
        if rng.refs <= 0:
            return
        rng.refs -= 1
        k.memory.write_u32(rng.address + REF, rng.refs)
        if rng.refs == 0:
            cleanup = Fields(k.memory, "hwrng", rng.address)["cleanup"]
            if cleanup:
                k.call_function_pointer(cleanup, rng.address)
            k.memory.write_u32(rng.address + CLEANUP_DONE, 1)

    def set_current(self, k: Kernel, rng: Rng, old: Rng | None = None) -> int:
        """set_current_rng(): init the new one, drop the old one (``old``: one already off the list)."""
        result = self.init_rng(k, rng)
        if result:
            return result
        old = old or self.find(self.current)
        self.current = rng.address  # rng_buffer keeps what it holds: Linux hands it out before asking the new one
        if old is not None and old is not rng:
            self.put(k, old)
        k.trace.add("note", "hwrng current", fields={"rng": rng.name})
        return 0

    def drop_current(self, k: Kernel, old: Rng | None = None) -> None:
        """drop_current_rng(): no current rng; the old one loses the core's reference."""
        old = old or self.find(self.current)
        self.current = 0
        if old is not None:
            self.put(k, old)

    def get_data(self, k: Kernel, rng: Rng, buffer: int, size_: int, wait: bool) -> int:
        """rng_get_data(): the driver's read, else data_present + data_read."""
        fields = Fields(k.memory, "hwrng", rng.address)
        call = k.call_function_pointer
        if fields["read"]:
            return signed32(call(fields["read"], rng.address, buffer, size_, int(wait)))
        present = signed32(call(fields["data_present"], rng.address, int(wait))) if fields["data_present"] else 1
        return signed32(call(fields["data_read"], rng.address, buffer)) if present else 0

    def early_randomness(self, k: Kernel, rng: Rng) -> None:
        """add_early_randomness(): 32 bytes without waiting, for the input pool."""
        scratch = allocate(k, EARLY_RANDOMNESS, owner="kernel")
        try:
            got = self.get_data(k, rng, scratch, EARLY_RANDOMNESS, wait=False)
            if got > 0:
                self.early.append(k.memory.read(scratch, min(got, EARLY_RANDOMNESS)))
        finally:
            k.memory.free(scratch)

    def unregister(self, k: Kernel, rng: Rng) -> None:
        """hwrng_unregister(): off the list; the best remaining rng becomes current."""
        self.rngs.remove(rng)
        new = None
        if self.current == rng.address:
            best = max(self.rngs, key=lambda r: r.quality, default=None)
            if best is not None and not self.set_current(k, best, old=rng):
                new = best
            else:
                self.drop_current(k, rng)
                self.set_by_user = False
        elif self.current:
            new = self.find(self.current)
        if new is not None:
            self.early_randomness(k, new)
        if rng.refs:  # wait_for_completion(&rng->cleanup_done): a reader still holds it
            k.warn(f"hwrng_unregister of {rng.name}: still referenced ({rng.refs})")

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """rngs a module left registered: unregistered and reported."""
        leaks = []
        for rng in [r for r in self.rngs if r.owner == module.name]:
            leaks.append(f"hwrng {rng.name!r} still registered")
            self.unregister(k, rng)
        return leaks

    # -- /dev/hwrng --------------------------------------------------------------------------
    def device_node(self, k: Kernel, path: str) -> DeviceNode | None:
        if path != DEV_PATH:
            return None
        return DeviceNode(DEV_PATH, "kernel", MISC_MAJOR, "hwrng", extra={"dev": MISC_MAJOR << MINORBITS | HWRNG_MINOR},
                          backend=HWRNG_FILES)

    def device_paths(self, k: Kernel) -> list[str]:
        return [DEV_PATH]


def select(k: Kernel, name: str) -> None:
    """Make the rng called ``name`` current, as writing it to ``rng_current`` does (ValueError if unknown)."""
    core = k.subsystem(HwrngCore)
    rng = next((r for r in core.rngs if r.name == name), None)
    if rng is None:
        raise ValueError(f"no hwrng {name!r} (registered: {', '.join(r.name for r in core.rngs) or 'none'})")
    core.set_by_user = True
    if core.current != rng.address:
        result = core.set_current(k, rng)
        if result:
            raise DeviceError(f"hwrng {name}: init failed with {result}", -result)


def available(k: Kernel) -> list[str]:
    """``rng_available``: the registered rngs' names, in order."""
    return [r.name for r in k.subsystem(HwrngCore).rngs]


def current_name(k: Kernel) -> str:
    """``rng_current``: the current rng's name, or "none"."""
    core = k.subsystem(HwrngCore)
    rng = core.find(core.current)
    return rng.name if rng is not None else "none"


class HwrngFiles:
    """rng_dev_open / rng_dev_read for ``/dev/hwrng`` (see the module docstring)."""

    def open(self, kernel: Kernel, node: DeviceNode, handle: OpenFile, flags: int) -> int:
        if flags & O_ACCMODE != 0:
            raise DeviceError(f"open of {DEV_PATH} failed: -22 (only O_RDONLY)", EINVAL)
        handle.extra_flags = flags  # type: ignore[attr-defined]
        return 1

    def read(self, kernel: Kernel, handle: OpenFile, buffer: int, count: int) -> int:
        core = kernel.subsystem(HwrngCore)
        nonblock = bool(getattr(handle, "extra_flags", 0) & O_NONBLOCK)
        if not core.buffer:
            core.buffer = allocate(kernel, RNG_BUFFER_SIZE, owner="kernel")
        done, err, empty = 0, 0, 0
        while count:
            rng = core.find(core.current)
            if rng is None:
                err = -ENODEV
                break
            rng.refs += 1  # get_current_rng()
            try:
                if not core.data_avail:
                    got = core.get_data(kernel, rng, core.buffer, RNG_BUFFER_SIZE, wait=not nonblock)
                    core.reads += 1
                    if got < 0:
                        err = got
                        break
                    core.data_avail = min(got, RNG_BUFFER_SIZE)
                if not core.data_avail:
                    if nonblock:
                        err = -EAGAIN
                        break
                    empty += 1
                    if empty >= MAX_EMPTY_READS:
                        raise SandboxError(f"{DEV_PATH}: {rng.name} returned no data {empty} times to a blocking read "
                                           "(it would spin forever)")
                    continue
                empty = 0
                n = min(core.data_avail, count)
                core.data_avail -= n
                kernel.memory.write(buffer + done, kernel.memory.read(core.buffer + core.data_avail, n))
                count -= n
                done += n
            finally:
                core.put(kernel, rng)
        return done or err

    def write(self, kernel: Kernel, handle: OpenFile, buffer: int, count: int) -> int:
        return -EINVAL

    def ioctl(self, kernel: Kernel, handle: OpenFile, command: int, argument: int) -> int:
        return -25  # -ENOTTY: rng_chrdev_ops has no ioctl

    def llseek(self, kernel: Kernel, handle: OpenFile, offset_: int, whence: int) -> int:
        return 0  # noop_llseek

    def position(self, kernel: Kernel, handle: OpenFile) -> int:
        return 0

    def release(self, kernel: Kernel, handle: OpenFile) -> int:
        return 0


HWRNG_FILES = HwrngFiles()


# -- services ----------------------------------------------------------------------------------

@service("int hwrng_register(struct hwrng *rng)")
def hwrng_register(k: Kernel, rng: int) -> int:
    """Register an rng; it becomes current if it is the first or the best (see the module docstring)."""
    fields = Fields(k.memory, "hwrng", rng)
    if not fields["name"] or not (fields["read"] or fields["data_read"]):
        return -EINVAL
    core = k.subsystem(HwrngCore)
    name = guest_string(k, fields["name"], 64)
    if any(r.name == name for r in core.rngs):
        return -EEXIST
    record = Rng(rng, name, fields["quality"], owner_name(k))
    core.rngs.append(record)
    list_node = fields.address_of("list")
    k.memory.write_u32(list_node, list_node)
    k.memory.write_u32(list_node + 4, list_node)
    for completion, done in ((CLEANUP_DONE, 1), (DYING, 0)):  # init + complete(cleanup_done); init(dying)
        k.memory.write_u32(rng + completion, done)
        head = rng + completion + 8  # swait_queue_head.task_list
        k.memory.write_u32(head, head)
        k.memory.write_u32(head + 4, head)
    current = core.find(core.current)
    is_new_current = False
    if current is None or (not core.set_by_user and record.quality > current.quality):
        result = core.set_current(k, record)
        if result:
            core.rngs.remove(record)
            return result
        is_new_current = True
    k.trace.add("note", "hwrng", fields={"rng": name, "quality": record.quality, "current": is_new_current})
    if is_new_current or not fields["init"]:
        core.early_randomness(k, record)
    return 0


@service("void hwrng_unregister(struct hwrng *rng)")
def hwrng_unregister(k: Kernel, rng: int) -> None:
    """Unregister an rng (its cleanup runs once nothing uses it)."""
    core = k.subsystem(HwrngCore)
    record = core.find(rng)
    if record is None:
        k.warn(f"hwrng_unregister of {rng:#x} from {k.symbolizer.short(k.current_caller)}: not registered")
        return
    core.unregister(k, record)


@service("int devm_hwrng_register(struct device *dev, struct hwrng *rng)")
def devm_hwrng_register(k: Kernel, dev: int, rng: int) -> int:
    """hwrng_register, unregistered when the driver unbinds."""
    result = hwrng_register(k, rng)
    if result == 0:
        devres.add(k, dev, "hwrng", rng, release_fn=lambda kernel: hwrng_unregister(kernel, rng))
    return result


@service("void devm_hwrng_unregister(struct device *dev, struct hwrng *rng)")
def devm_hwrng_unregister(k: Kernel, dev: int, rng: int) -> None:
    """Unregister now what devm_hwrng_register registered."""
    if devres.take(k, dev, "hwrng", rng) is not None:
        hwrng_unregister(k, rng)
