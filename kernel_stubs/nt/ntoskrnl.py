"""ntoskrnl.exe and hal.dll of the nt profile: the I/O manager, pool, spin locks, strings, DbgPrint.

The profile's convention is stdcall, so every service here pops its own
arguments (``ret N``) unless it says otherwise: ``DbgPrint`` is variadic
(the caller pops), and the i386 fastcall names take their first two
arguments in ECX and EDX. Objects the kernel makes for a driver (its
DRIVER_OBJECT, its devices) live in the heap with the 32-bit Windows
layouts of :mod:`.structs`; :class:`NtObjects` remembers which module owns
which, so unloading names what the driver left behind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sandbox.errors import GuestFault
from sandbox.services import service
from sandbox.services.printf import format_printf
from sandbox.services.varargs import VarArgs

from .. import spinlock
from ..printk import _reader
from . import structs as s

if TYPE_CHECKING:
    from sandbox.kernel import Kernel
    from sandbox.module import Module

# Largest string a UNICODE_STRING may describe (its Length is 16 bits).
_MAX_UNICODE_BYTES = 0xFFFE


@dataclass(slots=True)
class PoolBlock:
    """One ExAllocatePoolWithTag block."""

    size: int
    tag: int
    site: int
    owner: str


@dataclass(slots=True)
class Device:
    """A DEVICE_OBJECT the I/O manager made."""

    address: int
    name: str | None
    driver_object: int
    owner: str


@dataclass
class NtObjects:
    """The nt kernel's objects: driver objects per module, devices, symbolic links, pool, IRQL."""

    drivers: dict[str, int] = field(default_factory=dict)  # module name -> DRIVER_OBJECT address
    devices: dict[int, Device] = field(default_factory=dict)  # DEVICE_OBJECT address -> device
    links: dict[str, str] = field(default_factory=dict)  # symbolic link name (lower case) -> device name
    pool: dict[int, PoolBlock] = field(default_factory=dict)
    irql: int = s.PASSIVE_LEVEL
    kernel_blocks: dict[str, list[int]] = field(default_factory=dict)  # module -> strings made for it (names, paths)

    def clone(self) -> NtObjects:
        """A copy for snapshots."""
        return NtObjects(dict(self.drivers), dict(self.devices), dict(self.links), dict(self.pool), self.irql,
                         {m: list(b) for m, b in self.kernel_blocks.items()})

    def device_named(self, name: str) -> Device | None:
        """The device called ``name`` (``\\Device\\x``), or one a symbolic link of that name points at; case-insensitive."""
        wanted = self.links.get(name.lower(), name).lower()
        return next((d for d in self.devices.values() if d.name is not None and d.name.lower() == wanted), None)

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """What the driver left: pool blocks (by tag), devices, symbolic links; then its driver object."""
        leaks: list[str] = []
        for address, block in [(a, b) for a, b in self.pool.items() if b.owner == module.name]:
            leaks.append(f"pool block of {block.size} bytes with tag {tag_text(block.tag)!r} at {address:#x} "
                         f"allocated at {k.symbolizer.short(block.site)} not freed")
            del self.pool[address]
            k.memory.free(address)
        for device in [d for d in self.devices.values() if d.owner == module.name]:
            leaks.append(f"device {device.name or f'{device.address:#x}'} not deleted (IoDeleteDevice)")
            del self.devices[device.address]
            k.memory.free(device.address)
        names = {d.name.lower() for d in self.devices.values() if d.name}
        for link, target in list(self.links.items()):
            if target.lower() not in names:
                leaks.append(f"symbolic link {link} -> {target} not deleted (IoDeleteSymbolicLink)")
                del self.links[link]
        driver = self.drivers.pop(module.name, None)
        if driver is not None:
            k.memory.free(driver)
        for block in self.kernel_blocks.pop(module.name, []):
            k.memory.free(block)
        return leaks


def tag_text(tag: int) -> str:
    """A pool tag as the four characters it is written as (``'Samp'``, stored little-endian)."""
    return tag.to_bytes(4, "little").decode("latin-1")


def _objects(k: Kernel) -> NtObjects:
    return k.subsystem(NtObjects)


def _owner(k: Kernel) -> str:
    module = k.caller_module()
    return module.name if module is not None else "kernel"


