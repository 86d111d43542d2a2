"""Extension tables of kernel subsystems that modules plug into, Linux 6.1 i386.

Each of these subsystems keeps a list of named extensions and refuses a
duplicate; nothing else happens at registration. The ones exported by a
module of their own (dm-mod, ip_set, wire, libcomposite, 6lowpan, ip_vs,
rc-core, x_tables) are stand-ins until that module is loaded. Layouts were
checked against the modules named in each comment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.services import service

from .printk import log
from .registrations import EEXIST, EINVAL, ENOENT, Registry, guest_string

if TYPE_CHECKING:
    from sandbox.kernel import Kernel


class Extensions(Registry):
    """Registered extensions of every kind below (the kind says which table)."""


def _add_unique(k: Kernel, kind: str, address: int, name: str, **fields: int) -> int:
    """Record ``address`` under ``name`` unless the kind already has that name: 0 or -EEXIST."""
    registry = k.subsystem(Extensions)
    if address in registry.entries or registry.find(name, kind):
        return -EEXIST
    registry.add(k, kind, address, name, **fields)
    return 0


def _drop(k: Kernel, kind: str, address: int) -> bool:
    return k.subsystem(Extensions).remove(k, address, kind) is not None


# device-mapper targets (dm-zero.ko): struct target_type: u64 features 0, name 8, module 12, version[3] 16, ctr 28.
@service("int dm_register_target(struct target_type *t)", provided_by="dm_mod")
def dm_register_target(k: Kernel, t: int) -> int:
    """Add a device-mapper target type: -EEXIST for a known name."""
    return _add_unique(k, "dm target", t, guest_string(k, k.memory.read_u32(t + 8), 64), ctr=k.memory.read_u32(t + 28))


@service("void dm_unregister_target(struct target_type *t)", provided_by="dm_mod")
def dm_unregister_target(k: Kernel, t: int) -> None:
    """Remove a target type."""
    _drop(k, "dm target", t)


# ip_set types (ip_set_hash_ip.ko): list 0, name[32] 8, protocol 40, dimension 41, family 42,
# revision_min 43, revision_max 44.
IPSET_PROTOCOL = 7


@service("int ip_set_type_register(struct ip_set_type *type)", provided_by="ip_set")
def ip_set_type_register(k: Kernel, set_type: int) -> int:
    """Add a set type; -EINVAL for a wrong protocol version or an existing (name, family, revision)."""
    raw = k.memory.read(set_type + 8, 37)
    name = raw[:32].split(b"\0", 1)[0].decode("utf-8", "replace")
    protocol, _dimension, family, rev_min, rev_max = raw[32:37]
    if protocol != IPSET_PROTOCOL:
        log(k, b"\x014ip_set: ip_set type %s, family %d, revision %d:%d uses wrong protocol version %d (want %d)\n"
            % (name.encode(), family, rev_min, rev_max, protocol, IPSET_PROTOCOL))
        return -EINVAL
    registry = k.subsystem(Extensions)
    if any(e.name == name and e.fields["family"] == family and e.fields["revision_min"] == rev_min
           for e in registry.of_kind("ip_set type")):
        log(k, b"\x014ip_set: ip_set type %s, family %d with revision min %d already registered!\n"
            % (name.encode(), family, rev_min))
        return -EINVAL
    registry.add(k, "ip_set type", set_type, name, family=family, revision_min=rev_min, revision_max=rev_max)
    return 0


@service("void ip_set_type_unregister(struct ip_set_type *type)", provided_by="ip_set")
def ip_set_type_unregister(k: Kernel, set_type: int) -> None:
    """Remove a set type."""
    _drop(k, "ip_set type", set_type)


# 1-Wire families (w1_therm.ko): family_entry 0, fid (u8) 8, fops 12.
@service("int w1_register_family(struct w1_family *newf)", provided_by="wire")
def w1_register_family(k: Kernel, newf: int) -> int:
    """Add a slave family: -EEXIST for a known family id (no bus masters here to rescan)."""
    fid = k.memory.read(newf + 8, 1)[0]
    return _add_unique(k, "w1 family", newf, f"{fid:#04x}", fid=fid, fops=k.memory.read_u32(newf + 12))


@service("void w1_unregister_family(struct w1_family *fent)", provided_by="wire")
def w1_unregister_family(k: Kernel, fent: int) -> None:
    """Remove a slave family."""
    _drop(k, "w1 family", fent)


# USB gadget functions (libcomposite): struct usb_function_driver: name 0, mod 4, list 8, alloc_inst 16.
@service("int usb_function_register(struct usb_function_driver *newf)", provided_by="libcomposite")
def usb_function_register(k: Kernel, newf: int) -> int:
    """Add a gadget function driver: -EEXIST for a known name."""
    return _add_unique(k, "usb function", newf, guest_string(k, k.memory.read_u32(newf), 64),
                       alloc_inst=k.memory.read_u32(newf + 16))


@service("void usb_function_unregister(struct usb_function_driver *fd)", provided_by="libcomposite")
def usb_function_unregister(k: Kernel, fd: int) -> None:
    """Remove a gadget function driver."""
    _drop(k, "usb function", fd)


# 6LoWPAN next-header compression (nhc_udp.ko): name 0, nexthdr (u8) 4, nexthdrlen 8, id 12, idmask 13.
@service("int lowpan_nhc_add(const struct lowpan_nhc *nhc)", provided_by="6lowpan")
def lowpan_nhc_add(k: Kernel, nhc: int) -> int:
    """Install a compressor for one IPv6 next header: -EEXIST if that header has one."""
    nexthdr = k.memory.read(nhc + 4, 1)[0]
    registry = k.subsystem(Extensions)
    if any(e.fields["nexthdr"] == nexthdr for e in registry.of_kind("lowpan nhc")):
        return -EEXIST
    registry.add(k, "lowpan nhc", nhc, guest_string(k, k.memory.read_u32(nhc), 64), nexthdr=nexthdr)
    return 0


@service("void lowpan_nhc_del(const struct lowpan_nhc *nhc)", provided_by="6lowpan")
def lowpan_nhc_del(k: Kernel, nhc: int) -> None:
    """Remove a compressor."""
    _drop(k, "lowpan nhc", nhc)


# IPVS schedulers: struct ip_vs_scheduler: n_list 0, name 8, refcnt 12, module 16.
@service("int register_ip_vs_scheduler(struct ip_vs_scheduler *scheduler)", provided_by="ip_vs")
def register_ip_vs_scheduler(k: Kernel, scheduler: int) -> int:
    """Add a scheduler: -EINVAL for NULL, -EEXIST for a known name (Linux says so)."""
    if not scheduler:
        return -EINVAL
    name = guest_string(k, k.memory.read_u32(scheduler + 8), 64)
    result = _add_unique(k, "ip_vs scheduler", scheduler, name)
    if result == -EEXIST:
        log(k, b"\x013IPVS: register_ip_vs_scheduler(): [%s] scheduler already existed in the system\n" % name.encode())
    return result


@service("int unregister_ip_vs_scheduler(struct ip_vs_scheduler *scheduler)", provided_by="ip_vs")
def unregister_ip_vs_scheduler(k: Kernel, scheduler: int) -> int:
    """Remove a scheduler: 0, or -EINVAL if it was not registered."""
    return 0 if _drop(k, "ip_vs scheduler", scheduler) else -EINVAL


# IR raw decoders (ir-rc5-decoder.ko ...): struct ir_raw_handler: list 0, u64 protocols 8, decode 16.
@service("int ir_raw_handler_register(struct ir_raw_handler *ir_raw_handler)", provided_by="rc_core")
def ir_raw_handler_register(k: Kernel, handler: int) -> int:
    """Add a raw IR protocol decoder (no IR receivers here to attach it to)."""
    protocols = int.from_bytes(k.memory.read(handler + 8, 8), "little")
    k.subsystem(Extensions).add(k, "ir raw handler", handler, k.symbolizer.short(k.memory.read_u32(handler + 16)),
                                protocols=protocols)
    return 0


@service("void ir_raw_handler_unregister(struct ir_raw_handler *ir_raw_handler)", provided_by="rc_core")
def ir_raw_handler_unregister(k: Kernel, handler: int) -> None:
    """Remove a decoder."""
    _drop(k, "ir raw handler", handler)


# x_tables table templates: struct xt_table: list 0, valid_hooks 8, private 12, ops 16, me 20,
# af 24, priority 28, name[32] 32.
@service("int xt_register_template(const struct xt_table *table, int (*table_init)(struct net *net))",
         provided_by="x_tables")
def xt_register_template(k: Kernel, table: int, table_init: int) -> int:
    """Offer a table to be instantiated per namespace on first use: -EEXIST for a known name."""
    name = k.memory.read(table + 32, 32).split(b"\0", 1)[0].decode("utf-8", "replace")
    return _add_unique(k, "xt table template", table, name, table_init=table_init, af=k.memory.read(table + 24, 1)[0])


@service("void xt_unregister_template(const struct xt_table *table)", provided_by="x_tables")
def xt_unregister_template(k: Kernel, table: int) -> None:
    """Withdraw a table template."""
    _drop(k, "xt table template", table)


# LED triggers (built in): struct led_trigger: name 0, activate 4, deactivate 8.
@service("int led_trigger_register(struct led_trigger *trig)")
def led_trigger_register(k: Kernel, trig: int) -> int:
    """Add a trigger: -EEXIST for a known name (no LEDs here default to it)."""
    return _add_unique(k, "led trigger", trig, guest_string(k, k.memory.read_u32(trig), 64),
                       activate=k.memory.read_u32(trig + 4))


@service("void led_trigger_unregister(struct led_trigger *trig)")
def led_trigger_unregister(k: Kernel, trig: int) -> None:
    """Remove a trigger."""
    _drop(k, "led trigger", trig)


@service("void led_trigger_register_simple(const char *name, struct led_trigger **tp)")
def led_trigger_register_simple(k: Kernel, name: int, tp: int) -> None:
    """A kzalloc'd trigger named ``name``, registered, in ``*tp`` (NULL if registration failed)."""
    from kernel_stubs.memory import allocate, release

    from .layout import offset, size

    trig = allocate(k, size("led_trigger"))
    if trig:
        k.memory.write_u32(trig + offset("led_trigger", "name"), name)
        head = trig + offset("led_trigger", "led_cdevs")
        k.memory.write_u32(head, head)  # INIT_LIST_HEAD(&trig->led_cdevs): no LED follows it yet
        k.memory.write_u32(head + 4, head)
        err = led_trigger_register(k, trig)
        if err < 0:
            release(k, trig)
            trig = 0
            log(k, f"\x014LED trigger {guest_string(k, name, 64)} failed to register ({err})\n".encode())
    else:
        log(k, f"\x014LED trigger {guest_string(k, name, 64)} failed to register (no memory)\n".encode())
    k.memory.write_u32(tp, trig)


