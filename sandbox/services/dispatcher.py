"""Guest -> Python service calls through the stub area.

Each service owns a 16-byte slot holding ``ret``; a single ranged code hook
over the stub area runs before that ``ret`` executes, decodes the arguments
per the prototype and convention, calls the Python function, puts the result
in EAX (EDX:EAX), and records a trace event. Nothing is hooked elsewhere, so
guest code that does not call the kernel runs at full speed.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from time import perf_counter_ns
from typing import TYPE_CHECKING, Any

from ..errors import GuestFault, SandboxError, ServiceError
from ..machine import address_map as amap
from ..machine.registers import EAX, EDX, ESP
from .callconv import CallingConvention
from .prototype import Param, Prototype, narrow
from .registry import ServiceSpec
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
    # Per parameter: (in_register, index, param)
    plan: tuple[tuple[bool, int, Param], ...]
    stack_slots: int
    unpack: struct.Struct
    shows_strings: bool


def _missing(message: str) -> Callable[..., Any]:
    def fail(k: Kernel, *args: Any) -> None:
        raise ServiceError(message)

    return fail


class ServiceDispatcher:
    """Owns the stub area: binds services to addresses and runs them."""

    def __init__(self, kernel: Kernel, convention: CallingConvention) -> None:
        self.kernel = kernel
        self.convention = convention
        self._regs = kernel.cpu.regs
        self._uc = kernel.cpu.uc
        self._slots: list[BoundService] = []
        self.addresses: dict[str, int] = {}
        self._shapes: dict[tuple[tuple[Param, ...], bool], tuple[Any, ...]] = {}
        kernel.symbolizer.stub_base = amap.STUB_BASE
        kernel.symbolizer.stub_slot = amap.STUB_SLOT
        kernel.cpu.add_code_hook(amap.STUB_BASE, amap.RETURN_TRAP - 1, self._on_stub)
        # A guest function that tail-calls a service returns straight to the
        # host; name that return address instead of showing a bare number.
        kernel.symbolizer.stub_names[amap.RETURN_TRAP] = "<host call>"

    def bind(self, spec: ServiceSpec) -> int:
        """Give ``spec`` a stub address and return it."""
        return self._bind(spec.name, spec.prototype, spec.func)

    def bind_missing(self, name: str, prototype: Prototype | None, message: str) -> int:
        """Bind a name to a stub that raises ServiceError(message) when called."""
        proto = prototype or Prototype(name, Param("int", "", "int", 4), (), False, f"{name}()")
        return self._bind(name, proto, _missing(message))

    def _bind(self, name: str, proto: Prototype, func: Callable[..., Any]) -> int:
        if name in self.addresses:
            return self.addresses[name]
        if len(self._slots) >= amap.MAX_STUBS:
            raise ServiceError(f"stub area full: cannot bind {name}")
        shape = self._shapes.get((proto.params, proto.variadic))
        if shape is None:
            # Many services (and every trap) share a parameter list: work its
            # call plan out once.
            widths = [p.slots for p in proto.params]
            places = self.convention.assign(widths, proto.variadic)
            plan = tuple((where == "reg", index, p) for (where, index), p in zip(places, proto.params))
            stack_slots = self.convention.stack_slots(widths, proto.variadic)
            shape = (plan, stack_slots, struct.Struct(f"<{stack_slots + 1}I"), any(p.kind == "str" for p in proto.params))
            self._shapes[(proto.params, proto.variadic)] = shape
        bound = BoundService(name, proto, func, *shape)
        address = amap.STUB_BASE + len(self._slots) * amap.STUB_SLOT
        self._slots.append(bound)
        self.addresses[name] = address
        self.kernel.symbolizer.stub_names[address] = name
        return address

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

    def _on_stub(self, uc: Any, address: int, size: int, data: Any) -> None:
        bound = self._slots[(address - amap.STUB_BASE) >> 4]
        regs = self._regs
        esp = regs.read(ESP)
        words = bound.unpack.unpack(uc.mem_read(esp, bound.unpack.size))
        registers = self.convention.registers
        args: list[int] = []
        for in_register, index, param in bound.plan:
            if in_register:
                value = regs.read(registers[index])
                if param.width == 8:
                    value |= regs.read(registers[index + 1]) << 32
            else:
                value = words[1 + index]
                if param.width == 8:
                    value |= words[2 + index] << 32
            args.append(narrow(value, param))
        kernel = self.kernel
        cpu = kernel.cpu
        shown: tuple[Any, ...] = tuple(args)
        if bound.shows_strings:
            shown = tuple(
                self._capture_string(v) if p.kind == "str" else v
                for v, (_, _, p) in zip(args, bound.plan)
            )
        event = kernel.trace.add(
            "service", bound.name, caller=words[0], args=shown,
            depth=cpu.depth - 1, context=cpu.context[-1] if cpu.context else "task",
        )
        event.fields["_proto"] = bound.prototype
        if bound.prototype.variadic:
            args.append(VarArgs(cpu.memory, esp + 4 + 4 * bound.stack_slots))
        outer_caller, outer_event = kernel.current_caller, kernel.current_event
        kernel.current_caller, kernel.current_event = words[0], event
        try:
            injected = kernel.injections.check(bound.name) if kernel.injections.plan else None
            if injected is None:
                result = bound.func(kernel, *args)
            else:
                result = injected
                event.fields["injected"] = True
        except GuestFault as fault:
            event.fields["error"] = fault.kind
            if not getattr(fault, "service", None):
                fault.service = bound.name  # type: ignore[attr-defined]
                fault.args = (f"{fault.args[0]} (in kernel service {bound.name}, called from "
                              f"{kernel.symbolizer.short(words[0])})",)
                fault.report = f"{fault.args[0]}\n{fault.report}"
            raise
        except SandboxError:
            event.fields["error"] = "error"
            raise
        except Exception as error:  # a bug in a service must not look like a guest bug
            event.fields["error"] = "crash"
            raise ServiceError(f"kernel service {bound.name} failed: {error!r}") from error
        finally:
            kernel.current_caller, kernel.current_event = outer_caller, outer_event
            # The slice's length for the Chrome sink; includes nested guest runs.
            event.dur = perf_counter_ns() - event.ts

        result = 0 if result is None else int(result)
        ret = bound.prototype.returns
        regs.write(EAX, result)
        if ret.width == 8:
            regs.write(EDX, result >> 32)
        event.result = narrow(result, ret) if ret.kind != "void" else None
        if cpu.tick_period:
            # Host-paced ticks may stop the CPU right after this hook, before the
            # stub's `ret`; resuming there would run the service again. So do the
            # `ret` here: a stop then lands in the caller.
            cpu.finish_stub(address, esp, words[0])

    def _capture_string(self, address: int) -> bytes | int:
        if address == 0:
            return 0
        try:
            return self.kernel.cpu.memory.read_cstring(address, _SHOWN_STRING + 1)
        except GuestFault:
            return address
