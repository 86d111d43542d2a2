"""The DMA engine's client side with no DMA engine, used by the real async_tx and async_memcpy.

async_tx's init takes a dmaengine reference (its exit drops it);
async_memcpy asks the channel table for an async_tx channel, gets none,
and copies on the CPU through kmap, as Linux does on a PC without an IOAT.
"""

from __future__ import annotations

import pytest

from kernel_stubs.linux.dmaengine import dmaengine_put, engine
from kernel_stubs.linux.pages import allocate_pages, virt_to_page
from sandbox import GuestFault, Kernel
from tests.linux_corpus import KDIR, needs_corpus

pytestmark = needs_corpus
DMA_ASYNC_TX = 9  # async_dma_find_channel(type) is dma_find_channel(DMA_ASYNC_TX) without channel switching
ASYNC_SUBMIT_CTL_SIZE = 20  # flags, depend_tx, cb_fn, cb_param, scribble


def test_async_tx_holds_one_dmaengine_reference_while_loaded() -> None:
    k = Kernel("linux", unresolved="trap")
    (async_tx,) = k.modprobe("async_tx", KDIR)
    assert "async_tx: api initialized (async)" in k.console
    assert engine(k).ref_count == 1
    assert k.unload(async_tx).leaks == []
    assert engine(k).ref_count == 0


def test_async_memcpy_falls_back_to_a_cpu_copy_between_pages() -> None:
    k = Kernel("linux", unresolved="trap")
    modules = k.modprobe("async_memcpy", KDIR)
    ctx = k.service_context
    src, dst = allocate_pages(ctx, 4096, owner="kernel"), allocate_pages(ctx, 4096, owner="kernel")
    k.memory.write(src + 100, b"copied by the CPU")
    submit = k.memory.alloc(ASYNC_SUBMIT_CTL_SIZE)
    k.memory.write(submit, bytes(ASYNC_SUBMIT_CTL_SIZE))
    tx = modules[-1].call("async_memcpy", virt_to_page(ctx, dst), virt_to_page(ctx, src), 8, 100, 17, submit)
    assert tx == 0  # no descriptor: the copy is already done
    assert k.memory.read(dst, 30) == bytes(8) + b"copied by the CPU" + bytes(5)
    calls = [(e.name, e.args[0] if e.args else None, e.result) for e in k.trace if e.kind == "service"]
    assert ("dma_find_channel", DMA_ASYNC_TX, 0) in calls
    for m in reversed(modules):
        assert k.unload(m).leaks == [], m.name


def test_a_put_without_a_get_is_linux_bug_on() -> None:
    k = Kernel("linux", unresolved="trap")
    with pytest.raises(GuestFault, match="dmaengine_ref_count < 0"):
        dmaengine_put(k.service_context)