@service("void led_trigger_unregister_simple(struct led_trigger *trig)")
def led_trigger_unregister_simple(k: Kernel, trig: int) -> None:
    """Unregister and free a led_trigger_register_simple trigger (NULL is ignored)."""
    from kernel_stubs.memory import release

    if trig:
        led_trigger_unregister(k, trig)
        release(k, trig)


@service("void led_trigger_blink_oneshot(struct led_trigger *trig, unsigned long *delay_on, "
         "unsigned long *delay_off, int invert)")
def led_trigger_blink_oneshot(k: Kernel, trig: int, delay_on: int, delay_off: int, invert: int) -> None:
    """Blink the trigger's LEDs once: software blinking is not modelled, the LEDs keep their brightness
    (led_trigger_event, in leds.py, sets the LEDs that follow a trigger)."""


# Reboot notifiers (kernel/reboot.c): notifier_block notifier_call 0, next 4, priority 8.
@service("int register_reboot_notifier(struct notifier_block *nb)")
def register_reboot_notifier(k: Kernel, nb: int) -> int:
    """Run ``nb`` at reboot (which never comes here); -EEXIST if it is on the chain."""
    registry = k.subsystem(Extensions)
    if nb in registry.entries:
        return -EEXIST
    registry.add(k, "reboot notifier", nb, k.symbolizer.short(k.memory.read_u32(nb)),
                 notifier_call=k.memory.read_u32(nb), priority=k.memory.read_u32(nb + 8))
    return 0