def read_unicode(k: Kernel, address: int) -> str:
    """The text of the UNICODE_STRING at ``address`` (UTF-16LE, Length bytes)."""
    raw = k.memory.read(address, s.UNICODE_STRING_SIZE)
    length, maximum, buffer = int.from_bytes(raw[0:2], "little"), int.from_bytes(raw[2:4], "little"), int.from_bytes(raw[4:8], "little")
    if length % 2 or length > maximum:
        raise GuestFault("bad-argument", f"UNICODE_STRING at {address:#x} has Length {length} (MaximumLength {maximum}): "
                         "odd or longer than its buffer", pc=k.current_caller, address=address)
    return k.memory.read(buffer, length).decode("utf-16-le", "replace") if length else ""


def new_unicode(k: Kernel, text: str) -> int:
    """A kernel-owned UNICODE_STRING (and its buffer, NUL-terminated) holding ``text``."""
    data = text.encode("utf-16-le")
    address = k.memory.alloc(s.UNICODE_STRING_SIZE + len(data) + 2)
    k.memory.write(address, len(data).to_bytes(2, "little") + (len(data) + 2).to_bytes(2, "little")
                   + (address + s.UNICODE_STRING_SIZE).to_bytes(4, "little") + data + b"\0\0")
    return address


# -- debug output ---------------------------------------------------------------------
@service("unsigned long DbgPrint(const char *fmt, ...)")
def DbgPrint(k: Kernel, fmt: int, args: VarArgs) -> int:
    """printf-formatted text to the kernel log (the debugger's output on NT); STATUS_SUCCESS."""
    text = format_printf(k.memory.read_cstring(fmt), args, _reader(k))
    if k.current_event is not None:
        k.current_event.fields["output"] = text
    k.console_write(text.decode("utf-8", "replace"))
    return s.STATUS_SUCCESS


# -- pool -----------------------------------------------------------------------------------
@service("void *ExAllocatePoolWithTag(int pool_type, unsigned long size, unsigned long tag)")
def ExAllocatePoolWithTag(k: Kernel, pool_type: int, size: int, tag: int) -> int:
    """A block of ``size`` bytes from the pool, remembered with its tag; NULL when it cannot be had."""
    if size == 0 or size > 64 << 20:
        return 0
    address = k.memory.alloc(size, k.current_caller)
    if address:
        _objects(k).pool[address] = PoolBlock(size, tag, k.current_caller, _owner(k))
    return address


@service("void ExFreePoolWithTag(void *block, unsigned long tag)")
def ExFreePoolWithTag(k: Kernel, block: int, tag: int) -> None:
    """Free a pool block; a wrong tag or a block the pool never gave is a bug check, reported."""
    pool = _objects(k).pool
    found = pool.get(block)
    caller = k.symbolizer.short(k.current_caller)
    if found is None:
        raise GuestFault("invalid-free", f"ExFreePoolWithTag of {block:#x} at {caller}: not a pool block "
                         f"(BAD_POOL_CALLER)", pc=k.current_caller, address=block)
    if tag and found.tag != tag:
        raise GuestFault("invalid-free", f"ExFreePoolWithTag of {block:#x} at {caller} with tag {tag_text(tag)!r}: "
                         f"allocated with {tag_text(found.tag)!r} (BAD_POOL_CALLER)", pc=k.current_caller, address=block)
    del pool[block]
    k.memory.free(block, k.current_caller)


# -- the I/O manager --------------------------------------------------------------------------
@service("long IoCreateDevice(void *driver_object, unsigned long extension_size, void *device_name, "
         "unsigned long device_type, unsigned long characteristics, unsigned char exclusive, void **device_object)")
