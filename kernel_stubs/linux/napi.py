"""NAPI and the network softirqs (NET_RX, NET_TX) of Linux 6.1, one CPU.

``struct napi_struct`` (212 bytes): poll_list 0, state 8, weight 12, poll 24,
dev 32, dev_list 188, napi_id 204. Its ``state`` bits are Linux's
(NAPI_STATE_SCHED 0, MISSED 1, DISABLE 2, NPSVC 3, LISTED 4), set and
tested by the services and by drivers' inline helpers alike.

A driver's IRQ handler calls ``napi_schedule`` (``napi_schedule_prep`` +
``__napi_schedule``): the napi joins the poll list and NET_RX is raised.
As on Linux, the softirq runs when the hard handler returns (irq_exit), or,
raised outside an interrupt, at the next opportunity: the end of the
Python-side operation that caused it, or the next timer tick.
``net_rx_action`` polls each scheduled napi with its weight within the
softirq budget (netdev_budget 300); a poll that used its whole weight stays
scheduled and is polled again, one that did less must have called
``napi_complete_done``. ``netif_rx``'s backlog is a napi of its own
(process_backlog, weight 64), and NET_TX frees the skbs
``__dev_kfree_skb_irq`` deferred and runs the qdiscs of woken queues.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sandbox.errors import GuestFault
from sandbox.services import service

from .layout import Fields, offset

if TYPE_CHECKING:
    from sandbox.kernel import Kernel
    from sandbox.module import Module

NAPI_STATE_SCHED, NAPI_STATE_MISSED, NAPI_STATE_DISABLE, NAPI_STATE_NPSVC, NAPI_STATE_LISTED = 0, 1, 2, 3, 4
NAPI_STATE_THREADED, NAPI_STATE_SCHED_THREADED = 8, 9
NAPI_POLL_WEIGHT = 64
NETDEV_BUDGET = 300
BACKLOG_WEIGHT = 64  # dev_rx_weight * dev_weight_tx_bias... process_backlog's quota
NETDEV_MAX_BACKLOG = 1000
GRO_NORMAL = 3  # enum gro_result
NET_RX_SUCCESS, NET_RX_DROP = 0, 1
STATE = offset("napi_struct", "state")
MAX_ROUNDS = 1000  # a poll that never completes is a driver bug, not a reason to spin forever


@dataclass
class Softnet:
    """softnet_data of the one CPU: the poll list, the backlog, the completion and output queues."""

    poll_list: list[int] = field(default_factory=list)  # napi_struct addresses, in poll order
    backlog: list[int] = field(default_factory=list)  # skbs netif_rx queued
    completion: list[tuple[int, int]] = field(default_factory=list)  # (skb, drop reason) to free in NET_TX
    output: list[int] = field(default_factory=list)  # net_devices whose qdisc has work (woken queues)
    hooked_lines: set[int] = field(default_factory=set)
    running: bool = False
    napis: dict[int, int] = field(default_factory=dict)  # napi -> net_device, from netif_napi_add_weight
    next_napi_id: int = 0x2000  # MIN_NAPI_ID: ids below are sender_cpu values
    polls: int = 0

    @staticmethod
    def of(k: Kernel) -> Softnet:
        """This kernel's softnet data."""
        return k.subsystem(Softnet)

    def boot(self, k: Kernel) -> None:
        """Raised outside an interrupt, the softirqs run by the next tick at the latest."""
        k.add_irq_hook(0, lambda: run_softirqs(k), due=lambda: k.clock.ticks + 1 if self.pending() else None)

    def clone(self) -> Softnet:
        """A copy for snapshots."""
        return Softnet(list(self.poll_list), list(self.backlog), list(self.completion), list(self.output),
                       set(self.hooked_lines), False, dict(self.napis), self.next_napi_id, self.polls)

    def pending(self) -> bool:
        """Whether NET_RX or NET_TX has work."""
        return bool(self.poll_list or self.backlog or self.completion or self.output)

    def raise_softirq(self, k: Kernel) -> None:
        """raise_softirq_irqoff: from a hard handler, the softirqs run as that interrupt exits."""
        in_service = k.kernel.interrupts.in_service
        if in_service and in_service[-1] not in self.hooked_lines:
            line = in_service[-1]
            self.hooked_lines.add(line)
            k.add_irq_hook(line, lambda: run_softirqs(k), due=lambda: None)

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """NAPI contexts of ``module`` still scheduled: reported and taken off the poll list."""
        leaks = []
        for napi in list(self.poll_list):
            if k.module_at(Fields(k.memory, "napi_struct", napi)["poll"]) is module:
                leaks.append(f"napi {k.symbolizer.short(napi)} still scheduled")
                self.poll_list.remove(napi)
        for napi in [n for n in self.napis if k.module_at(Fields(k.memory, "napi_struct", n)["poll"]) is module]:
            del self.napis[napi]
        return leaks