@service("int unregister_reboot_notifier(struct notifier_block *nb)")
def unregister_reboot_notifier(k: Kernel, nb: int) -> int:
    """Take ``nb`` off the chain: 0, or -ENOENT."""
    return 0 if _drop(k, "reboot notifier", nb) else -ENOENT


# TTY line disciplines (tty_register_ldisc) are in tty_ldisc.py.


# tc classifiers (struct tcf_proto_ops: head 0, kind[16] 8) and ematches (struct tcf_ematch_ops:
# kind 0, datalen 4, change 8, match 12).
@service("int register_tcf_proto_ops(struct tcf_proto_ops *ops)")
def register_tcf_proto_ops(k: Kernel, ops: int) -> int:
    """Add a classifier kind: -EEXIST for a known kind."""
    kind = k.memory.read(ops + 8, 16).split(b"\0", 1)[0].decode("utf-8", "replace")
    return _add_unique(k, "tc classifier", ops, kind)


@service("int unregister_tcf_proto_ops(struct tcf_proto_ops *ops)")
def unregister_tcf_proto_ops(k: Kernel, ops: int) -> int:
    """Remove a classifier kind: 0, or -ENOENT."""
    return 0 if _drop(k, "tc classifier", ops) else -ENOENT


@service("int tcf_em_register(struct tcf_ematch_ops *ops)")
def tcf_em_register(k: Kernel, ops: int) -> int:
    """Add an extended match: -EINVAL without a match function, -EEXIST for a known kind."""
    if not k.memory.read_u32(ops + 12):
        return -EINVAL
    kind = k.memory.read_u32(ops)
    registry = k.subsystem(Extensions)
    if any(e.fields["kind"] == kind for e in registry.of_kind("tc ematch")):
        return -EEXIST
    registry.add(k, "tc ematch", ops, f"ematch {kind}", kind=kind)
    return 0