def IoCreateDevice(k: Kernel, driver_object: int, extension_size: int, device_name: int, device_type: int,
                   characteristics: int, exclusive: int, device_object: int) -> int:
    """Make a DEVICE_OBJECT (and its zeroed extension), link it first in the driver's device list, as NT does."""
    objects = _objects(k)
    name = read_unicode(k, device_name) if device_name else None
    if name is not None and objects.device_named(name) is not None:
        return s.STATUS_OBJECT_NAME_COLLISION
    if extension_size > 1 << 20:
        return s.STATUS_INSUFFICIENT_RESOURCES
    address = k.memory.alloc(s.DEVICE_OBJECT_SIZE + extension_size, k.current_caller)
    if not address:
        return s.STATUS_INSUFFICIENT_RESOURCES
    memory = k.memory
    memory.write(address, bytes(s.DEVICE_OBJECT_SIZE + extension_size))
    memory.write(address, s.DEVICE_OBJECT_TYPE.to_bytes(2, "little") + s.DEVICE_OBJECT_SIZE.to_bytes(2, "little"))
    memory.write_u32(address + s.DEVICE_DRIVER_OBJECT, driver_object)
    memory.write_u32(address + s.DEVICE_NEXT_DEVICE, memory.read_u32(driver_object + s.DRIVER_DEVICE_OBJECT))
    memory.write_u32(address + s.DEVICE_FLAGS, s.DO_DEVICE_INITIALIZING)
    memory.write_u32(address + s.DEVICE_CHARACTERISTICS, characteristics)
    memory.write_u32(address + s.DEVICE_EXTENSION, address + s.DEVICE_OBJECT_SIZE if extension_size else 0)
    memory.write_u32(address + s.DEVICE_TYPE, device_type)
    memory.write(address + s.DEVICE_STACK_SIZE, b"\x01")
    memory.write_u32(driver_object + s.DRIVER_DEVICE_OBJECT, address)
    memory.write_u32(device_object, address)
    objects.devices[address] = Device(address, name, driver_object, _owner(k))
    return s.STATUS_SUCCESS


@service("void IoDeleteDevice(void *device_object)")
def IoDeleteDevice(k: Kernel, device_object: int) -> None:
    """Unlink the device from its driver's list and free it."""
    objects = _objects(k)
    device = objects.devices.pop(device_object, None)
    if device is None:
        raise GuestFault("bad-argument", f"IoDeleteDevice({device_object:#x}) at {k.symbolizer.short(k.current_caller)}: "
                         "not a device IoCreateDevice made", pc=k.current_caller, address=device_object)
    memory = k.memory
    link = device.driver_object + s.DRIVER_DEVICE_OBJECT
    for _ in range(len(objects.devices) + 1):  # the list is only as long as the devices that exist
        current = memory.read_u32(link)
        if current in (0, device_object):
            break
        link = current + s.DEVICE_NEXT_DEVICE
    if memory.read_u32(link) == device_object:
        memory.write_u32(link, memory.read_u32(device_object + s.DEVICE_NEXT_DEVICE))
    memory.free(device_object)


@service("long IoCreateSymbolicLink(void *link_name, void *device_name)")
def IoCreateSymbolicLink(k: Kernel, link_name: int, device_name: int) -> int:
    """Name a device by another name (``\\DosDevices\\x``); collisions and unknown devices are NTSTATUS errors."""
    objects = _objects(k)
    link, target = read_unicode(k, link_name), read_unicode(k, device_name)
    if link.lower() in objects.links:
        return s.STATUS_OBJECT_NAME_COLLISION
    if objects.device_named(target) is None:
        return s.STATUS_OBJECT_NAME_NOT_FOUND
    objects.links[link.lower()] = target
    return s.STATUS_SUCCESS


@service("long IoDeleteSymbolicLink(void *link_name)")
def IoDeleteSymbolicLink(k: Kernel, link_name: int) -> int:
    """Remove a symbolic link; STATUS_OBJECT_NAME_NOT_FOUND if there is none."""
    return s.STATUS_SUCCESS if _objects(k).links.pop(read_unicode(k, link_name).lower(), None) is not None \
        else s.STATUS_OBJECT_NAME_NOT_FOUND


@service("void IofCompleteRequest(void *irp, char priority_boost)", convention="fastcall")
def IofCompleteRequest(k: Kernel, irp: int, priority_boost: int) -> None:
    """Complete an IRP (what the IoCompleteRequest macro calls on i386); completing one twice is a bug check."""
    from .irp import complete

    complete(k, irp)