def _state(k: Kernel, napi: int) -> int:
    return k.memory.read_u32(napi + STATE)


def _set_state(k: Kernel, napi: int, value: int) -> None:
    k.memory.write_u32(napi + STATE, value)


def _bit(n: int) -> int:
    return 1 << n


def run_softirqs(k: Kernel) -> int:
    """do_softirq: NET_TX then NET_RX until neither has work (or the budget is spent). Returns polls run.

    Softirqs do not nest: called while one runs, it returns 0 (the running one picks the work up).
    """
    net = Softnet.of(k)
    if net.running or not net.pending():
        return 0
    net.running = True
    polled = 0
    try:
        for _ in range(MAX_ROUNDS):
            if not net.pending():
                break
            _net_tx_action(k, net)
            polled += _net_rx_action(k, net)
        else:
            raise GuestFault("napi-livelock", f"the network softirq still has work after {MAX_ROUNDS} rounds "
                             "(a NAPI poll that never completes, or an endless backlog)")
    finally:
        net.running = False
    return polled


def _net_tx_action(k: Kernel, net: Softnet) -> None:
    from .skbuff import free_skb

    while net.completion:
        skb, reason = net.completion.pop(0)
        free_skb(k, skb, reason)
    if net.output:
        from .netif import qdisc_run

        devices, net.output = net.output, []
        for dev in devices:
            qdisc_run(k, dev)


def _net_rx_action(k: Kernel, net: Softnet) -> int:
    budget = NETDEV_BUDGET
    polled = 0
    repoll: list[int] = []
    if net.backlog:
        budget -= _process_backlog(k, net, BACKLOG_WEIGHT)
    while net.poll_list and budget > 0:
        napi = net.poll_list.pop(0)
        f = Fields(k.memory, "napi_struct", napi)
        weight = f["weight"]
        work = 0
        if _state(k, napi) & _bit(NAPI_STATE_SCHED):
            net.polls += 1
            polled += 1
            k.trace.add("note", "napi poll", fields={"napi": k.symbolizer.short(napi), "weight": weight})
            work = _signed(k.call_function_pointer(f["poll"], napi, weight, context="irq"))
            if work > weight:
                k.warn(f"{k.symbolizer.short(f['poll'])} returned {work}, more than its weight {weight}")
        budget -= max(work, 0)
        if work < weight:
            continue  # the driver completed (napi_complete_done) or left it stuck, as on Linux
        if _state(k, napi) & _bit(NAPI_STATE_DISABLE):
            _complete(k, napi)  # napi_disable waits: the whole weight was used, complete it for the driver
            continue
        repoll.append(napi)
    net.poll_list.extend(repoll)  # polled again: the next round of the softirq loop
    if net.backlog and budget > 0:
        _process_backlog(k, net, BACKLOG_WEIGHT)
    return polled


def _signed(value: int) -> int:
    return value - (1 << 32) if value >> 31 else value


def _process_backlog(k: Kernel, net: Softnet, quota: int) -> int:
    from .netif import deliver

    done = 0
    while net.backlog and done < quota:
        deliver(k, net.backlog.pop(0), "netif_rx")
        done += 1
    return done


def _complete(k: Kernel, napi: int) -> None:
    state = _state(k, napi)
    if napi in Softnet.of(k).poll_list:
        Softnet.of(k).poll_list.remove(napi)
    _set_state(k, napi, state & ~(_bit(NAPI_STATE_SCHED) | _bit(NAPI_STATE_MISSED)
                                  | _bit(NAPI_STATE_SCHED_THREADED)))
    if state & _bit(NAPI_STATE_MISSED):
        _set_state(k, napi, (state & ~_bit(NAPI_STATE_MISSED)) | _bit(NAPI_STATE_SCHED))
        schedule(k, napi)


