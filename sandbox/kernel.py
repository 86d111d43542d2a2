"""The Kernel: one emulated machine hosting modules and kernel services.

This is the public front of the engine. It wires the CPU, memory, service
dispatcher, symbolizer, IRQ table, port and MMIO buses, devices, clock and
trace together, and runs the load and unload sequences. Which services exist comes from the profile
(``kernel_stubs``), never from here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from . import lifecycle
from .arch import I386, Architecture
from .console import DEFAULT_CONSOLE_LIMIT, Console
from .coverage import Coverage
from .devices.bus import DeviceSet, default_devices
from .devices.chardev import O_RDWR, DeviceNodes, OpenFile, open_device
from .devices.device import Device
from .devices.host import DeviceHost
from .devices.i2c import I2cBus
from .devices.mmio import MmioBus, MmioDevice
from .devices.pci import PciBus
from .devices.platform import PlatformBus
from .devices.spi import SpiBus
from .errors import ConventionMismatch, GuestFault, NotInProfile, SandboxError
from .exports import ExportTable
from .faultinject import Injections
from .interrupts import TIMER_IRQ, InterruptDelivery, IrqResult
from .licenses import gpl_only_services
from .machine import address_map as amap
from .machine.clock import Clock
from .machine.control import IF
from .machine.cpu import Cpu
from .machine.faults import FaultReporter
from .machine.irq import IrqAction, IrqTable
from .machine.kernel_space import KernelSpace
from .machine.memory import GuestMemory
from .machine.ports import PortBus
from .machine.registers import EIP
from .machine.relocator import GuestRelocator
from .module import Module, UnloadReport
from .module_table import ModuleTable
from .profile import Profile, get_profile
from .services.callconv import (
    CONVENTIONS,
    ByValue,
    CallingConvention,
    Int64,
    describe_pops,
    flatten_arguments,
    get_convention,
    place_arguments,
)
from .services.context import ServiceContext
from .services.dispatcher import ServiceDispatcher
from .services.headers import declared_functions, missing_service
from .services.registry import ServiceSpec, check_arity, collect
from .services.subsystem import SubsystemTable
from .snapshot import Snapshot
from .snapshot import restore as snapshot_restore
from .snapshot import take as snapshot_take
from .symbolizer import Symbolizer, SymbolRange
from .tick_page import TickPage
from .trace.events import DEFAULT_TRACE_LIMIT, Event, Trace
from .trace.itrace import InstructionTrace
from .trace.text import format_event
from .traps import Traps
from .wellknown import WellKnownTable, checked_table

T = TypeVar("T")

PERCPU_AREA_SIZE = 0x40
STACK_CANARY_OFFSET = 0x14  # %gs:0x14, gcc's i386 stack-protector guard
_PORT_MASKS = {1: 0xFF, 2: 0xFFFF, 4: 0xFFFFFFFF}
_ACCESS_NAMES = {(d, w): f"{d}{w * 8}" for d in ("in", "out", "read", "write") for w in (1, 2, 4, 8)}


def _result(eax: int, edx: int, returns: str) -> int:
    """EAX (and EDX) as the caller asked: int, uint/ptr, u64, s64."""
    if returns == "uint" or returns == "ptr":
        return eax
    if returns == "u64":
        return eax | (edx << 32)
    if returns == "s64":
        value = eax | (edx << 32)
        return value - (1 << 64) if value >> 63 else value
    return eax - (1 << 32) if eax >> 31 else eax


_CREATION_HOOKS: list[Callable[[Kernel], None]] = []


def on_kernel_created(hook: Callable[[Kernel], None]) -> Callable[[], None]:
    """Call ``hook(kernel)`` for every Kernel created from now on; returns the function that stops it.

    The pytest plugin uses it to report on every Kernel a test made, not only its fixture's.
    """
    _CREATION_HOOKS.append(hook)
    return lambda: _CREATION_HOOKS.remove(hook) if hook in _CREATION_HOOKS else None


class Kernel:
    """An emulated 32-bit x86 kernel that loads and runs driver modules.

    ``budget_seconds`` bounds each top-level guest call (in CPU seconds of the thread running it, so a
    loaded host does not make a slow call a runaway), ``run_budget_seconds``
    all of them together; ``memcheck`` turns on the guarded heap;
    ``well_known`` replaces the table of entry-point names. ``trace_limit``
    (events) and ``console_limit`` (characters) bound what is kept of the
    trace and the log, the newest kept (None: everything); set
    ``k.trace.sink`` to stream the events that leave.

    >>> k = Kernel()
    >>> m = k.load("build/drivers/gcc/obj/hello.o")
    >>> k.console
    'hello: ...'
    """

    def __init__(
        self,
        profile: str | Profile = "generic",
        *,
        budget_seconds: float = 10.0,
        trace: bool = True,
        trace_limit: int | None = DEFAULT_TRACE_LIMIT,
        console_limit: int | None = DEFAULT_CONSOLE_LIMIT,
        well_known: WellKnownTable | None = None,
        memcheck: bool = False,
        run_budget_seconds: float | None = None,
        coverage: bool = False,
        unresolved: str = "error",
        check_vermagic: bool = True,
        devices: Iterable[Device] | None = None,
        time: str = "deterministic",
        gdb: int | str | None = None,
        gdb_wait: bool = False,
    ) -> None:
        """``profile``: a :class:`~sandbox.profile.Profile` value, an installed or
        registered profile name, or ``"path/to/file.py:NAME"`` (an unknown one
        raises UnknownProfile listing the known names).
        ``unresolved``: ``"error"`` (a LoadError lists every undefined symbol
        nothing exports) or ``"trap"`` (bind each to a trap: a function stub
        that raises GuestFault naming it when called, or an unmapped data slot
        whose access faults naming it). ``check_vermagic``: refuse a module
        whose vermagic differs from the profile's (profiles that declare one).
        ``devices``: the hardware to attach; None gives :func:`default_devices`
        (com1 UART, i8042 keyboard controller), an empty list gives none.
        ``time``: ``"deterministic"`` (time moves only when the host or a
        sleep moves it: exact, reproducible tick counts) or ``"host"`` (the
        timer interrupt also preempts running guest code at the profile's HZ,
        paced by host time, so busy-waits on jiffies end); see :meth:`use_host_time`.
        ``gdb``: serve the GDB remote protocol on this localhost port (0: a
        free one, see ``k.gdb.port``); ``gdb_wait``: hold the first entry
        into module code (init) until a client attaches.
        """
        if time not in ("deterministic", "host"):
            raise ValueError(f"time must be 'deterministic' or 'host', not {time!r}")
        if unresolved not in ("error", "trap"):
            raise ValueError(f"unresolved must be 'error' or 'trap', not {unresolved!r}")
        self.unresolved = unresolved
        self.check_vermagic = check_vermagic
        self.traps = Traps(self)

        self.profile: Profile = get_profile(profile)
        # The CPU the profile's kernel runs on (i386 unless the profile says otherwise).
        self.arch: Architecture = getattr(self.profile, "arch", None) or I386
        self.convention = self.arch.convention(self.profile.convention)
        self.symbolizer = Symbolizer()
        self.trace = Trace(limit=trace_limit)
        self.trace.enabled = trace
        self._reporter = FaultReporter(self.symbolizer, self.describe_address)
        self.cpu = Cpu(self._reporter.build, self.arch)
        self.cpu.budget_seconds = budget_seconds
        self.cpu.run_budget_left = run_budget_seconds
        self._reporter.cpu = self.cpu
        self.cpu.describe = self.symbolizer.short
        self._reporter.recent_events = self._recent_event_lines
        self._reporter.released_init = self._released_init_owner
        self.memory: GuestMemory = self.cpu.memory
        if memcheck:
            self.memory.use_guarded_heap()
        self._reporter.heap_fault = self.memory.heap.describe
        self.ports = PortBus()
        self.cpu.add_port_hooks(*self._port_hooks())
        self.mmio = MmioBus(self.cpu.uc, self._trace_mmio)
        self.irqs = IrqTable()
        self.device_nodes = DeviceNodes()
        self.interrupts = InterruptDelivery(self)
        # One clock for the whole kernel, at the profile's tick rate: the host's
        # tick()/run_for(), udelay and sleeps all move it, and IRQ 0 publishes it.
        self.clock = Clock(self.profile.hz, self.profile.initial_jiffies)
        self.clock.on_tick = self._timer_interrupt
        self.clock.next_due = lambda: self.interrupts.next_due(TIMER_IRQ, self.clock.ticks)
        self.add_irq_hook(TIMER_IRQ, self._update_jiffies, first=True)
        self.log = Console(limit=console_limit)
        # Per-kernel service state, and the one context every service receives.
        self.subsystems = SubsystemTable(lambda: self.service_context)
        self.service_context = ServiceContext(self)
        self.dispatcher = ServiceDispatcher(self, self.convention)
        self.coverage = Coverage(self)
        self.exports = ExportTable()
        self.module_table = ModuleTable()
        self.kernel_space = KernelSpace(self.memory, self.symbolizer)
        self.well_known: WellKnownTable = checked_table(self.profile.entry.well_known if well_known is None else well_known)
        self.injections = Injections(defaults=self.profile.failure_values)
        self.warnings: list[str] = []  # driver mistakes that do not stop execution
        self._declared = {}
        for include_dir in reversed(self.profile.include_dirs):  # the first directory wins a name
            self._declared.update(declared_functions(str(include_dir)))
        self.dispatcher.declared = self._declared  # a service must agree with its header's convention
        if coverage:
            self.coverage.enable()
        services, variables, raw_code = self.profile.collect()
        self.gpl_only_services = gpl_only_services(self.profile.service_modules())  # EXPORT_SYMBOL_GPL services
        for spec in services:
            self.exports.add_kernel(spec.name, self.dispatcher.bind(spec), stand_in=spec.provided_by is not None)
        for var in variables:
            self.exports.add_kernel(var.name, self.kernel_space.place_variable(var.size, var.initial, var.name,
                                                                              var.read_only))
        for code in raw_code:
            address = self.kernel_space.place_code(code.code, code.name)
            self.exports.add_kernel(code.name, address)
            for offset, fixup in code.fixups:
                self.cpu.extable[address + offset] = self.kernel_space.place_code(fixup, f"{code.name} (fixup)")
        for var in variables:  # tables of function pointers, once every export has its address
            for offset, target in var.pointers:
                name, _, plus = target.partition("+")  # "init_net+36": an address inside an export (a list head)
                value = self.exports.address(name) + (int(plus, 0) if plus else 0)
                self.memory.write_raw(self.exports.address(var.name) + offset, value.to_bytes(4, "little"))
        self._taking_ticks = False
        self.tick_page = self._place_tick_page()
        self._update_jiffies()  # jiffies reads the profile's boot value before the first tick
        self.percpu_area = self._place_percpu_area()
        self.relocator = GuestRelocator(self.cpu, self.kernel_space.place_code(self.arch.relocate_code, "<module loader: apply_relocate>"))
        # Devices see buses, interrupt lines and memory, never the Kernel.
        self.device_host = DeviceHost(self.ports, self.mmio, self.raise_irq, self.memory,
                                      lambda device: self.devices.add(device), lambda name: self.devices.remove(name),
                                      now_ns=lambda: self.clock.ns, on_tick=self._device_tick_hook,
                                      tick_ns=self.clock.tick_ns)
        self.devices = DeviceSet(self.device_host)
        for device in default_devices() if devices is None else devices:
            self.devices.add(device)
        self.gdb = None
        if gdb is not None:
            from .gdb import GdbServer

            self.gdb = GdbServer(self, gdb, wait=gdb_wait)
        for hook in tuple(_CREATION_HOOKS):
            hook(self)
        if time == "host":
            self.use_host_time()

    # ------------------------------------------------------------------ state
    def subsystem(self, cls: type[T]) -> T:
        """The per-kernel instance of a service subsystem's state class (made on first use)."""
        return self.subsystems.get(cls)

    def subsystem_states(self) -> list[Any]:
        """Every service subsystem's state object made so far."""
        return self.subsystems.values()

    @property
    def current_caller(self) -> int:
        """Return address of the service call in progress (0 outside one)."""
        return self.service_context.current_caller

    @current_caller.setter
    def current_caller(self, value: int) -> None:
        self.service_context.current_caller = value

    @property
    def current_event(self) -> Event | None:
        """The trace event of the service call in progress (services may annotate it)."""
        return self.service_context.current_event

    @current_event.setter
    def current_event(self, value: Event | None) -> None:
        self.service_context.current_event = value

    @property
    def _balance_checks(self) -> list[Callable[..., list[str]]]:
        return self.subsystems.balance_checks()

    @property
    def console(self) -> str:
        """Everything printk wrote, as one string."""
        return self.log.text

    def console_write(self, text: str, level: int | None = None) -> None:
        """Append kernel log text (printk's sink)."""
        self.log.write(text, level)

    @property
    def console_records(self) -> list[tuple[int | None, str]]:
        """The log as written: (level or None, text) per piece."""
        return self.log.records

    @property
    def modules(self) -> list[Module]:
        """Loaded modules in load order."""
        return list(self.module_table)

    def module(self, name: str) -> Module:
        """The loaded module called ``name``."""
        return self.module_table.get(name)

    def caller_module(self) -> Module | None:
        """The module making the service call in progress (for ownership of what it registers).

        Usually the module holding the return address; when a function
        tail-calls a service, the return address is the host's trap, so the
        module whose function the guest call entered is taken instead.
        """
        module = self.module_at(self.current_caller)
        if module is None and self.cpu.entries:
            module = self.module_at(self.cpu.entries[-1])
        return module

    def module_at(self, address: int) -> Module | None:
        """The module whose code or data contains ``address``."""
        area = self.symbolizer.area_at(address)
        if area is None:
            return None
        return self.module_table.find(area.owner)

    # --------------------------------------------------------------- exports
    def export_address(self, name: str) -> int | None:
        """Address of an exported symbol (kernel service or module export)."""
        return self.exports.address(name)

    def export_owner(self, name: str) -> str | None:
        """Who exports ``name``: ``"kernel"`` or a module name."""
        return self.exports.owner(name)

    def resolve(self, name: str) -> int | None:
        """Address an undefined module symbol binds to, or None if unknown.

        A function the headers declare but no Python implements still binds,
        to a stub that names it when called.
        """
        address = self.exports.address(name)
        if address is not None:
            return address
        declared = self._declared.get(name)
        if declared is not None:
            return self.dispatcher.bind_missing(name, declared.prototype, missing_service(declared, self.profile.name))
        return None

    def resolve_many(self, names: list[str]) -> list[int | None]:
        """:meth:`resolve` for many names at once: the export lookups run in C, Python only for misses."""
        found = self.exports.addresses(names)
        if self._declared:
            for i in [i for i, address in enumerate(found) if address is None]:
                found[i] = self.resolve(names[i])
        return found

    def add_service(self, func: Callable[..., Any], *, replace: bool = False) -> int:
        """Export an extra ``@service`` function (e.g. a test's own); returns its address.

        Modules loaded afterwards can call it like any kernel function. A
        function whose arity does not match its prototype is refused here.
        A name the kernel already exports is refused unless ``replace=True``,
        which swaps the implementation in place (modules already bound to the
        name call the new one too, and restoring an earlier snapshot keeps
        it); a name a loaded module exports cannot be replaced.
        """
        spec = getattr(func, "__sandbox_service__", None)
        if not isinstance(spec, ServiceSpec):
            raise SandboxError(f"{getattr(func, '__qualname__', func)!r} is not decorated with @service")
        check_arity(spec)
        owner = self.export_owner(spec.name)
        if owner is not None and owner != "kernel":
            raise SandboxError(f"cannot add service {spec.name}: module {owner} exports it (unload {owner} first)")
        if owner is None:
            address = self.dispatcher.bind(spec)
            self.exports.add_kernel(spec.name, address)
            return address
        if not replace:
            raise SandboxError(
                f"{spec.name} is already exported by the kernel ({self.profile.name} profile); "
                f"pass replace=True to replace it, or use a profile that starts empty"
            )
        address = self.dispatcher.replace(spec)
        if address is None:  # a kernel variable or raw code: the name gets a service stub instead
            address = self.dispatcher.bind(spec)
        self.exports.replace_kernel(spec.name, address)
        return address

    def add_services(self, *sources: Any, replace: bool = False) -> dict[str, int]:
        """Export every ``@service`` function found in ``sources`` (modules,
        classes, or the functions themselves); name -> address.

        Every function is checked (arity, collisions) before any is added.
        """
        specs: list[ServiceSpec] = []
        for source in sources:
            spec = getattr(source, "__sandbox_service__", None)
            if isinstance(spec, ServiceSpec):
                specs.append(spec)
            else:
                specs.extend(collect([source])[0])
        for spec in specs:
            check_arity(spec)
            owner = self.export_owner(spec.name)
            if owner is not None and not (replace and owner == "kernel"):
                self.add_service(spec.func, replace=replace)  # raises the precise error
        return {spec.name: self.add_service(spec.func, replace=replace) for spec in specs}

    def can_resolve(self, name: str) -> bool:
        """Whether an undefined symbol ``name`` would bind (exported, or declared in the headers)."""
        return name in self.exports or name in self._declared

    def inject_failure(self, service: str, nth: int = 1, value: int | None = None) -> None:
        """Make the ``nth`` call (1-based, counted from now) of ``service`` fail.

        The call is not run; it returns ``value`` (default: NULL for the
        allocators, -EBUSY for request_irq/register_chrdev). The trace marks
        it ``injected``.
        """
        self.injections.add(service, nth, value)

    def _place_percpu_area(self) -> int:
        """The per-CPU area GS points at, holding this kernel's stack-protector canary at
        ``%gs:0x14`` (where gcc's ``-fstack-protector`` on i386 reads it).

        The canary is random per kernel with a NUL low byte, as Linux makes it,
        so a string overflow cannot write it back.
        """
        import os

        canary = int.from_bytes(os.urandom(4), "little") & 0xFFFFFF00
        area = self.kernel_space.place_variable(
            PERCPU_AREA_SIZE, bytes(STACK_CANARY_OFFSET) + canary.to_bytes(4, "little"), "<per-cpu area>")
        control = getattr(self.cpu, "control", None)
        if control is not None:
            control.set_segment_base(area)  # kept across the per-call CPU state reset
        guard = self.export_address("__stack_chk_guard")  # the same canary for -mstack-protector-guard=global
        if guard is not None:
            self.memory.write_raw(guard, canary.to_bytes(4, "little"))
        return area

    # ------------------------------------------------------------------ calls
    def call(self, address: int, *args: Any, budget: float | None = None, returns: str = "int", context: str = "task",
             convention: str | CallingConvention | None = None) -> int:
        """Call guest code at ``address``; the profile's calling convention unless ``convention`` names another.

        Arguments: ints (one 4-byte slot each), :class:`Int64` (a 64-bit
        argument, placed as the convention places ``long long``),
        :class:`ByValue` (a structure passed by value), ``bytes``/
        ``str`` (copied into guest memory, NUL-terminated, for the call) or
        ``bytearray`` (copied in and back out). ``convention``: a key of
        ``CONVENTIONS`` (``"stdcall"``, ``"fastcall"``, ``"regparm2"``...); if
        the function pops another number of bytes on return than that
        convention does, the call raises :class:`ConventionMismatch`.
        """
        scratch: list[int] = []
        copy_back: list[tuple[int, bytearray]] = []
        slots: list[Any] = []
        wide = False
        try:
            for arg in args:
                if type(arg) is int:  # the common case, without a call
                    if not -0x80000000 <= arg <= 0xFFFFFFFF:
                        raise SandboxError(f"argument {arg:#x} does not fit 32 bits: pass Int64(...) for a "
                                           "64-bit parameter")
                    slots.append(arg & 0xFFFFFFFF)
                elif isinstance(arg, (Int64, ByValue)):
                    slots.append(arg)
                    wide = True
                else:
                    slots.append(self._marshal(arg, scratch, copy_back))
            top_level = self.cpu.depth == 0
            chosen = self.convention if convention is None else get_convention(convention)
            if wide:
                slots, widths, aggregates = flatten_arguments(slots)
                eax, edx = self._call_slots(address, slots, context, budget, chosen, widths, aggregates)
            else:
                eax, edx = self._call_slots(address, slots, context, budget, chosen)
            if top_level:
                raw_off = not self.cpu.exit_eflags & IF
                if raw_off or not self.interrupts.enabled:
                    how = " (raw cli)" if self.interrupts.enabled else ""
                    self.warn(f"interrupts left disabled{how} at the end of {self.symbolizer.short(address)}")
                    self.irqs_enabled = True
                elif self.interrupts.pending:
                    self.interrupts.drain()  # latched under a raw cli, enabled again by a raw sti
                self.check_balance(lambda: self.symbolizer.short(address))
            for where, buffer in copy_back:
                buffer[:] = self.memory.read(where, len(buffer))
        finally:
            for block in scratch:
                self.memory.free(block)
        return _result(eax, edx, returns)

    def warn(self, text: str) -> None:
        """Record a driver mistake that does not stop execution (also a trace event)."""
        self.warnings.append(text)
        self.trace.add("warning", "warning", fields={"text": text})

    def check_balance(self, where: Callable[[], str]) -> None:
        """After a handler or a top-level call: locks must be back as they were.

        ``where`` names the code, computed only when there is a problem: this
        runs after every call.
        """
        for check in self._balance_checks:
            for problem in check(self.service_context):
                self.warn(f"{problem} at the end of {where()}")

    def _marshal(self, arg: Any, scratch: list[int], copy_back: list[tuple[int, bytearray]]) -> int:
        if isinstance(arg, (bool, int)):
            if not -(1 << 31) <= arg <= 0xFFFFFFFF:
                raise SandboxError(f"argument {arg:#x} does not fit 32 bits: pass sandbox.u64(...) or s64(...) "
                                   "for a 64-bit parameter")
            return int(arg) & 0xFFFFFFFF
        if isinstance(arg, str):
            arg = arg.encode()
        if isinstance(arg, (bytes, bytearray)):
            data = bytes(arg) + b"\0"
            address = self.memory.alloc(len(data))
            if not address:
                raise SandboxError(f"cannot copy a {len(data)}-byte argument into guest memory")
            scratch.append(address)
            self.memory.write(address, data)
            if isinstance(arg, bytearray):
                copy_back.append((address, arg))
            return address
        raise TypeError(f"cannot pass {type(arg).__name__} to guest code (use int, bytes, str or bytearray)")

    def _call_slots(self, address: int, slots: list[int], context: str, budget: float | None,
                    convention: CallingConvention | None = None, widths: list[int] | None = None,
                    aggregates: tuple[int, ...] = ()) -> tuple[int, int]:
        """Place ``slots`` per ``convention`` (the profile's if None) and run the call.

        ``widths`` gives each argument's slot count when some are 64-bit or
        structures (``aggregates``: their indexes); None means every slot is
        one 32-bit argument.
        """
        convention = convention or self.convention
        if widths is None:
            regs = convention.registers
            registers = dict(zip(regs, slots))
            stack = slots[len(registers):]
            pops = 4 * len(stack) if convention.callee_pops else 0
        else:
            registers, stack, pops = place_arguments(convention, slots, widths, aggregates)
        top_level = self.cpu.depth == 0
        try:
            result = self.cpu.call(address, registers, stack, context, budget, pops)
            if top_level and self.cpu.tick_period and not self._taking_ticks:
                self._take_due_ticks()
            return result
        except GuestFault as fault:
            if isinstance(fault, ConventionMismatch) and not fault.described and fault.function == address:
                self._describe_mismatch(fault, convention, widths or [1] * len(slots), aggregates)
            elif getattr(fault, "stack_drift", None) is not None and not getattr(fault, "drift_named", False):
                self._describe_drift(fault, address)
            self._trace_fault(fault, context)
            if top_level:
                self._settle_after_fault(fault)
            raise

    def _take_due_ticks(self) -> None:
        """Host-paced time: the ticks that fell due during a top-level call and its guest code did not
        take at a service call (a busy-wait that only read ``jiffies``) are delivered when it returns."""
        from .machine import ticker

        count = ticker.take_due(self.cpu)
        if count:
            self._taking_ticks = True  # the tick's own calls do not take ticks again
            try:
                self.tick(count)
            finally:
                self._taking_ticks = False

    def _settle_after_fault(self, fault: GuestFault) -> None:
        """Put back what the faulting code left behind (interrupts off, locks held) and say so in *its* report.

        Without this the next, innocent call would be blamed for it.
        """
        left: list[str] = []
        interrupts = self.interrupts
        if not interrupts.enabled or not self.cpu.exit_eflags & IF:
            left.append("interrupts disabled (enabled again)")
        interrupts.enabled = True
        if interrupts.pending:
            left.append(f"IRQ lines {interrupts.pending} latched (dropped)")
            interrupts.pending.clear()
        for check in self._balance_checks:
            left += [f"{problem} (released)" for problem in check(self)]
        if left:
            text = "state left by the faulting code: " + "; ".join(left)
            fault.left_behind = left  # type: ignore[attr-defined]
            fault.args = (f"{fault.args[0]} [{text}]",)
            fault.report = f"{fault.report}\n\n{text}"

    def _describe_mismatch(self, fault: ConventionMismatch, convention: CallingConvention, widths: list[int],
                           aggregates: tuple[int, ...]) -> None:
        """Name the function, the convention it was called with and those its return fits."""
        fault.described = True
        name = self.symbolizer.short(fault.function)
        expected = (f"callee pops {fault.expected} bytes of stack arguments" if fault.expected
                    else "the caller pops")
        slots = sum(widths)
        fitting = [c.name for c in CONVENTIONS.values()
                   if c.layout(widths, False, aggregates).pop_bytes == fault.popped]
        if fitting:
            hint = f"with these arguments that is what {' or '.join(fitting)} does: call it with convention=..."
        else:
            hint = "no convention pops that much for these arguments: check the argument count and its declaration"
        if fault.expected and fault.popped > 0:
            hint += f"; or it takes {fault.popped} bytes of stack arguments, not {fault.expected}"
        message = (f"calling convention mismatch: {name} was called as {convention.name} ({expected}) "
                   f"with {slots} argument slot{'s' if slots != 1 else ''}, but it {describe_pops(fault.popped)}; {hint}")
        fault.args = (message,)
        fault.report = message + "\n\nregisters:\n  " + "  ".join(
            f"{n}={v:08x}" for n, v in fault.registers.items())

    def _describe_drift(self, fault: GuestFault, address: int) -> None:
        """Add to a fault made by a ``ret`` with ESP off which service calls could have caused it."""
        fault.drift_named = True  # type: ignore[attr-defined]
        drift: int = fault.stack_drift  # type: ignore[attr-defined]
        depth = self.cpu.depth
        suspects = []
        for event in reversed(self.trace.events[-64:]):
            if event.kind == "service" and event.depth == depth:
                convention = self.dispatcher.convention_of(event.name)
                if convention is not None and event.name not in {n for n, _ in suspects}:
                    suspects.append((event.name, convention))
        popped_more = "more" if drift > 0 else "less"
        note = (f"the stack was {abs(drift)} bytes {'high' if drift > 0 else 'low'} when a function returned "
                f"(it jumped to the word its ret found there): most likely a callee popped {popped_more} than "
                f"its caller expected, a calling convention mismatch")
        if suspects:
            named = ", ".join(f"{n} ({c.name}, {c.pops_text})" for n, c in suspects[:3])
            note += f"; kernel services called in {self.symbolizer.short(address)}: {named}"
            note += " - check the driver declares them with these conventions"
        fault.args = (f"{fault.args[0]}\n{note}",)
        fault.report = f"{note}\n\n{fault.report}"

    def _trace_fault(self, fault: GuestFault, context: str) -> None:
        """Record a ``fault`` event once, where the fault first leaves a guest call."""
        if getattr(fault, "traced", False):
            return  # already recorded by the inner call it came out of
        fault.traced = True  # type: ignore[attr-defined]
        self.trace.add(
            "fault", fault.kind, caller=fault.pc, depth=self.cpu.depth, context=context,
            fields={"pc": fault.pc, "address": fault.address, "message": str(fault.args[0]).splitlines()[0]},
        )

    def use_host_time(self, enabled: bool = True) -> None:
        """Let time move at ``clock.hz`` ticks per host second while guest code runs (or stop it).

        A tick falls due by the host's clock and is taken at the guest's next
        call into a kernel service, as :meth:`tick` delivers it (jiffies,
        timers, IRQ 0 handlers; pending IRQs wait for interrupts to be
        enabled); ``jiffies`` and ``jiffies_64`` read the host's time at once,
        so a busy-wait on them ends (``sandbox/machine/ticker.py``). Time then
        also depends on how fast the host runs: tests that count ticks keep
        the default deterministic mode.
        """
        from .machine import ticker

        if enabled:
            ticker.pace(self.cpu, self.clock.hz)
        else:
            ticker.unpace(self.cpu)

    def user_buffer(self, data: bytes | int) -> int:
        """Map user pages (below TASK_SIZE) holding ``data``, or ``data`` zero bytes; returns the address.

        This is memory a driver must reach through the user-copy functions;
        the kernel heap (``k.memory.alloc``) is kernel memory, which they refuse.
        """
        from .machine.userspace import UserSpace

        return self.subsystem(UserSpace).buffer(self.memory, data)

    def call_function_pointer(self, address: int, *slots: int, context: str = "task",
                              convention: str | CallingConvention | None = None) -> int:
        """Call guest code from a service (nested); returns EAX as unsigned.

        ``slots`` are ints (:class:`Int64` for a 64-bit argument);
        ``convention`` is the callback's, when not the profile's (a driver's
        ``__attribute__((stdcall))`` callback).
        """
        chosen = self.convention if convention is None else get_convention(convention)
        flat, widths, aggregates = flatten_arguments(slots)
        return self._call_slots(address, flat, context, None, chosen, widths, aggregates)[0]

    # ------------------------------------------------------- instruction trace
    def trace_instructions(
        self,
        module: Module | str | None = None,
        *,
        symbol: str | None = None,
        start: int | None = None,
        end: int | None = None,
        limit: int = 10000,
    ) -> InstructionTrace:
        """Record every instruction executed in a module's code, one of its functions, or [start, end).

        Opt-in and ranged: nothing outside the range pays for it, and the hook
        goes away after ``limit`` instructions. Returns the InstructionTrace
        (its events are also ``insn`` events in ``k.trace``).
        """
        if module is not None:
            mod = self.module(module) if isinstance(module, str) else module
            if symbol is not None:
                start = mod.address_of(symbol)
                found = self.symbolizer.area_at(start)
                ends = [e for s, e in zip(found.sym_starts, found.sym_ends) if s == start] if found else []
                end = ends[0] if ends and ends[0] > start else start + 1
            else:
                ranges = [(a.start, a.end) for a in self.symbolizer.areas_of(mod.name) if a.executable]
                if not ranges:
                    raise SandboxError(f"module {mod.name} has no code")
                start, end = min(r[0] for r in ranges), max(r[1] for r in ranges)
        if start is None or end is None:
            raise SandboxError("trace_instructions needs a module or a start and end address")
        return InstructionTrace(self, start, end, limit)

    # --------------------------------------------------------------- devices
    @property
    def pci(self) -> PciBus:
        """PCI bus 0 (``k.pci.add(model, slot=...)`` plugs a function in, before or after a driver loads)."""
        return self._bus(PciBus, "PCI bus")

    @property
    def platform(self) -> PlatformBus:
        """The platform bus: ``k.platform.add(name, id, io=, mem=, irq=, model=)`` describes a device as
        firmware would; the profile's platform core binds drivers to it."""
        return self._bus(PlatformBus, "platform bus")

    def view(self, name: str) -> Any:
        """A Python view the profile offers on this kernel's state (its ``views``), e.g. ``"sysfs"``."""
        spec = self.profile.views.get(name)
        if spec is None:
            raise NotInProfile(f"the {self.profile.name} profile has no {name} view "
                               f"(it has: {', '.join(sorted(self.profile.views)) or 'none'})")
        module_name, _, function = spec.partition(":")
        return getattr(importlib.import_module(module_name), function)(self)

    @property
    def sysfs(self) -> Any:
        """The profile's sysfs (linux): ``k.sysfs.ls(path)``, ``.read(path)``, ``.write(path, text)``."""
        return self.view("sysfs")

    @property
    def i2c(self) -> I2cBus:
        """The host's I2C adapters: ``k.i2c.add_adapter()``, then ``k.i2c.add(model, addr=0x48, name="lm75")``
        puts a chip model on it and describes the client; the profile's i2c core binds its driver."""
        return self._bus(I2cBus, "i2c bus")

    @property
    def spi(self) -> SpiBus:
        """The host's SPI controllers: ``k.spi.add(model, "lm70", cs=0)`` wires a chip model to a chip select
        and describes the device; the profile's SPI core binds the driver whose id table names it."""
        return self._bus(SpiBus, "SPI bus")

    @property
    def net(self) -> Any:
        """The network interfaces drivers registered, by name (``k.net["eth0"].up()``, ``.send(frame)``,
        ``.received``); the profile provides it (linux: :class:`kernel_stubs.linux.netif.Network`)."""
        if self.profile.network is None:
            raise NotInProfile(f"the {self.profile.name} profile has no network stack")
        return self.profile.network(self)

    def _bus(self, kind: type[T], label: str) -> T:
        for name in self.devices:
            device = self.devices[name]
            if isinstance(device, kind):
                return device
        raise SandboxError(f"this kernel has no {label} (it was made with devices=[...] without a {kind.__name__})")

    def open(self, path: str, flags: int = O_RDWR) -> OpenFile:
        """Open a character device a driver registered (``/dev/name``) with open(2) ``flags``.

        A driver's refusal raises :class:`DeviceError` carrying ``errno``.
        """
        return open_device(self, path, flags)

    def _port_hooks(self) -> tuple[Callable[..., int], Callable[..., None]]:
        """The `in` and `out` hooks: Unicorn callbacks that inline the bus lookup.

        A port access is a hot path (bench/bench_devices.py), so they are
        closures over the bus's port table and the trace rather than methods
        walking attribute chains.
        """
        lookup = self.ports.lookup
        trace = self.trace
        masks = _PORT_MASKS
        trace_port = self._trace_port

        def on_in(uc: Any, port: int, width: int, data: object) -> int:
            device = lookup.get(port)
            if device is None:
                value = masks[width]  # nobody answers: the bus floats high
            else:
                value = device.port_read(port, width) & masks[width]
            if trace.enabled:
                trace_port("in", port, width, value, device)
            return value

        def on_out(uc: Any, port: int, width: int, value: int, data: object) -> None:
            device = lookup.get(port)
            # Traced before the device acts, so what the write causes (an IRQ)
            # follows it in the trace.
            if trace.enabled:
                trace_port("out", port, width, value, device)
            if device is not None:
                device.port_write(port, width, value)

        return on_in, on_out

    def port_access(self, direction: str, port: int, width: int, value: int = 0) -> int:
        """An ``in`` or ``out`` made by kernel code for a driver (``ioread8`` of a port cookie):
        it reaches the device and is traced exactly as the instruction would be. Returns what was read."""
        mask = _PORT_MASKS[width]
        if direction == "in":
            value, device = self.ports.read(port, width)
            value &= mask
        else:
            device = self.ports.device_at(port)
        if self.trace.enabled:
            self._trace_port(direction, port, width, value & mask, device)
        if direction == "out" and device is not None:
            device.port_write(port, width, value & mask)
        return value

    def mmio_access(self, direction: str, address: int, width: int, value: int = 0) -> int:
        """A load or store by kernel code at a device's MMIO address (``ioread32`` of an ioremap
        cookie), through the window's device and traced. An address no window covers faults."""
        window = self.mmio.window_at(address)
        if window is None:
            raise GuestFault("mmio-unmapped", f"{'read' if direction == 'read' else 'write'} of {width} bytes at "
                             f"{address:#x}: no device's MMIO window is there", pc=self.current_caller, address=address)
        offset = address - window.base
        mask = (1 << (8 * width)) - 1
        if direction == "read":
            value = window.device.mmio_read(offset, width) & mask
            self._trace_mmio("read", address, offset, width, value, window.device)
        else:
            self._trace_mmio("write", address, offset, width, value & mask, window.device)
            window.device.mmio_write(offset, width, value & mask)
        return value

    def _trace_port(self, direction: str, port: int, width: int, value: int, device: Any) -> None:
        cpu = self.cpu
        register = name = None
        if device is not None:
            name = device.name
            namer = getattr(device, "register_name", None)
            if namer is not None:
                register = namer(port - getattr(device, "port_base", port), direction == "out")
        context = cpu.context
        self.trace.add_access(
            "port", _ACCESS_NAMES[direction, width], context[-1] if context else "task",
            cpu.depth - 1 if cpu.depth else 0, cpu.regs.read(EIP),
            {"direction": direction, "port": port, "width": width * 8, "value": value,
             "device": name, "register": register},
        )

    def _trace_mmio(self, direction: str, address: int, offset: int, width: int, value: int,
                    device: MmioDevice) -> None:
        if not self.trace.enabled:
            return
        cpu = self.cpu
        namer = getattr(device, "register_name", None)
        context = cpu.context
        self.trace.add_access(
            "mmio", _ACCESS_NAMES[direction, width], context[-1] if context else "task",
            cpu.depth - 1 if cpu.depth else 0, cpu.regs.read(EIP),
            {"direction": direction, "address": address, "offset": offset, "width": width * 8,
             "value": value, "device": device.name,
             "register": namer(offset, direction == "write") if namer else None},
        )

    # ------------------------------------------------------------ interrupts
    @property
    def irqs_enabled(self) -> bool:
        """The CPU interrupt flag as drivers set it: local_irq_*, spin_lock_irq* and,
        while guest code runs, raw cli/sti/popf (EFLAGS.IF)."""
        return self.interrupts.guest_enabled()

    def check_budget(self) -> None:
        """Raise BudgetExceeded if the running guest call is past its budget.

        Services with a loop over a guest-chosen count call this every so
        often, so the budget holds while Python (not guest code) is running.
        """
        self.cpu.check_budget()

    @irqs_enabled.setter
    def irqs_enabled(self, value: bool) -> None:
        self.interrupts.set_enabled(value)

    @property
    def pending_irqs(self) -> list[int]:
        """Lines raised while the guest ran with interrupts off, not yet delivered."""
        return list(self.interrupts.pending)

    def register_irq(self, action: IrqAction) -> int:
        """Add an IRQ handler (request_irq's mechanism); 0 or -errno."""
        return self.irqs.register(action)

    def _device_tick_hook(self, hook: Callable[[], None], due: Callable[[], int | None] | None = None) -> None:
        # A model's timer work runs with the kernel's own tick work (timers, jiffies): after the guest handlers.
        self.interrupts.add_hook(0, hook, False, due)

    def add_irq_hook(self, line: int, hook: Callable[[], None], first: bool = False,
                     due: Callable[[], int | None] | None = None) -> None:
        """Run the Python ``hook`` whenever ``line`` is delivered: the kernel's own
        handling of a line. It runs after the guest handlers (as softirqs run
        after hard handlers: timers), or before them if ``first`` (jiffies).

        ``due``, for a hook on IRQ 0: the tick (``clock.ticks``) at which it next
        has work, None if none. Only if every such hook says, and no guest
        handler is on line 0, may a long wait pass ticks in one step.
        """
        self.interrupts.add_hook(line, hook, first, due)

    def raise_irq(self, line: int) -> list[IrqResult]:
        """Deliver interrupt ``line``: every handler registered on it, on the IRQ stack.

        Returns what each handler returned, in registration order. A line with
        no handler is recorded in the trace as spurious. If guest code is
        running with interrupts disabled (a device raised its line from inside
        a port access, a service advanced time under a spinlock), the line is
        left pending and delivered as soon as interrupts are enabled again;
        then the result is empty. Raised from the host, with no guest code
        running, a line is always delivered at once.
        """
        return self.interrupts.raise_line(line)

    # ------------------------------------------------------------------ time
    @property
    def jiffies(self) -> int:
        """The 64-bit jiffies count: the profile's initial jiffies plus the ticks
        since boot (HZ per second). The exported ``jiffies`` (low 32 bits) and
        ``jiffies_64`` show it except while a tick waits for interrupts to be enabled."""
        return self.clock.jiffies

    def tick(self, count: int = 1) -> None:
        """Advance time by ``count`` ticks: each updates ``jiffies`` and delivers IRQ 0
        (guest handlers on line 0, then the kernel's timers)."""
        self.clock.advance_ticks(count)

    def run_for(self, ticks: int) -> None:
        """Let ``ticks`` timer ticks pass (``clock.hz`` ticks are one second)."""
        self.tick(ticks)

    def advance_time(self, nanoseconds: int) -> None:
        """Move time forward by ``nanoseconds`` (udelay's mechanism); crossing
        a tick boundary delivers that tick."""
        self.clock.advance_ns(nanoseconds)

    def _timer_interrupt(self) -> None:
        self.raise_irq(TIMER_IRQ)

    def _update_jiffies(self) -> None:
        """The tick handler's first job. Run when IRQ 0 is delivered, so with
        interrupts off ``jiffies`` stands still, as on a real kernel, and
        catches up when the pending tick is taken."""
        if self.tick_page is not None:
            self.tick_page.publish(self.clock.jiffies)

    def _place_tick_page(self) -> TickPage | None:
        """Move the profile's tick variables onto their own MMIO page (``sandbox/tick_page.py``), so that
        reading them can show host-paced time; their exports point there before any module is linked."""
        names = tuple((name, size) for name, size in self.profile.tick_variables
                      if self.export_address(name) is not None and self.export_owner(name) == "kernel")
        if not names:
            return None
        from .machine import ticker

        page = TickPage(names, lambda: ticker.due(self.cpu) if self.cpu.depth else 0)
        page.map(self.cpu.uc)
        base = amap.TICK_PAGE_BASE
        self.memory.add_io_region(base, amap.PAGE_SIZE, 3, "kernel tick variables")
        for name, offset in page.offsets.items():
            self.exports.replace_kernel(name, base + offset)
        starts = sorted((base + offset, name) for name, offset in page.offsets.items())
        self.symbolizer.add_range(SymbolRange(
            base, base + amap.PAGE_SIZE, "kernel", "tick variables", False, [a for a, _ in starts],
            [n for _, n in starts], [a + page.sizes[n] for a, n in starts]))
        return page

    # --------------------------------------------------------------- loading
    def load(self, path: str | Path, params: dict[str, object] | None = None, *, run_init: bool = True,
             well_known: WellKnownTable | None = None) -> Module:
        """Parse, check, place, relocate, link and map a module, then run init.

        ``params`` sets module parameters (``module_param``) before init, each
        checked against its declared type; ``run_init=False`` maps without
        running init (nor exit at unload). ``well_known`` changes entries of the
        well-known names table for this module only (``{"irqhandler":
        IrqEntry(9)}`` puts its handler on line 9). Raises LoadError (nothing of the
        module is left behind) or GuestFault if init crashed (also unwound).
        """
        return lifecycle.load(self, path, params, run_init=run_init, well_known=well_known)

    def load_bytes(self, data: bytes, path: str, params: dict[str, object] | None = None, *, run_init: bool = True,
                   well_known: WellKnownTable | None = None) -> Module:
        """:meth:`load` for a module already in memory; ``path`` names it in errors and traces."""
        return lifecycle.load_bytes(self, data, path, params, run_init, well_known)

    def modprobe(self, name: str, tree: str | Path, params: dict[str, object] | str | None = None) -> list[Module]:
        """Load module ``name`` of the tree at ``tree`` (a ``lib/modules/<release>`` or its ``kernel``
        folder) after the modules it depends on (``modules.dep``, else ``.modinfo`` ``depends=``).

        Already loaded modules are skipped; returns those loaded, providers first.
        """
        from .depends import modprobe

        return modprobe(self, name, tree, params)

    def load_all(self, paths: list[str | Path], params: dict[str, dict[str, object]] | None = None) -> list[Module]:
        """Load a set of modules in dependency order (providers first), like modprobe.

        ``params`` maps module name -> parameters. A missing provider or a
        dependency cycle is a LoadError before anything loads; if one module
        of the set fails, the ones this call loaded are unloaded again.
        """
        return lifecycle.load_all(self, paths, params)

    def unload(self, module: Module | str) -> UnloadReport:
        """Run the module's exit, release it and report what it leaked."""
        return lifecycle.unload(self, module)

    def proc_modules(self) -> str:
        """The loaded modules as /proc/modules shows them: name size users used-by state base."""
        return lifecycle.proc_modules(self)

    def _released_init_owner(self, address: int) -> str | None:
        return self.module_table.released_init_owner(address)

    # ------------------------------------------------------------- snapshots
    def stateful_parts(self) -> dict[str, Any]:
        """The parts that save and restore their own state (``save()``/``restore(state)``), in restore order.

        Snapshots ask each of these; a part added to the kernel joins the
        snapshot by being listed here. Buses come before the devices on them.
        """
        return {
            "heap": _HeapState(self.memory),
            **({"tick_page": self.tick_page} if self.tick_page is not None else {}),
            "modules": self.module_table,
            "exports": self.exports,
            "kernel_space": self.kernel_space,
            "subsystems": self.subsystems,
            "irqs": self.irqs,
            "interrupts": self.interrupts,
            "clock": self.clock,
            "ports": self.ports,
            "mmio": self.mmio,
            "devices": self.devices,
            "nodes": self.device_nodes,
            "trace": self.trace,
            "console": self.log,
            "symbolizer": self.symbolizer,
            "dispatcher": self.dispatcher,
            "traps": self.traps,
            "cpu": self.cpu,
            "injections": self.injections,
            "warnings": _WarningsState(self.warnings),
        }

    def snapshot(self) -> Snapshot:
        """Capture memory and all kernel state, for :meth:`restore`."""
        return snapshot_take(self)

    def restore(self, snap: Snapshot) -> None:
        """Return to the state captured by :meth:`snapshot` (modules, memory, devices, trace)."""
        snapshot_restore(self, snap)

    # ----------------------------------------------------------- describing
    def describe_address(self, address: int) -> str:
        """What lives at ``address``, for fault reports."""
        if address < amap.NULL_GUARD_END:
            return "NULL page (never mapped)"
        for low, high in amap.stack_guards():
            if low <= address < high:
                return "stack guard page"
        trapped = self.traps.symbol_at(address)
        if trapped is not None:
            name, offset = trapped
            return f"unresolved kernel symbol {name}{f' +{offset:#x}' if offset else ''} (trap: nothing exports it)"
        owner = self._released_init_owner(address)
        if owner is not None:
            return f"init code of module {owner}, released after init"
        heap = self.memory.heap.describe(address)
        if heap is not None:
            text = heap[1]
            block = getattr(self.memory.heap, "block_for", lambda a: None)(address)
            if block is not None:
                text += f", allocated at {self.symbolizer.short(block.site)}"
                if block.free_site:
                    text += f", freed at {self.symbolizer.short(block.free_site)}"
            return text
        found = self.symbolizer.symbol_at(address)
        if found is not None:
            return self.symbolizer.short(address)
        region = self.memory.region_at(address)
        if region is not None:
            return f"{region.label} +{address - region.start:#x}"
        window = self.mmio.window_at(address)
        if window is not None:
            return f"MMIO window of {window.device.name} +{address - window.base:#x}"
        return "unmapped"

    def _recent_event_lines(self, count: int = 8) -> list[str]:
        return [format_event(e, self.symbolizer) for e in self.trace.events[-count:]]

    def format_trace(self) -> str:
        """The whole trace as text, one event a line."""
        return "\n".join(format_event(e, self.symbolizer) for e in self.trace.events)



class _WarningsState:
    """The warnings list as a snapshot part: warnings raised after the snapshot go with it."""

    def __init__(self, warnings: list[str]) -> None:
        self._warnings = warnings

    def save(self) -> list[str]:
        return list(self._warnings)

    def restore(self, state: list[str]) -> None:
        self._warnings[:] = state


class _HeapState:
    """The heap as a snapshot part (``memcheck`` swaps the heap object, so it is looked up each time)."""

    def __init__(self, memory: GuestMemory) -> None:
        self._memory = memory

    def save(self) -> object:
        return self._memory.heap.snapshot()

    def restore(self, state: object) -> None:
        self._memory.heap.restore(state)


__all__ = ["TIMER_IRQ", "IrqResult", "Kernel", "on_kernel_created"]
