"""User namespaces, id mapping and credentials, Linux 6.1 i386 (kernel/user_namespace.c, kernel/cred.c).

- ``init_user_ns`` as Linux builds it: uid, gid and projid maps of one
  extent ``{first 0, lower_first 0, count 4294967295}`` (the identity over
  every id but (uid_t)-1), level 0, ``USERNS_SETGROUPS_ALLOWED``.
- ``make_kuid``/``make_kgid`` map an id of a namespace down to the kernel's
  id (``map_id_range_down``), ``from_kuid``/``from_kgid`` back up
  (``map_id_up``); an unmapped id is ``(uid_t)-1``, and the ``_munged``
  variants give ``overflowuid``/``overflowgid`` (65534) instead. Maps are
  read from the namespace in guest memory: up to five extents inline, more
  through its ``forward``/``reverse`` arrays, as Linux keeps them.
- ``init_cred``: root with every capability in init_user_ns, the
  credentials of the one task here (``current->cred`` and ``real_cred``,
  with a ``signal_struct`` for ``current->signal``, set the first time a
  service needs them). ``__put_cred`` frees a cred whose usage reached 0
  (and refuses init_cred, which must never be freed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.errors import GuestFault
from sandbox.services import kernel_variable, service

from .layout import Fields, offset, size

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

INVALID_ID = 0xFFFFFFFF  # (uid_t)-1 / (gid_t)-1
OVERFLOW_ID = 65534  # DEFAULT_OVERFLOWUID / DEFAULT_OVERFLOWGID
UID_GID_MAP_MAX_BASE_EXTENTS = 5
UID_GID_MAP_MAX_EXTENTS = 340
EXTENT_SIZE = size("uid_gid_extent")  # first, lower_first, count
USERNS_SETGROUPS_ALLOWED = 1
CAP_FULL_SET = (1 << 41) - 1  # CAP_LAST_CAP 40 in 6.1
MAPS = ("uid_map", "gid_map", "projid_map")


def _init_user_ns() -> bytes:
    """struct user_namespace init_user_ns's bytes (kernel/user_namespace.c)."""
    data = bytearray(size("user_namespace"))
    for name in MAPS:
        base = offset("user_namespace", name)
        data[base:base + 4] = (1).to_bytes(4, "little")  # nr_extents
        extent = base + offset("uid_gid_map", "extent")
        data[extent + 8:extent + 12] = (0xFFFFFFFF).to_bytes(4, "little")  # count 4294967295, first = lower = 0
    count = offset("user_namespace", "ns.count")
    data[count:count + 4] = (3).to_bytes(4, "little")
    flags = offset("user_namespace", "flags")
    data[flags:flags + 4] = USERNS_SETGROUPS_ALLOWED.to_bytes(4, "little")
    inum = offset("user_namespace", "ns.inum")
    data[inum:inum + 4] = (0xEFFFFFFD).to_bytes(4, "little")  # PROC_USER_INIT_INO
    return bytes(data)


def _init_cred() -> bytes:
    """struct cred init_cred's bytes: root, usage 4, all capabilities but the ambient ones."""
    data = bytearray(size("cred"))
    data[0:4] = (4).to_bytes(4, "little")
    for cap in ("cap_permitted", "cap_effective", "cap_bset"):
        where = offset("cred", cap)
        data[where:where + 8] = CAP_FULL_SET.to_bytes(8, "little")
    return bytes(data)


init_user_ns = kernel_variable("init_user_ns", size("user_namespace"), _init_user_ns())
init_cred = kernel_variable("init_cred", size("cred"), _init_cred(), {offset("cred", "user_ns"): "init_user_ns"})
# The init task's signal_struct (init_signals): no pids attached (task_tgid(current) is NULL here).
init_signals = kernel_variable("init_signals", size("signal_struct"), (1).to_bytes(4, "little"))
overflowuid = kernel_variable("overflowuid", 4, OVERFLOW_ID)
overflowgid = kernel_variable("overflowgid", 4, OVERFLOW_ID)


def _extents(k: Kernel, ns: int, which: str, forward: bool) -> list[tuple[int, int, int]]:
    """(first, lower_first, count) of one of the namespace's maps, as map_id_down/up search them."""
    mem = k.memory
    base = ns + offset("user_namespace", which)
    count = mem.read_u32(base)
    if count > UID_GID_MAP_MAX_EXTENTS:
        raise GuestFault("bad-user-ns", f"user namespace {ns:#x} {which} at {k.symbolizer.short(k.current_caller)} "
                         f"has {count} extents (at most {UID_GID_MAP_MAX_EXTENTS})", pc=k.current_caller, address=ns)
    if count <= UID_GID_MAP_MAX_BASE_EXTENTS:
        table = base + offset("uid_gid_map", "extent")
    else:
        table = mem.read_u32(base + offset("uid_gid_map", "forward" if forward else "reverse"))
    raw = mem.read(table, count * EXTENT_SIZE) if count else b""
    return [(int.from_bytes(raw[i:i + 4], "little"), int.from_bytes(raw[i + 4:i + 8], "little"),
             int.from_bytes(raw[i + 8:i + 12], "little")) for i in range(0, len(raw), EXTENT_SIZE)]


