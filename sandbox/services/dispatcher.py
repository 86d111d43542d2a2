"""Guest -> Python service calls through the stub area.

Each service owns a 16-byte slot holding ``ret`` (``ret N`` for a service
whose convention has the callee pop N bytes of stack arguments: stdcall,
fastcall); a single ranged code hook over the stub area runs before that
instruction executes, decodes the arguments per the prototype and the
service's convention, calls the Python function with the kernel's service context, puts the result in EAX
(EDX:EAX), and records a trace event. Nothing is hooked elsewhere, so guest
code that does not call the kernel runs at full speed. Where each argument
is read from is worked out once per service, when it is bound.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Callable
from dataclasses import dataclass
from time import perf_counter_ns
from typing import TYPE_CHECKING, Any

from unicorn import UcError

from ..errors import GuestFault, SandboxError, ServiceError
from ..machine import address_map as amap
from ..machine.registers import EAX, EDX, ESP
from .callconv import CallingConvention, get_convention
from .prototype import Param, Prototype, narrow
from .registry import ServiceSpec, check_arity
from .varargs import VarArgs

if TYPE_CHECKING:
    from ..kernel import Kernel

_SHOWN_STRING = 64


@dataclass(slots=True)
class BoundService:
    """A service with its call plan precomputed for the hot path."""

    name: str
    prototype: Prototype
    func: Callable[..., Any]
    # Per parameter: (in_register, first, second, param, needs_narrowing).
    # first/second are register ids, or indexes into the words read from
    # ESP (0 is the return address); second is -1 unless the value is 64-bit.
    plan: tuple[tuple[bool, int, int, Param, bool], ...]
    stack_slots: int
    unpack: struct.Struct
    shows_strings: bool
    convention: CallingConvention  # as the call really is (variadic: cdecl)
    pop_bytes: int  # what the slot's ``ret N`` pops


def _plan(convention: CallingConvention, proto: Prototype) -> tuple[Any, ...]:
    """Everything _on_stub needs to know about a parameter list, worked out once."""
    layout = convention.layout([p.slots for p in proto.params], proto.variadic)
    plan = []
    for place, param in zip(layout.places, proto.params):
        wide = param.width == 8
        if place.registers:
            first, second = place.registers[0], place.registers[1] if wide else -1
        else:
            first, second = 1 + place.stack, 2 + place.stack if wide else -1
        # A 4- or 8-byte unsigned value is already what the register or slot holds.
        needs_narrowing = param.kind == "int" or param.width not in (4, 8)
        plan.append((bool(place.registers), first, second, param, needs_narrowing))
    return (tuple(plan), layout.stack_slots, struct.Struct(f"<{layout.stack_slots + 1}I"),
            any(p.kind == "str" for p in proto.params), convention.for_call(proto.variadic), layout.pop_bytes)


def _missing(message: str) -> Callable[..., Any]:
    def fail(ctx: Any, *args: Any) -> None:
        raise ServiceError(message)

    return fail


class ServiceDispatcher:
    """Owns the stub area: binds services to addresses and runs them."""

    def __init__(self, kernel: Kernel, convention: CallingConvention) -> None:
        self.kernel = kernel
        # What every service receives as its first argument: one per kernel.
        self.context = kernel.service_context
        self.convention = convention
        self._regs = kernel.cpu.regs
        self._cpu = kernel.cpu
        self._uc = kernel.cpu.uc
        self._slots: list[BoundService] = []
        self.addresses: dict[str, int] = {}
        self._shapes: dict[tuple[tuple[Param, ...], bool, str], tuple[Any, ...]] = {}
        # Slots whose instruction is ``ret N`` (all start as plain ``ret``).
        self._popping_slots: set[int] = set()
        # name -> (prototype, header) of what the profile's headers declare:
        # drivers are compiled against those declarations.
        self.declared: dict[str, tuple[Prototype, str]] = {}
        self._interrupts = kernel.interrupts
        kernel.symbolizer.stub_base = amap.STUB_BASE
        kernel.symbolizer.stub_slot = amap.STUB_SLOT
        kernel.cpu.add_code_hook(amap.STUB_BASE, amap.RETURN_TRAP - 1, self._on_stub)
        # A guest function that tail-calls a service returns straight to the
        # host; name that return address instead of showing a bare number.
        for address in amap.HOST_RETURNS:
            kernel.symbolizer.stub_names[address] = "<host call>"

    def bind(self, spec: ServiceSpec) -> int:
        """Give ``spec`` a stub address and return it.

        ServiceError if its function's arity does not match its prototype, or
        if the profile's headers declare the function with
        another calling convention than the service's: every driver compiled
        against that header would pop the wrong amount of stack.
        """
        check_arity(spec)
        declared = self.declared.get(spec.name)
        if declared is not None:
            self._check_declared(spec, *declared)
        return self._bind(spec.name, spec.prototype, spec.func, spec.convention)

    def _check_declared(self, spec: ServiceSpec, proto: Prototype, header: str) -> None:
        default = self.convention
        theirs = (default if proto.convention is None else get_convention(proto.convention)).for_call(proto.variadic)
        ours = (default if spec.convention is None else get_convention(spec.convention)).for_call(
            spec.prototype.variadic)
        if theirs is not ours:
            raise ServiceError(
                f"kernel service {spec.name} is {ours.name} ({ours.pops_text}) but {header} declares it "
                f"{theirs.name} ({theirs.pops_text}); drivers built against the header would call it wrongly"
            )

    def bind_missing(self, name: str, prototype: Prototype | None, failure: str | Callable[..., Any]) -> int:
        """Bind a name to a stub that fails when called: ``failure`` is the
        ServiceError message, or a service function that raises."""
        proto = prototype or Prototype(name, Param("int", "", "int", 4), (), False, f"{name}()")
        return self._bind(name, proto, _missing(failure) if isinstance(failure, str) else failure,
                          proto.convention)

    def replace(self, spec: ServiceSpec) -> int | None:
        """Put ``spec`` in the slot already bound to its name (callers bound to
        it call the new function); its address, or None if the name has no slot."""
        address = self.addresses.get(spec.name)
        if address is None:
            return None
        # Bind it afresh under a private name (its own call plan: the prototype
        # may differ), then let the old slot, where callers are bound, run the
        # same under the real name.
        private = f"{spec.name} (replaced {len(self._slots)})"
        fresh = self.bind(dataclasses.replace(spec, prototype=dataclasses.replace(spec.prototype, name=private)))
        bound = self._slots[(fresh - amap.STUB_BASE) >> 4]
        self._slots[(address - amap.STUB_BASE) >> 4] = dataclasses.replace(bound, name=spec.name,
                                                                           prototype=spec.prototype)
        return address

    def convention_of(self, name: str) -> CallingConvention | None:
        """The convention guest code must use to call the bound service ``name``."""
        address = self.addresses.get(name)
        if address is None:
            return None
        return self._slots[(address - amap.STUB_BASE) // amap.STUB_SLOT].convention

    def _bind(self, name: str, proto: Prototype, func: Callable[..., Any], convention: str | None = None) -> int:
        if name in self.addresses:
            return self.addresses[name]
        if len(self._slots) >= amap.MAX_STUBS:
            raise ServiceError(f"stub area full: cannot bind {name}")
        chosen = self.convention if convention is None else get_convention(convention)
        key = (proto.params, proto.variadic, chosen.name)
        shape = self._shapes.get(key)
        if shape is None:
            # Many services (and every trap) share a parameter list: work its
            # call plan out once.
            shape = self._shapes[key] = _plan(chosen, proto)
        bound = BoundService(name, proto, func, *shape)
        index = len(self._slots)
        address = amap.STUB_BASE + index * amap.STUB_SLOT
        self._write_return(index, address, bound.pop_bytes)
        self._slots.append(bound)
        self.addresses[name] = address
        self.kernel.symbolizer.stub_names[address] = name
        return address

    def _write_return(self, index: int, address: int, pop_bytes: int) -> None:
        """Make the slot's instruction ``ret`` or, for a callee-pops service, ``ret N``."""
        if pop_bytes:
            self._uc.mem_write(address, b"\xc2" + pop_bytes.to_bytes(2, "little"))
            self._popping_slots.add(index)
        elif index in self._popping_slots:  # reused after a restore (snapshot, failed load)
            self._uc.mem_write(address, b"\xc3\xc3\xc3")
            self._popping_slots.discard(index)
        else:
            return
        # Translated code of the old slot must not run again.
        self._uc.ctl_remove_cache(address, address + amap.STUB_SLOT)

    def mark(self) -> int:
        """A cheap bookmark for :meth:`rollback`: how many slots are bound (a load's undo)."""
        return len(self._slots)

    def rollback(self, mark: int) -> None:
        """Unbind the slots bound since :meth:`mark` (nothing else may have changed since)."""
        for bound in self._slots[mark:]:
            address = self.addresses.pop(bound.name, None)
            self.kernel.symbolizer.stub_names.pop(address or 0, None)
        del self._slots[mark:]

    def save(self) -> tuple[int, dict[str, int]]:
        """How many stub slots are bound, for :meth:`restore`."""
        return len(self._slots), dict(self.addresses)

    def restore(self, state: tuple[int, dict[str, int]]) -> None:
        """Unbind the slots bound after :meth:`save` (a failed load's traps, a restored snapshot)."""
        count, addresses = state
        for bound in self._slots[count:]:
            self.kernel.symbolizer.stub_names.pop(self.addresses.get(bound.name, 0), None)
        del self._slots[count:]
        self.addresses = dict(addresses)

    def _take_ticks(self) -> None:
        """Deliver the host-paced ticks that fell due since the last (machine/ticker.py), before the service runs."""
        from ..machine import ticker

        count = ticker.take_due(self._cpu)
        if count:
            self.kernel.tick(count)

    def _on_stub(self, uc: Any, address: int, size: int, data: Any) -> None:
        try:
            bound = self._slots[(address - amap.STUB_BASE) >> 4]
        except IndexError:
            bound = None
        if bound is None or address & (amap.STUB_SLOT - 1):
            raise self._stray_jump(address)
        if self._interrupts.pending:
            self._interrupts.poll()  # lines latched under a raw cli, and a raw sti since
        if self._cpu.tick_period:
            self._take_ticks()  # host-paced time: a service call is where due ticks are taken
        regs = self._regs
        esp = regs.read(ESP)
        try:
            words = bound.unpack.unpack(uc.mem_read(esp, bound.unpack.size))
        except UcError:
            # ESP points where the stack arguments cannot be: a corrupt stack, or a caller using
            # another convention than the service's (a cdecl service called with registers only).
            raise self.kernel.cpu.fault(
                "bad-stack", f"call to kernel service {bound.name}: its stack arguments ({bound.unpack.size} bytes "
                f"at ESP {esp:#010x}) are not in mapped memory", address, esp) from None
        args: list[int] = []
        for in_register, first, second, param, needs_narrowing in bound.plan:
            if in_register:
                value = regs.read(first)
                if second >= 0:
                    value |= regs.read(second) << 32
            else:
                value = words[first]
                if second >= 0:
                    value |= words[second] << 32
            args.append(narrow(value, param) if needs_narrowing else value)
        kernel = self.kernel
        cpu = kernel.cpu
        shown: tuple[Any, ...] = tuple(args)
        if bound.shows_strings:
            shown = tuple(
                self._capture_string(v) if p.kind == "str" else v
                for v, (_, _, _, p, _) in zip(args, bound.plan)
            )
        event = kernel.trace.add(
            "service", bound.name, caller=words[0], args=shown,
            depth=cpu.depth - 1, context=cpu.context[-1] if cpu.context else "task",
        )
        event.fields["_proto"] = bound.prototype
        if bound.prototype.variadic:
            args.append(VarArgs(cpu.memory, esp + 4 + 4 * bound.stack_slots))
        ctx = self.context
        outer_caller, outer_event = ctx.current_caller, ctx.current_event
        ctx.current_caller, ctx.current_event = words[0], event
        try:
            injected = kernel.injections.check(bound.name) if kernel.injections.plan else None
            if injected is None:
                result = bound.func(ctx, *args)
            else:
                result = injected
                event.fields["injected"] = True
        except GuestFault as fault:
            event.fields["error"] = fault.kind
            if not getattr(fault, "service", None):
                fault.service = bound.name  # type: ignore[attr-defined]
                # A guest pointer the service followed into a trap slot: name the symbol, as a fault
                # of guest code there does.
                trapped = kernel.traps.symbol_at(fault.address) if fault.address is not None else None
                what = f" [unresolved kernel symbol {trapped[0]} (trap: nothing exports it)]" if trapped else ""
                fault.args = (f"{fault.args[0]}{what} (in kernel service {bound.name}, called from "
                              f"{ctx.call_site()})",)
                fault.report = f"{fault.args[0]}\n{fault.report}"
            raise
        except SandboxError:
            event.fields["error"] = "error"
            raise
        except Exception as error:  # a bug in a service must not look like a guest bug
            event.fields["error"] = "crash"
            raise ServiceError(f"kernel service {bound.name} failed: {error!r}") from error
        finally:
            ctx.current_caller, ctx.current_event = outer_caller, outer_event
            # The slice's length for the Chrome sink; includes nested guest runs.
            event.dur = perf_counter_ns() - event.ts

        result = 0 if result is None else int(result)
        ret = bound.prototype.returns
        regs.write(EAX, result)
        if ret.width == 8:
            regs.write(EDX, result >> 32)
        event.result = narrow(result, ret) if ret.kind != "void" else None
        if cpu.suspend_requested and not cpu.suspend_rerun:
            # A kthread parked by this service stops the CPU right after this hook, before
            # the stub's `ret`; resuming there would run the service again. So do the `ret`
            # here: the stop then lands in the caller. (A service parking its thread to be
            # called again, a worker loop, asks for that.)
            cpu.finish_stub(address, esp, words[0])

    def _stray_jump(self, address: int) -> GuestFault:
        """The fault for guest code that jumped into the stub area where no service starts."""
        index = (address - amap.STUB_BASE) >> 4
        if index < len(self._slots):
            what = f"the middle of the stub of kernel service {self._slots[index].name} (+{address & 15:#x})"
        else:
            what = "an unbound service-stub slot (no kernel service lives there)"
        return self.kernel.cpu.fault("stray-jump", f"jump into {what}", address, address)

    def _capture_string(self, address: int) -> bytes | int:
        if address == 0:
            return 0
        try:
            return self.kernel.cpu.memory.read_cstring(address, _SHOWN_STRING + 1)
        except GuestFault:
            return address