@service("void tcf_em_unregister(struct tcf_ematch_ops *ops)")
def tcf_em_unregister(k: Kernel, ops: int) -> None:
    """Remove an extended match."""
    _drop(k, "tc ematch", ops)


# IPsec transform types: struct xfrm_type: owner 0, proto (u8) 4. Per address family.
AF_INET, AF_INET6, EAFNOSUPPORT = 2, 10, 97


@service("int xfrm_register_type(const struct xfrm_type *type, unsigned short family)")
def xfrm_register_type(k: Kernel, xtype: int, family: int) -> int:
    """Add a transform for (family, protocol): -EAFNOSUPPORT, -EEXIST, or 0."""
    if family not in (AF_INET, AF_INET6):
        return -EAFNOSUPPORT
    proto = k.memory.read(xtype + 4, 1)[0]
    registry = k.subsystem(Extensions)
    if any(e.fields["family"] == family and e.fields["proto"] == proto for e in registry.of_kind("xfrm type")):
        return -EEXIST
    registry.add(k, "xfrm type", xtype, f"proto {proto} family {family}", proto=proto, family=family)
    return 0


@service("void xfrm_unregister_type(const struct xfrm_type *type, unsigned short family)")
def xfrm_unregister_type(k: Kernel, xtype: int, family: int) -> None:
    """Remove a transform type."""
    _drop(k, "xfrm type", xtype)


