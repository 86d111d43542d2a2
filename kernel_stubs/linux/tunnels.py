"""What IP tunnel devices take from the core, Linux 6.1 (net/core/dev.c, dst_cache.c, gro_cells.c).

ipip, sit, ip_gre, ip6_tunnel and friends create a fallback device per
namespace (tunl0, sit0, gre0...) in their pernet init, and each tunnel
device gets a route cache and GRO cells in its ``ndo_init``:

- ``dev_valid_name``: Linux's rules (not empty, shorter than IFNAMSIZ, not
  "." or "..", no '/', ':' or whitespace).
- ``dst_cache_init``/``dst_cache_destroy``: a zeroed per-CPU
  ``struct dst_cache_pcpu`` (no route is ever cached here: nothing routes),
  ``reset_ts`` the current jiffies.
- ``gro_cells_init``/``gro_cells_destroy``/``gro_cells_receive``: one cell
  per CPU (an skb queue and a NAPI context polled by the kernel's
  ``gro_cell_poll``, which hands the queued skbs to ``napi_gro_receive``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.services import service

from .layout import Fields, size
from .mempool import __alloc_percpu_gfp, free_percpu

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

IFNAMSIZ = 16
ENOMEM = 12
DST_CACHE_PCPU_SIZE = 28  # refresh_ts, dst, cookie, union { in_saddr; in6_saddr }
SKB_QUEUE = size("sk_buff_head")
GRO_CELL_SIZE = SKB_QUEUE + size("napi_struct")  # struct gro_cell { sk_buff_head napi_skbs; napi_struct napi; }
NAPI_POLL_WEIGHT = 64
NAPI_STATE_NO_BUSY_POLL = 5
NET_RX_DROP = 1
NETDEV_MAX_BACKLOG = 1000  # net.core.netdev_max_backlog


@service("bool dev_valid_name(const char *name)")
def dev_valid_name(k: Kernel, name: int) -> int:
    """Whether ``name`` may name a network device."""
    raw = k.memory.read_cstring(name, IFNAMSIZ + 1)
    if not raw or len(raw) >= IFNAMSIZ or raw in (b".", b".."):
        return 0
    return int(not any(c in b"/: \t\n\v\f\r" for c in raw))


@service("int dst_cache_init(struct dst_cache *dst_cache, gfp_t gfp)")
def dst_cache_init(k: Kernel, dst_cache: int, gfp: int) -> int:
    """An empty per-CPU route cache: 0, or -ENOMEM."""
    cache = __alloc_percpu_gfp(k, DST_CACHE_PCPU_SIZE, 4, gfp)
    if not cache:
        return -ENOMEM
    k.memory.write_u32(dst_cache, cache)
    k.memory.write_u32(dst_cache + 4, k.clock.jiffies & 0xFFFFFFFF)  # dst_cache_reset: reset_ts = jiffies
    return 0


@service("void dst_cache_destroy(struct dst_cache *dst_cache)")
def dst_cache_destroy(k: Kernel, dst_cache: int) -> None:
    """Free the route cache (no route was cached to release)."""
    cache = k.memory.read_u32(dst_cache)
    if cache:
        free_percpu(k, cache)


def _queue_init(k: Kernel, head: int) -> None:
    k.memory.write(head, head.to_bytes(4, "little") * 2 + bytes(SKB_QUEUE - 8))


@service("int gro_cells_init(struct gro_cells *gcells, struct net_device *dev)")
def gro_cells_init(k: Kernel, gcells: int, dev: int) -> int:
    """A GRO cell per CPU: an skb queue and a NAPI polled by gro_cell_poll, enabled; 0 or -ENOMEM."""
    from .napi import napi_enable, netif_napi_add_weight

    cells = __alloc_percpu_gfp(k, GRO_CELL_SIZE, 4, 0xCC0)
    if not cells:
        return -ENOMEM
    k.memory.write_u32(gcells, cells)
    _queue_init(k, cells)
    napi = cells + SKB_QUEUE
    netif_napi_add_weight(k, dev, napi, k.export_address("gro_cell_poll") or 0, NAPI_POLL_WEIGHT)
    f = Fields(k.memory, "napi_struct", napi)
    f["state"] = f["state"] | 1 << NAPI_STATE_NO_BUSY_POLL
    napi_enable(k, napi)
    return 0


@service("void gro_cells_destroy(struct gro_cells *gcells)")
def gro_cells_destroy(k: Kernel, gcells: int) -> None:
    """Disable and delete each cell's NAPI, drop what it still queued, free the cells."""
    from .napi import __netif_napi_del, napi_disable
    from .skbuff import skb_queue_purge

    cells = k.memory.read_u32(gcells)
    if not cells:
        return
    napi_disable(k, cells + SKB_QUEUE)
    __netif_napi_del(k, cells + SKB_QUEUE)
    skb_queue_purge(k, cells)
    free_percpu(k, cells)
    k.memory.write_u32(gcells, 0)


@service("int gro_cells_receive(struct gro_cells *gcells, struct sk_buff *skb)")
def gro_cells_receive(k: Kernel, gcells: int, skb: int) -> int:
    """Queue a decapsulated skb on this CPU's cell and schedule its NAPI; NET_RX_DROP if the device is
    not running or the cell's queue is full."""
    from .napi import __napi_schedule, napi_schedule_prep
    from .netdev import running
    from .skbuff import SKB_DROP_REASON_NOT_SPECIFIED, Skb, free_skb, skb_queue_tail

    cells = k.memory.read_u32(gcells)
    dev = Skb(k, skb).dev
    if not cells or not dev or not running(k, dev) or k.memory.read_u32(cells + 8) > NETDEV_MAX_BACKLOG:
        free_skb(k, skb, SKB_DROP_REASON_NOT_SPECIFIED)
        return NET_RX_DROP
    skb_queue_tail(k, cells, skb)
    if k.memory.read_u32(cells + 8) == 1 and napi_schedule_prep(k, cells + SKB_QUEUE):
        __napi_schedule(k, cells + SKB_QUEUE)
    return 0


@service("int gro_cell_poll(struct napi_struct *napi, int budget)")
def gro_cell_poll(k: Kernel, napi: int, budget: int) -> int:
    """The cells' poll: up to ``budget`` queued skbs to napi_gro_receive, then napi_complete_done."""
    from .napi import napi_complete_done, napi_gro_receive
    from .skbuff import skb_dequeue

    queue = napi - SKB_QUEUE
    work = 0
    while work < budget:
        skb = skb_dequeue(k, queue)
        if not skb:
            break
        napi_gro_receive(k, napi, skb)
        work += 1
    if work < budget:
        napi_complete_done(k, napi, work)
    return work