@service("long IofCallDriver(void *device_object, void *irp)", convention="fastcall")
def IofCallDriver(k: Kernel, device_object: int, irp: int) -> int:
    """Pass an IRP down: move to the next stack location and call its device's dispatch routine (stdcall)."""
    memory = k.memory
    location = memory.read(irp + s.IRP_CURRENT_LOCATION, 1)[0]
    if location <= 1:
        raise GuestFault("bad-argument", f"IofCallDriver at {k.symbolizer.short(k.current_caller)}: IRP {irp:#x} has no "
                         "stack location left (NO_MORE_IRP_STACK_LOCATIONS)", pc=k.current_caller, address=irp)
    stack = memory.read_u32(irp + s.IRP_CURRENT_STACK_LOCATION) - s.STACK_LOCATION_SIZE
    memory.write(irp + s.IRP_CURRENT_LOCATION, bytes([location - 1]))
    memory.write_u32(irp + s.IRP_CURRENT_STACK_LOCATION, stack)
    memory.write_u32(stack + s.STACK_DEVICE_OBJECT, device_object)
    major = memory.read(stack + s.STACK_MAJOR, 1)[0]
    driver = memory.read_u32(device_object + s.DEVICE_DRIVER_OBJECT)
    dispatch = memory.read_u32(driver + s.DRIVER_MAJOR_FUNCTION + 4 * major) if major < s.IRP_MJ_COUNT else 0
    if not dispatch:
        raise GuestFault("bad-argument", f"IofCallDriver at {k.symbolizer.short(k.current_caller)}: the driver of device "
                         f"{device_object:#x} has no MajorFunction[{major:#x}]", pc=k.current_caller, address=device_object)
    return k.call_function_pointer(dispatch, device_object, irp, convention="stdcall")


# -- spin locks and IRQL ------------------------------------------------------------------------
@service("void KeInitializeSpinLock(unsigned long *lock)")
def KeInitializeSpinLock(k: Kernel, lock: int) -> None:
    """A free lock."""
    k.memory.write_u32(lock, 0)
    k.subsystem(spinlock.Locks).held.pop(lock, None)


@service("unsigned char KfAcquireSpinLock(unsigned long *lock)", convention="fastcall")
def KfAcquireSpinLock(k: Kernel, lock: int) -> int:
    """Raise to DISPATCH_LEVEL and take the lock; returns the old IRQL. A held lock is a deadlock, reported."""
    objects = _objects(k)
    spinlock.acquire(k, lock)
    old, objects.irql = objects.irql, s.DISPATCH_LEVEL
    return old


@service("void KfReleaseSpinLock(unsigned long *lock, unsigned char new_irql)", convention="fastcall")
def KfReleaseSpinLock(k: Kernel, lock: int, new_irql: int) -> None:
    """Drop the lock and return to ``new_irql`` (the value KfAcquireSpinLock gave)."""
    spinlock.release(k, lock)
    _objects(k).irql = new_irql


# -- counted strings ------------------------------------------------------------------------------
@service("void RtlInitUnicodeString(void *destination, const unsigned short *source)")
def RtlInitUnicodeString(k: Kernel, destination: int, source: int) -> None:
    """Point ``destination`` at the NUL-terminated UTF-16 ``source`` (Length without the NUL)."""
    length = 0
    if source:
        # Length stops at 0xFFFC so MaximumLength (Length + the NUL) still fits a USHORT, as Windows.
        while length < _MAX_UNICODE_BYTES - 2 and k.memory.read(source + length, 2) != b"\0\0":
            length += 2
    maximum = length + 2 if source else 0
    k.memory.write(destination, length.to_bytes(2, "little") + maximum.to_bytes(2, "little") + source.to_bytes(4, "little"))


@service("unsigned char RtlEqualUnicodeString(void *first, void *second, unsigned char case_insensitive)")
def RtlEqualUnicodeString(k: Kernel, first: int, second: int, case_insensitive: int) -> int:
    """TRUE when both strings hold the same text (upper-cased first when told)."""
    a, b = read_unicode(k, first), read_unicode(k, second)
    return int(a.upper() == b.upper() if case_insensitive else a == b)


@service("void RtlCopyUnicodeString(void *destination, void *source)")
def RtlCopyUnicodeString(k: Kernel, destination: int, source: int) -> None:
    """Copy as much of ``source`` as the destination's buffer holds (NUL-terminated if room is left)."""
    raw = k.memory.read(destination, s.UNICODE_STRING_SIZE)
    maximum, buffer = int.from_bytes(raw[2:4], "little"), int.from_bytes(raw[4:8], "little")
    data = read_unicode(k, source).encode("utf-16-le")[: maximum & ~1] if source else b""
    k.memory.write(buffer, data + (b"\0\0" if len(data) + 2 <= maximum else b""))
    k.memory.write(destination, len(data).to_bytes(2, "little"))
