"""The hand-derived Linux 6.1 i386 offsets in kernel_stubs agree with the kernel's own DWARF.

Each constant was first worked out from real modules' code and relocations
(see the docstrings of the files that define them); the generated table
(tools/gen-linux-layouts, from Debian's vmlinux debug information) is an
independent source. A disagreement means one of them is wrong.
"""

from __future__ import annotations

import pytest

from kernel_stubs.linux import chrdev, vfs
from kernel_stubs.linux.layout import Fields, member, offset, size
from kernel_stubs.profiles import LINUX
from sandbox.entrypoints import StructField


def test_vfs_layouts_match_dwarf() -> None:
    assert size("file") == vfs.FILE_SIZE and size("file_operations") == vfs.FOPS_SIZE
    for path, value in {"f_inode": vfs.F_INODE, "f_op": vfs.F_OP, "f_count": vfs.F_COUNT, "f_flags": vfs.F_FLAGS,
                        "f_mode": vfs.F_MODE, "f_pos": vfs.F_POS, "private_data": vfs.PRIVATE_DATA}.items():
        assert offset("file", path) == value, path
    for path, value in {"owner": vfs.FOP_OWNER, "llseek": vfs.FOP_LLSEEK, "read": vfs.FOP_READ, "write": vfs.FOP_WRITE,
                        "poll": vfs.FOP_POLL, "unlocked_ioctl": vfs.FOP_UNLOCKED_IOCTL, "open": vfs.FOP_OPEN,
                        "release": vfs.FOP_RELEASE}.items():
        assert offset("file_operations", path) == value, path
    assert offset("inode", "i_rdev") == vfs.I_RDEV and offset("inode", "i_cdev") == vfs.I_CDEV
    assert size("inode") <= vfs.INODE_SIZE  # the sandbox's allocation holds a whole inode


def test_misc_and_module_layouts_match_dwarf() -> None:
    assert (offset("miscdevice", "minor"), offset("miscdevice", "name"), offset("miscdevice", "fops"),
            offset("miscdevice", "this_device")) == (chrdev.MISC_MINOR, chrdev.MISC_NAME, chrdev.MISC_FOPS,
                                                     chrdev.MISC_THIS_DEVICE)
    assert size("device") <= chrdev.DEVICE_SIZE
    # The linux profile's entry policy reads init/exit from struct module when no symbol names them.
    init, exit_ = (next(f.offset for f in finders if isinstance(f, StructField)) for finders in (LINUX.entry.init, LINUX.entry.exit))
    assert (offset("module", "init"), offset("module", "exit")) == (init, exit_)


def test_layout_lookups_name_what_is_missing() -> None:
    with pytest.raises(KeyError, match="struct nosuch is not in the generated layout table"):
        size("nosuch")
    with pytest.raises(KeyError, match="struct device has no member 'nosuch'"):
        offset("device", "nosuch")
    assert member("platform_device", "dev.driver_data") == (offset("platform_device", "dev") + offset("device", "driver_data"), 4)


def test_fields_read_and_write_guest_memory() -> None:
    from sandbox import Kernel

    k = Kernel("linux")
    address = k.memory.alloc(size("resource"))
    res = Fields(k.memory, "resource", address)
    res["start"], res["end"], res["flags"] = 0x2E, 0x2F, 0x100
    assert k.memory.read_u32(address + offset("resource", "end")) == 0x2F and res["flags"] == 0x100


