"""The service context: what a kernel service may use, and nothing it must not.

Every service receives its kernel's one :class:`ServiceContext` as its first
argument (by convention named ``k`` or ``ctx``)::

    @service("int myos_log(const char *text)")
    def myos_log(ctx, text):
        message = ctx.read_string(text)
        ctx.console_write(message)
        return len(message)

The context is made once per kernel (no allocation per call) and forwards to
the kernel's parts: checked guest memory, the console, the calling module and
call site, guest calls, IRQ lines, the heap, per-kernel subsystem state,
trace notes and warnings, and time. ``ctx.kernel`` is the whole Kernel, for
profile code that needs more; code that only uses the names documented here
keeps working as the engine changes.

Host-side helpers may be handed either a Kernel or a context: both have the
names services use today (``memory``, ``subsystem``, ``call``, ...), and
``obj.service_context`` gives the context from either.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import GuestFault
from ..machine import address_map as amap
from ..machine.irq import IrqAction
from .heap import Heap
from .printf import format_printf

if TYPE_CHECKING:
    from ..devices.chardev import DeviceNodes, OpenFile
    from ..devices.mmio import MmioBus
    from ..kernel import Kernel
    from ..machine.irq import IrqTable
    from ..module import Module
    from ..trace.events import Event
    from .varargs import VarArgs

T = TypeVar("T")

__all__ = ["ServiceContext", "as_context"]

_JMP_REL32 = 0xE9


class ServiceContext:
    """The view of one kernel that its services get (see the module docstring).

    Attributes set once: ``kernel``, ``memory`` (checked guest memory:
    ``read``, ``write``, ``read_u32``, ``write_u32``, ``read_cstring``,
    ``alloc``, ``free``), ``cpu``, ``symbolizer``, ``trace``, ``clock``.
    ``current_caller`` (the return address of the service call in
    progress) and ``current_event`` (its trace event, which a service may
    annotate through ``fields``) change with every call.
    """

    __slots__ = ("__weakref__", "_table", "clock", "cpu", "current_caller", "current_event", "kernel", "memory",
                 "symbolizer", "trace")

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.memory = kernel.memory
        self.cpu = kernel.cpu
        self.symbolizer = kernel.symbolizer
        self.trace = kernel.trace
        self.clock = kernel.clock
        self._table = kernel.subsystems
        self.current_caller = 0
        self.current_event: Event | None = None

    # A context is its kernel's identity: copies (snapshots deep-copying a
    # subsystem that holds one) share it.
    def __copy__(self) -> ServiceContext:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> ServiceContext:
        return self

    def __repr__(self) -> str:
        return f"<ServiceContext of {self.kernel.profile.name} kernel>"

    def __getattr__(self, name: str) -> Any:
        # Only reached for names not defined here: a part the Kernel gained
        # after this class was written (``k.platform``) stays reachable from
        # service code, so new services need no edit here to run. The names
        # documented on this class are the stable ones.
        if name == "kernel" or name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.kernel, name)

    @property
    def service_context(self) -> ServiceContext:
        """This context (so helpers may take a Kernel or a context alike)."""
        return self

    @property
    def profile(self) -> Any:
        """The kernel's profile (its name, convention, include directory...)."""
        return self.kernel.profile

    # -------------------------------------------------------------- memory
    def read(self, address: int, size: int) -> bytes:
        """``size`` bytes of guest memory; GuestFault if any is unmapped or unreadable."""
        return self.memory.read(address, size)

    def write(self, address: int, data: bytes) -> None:
        """Write guest memory; GuestFault if any byte is unmapped or read-only."""
        self.memory.write(address, data)

    def read_u8(self, address: int) -> int:
        """One unsigned byte."""
        return self.memory.read(address, 1)[0]

    def read_u16(self, address: int) -> int:
        """An unsigned little-endian 16-bit value."""
        return int.from_bytes(self.memory.read(address, 2), "little")

    def read_u32(self, address: int) -> int:
        """An unsigned 32-bit value (pointers, ``int``, ``long`` on i386)."""
        return self.memory.read_u32(address)

    def read_s32(self, address: int) -> int:
        """A signed 32-bit value."""
        value = self.memory.read_u32(address)
        return value - (1 << 32) if value >> 31 else value

    def read_u64(self, address: int) -> int:
        """An unsigned 64-bit value."""
        return int.from_bytes(self.memory.read(address, 8), "little")

    def write_u8(self, address: int, value: int) -> None:
        """Store one byte (``value`` is truncated)."""
        self.memory.write(address, bytes((value & 0xFF,)))

    def write_u16(self, address: int, value: int) -> None:
        """Store a 16-bit value (truncated, negative values as two's complement)."""
        self.memory.write(address, (value & 0xFFFF).to_bytes(2, "little"))

    def write_u32(self, address: int, value: int) -> None:
        """Store a 32-bit value (truncated, negative values as two's complement)."""
        self.memory.write_u32(address, value & 0xFFFFFFFF)

    def write_u64(self, address: int, value: int) -> None:
        """Store a 64-bit value."""
        self.memory.write(address, (value & (1 << 64) - 1).to_bytes(8, "little"))

    def read_struct(self, address: int, layout: str | struct.Struct) -> tuple[Any, ...]:
        """Unpack a C struct with a :mod:`struct` layout (``"<IiH"``; give ``<``: i386 is little-endian)."""
        packer = layout if isinstance(layout, struct.Struct) else struct.Struct(layout)
        return packer.unpack(self.memory.read(address, packer.size))

    def write_struct(self, address: int, layout: str | struct.Struct, *values: Any) -> None:
        """Pack ``values`` with a :mod:`struct` layout and store them."""
        packer = layout if isinstance(layout, struct.Struct) else struct.Struct(layout)
        self.memory.write(address, packer.pack(*values))

    def read_cstring(self, address: int, limit: int | None = None) -> bytes:
        """The NUL-terminated string at ``address`` (without the NUL), at most ``limit`` bytes."""
        return self.memory.read_cstring(address, limit)

    def read_string(self, address: int, limit: int | None = None, encoding: str = "utf-8") -> str:
        """:meth:`read_cstring` decoded (undecodable bytes replaced)."""
        return self.memory.read_cstring(address, limit).decode(encoding, "replace")

    def write_cstring(self, address: int, text: str | bytes, size: int | None = None) -> int:
        """Store ``text`` plus a NUL; with ``size``, at most ``size`` bytes in all
        (C ``snprintf`` semantics). Returns the full length of ``text``."""
        data = text.encode() if isinstance(text, str) else bytes(text)
        if size is None:
            self.memory.write(address, data + b"\0")
        elif size > 0:
            self.memory.write(address, data[: size - 1] + b"\0")
        return len(data)

    # ---------------------------------------------------------------- heap
    @property
    def heap(self) -> Heap:
        """This kernel's heap records (allocations owned by modules, leak-checked at unload)."""
        return self._table.get(Heap)

    def alloc(self, size: int, owner: str | None = None) -> int:
        """A zeroed heap block owned by the calling module (freed and reported
        as a leak if still held at its unload); 0 when impossible."""
        return self.heap.alloc(self, size, owner)

    def free(self, address: int) -> None:
        """Free a heap block; double and invalid frees raise GuestFault."""
        self.heap.free(self, address)

    # ---------------------------------------------------------- subsystems
    def subsystem(self, cls: type[T]) -> T:
        """This kernel's instance of a service state class, made on first use.

        See :mod:`sandbox.services.subsystem` for the optional protocol
        (``boot``, ``release_module``, ``save``/``restore``).
        """
        return self._table.get(cls)

    # ------------------------------------------------------------- console
    def console_write(self, text: str, level: int | None = None) -> None:
        """Append text to the kernel log (``level``: 0 EMERG .. 7 DEBUG, or None)."""
        self.kernel.console_write(text, level)

    @property
    def console(self) -> str:
        """Everything written to the kernel log so far."""
        return self.kernel.console

    def format(self, fmt: int, args: VarArgs) -> bytes:
        """Format like C ``printf``: ``fmt`` is a guest format string's address,
        ``args`` the variadic reader the service received (or a ``VarArgs``
        over a ``va_list``). An unreadable ``%s`` prints ``(efault)``."""
        return format_printf(self.memory.read_cstring(fmt), args, self._printf_string)

    def _printf_string(self, address: int, limit: int | None) -> bytes:
        try:
            return self.memory.read_cstring(address, limit)
        except GuestFault:
            return b"(efault)"

    # ------------------------------------------------- caller and call site
    def caller_module(self) -> Module | None:
        """The module making the service call in progress (None for the kernel or the host)."""
        return self.kernel.caller_module()

    def module_at(self, address: int) -> Module | None:
        """The module whose code or data contains ``address``."""
        return self.kernel.module_at(address)

    def call_site(self) -> str:
        """Where the service call in progress comes from: ``module:symbol+0xoff``.

        A function that tail-calls the service (``jmp`` instead of ``call``)
        leaves no return address of its own; then the jump is found in the
        function the guest call entered, and ``(tail call)`` is added.
        """
        caller = self.current_caller
        if caller == 0 and not self.cpu.entries:
            return "the host"  # a service function called from Python, outside any guest call
        if caller not in amap.HOST_RETURNS:
            return self.symbolizer.short(caller)
        if not self.cpu.entries:
            return "the host"
        entry = self.cpu.entries[-1]
        jump = self._tail_jump(entry)
        where = entry if jump is None else jump
        found = self.symbolizer.symbol_at(where)
        if found is None:
            return f"{where:#x} (tail call)"
        owner, symbol, offset = found
        return f"{owner}:{symbol}+{offset:#x} (tail call)"

    def _tail_jump(self, entry: int) -> int | None:
        """The ``jmp rel32`` to the current service within the function at ``entry``."""
        event = self.current_event
        target = self.kernel.dispatcher.addresses.get(event.name) if event is not None else None
        area = self.symbolizer.area_at(entry)
        if target is None or area is None:
            return None
        ends = [e for s, e in zip(area.sym_starts, area.sym_ends) if s == entry]
        end = ends[0] if ends and ends[0] > entry else area.end
        try:
            code = self.memory.read(entry, end - entry)
        except GuestFault:
            return None
        for offset in range(len(code) - 4):
            if code[offset] == _JMP_REL32:
                displacement = int.from_bytes(code[offset + 1 : offset + 5], "little", signed=True)
                if (entry + offset + 5 + displacement) & 0xFFFFFFFF == target:
                    return entry + offset
        return None

    def describe_address(self, address: int) -> str:
        """What lives at ``address`` (a module symbol, a heap block, a guard page...)."""
        return self.kernel.describe_address(address)

    def export_address(self, name: str) -> int | None:
        """The address of an exported symbol (kernel service or module export), or None."""
        return self.kernel.export_address(name)

    # ---------------------------------------------------------- guest calls
    def call(self, address: int, *args: Any, **options: Any) -> int:
        """Call guest code (see :meth:`Kernel.call`): ints, bytes and str arguments, signed EAX."""
        return self.kernel.call(address, *args, **options)

    def call_function_pointer(self, address: int, *slots: int, **options: Any) -> int:
        """Call a guest function pointer (a driver's callback) with integer
        arguments by the profile's convention; EAX as unsigned. ``options`` are
        :meth:`Kernel.call_function_pointer`'s (``context="irq"``, ...)."""
        return self.kernel.call_function_pointer(address, *slots, **options)

    # ----------------------------------------------------------------- IRQs
    @property
    def irqs(self) -> IrqTable:
        """The IRQ line table (who is registered on which line)."""
        return self.kernel.irqs

    def register_irq(self, action: IrqAction) -> int:
        """Add a handler (an :class:`IrqAction`); 0, or -EBUSY / -EINVAL as request_irq."""
        return self.kernel.register_irq(action)

    def request_irq(self, line: int, handler: int, dev_id: int = 0, name: str = "", flags: int = 0) -> int:
        """Register the guest function ``handler`` on ``line`` for the calling module.

        The handler is called as ``handler(line, dev_id)``; the registration
        is removed (and reported as a leak) if the module unloads with it
        still in place. Returns 0 or a negative errno.
        """
        module = self.caller_module()
        owner = module.name if module is not None else "kernel"
        return self.kernel.register_irq(IrqAction(line, handler, dev_id, name or owner, flags, owner))

    def free_irq(self, line: int, dev_id: int = 0) -> bool:
        """Remove the handler on ``line`` registered with ``dev_id``; whether there was one."""
        return self.kernel.irqs.unregister(line, dev_id) is not None

    def add_irq_hook(self, line: int, hook: Callable[[], None], first: bool = False,
                     due: Callable[[], int | None] | None = None) -> None:
        """Run Python ``hook`` whenever ``line`` is delivered (see :meth:`Kernel.add_irq_hook`)."""
        self.kernel.add_irq_hook(line, hook, first, due)

    def raise_irq(self, line: int) -> Any:
        """Deliver interrupt ``line`` (left pending while the guest runs with interrupts off)."""
        return self.kernel.raise_irq(line)

    @property
    def irqs_enabled(self) -> bool:
        """The CPU interrupt flag; setting it True delivers pending lines."""
        return self.kernel.irqs_enabled

    @irqs_enabled.setter
    def irqs_enabled(self, value: bool) -> None:
        self.kernel.irqs_enabled = value

    # ----------------------------------------------------------------- time
    def advance_time(self, nanoseconds: int) -> None:
        """Move time forward (udelay's mechanism); crossing a tick delivers it."""
        self.kernel.advance_time(nanoseconds)

    def tick(self, count: int = 1) -> None:
        """Let ``count`` timer ticks pass (each delivers IRQ 0)."""
        self.kernel.tick(count)

    # --------------------------------------------------- trace and warnings
    def warn(self, text: str) -> None:
        """Record a driver mistake that does not stop it (``Kernel.warnings`` and a trace event)."""
        self.kernel.warn(text)

    def note(self, what: str, **fields: Any) -> None:
        """Add a ``note`` trace event called ``what``, nested under the call in progress."""
        call = self.current_event
        self.trace.add("note", what, caller=self.current_caller,
                       depth=call.depth if call is not None else 0,
                       context=call.context if call is not None else "task", fields=fields)

    # ------------------------------------------------------ devices, files
    @property
    def device_nodes(self) -> DeviceNodes:
        """The ``/dev`` table drivers register character devices in."""
        return self.kernel.device_nodes

    def open(self, path: str, flags: int | None = None) -> OpenFile:
        """Open a registered character device as a user process would (see :meth:`Kernel.open`)."""
        return self.kernel.open(path) if flags is None else self.kernel.open(path, flags)

    @property
    def mmio(self) -> MmioBus:
        """The MMIO bus (device windows ioremap maps)."""
        return self.kernel.mmio


def as_context(obj: Kernel | ServiceContext) -> ServiceContext:
    """The service context of a Kernel, or the context itself."""
    return obj.service_context
