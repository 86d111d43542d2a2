"""The DMA engine client side (drivers/dma/dmaengine.c), Linux 6.1 i386, on a PC without a DMA engine.

Offload users (async_tx and the RAID helpers over it, net_dma-style
clients) take a reference on the engine with ``dmaengine_get`` and look up
a channel per operation with ``dma_find_channel(type)``: the per-CPU
``channel_table`` that ``dma_channel_rebalance`` fills from the registered
DMA devices. No DMA device driver registers here (the machine has no IOAT
or similar engine), so the table stays empty, every lookup answers NULL,
and async_tx runs each operation synchronously on the CPU — as Linux does
on such a PC. The reference count is Linux's ``dmaengine_ref_count``; a put
without a get is its ``BUG_ON(dmaengine_ref_count < 0)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.errors import GuestFault
from sandbox.services import service

if TYPE_CHECKING:
    from sandbox.kernel import Kernel
    from sandbox.module import Module

DMA_TX_TYPE_END = 16  # enum dma_transaction_type: DMA_MEMCPY 0 ... DMA_LOAD_EOT 15
DMA_COMPLETE = 0  # enum dma_status


class DmaEngine:
    """dmaengine_ref_count, the references each module holds, and the (empty) channel table."""

    def __init__(self) -> None:
        self.ref_count = 0
        self.holders: dict[str, int] = {}
        self.channel_table = [0] * DMA_TX_TYPE_END  # struct dma_chan * per transaction type

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """References a module took with dmaengine_get and did not put: dropped and reported."""
        held = self.holders.pop(module.name, 0)
        if not held:
            return []
        self.ref_count -= held
        return [f"{held} dmaengine reference(s) still held (dmaengine_get without dmaengine_put)"]


def engine(kernel: Kernel) -> DmaEngine:
    """The DMA engine state of a kernel (``dmaengine_ref_count`` is ``engine(k).ref_count``)."""
    return kernel.service_context.subsystem(DmaEngine)


def _holder(k: Kernel) -> str:
    caller = k.caller_module()
    return caller.name if caller else "kernel"


@service("void dmaengine_get(void)")
def dmaengine_get(k: Kernel) -> None:
    """Take a reference on the DMA engine; the first one would grab the channels of every device
    (there are none) and rebalance the channel table."""
    state = k.subsystem(DmaEngine)
    state.ref_count += 1
    who = _holder(k)
    state.holders[who] = state.holders.get(who, 0) + 1


@service("void dmaengine_put(void)")
def dmaengine_put(k: Kernel) -> None:
    """Drop a reference; below zero is Linux's BUG_ON, a GuestFault naming the caller."""
    state = k.subsystem(DmaEngine)
    if state.ref_count <= 0:
        raise GuestFault("bug", f"kernel BUG in dmaengine_put: dmaengine_ref_count < 0 (called from "
                         f"{k.symbolizer.short(k.current_caller)} without a dmaengine_get)", pc=k.current_caller)
    state.ref_count -= 1
    who = _holder(k)
    if state.holders.get(who, 0) > 1:
        state.holders[who] -= 1
    else:
        state.holders.pop(who, None)


@service("struct dma_chan *dma_find_channel(enum dma_transaction_type tx_type)")
def dma_find_channel(k: Kernel, tx_type: int) -> int:
    """This CPU's channel for ``tx_type`` from the channel table: NULL, no engine offers one."""
    if tx_type >= DMA_TX_TYPE_END:
        raise GuestFault("bad-argument", f"dma_find_channel: transaction type {tx_type} is past DMA_TX_TYPE_END "
                         f"(called from {k.symbolizer.short(k.current_caller)}): channel_table[{tx_type}] is out of "
                         "bounds", pc=k.current_caller)
    return k.subsystem(DmaEngine).channel_table[tx_type]


@service("enum dma_status dma_wait_for_async_tx(struct dma_async_tx_descriptor *tx)")
def dma_wait_for_async_tx(k: Kernel, tx: int) -> int:
    """DMA_COMPLETE for no descriptor; a descriptor cannot exist without a DMA engine, so one is a fault."""
    if not tx:
        return DMA_COMPLETE
    raise GuestFault("bad-pointer", f"dma_wait_for_async_tx: descriptor {tx:#x} from "
                     f"{k.symbolizer.short(k.current_caller)}, but no DMA engine is registered to have made it",
                     pc=k.current_caller, address=tx)


@service("void dma_issue_pending_all(void)")
def dma_issue_pending_all(k: Kernel) -> None:
    """Flush every public channel's pending descriptors: there are no channels."""


@service("void dmaengine_unmap_put(struct dmaengine_unmap_data *unmap)")
def dmaengine_unmap_put(k: Kernel, unmap: int) -> None:
    """Drop an unmap-data reference; NULL (the CPU path, where no unmap data was taken) is nothing."""
    if unmap:
        raise GuestFault("bad-pointer", f"dmaengine_unmap_put: unmap data {unmap:#x} from "
                         f"{k.symbolizer.short(k.current_caller)}, but only a DMA device's "
                         "dmaengine_get_unmap_data makes it and none is registered", pc=k.current_caller,
                         address=unmap)


@service("struct dmaengine_unmap_data *dmaengine_get_unmap_data(struct device *dev, int nr, gfp_t flags)")
def dmaengine_get_unmap_data(k: Kernel, dev: int, nr: int, flags: int) -> int:
    """Only called for a DMA device's channel (``chan->device->dev``); none exists: a fault naming the caller."""
    raise GuestFault("bad-argument", f"dmaengine_get_unmap_data({dev:#x}, {nr}) from "
                     f"{k.symbolizer.short(k.current_caller)}: no DMA device is registered",
                     pc=k.current_caller)