def schedule(k: Kernel, napi: int) -> None:
    """____napi_schedule: onto the poll list, NET_RX raised."""
    net = Softnet.of(k)
    if napi not in net.poll_list:
        net.poll_list.append(napi)
    net.raise_softirq(k)


# -- services -----------------------------------------------------------------------------------

@service("void netif_napi_add_weight(struct net_device *dev, struct napi_struct *napi, "
         "int (*poll)(struct napi_struct *, int), int weight)")
def netif_napi_add_weight(k: Kernel, dev: int, napi: int, poll: int, weight: int) -> None:
    """Initialise ``napi`` for ``dev``: disabled (SCHED and NPSVC set) until napi_enable."""
    from .netdev import list_add, netdev_log

    f = Fields(k.memory, "napi_struct", napi)
    if _state(k, napi) & _bit(NAPI_STATE_LISTED):
        k.warn(f"netif_napi_add_weight: napi {k.symbolizer.short(napi)} added twice")
        return
    for head in ("poll_list", "rx_list"):
        f[head] = f.address_of(head)
        k.memory.write_u32(f.address_of(head) + 4, f.address_of(head))
    f["skb"] = 0
    f["poll"] = poll
    if _signed(weight) > NAPI_POLL_WEIGHT:
        netdev_log(k, dev, 3, f"netif_napi_add_weight() called with weight {_signed(weight)}\n")
    f["weight"] = weight
    f["dev"] = dev
    net = Softnet.of(k)
    f["napi_id"] = net.next_napi_id
    net.next_napi_id += 1
    _set_state(k, napi, _bit(NAPI_STATE_SCHED) | _bit(NAPI_STATE_NPSVC) | _bit(NAPI_STATE_LISTED))
    list_add(k, f.address_of("dev_list"), dev + offset("net_device", "napi_list"))
    net.napis[napi] = dev


@service("void __netif_napi_del(struct napi_struct *napi)")
def __netif_napi_del(k: Kernel, napi: int) -> None:
    """Forget ``napi`` (netif_napi_del); it must be disabled."""
    from .netdev import list_del

    if not _state(k, napi) & _bit(NAPI_STATE_LISTED):
        return
    net = Softnet.of(k)
    if napi in net.poll_list:
        net.poll_list.remove(napi)
    _set_state(k, napi, _state(k, napi) & ~_bit(NAPI_STATE_LISTED))
    list_del(k, napi + offset("napi_struct", "dev_list"))
    net.napis.pop(napi, None)


@service("void napi_enable(struct napi_struct *n)")
def napi_enable(k: Kernel, napi: int) -> None:
    """Allow ``n`` to be scheduled (clears SCHED and NPSVC); BUG if it was not disabled."""
    state = _state(k, napi)
    if not state & _bit(NAPI_STATE_SCHED):
        raise GuestFault("napi-enable", f"napi_enable of {k.symbolizer.short(napi)} at "
                         f"{k.symbolizer.short(k.current_caller)}: not disabled (BUG_ON in napi_enable)",
                         pc=k.current_caller, address=napi)
    _set_state(k, napi, state & ~(_bit(NAPI_STATE_SCHED) | _bit(NAPI_STATE_NPSVC)))


@service("void napi_disable(struct napi_struct *n)")
def napi_disable(k: Kernel, napi: int) -> None:
    """Wait until ``n`` is not scheduled (its pending poll runs first), then hold it disabled."""
    _set_state(k, napi, _state(k, napi) | _bit(NAPI_STATE_DISABLE))
    if _state(k, napi) & _bit(NAPI_STATE_SCHED):
        if napi in Softnet.of(k).poll_list:
            run_softirqs(k)  # Linux sleeps until the softirq has polled and completed it
        if _state(k, napi) & _bit(NAPI_STATE_SCHED):
            raise GuestFault("napi-disable", f"napi_disable of {k.symbolizer.short(napi)} at "
                             f"{k.symbolizer.short(k.current_caller)} waits forever: it is scheduled and its "
                             "poll never calls napi_complete_done (or it is disabled already)",
                             pc=k.current_caller, address=napi)
    state = _state(k, napi)
    _set_state(k, napi, (state | _bit(NAPI_STATE_SCHED) | _bit(NAPI_STATE_NPSVC)) & ~_bit(NAPI_STATE_DISABLE))


