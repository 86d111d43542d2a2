"""CPU hotplug states (kernel/cpu.c), Linux 6.1 i386, on a machine with one CPU that stays online.

``__cpuhp_setup_state(state, name, invoke, startup, teardown, multi)``
stores the callbacks for ``state``; CPUHP_AP_ONLINE_DYN and
CPUHP_BP_PREPARE_DYN ask for the first free state of their dynamic range,
which is returned (a fixed state returns 0; a fixed state already taken is
-EBUSY, a full range -ENOSPC). With ``invoke``, ``startup(cpu)`` runs at
once for CPU 0, which is online (past every state); a failure rolls the
state back. ``__cpuhp_remove_state`` runs ``teardown(0)`` when asked and
frees the state. Multi-instance states call their callbacks per instance
(``__cpuhp_state_add_instance``/``_remove_instance``, with the instance's
``hlist_node``). The numbers are Debian 686's ``enum cpuhp_state``, read
from its vmlinux.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sandbox.devices.chardev import signed32
from sandbox.services import service

from .registrations import EINVAL, guest_string

if TYPE_CHECKING:
    from sandbox.kernel import Kernel
    from sandbox.module import Module

CPUHP_OFFLINE = 0
CPUHP_BP_PREPARE_DYN, CPUHP_BP_PREPARE_DYN_END = 70, 90
CPUHP_AP_ONLINE_DYN, CPUHP_AP_ONLINE_DYN_END = 201, 231
CPUHP_ONLINE = 236
DYNAMIC = {CPUHP_BP_PREPARE_DYN: CPUHP_BP_PREPARE_DYN_END, CPUHP_AP_ONLINE_DYN: CPUHP_AP_ONLINE_DYN_END}
EBUSY, ENOSPC = 16, 28
ONLINE_CPUS = (0,)
# kernel/cpu.c exports the instance calls GPL-only, setup and remove to every module
GPL_ONLY = frozenset({"__cpuhp_state_add_instance", "__cpuhp_state_remove_instance"})


@dataclass(slots=True)
class State:
    """One set-up hotplug state."""

    name: str
    startup: int
    teardown: int
    multi: bool
    owner: str
    instances: list[int] = field(default_factory=list)


class HotplugStates:
    """cpuhp_hp_states: the states modules set up, by number."""

    def __init__(self) -> None:
        self.states: dict[int, State] = {}

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """States a module left set up: its callbacks would run on the next hotplug. Reported and freed."""
        leaks = []
        for number, state in list(self.states.items()):
            if state.owner == module.name:
                leaks.append(f"cpuhp state {number} ({state.name}) still set up")
                del self.states[number]
        return leaks


def _call(k: Kernel, callback: int, cpu: int, node: int | None) -> int:
    args = (cpu,) if node is None else (cpu, node)
    return signed32(k.call_function_pointer(callback, *args))


def _owner(k: Kernel) -> str:
    caller = k.caller_module()
    return caller.name if caller else "kernel"


@service("int __cpuhp_setup_state(enum cpuhp_state state, const char *name, bool invoke, "
         "int (*startup)(unsigned int cpu), int (*teardown)(unsigned int cpu), bool multi_instance)")
def __cpuhp_setup_state(k: Kernel, state: int, name: int, invoke: int, startup: int, teardown: int,
                        multi_instance: int) -> int:
    """Set up a state: the dynamic state allocated (or 0), or -EINVAL/-EBUSY/-ENOSPC/startup's error."""
    if not CPUHP_OFFLINE < state < CPUHP_ONLINE or not name:
        return -EINVAL
    table = k.subsystem(HotplugStates).states
    dynamic = state in DYNAMIC
    if dynamic:
        number = next((n for n in range(state, DYNAMIC[state]) if n not in table), 0)
        if not number:
            return -ENOSPC
    elif state in table:
        return -EBUSY
    else:
        number = state
    multi = bool(multi_instance & 0xFF)
    table[number] = State(guest_string(k, name, 64), startup, teardown, multi, _owner(k))
    if invoke & 0xFF and startup and not multi:
        for cpu in ONLINE_CPUS:  # CPU 0 is online: past every state, so each callback runs for it
            ret = _call(k, startup, cpu, None)
            if ret:
                del table[number]  # cpuhp_rollback_install: no other CPU got that far
                return ret
    return number if dynamic else 0


@service("void __cpuhp_remove_state(enum cpuhp_state state, bool invoke)")
def __cpuhp_remove_state(k: Kernel, state: int, invoke: int) -> None:
    """Run teardown on CPU 0 (when asked) and free the state; a state with instances left is refused."""
    table = k.subsystem(HotplugStates).states
    entry = table.get(state)
    if entry is None:
        return
    if entry.multi and entry.instances:
        k.console_write(f"Error: Removing state {state} which has instances left.\n", 4)
        k.warn(f"__cpuhp_remove_state({state}): {len(entry.instances)} instance(s) still added")
        return
    if invoke & 0xFF and entry.teardown and not entry.multi:
        for cpu in ONLINE_CPUS:
            _call(k, entry.teardown, cpu, None)
    del table[state]


@service("int __cpuhp_state_add_instance(enum cpuhp_state state, struct hlist_node *node, bool invoke)")
def __cpuhp_state_add_instance(k: Kernel, state: int, node: int, invoke: int) -> int:
    """Add an instance to a multi-instance state; with ``invoke`` its startup runs for CPU 0 first."""
    entry = k.subsystem(HotplugStates).states.get(state)
    if entry is None or not entry.multi:
        return -EINVAL
    if invoke & 0xFF and entry.startup:
        for cpu in ONLINE_CPUS:
            ret = _call(k, entry.startup, cpu, node)
            if ret:
                return ret
    entry.instances.append(node)
    return 0


@service("int __cpuhp_state_remove_instance(enum cpuhp_state state, struct hlist_node *node, bool invoke)")
def __cpuhp_state_remove_instance(k: Kernel, state: int, node: int, invoke: int) -> int:
    """Remove an instance (its teardown runs for CPU 0 with ``invoke``); -EINVAL for an unknown state."""
    entry = k.subsystem(HotplugStates).states.get(state)
    if entry is None or not entry.multi:
        return -EINVAL
    if invoke & 0xFF and entry.teardown:
        for cpu in ONLINE_CPUS:
            _call(k, entry.teardown, cpu, node)
    if node in entry.instances:
        entry.instances.remove(node)
    return 0