# Offsets the services still spell out themselves (named constants, or numbers next to a comment naming
# the struct), each first derived from a real module's code and relocations (the comment or docstring
# where it is used names the module), checked here against the DWARF table: (struct, member, value).
# sizeof checks use member None. Everything else in kernel_stubs/linux reads offsets through layout.py.
def _hand_written() -> list[tuple[str, str, str | None, int]]:
    from kernel_stubs.linux import fs, net, netfilter, params, platform, workqueue
    from kernel_stubs.linux.crypto import hash as chash
    from kernel_stubs.linux.crypto import registry as creg
    from kernel_stubs.linux.crypto import template as ctemplate
    from kernel_stubs.linux.crypto import tfm as ctfm

    return [
        # extensions.py (registrations of module-defined structs; their DWARF is the defining module's)
        ("extensions", "target_type", "name", 8), ("extensions", "target_type", "ctr", 28),
        ("extensions", "w1_family", "fid", 8), ("extensions", "w1_family", "fops", 12),
        ("extensions", "usb_function_driver", "name", 0), ("extensions", "usb_function_driver", "mod", 4),
        ("extensions", "usb_function_driver", "alloc_inst", 16),
        ("extensions", "ip_vs_scheduler", "name", 8), ("extensions", "ip_vs_scheduler", "module", 16),
        ("extensions", "ir_raw_handler", "protocols", 8), ("extensions", "ir_raw_handler", "decode", 16),
        ("extensions", "xt_table", "valid_hooks", 8), ("extensions", "xt_table", "af", 24),
        ("extensions", "xt_table", "priority", 28), ("extensions", "xt_table", "name", 32),
        ("extensions", "led_trigger", "name", 0), ("extensions", "led_trigger", "activate", 4),
        ("extensions", "led_trigger", "deactivate", 8),
        ("extensions", "notifier_block", "notifier_call", 0), ("extensions", "notifier_block", "priority", 8),
        ("extensions", "tty_ldisc_ops", "name", 0), ("extensions", "tty_ldisc_ops", "num", 4),
        ("extensions", "tcf_proto_ops", "kind", 8), ("extensions", "xfrm_type", "proto", 4),
        # fs.py: the dentries debugfs hands out
        ("fs", "dentry", "d_parent", fs.D_PARENT), ("fs", "dentry", "d_name.len", fs.D_NAME_LEN),
        ("fs", "dentry", "d_name.name", fs.D_NAME), ("fs", "dentry", "d_iname", fs.D_INAME),
        ("fs", "dentry", None, fs.DENTRY_SIZE),
        # crypto/ (registry, tfm, hash, template)
        ("crypto", "crypto_alg", "cra_name", creg.CRA_NAME), ("crypto", "crypto_alg", "cra_ctxsize", creg.CRA_CTXSIZE),
        ("crypto", "crypto_alg", "cra_blocksize", creg.CRA_BLOCKSIZE),
        ("crypto", "crypto_alg", "cra_priority", creg.CRA_PRIORITY), ("crypto", "crypto_alg", "cra_init", creg.CRA_INIT),
        ("crypto", "shash_alg", None, chash.SHASH_SIZE),
        ("crypto", "crypto_tfm", "__crt_alg", ctfm.TFM_ALG), ("crypto", "crypto_tfm", "__crt_ctx", ctfm.TFM_CTX),
        ("crypto", "crypto_shash", "base", chash.SHASH_TFM_BASE), ("crypto", "shash_desc", "__ctx", chash.DESC_CTX),
        ("crypto", "crypto_template", None, ctemplate.TEMPLATE_SIZE),
        # net.py
        ("net", "pernet_operations", "init", net.OPS_INIT), ("net", "pernet_operations", "pre_exit", net.OPS_PRE_EXIT),
        ("net", "pernet_operations", "exit", net.OPS_EXIT), ("net", "pernet_operations", "exit_batch", net.OPS_EXIT_BATCH),
        ("net", "pernet_operations", "exit_batch_rtnl", net.OPS_EXIT_BATCH_RTNL),
        ("net", "pernet_operations", "id", net.OPS_ID), ("net", "pernet_operations", "size", net.OPS_SIZE),
        ("net", "rtnl_link_ops", "kind", net.RTNL_KIND), ("net", "Qdisc_ops", "cl_ops", net.QDISC_CL_OPS),
        ("net", "Qdisc_ops", "id", net.QDISC_ID), ("net", "tcf_idrinfo", "action_idr", net.TCF_IDRINFO_IDR),
        ("net", "tcp_congestion_ops", "ssthresh", 0), ("net", "tcp_congestion_ops", "cong_avoid", 4),
        ("net", "tc_action_ops", "kind", 8), ("net", "tc_action_ops", "id", 24), ("net", "tc_action_ops", "net_id", 28),
        ("net", "proto", "slab", 176), ("net", "proto", "obj_size", 180),
        # netfilter.py, params.py, workqueue.py, platform.py, chrdev.py
        ("netfilter", "xt_match", None, netfilter.XT_SIZE),
        ("params", "kernel_param", "arg", params.KP_ARG), ("params", "kernel_param", None, params.KP_SIZE),
        ("workqueue", "work_struct", "data", workqueue.WORK_DATA), ("workqueue", "work_struct", "func", workqueue.WORK_FUNC),
        ("workqueue", "delayed_work", "timer", workqueue.DWORK_TIMER), ("workqueue", "delayed_work", "wq", workqueue.DWORK_WQ),
        ("workqueue", "delayed_work", "cpu", workqueue.DWORK_CPU),
        ("platform", "cpuinfo_x86", "x86_capability", platform.CAPABILITY),
        ("platform", "cpuinfo_x86", "x86_vendor_id", platform.VENDOR_ID),
        ("platform", "cpuinfo_x86", "x86_model_id", platform.MODEL_ID),
        ("platform", "x86_cpu_id", None, platform.CPU_ID_SIZE), ("platform", "x86_cpu_id", "driver_data", 12),
        ("platform", "dmi_system_id", "matches", platform.DMI_MATCHES),
        ("platform", "dmi_system_id", None, platform.DMI_SYSTEM_ID_SIZE), ("platform", "dmi_strmatch", None,
                                                                          platform.DMI_STRMATCH_SIZE),
        ("platform", "cpuinfo_x86", "extended_cpuid_level", 28), ("platform", "cpuinfo_x86", "cpuid_level", 32),
        ("platform", "resource", None, platform.RESOURCE_SIZE),
        ("chrdev", "cdev", None, chrdev.CDEV_SIZE), ("chrdev", "cdev", "ops", chrdev.CDEV_OPS),
        ("chrdev", "cdev", "list", chrdev.CDEV_LIST), ("chrdev", "cdev", "dev", chrdev.CDEV_DEV),
        ("chrdev", "cdev", "count", chrdev.CDEV_COUNT),
        # printk.py, locking.py, lib.py, bpf.py
        ("printk", "ratelimit_state", "interval", 4), ("printk", "ratelimit_state", "burst", 8),
        ("printk", "ratelimit_state", "printed", 12), ("printk", "ratelimit_state", "missed", 16),
        ("printk", "ratelimit_state", "begin", 20), ("printk", "ratelimit_state", "flags", 24),
        ("locking", "mutex", "wait_list", 12), ("locking", "mutex", None, 20),
        ("locking", "swait_queue_head", "task_list", 4),
        ("lib", "list_head", "prev", 4), ("bpf", "btf_kfunc_id_set", "set", 4),
    ]


@pytest.mark.parametrize("where,struct,path,value", _hand_written(),
                         ids=lambda v: str(v) if not isinstance(v, int) else None)
def test_hand_written_offsets_match_dwarf(where: str, struct: str, path: str | None, value: int) -> None:
    assert (size(struct) if path is None else offset(struct, path)) == value, f"{where}: {struct}.{path or 'sizeof'}"