@service("bool napi_schedule_prep(struct napi_struct *n)")
def napi_schedule_prep(k: Kernel, napi: int) -> int:
    """Claim ``n`` for a poll: true if it was idle; a busy one is marked MISSED; false if disabling."""
    state = _state(k, napi)
    if state & _bit(NAPI_STATE_DISABLE):
        return 0
    new = state | _bit(NAPI_STATE_SCHED)
    if state & _bit(NAPI_STATE_SCHED):
        new |= _bit(NAPI_STATE_MISSED)
    _set_state(k, napi, new)
    return int(not state & _bit(NAPI_STATE_SCHED))


@service("void __napi_schedule(struct napi_struct *n)")
def __napi_schedule(k: Kernel, napi: int) -> None:
    """Put ``n`` (already claimed by napi_schedule_prep) on the poll list and raise NET_RX."""
    schedule(k, napi)


@service("void __napi_schedule_irqoff(struct napi_struct *n)")
def __napi_schedule_irqoff(k: Kernel, napi: int) -> None:
    """__napi_schedule with interrupts known to be off."""
    schedule(k, napi)


@service("bool napi_complete_done(struct napi_struct *n, int work_done)")
def napi_complete_done(k: Kernel, napi: int, work_done: int) -> int:
    """End a poll: the napi is idle again (rescheduled if an interrupt MISSED it meanwhile); true."""
    state = _state(k, napi)
    if state & (_bit(NAPI_STATE_NPSVC) | (1 << 6)):  # netpoll or busy polling own it
        return 0
    if not state & _bit(NAPI_STATE_SCHED):
        k.warn(f"napi_complete_done of {k.symbolizer.short(napi)} at {k.symbolizer.short(k.current_caller)}: "
               "not scheduled")
    _complete(k, napi)
    return 1


@service("gro_result_t napi_gro_receive(struct napi_struct *napi, struct sk_buff *skb)")
def napi_gro_receive(k: Kernel, napi: int, skb: int) -> int:
    """Receive from a poll: no flows to merge with, so the skb goes up the stack whole (GRO_NORMAL)."""
    from .netif import deliver

    deliver(k, skb, "napi_gro_receive")
    return GRO_NORMAL


@service("int netif_receive_skb(struct sk_buff *skb)")
def netif_receive_skb(k: Kernel, skb: int) -> int:
    """Hand ``skb`` to the stack now (from a poll or process context): NET_RX_SUCCESS."""
    from .netif import deliver

    return deliver(k, skb, "netif_receive_skb")


@service("void netif_receive_skb_list(struct list_head *head)")
def netif_receive_skb_list(k: Kernel, head: int) -> None:
    """netif_receive_skb for each skb on a list_head (skb->list), in order."""
    from .netif import deliver

    skb = k.memory.read_u32(head)
    while skb and skb != head:
        following = k.memory.read_u32(skb)
        k.memory.write_u32(skb, 0)
        k.memory.write_u32(skb + 4, 0)
        deliver(k, skb, "netif_receive_skb_list")
        skb = following
    k.memory.write_u32(head, head)
    k.memory.write_u32(head + 4, head)


@service("int netif_rx(struct sk_buff *skb)")
def netif_rx(k: Kernel, skb: int) -> int:
    """Queue ``skb`` on the backlog for NET_RX (any context): NET_RX_SUCCESS, or NET_RX_DROP when full."""
    from .skbuff import SKB_DROP_REASON_NOT_SPECIFIED, free_skb, live_skb

    live_skb(k, skb, "netif_rx")
    net = Softnet.of(k)
    if len(net.backlog) >= NETDEV_MAX_BACKLOG:
        free_skb(k, skb, SKB_DROP_REASON_NOT_SPECIFIED)
        return NET_RX_DROP
    net.backlog.append(skb)
    net.raise_softirq(k)
    return NET_RX_SUCCESS