def map_id_down(k: Kernel, ns: int, which: str, ident: int) -> int:
    """map_id_range_down(map, id, 1): the kernel id, or (u32)-1 if ``ident`` is not mapped."""
    for first, lower_first, count in _extents(k, ns, which, True):
        if first <= ident <= first + count - 1:
            return (ident - first + lower_first) & 0xFFFFFFFF
    return INVALID_ID


def map_id_up(k: Kernel, ns: int, which: str, ident: int) -> int:
    """map_id_up(map, id): the namespace's id for kernel id ``ident``, or (u32)-1."""
    for first, lower_first, count in _extents(k, ns, which, False):
        if lower_first <= ident <= lower_first + count - 1:
            return (ident - lower_first + first) & 0xFFFFFFFF
    return INVALID_ID


@service("kuid_t make_kuid(struct user_namespace *ns, uid_t uid)")
def make_kuid(k: Kernel, ns: int, uid: int) -> int:
    """The kernel uid for ``uid`` in ``ns``; INVALID_UID ((uid_t)-1) if the namespace does not map it."""
    return map_id_down(k, ns, "uid_map", uid)


@service("uid_t from_kuid(struct user_namespace *targ, kuid_t kuid)")
def from_kuid(k: Kernel, targ: int, kuid: int) -> int:
    """``kuid`` as ``targ`` sees it; (uid_t)-1 if it has no mapping there."""
    return map_id_up(k, targ, "uid_map", kuid)


@service("uid_t from_kuid_munged(struct user_namespace *targ, kuid_t kuid)")
def from_kuid_munged(k: Kernel, targ: int, kuid: int) -> int:
    """from_kuid, with overflowuid for an unmapped id (what stat and /proc show)."""
    uid = map_id_up(k, targ, "uid_map", kuid)
    return k.memory.read_u32(k.export_address("overflowuid") or 0) if uid == INVALID_ID else uid


@service("kgid_t make_kgid(struct user_namespace *ns, gid_t gid)")
def make_kgid(k: Kernel, ns: int, gid: int) -> int:
    """The kernel gid for ``gid`` in ``ns``; INVALID_GID if unmapped."""
    return map_id_down(k, ns, "gid_map", gid)


@service("gid_t from_kgid(struct user_namespace *targ, kgid_t kgid)")
def from_kgid(k: Kernel, targ: int, kgid: int) -> int:
    """``kgid`` as ``targ`` sees it; (gid_t)-1 if unmapped."""
    return map_id_up(k, targ, "gid_map", kgid)


@service("gid_t from_kgid_munged(struct user_namespace *targ, kgid_t kgid)")
def from_kgid_munged(k: Kernel, targ: int, kgid: int) -> int:
    """from_kgid, with overflowgid for an unmapped id."""
    gid = map_id_up(k, targ, "gid_map", kgid)
    return k.memory.read_u32(k.export_address("overflowgid") or 0) if gid == INVALID_ID else gid


# -- credentials -----------------------------------------------------------------------------------

def current_identity(k: Kernel) -> int:
    """The current task with its credentials and signal_struct in place (init_cred, init_signals)."""
    task = k.memory.read_u32(k.export_address("current_task") or 0)
    t = Fields(k.memory, "task_struct", task)
    if not t["cred"]:
        t["cred"] = t["real_cred"] = k.export_address("init_cred") or 0
    if not t["signal"]:
        t["signal"] = k.export_address("init_signals") or 0
    return task


def put_cred(k: Kernel, cred: int) -> None:
    """put_cred (inline in modules): drop a use, freeing the cred at zero."""
    if not cred:
        return
    usage = k.memory.read_u32(cred)
    k.memory.write_u32(cred, (usage - 1) & 0xFFFFFFFF)
    if usage == 1:
        __put_cred(k, cred)


@service("void __put_cred(struct cred *cred)")
def __put_cred(k: Kernel, cred: int) -> None:
    """Free a cred whose usage reached 0 (BUG if it did not, or if it is a task's own or init_cred)."""
    usage = k.memory.read_u32(cred)
    where = k.symbolizer.short(k.current_caller)
    if usage:
        raise GuestFault("bug", f"__put_cred of cred {cred:#x} at {where} with usage {usage} (kernel BUG)",
                         pc=k.current_caller, address=cred)
    task = current_identity(k)
    if cred in (k.export_address("init_cred"), Fields(k.memory, "task_struct", task)["cred"]):
        raise GuestFault("bug", f"__put_cred of {k.symbolizer.short(cred)} at {where}: the credentials of a live "
                         "task (their usage was put once too often)", pc=k.current_caller, address=cred)
    from .memory import kfree

    kfree(k, cred)


@service("bool ns_capable_noaudit(struct user_namespace *ns, int cap)")
def ns_capable_noaudit(k: Kernel, ns: int, cap: int) -> int:
    """ns_capable without the audit record: init_cred holds every capability (0..CAP_LAST_CAP)."""
    from .lib import ns_capable

    return ns_capable(k, ns, cap)