IPPROTO_ESP, EPROTONOSUPPORT = 50, 93


@service("int xfrm_register_type_offload(const struct xfrm_type_offload *type, unsigned short family)")
def xfrm_register_type_offload(k: Kernel, xtype: int, family: int) -> int:
    """ESP's GSO/GRO offload for a family (afinfo->type_offload_esp): 0, -EAFNOSUPPORT, or -EPROTONOSUPPORT
    (with Linux's warning) for another protocol; a second ESP offload replaces the first, warned about."""
    from .layout import offset

    if family not in (AF_INET, AF_INET6):
        return -EAFNOSUPPORT
    proto = k.memory.read(xtype + offset("xfrm_type_offload", "proto"), 1)[0]
    if proto != IPPROTO_ESP:
        k.warn(f"xfrm_register_type_offload: protocol {proto} has no offload slot")
        return -EPROTONOSUPPORT
    registry = k.subsystem(Extensions)
    for entry in registry.of_kind("xfrm type offload"):
        if entry.fields["family"] == family:
            k.warn(f"xfrm_register_type_offload: family {family} already has an ESP offload")
            _drop(k, "xfrm type offload", entry.address)
    registry.add(k, "xfrm type offload", xtype, f"esp offload family {family}", proto=proto, family=family)
    return 0


@service("void xfrm_unregister_type_offload(const struct xfrm_type_offload *type, unsigned short family)")
def xfrm_unregister_type_offload(k: Kernel, xtype: int, family: int) -> None:
    """Remove the family's ESP offload."""
    _drop(k, "xfrm type offload", xtype)


# -- x_tables hook ops -----------------------------------------------------------------------
NF_HOOK_OPS_SIZE = 24  # struct nf_hook_ops: hook 0, dev 4, priv 8, pf 12, hook_ops_type 13, hooknum 16, priority 20


@service("struct nf_hook_ops *xt_hook_ops_alloc(const struct xt_table *table, nf_hookfn *fn)", provided_by="x_tables")
def xt_hook_ops_alloc(k: Kernel, table: int, fn: int) -> int:
    """One zeroed nf_hook_ops per hook in table->valid_hooks, calling ``fn`` (kcalloc'd for the caller)."""
    from .memory import allocate
    from .registrations import ENOMEM, err_ptr

    mask = k.memory.read_u32(table + 8)
    hooks = [n for n in range(32) if mask >> n & 1]
    if not hooks:
        return err_ptr(EINVAL)
    ops = allocate(k, len(hooks) * NF_HOOK_OPS_SIZE)
    if not ops:
        return err_ptr(ENOMEM)
    af, priority = k.memory.read(table + 24, 1)[0], k.memory.read_u32(table + 28)
    for i, hooknum in enumerate(hooks):
        entry = ops + i * NF_HOOK_OPS_SIZE
        k.memory.write_u32(entry, fn)
        k.memory.write(entry + 12, bytes([af]))
        k.memory.write_u32(entry + 16, hooknum)
        k.memory.write_u32(entry + 20, priority)
    return ops


# -- modprobe ----------------------------------------------------------------------------------
@service("int __request_module(bool wait, const char *fmt, ...)")
def __request_module(k: Kernel, wait: int, fmt: int, args: object) -> int:
    """Ask user space to load a module: there is no user space (no modprobe) here, so -ENOENT."""
    from .printk import format_guest

    name = format_guest(k, fmt, args).decode("utf-8", "replace")  # type: ignore[arg-type]
    k.trace.add("note", "request_module", caller=k.current_caller, fields={"module": name, "result": "no modprobe"})
    return -ENOENT
