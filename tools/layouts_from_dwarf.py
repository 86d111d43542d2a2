"""Run inside gdb (tools/gen-linux-layouts): write the struct layout table from the kernel's DWARF.

For each struct below: its size and every member's (offset, size), nested
members as dotted paths ("dev.kobj.name"), anonymous unions and structs
flattened into their parent, bit-fields as (offset of their storage unit,
size of the unit, first bit, width). ``STRUCTS`` are read from vmlinux;
``MODULE_STRUCTS`` (structs a module defines, such as x_tables' xt_table)
from that module's debug file in the same -dbg package. gdb runs once per
file and writes a JSON fragment (``LAYOUT_FRAGMENT``); ``python3
tools/layouts_from_dwarf.py OUT FRAGMENT...`` merges them into the table.
"""

import json
import os
import pprint
import sys

STRUCTS = [
    # driver model
    "device", "device_driver", "bus_type", "class", "kobject", "device_type", "resource",
    "platform_device", "platform_driver", "platform_device_info", "platform_device_id",
    "kobj_type", "sysfs_ops", "kset", "bin_attribute", "driver_attribute", "bus_attribute",
    "class_attribute", "dev_pm_ops", "dev_pm_info", "device_private", "fwnode_handle", "kobj_uevent_env",
    "class_interface", "wakeup_source", "dev_pm_domain",
    # PCI
    "pci_dev", "pci_driver", "pci_device_id", "pci_bus",
    # character devices, VFS
    "miscdevice", "file", "inode", "file_operations", "cdev",
    # modules and parameters
    "module", "kernel_param", "kernel_param_ops", "kparam_array", "kparam_string",
    # waiting and deferred work
    "wait_queue_head", "wait_queue_entry", "completion", "tasklet_struct", "work_struct",
    "delayed_work", "timer_list", "hrtimer", "task_struct",
    # kernel library
    "seq_file", "seq_operations", "rb_node", "rb_root", "scatterlist", "attribute", "device_attribute",
    "kobj_attribute", "attribute_group", "static_key", "jump_entry", "alt_instr", "ratelimit_state",
    "_ddebug", "kref", "list_head", "hlist_node", "mutex", "rw_semaphore", "spinlock",
    "semaphore", "notifier_block", "blocking_notifier_head", "atomic_notifier_head", "raw_notifier_head",
    "srcu_notifier_head", "__kfifo", "timespec64", "proc_ops", "rb_root_cached", "hrtimer_clock_base",
    "tracepoint", "tracepoint_func", "trace_event_class", "trace_event_call", "ww_mutex", "ww_acquire_ctx",
    "kernel_symbol", "wait_bit_queue_entry", "wait_bit_key", "kthread_worker", "kthread_work",
    "kthread_delayed_work", "seq_buf", "timezone", "qrwlock", "led_trigger", "proc_dir_entry", "mempool_s",
    "ctl_table", "fasync_struct",
    # structs the services read with offsets of their own (checked against this table by test_linux_layouts)
    "dentry", "shash_desc", "crypto_tfm", "crypto_shash", "crypto_template", "cpuinfo_x86", "dmi_system_id",
    "dmi_strmatch", "rtnl_link_ops", "pernet_operations", "Qdisc_ops", "xt_table", "xt_match", "xt_target",
    "isa_driver", "rc_map_list", "rc_map", "comedi_driver", "usb_serial_driver", "nls_table", "file_system_type",
    "ctl_table_header", "tty_ldisc_ops", "tcp_congestion_ops", "tcf_proto_ops", "tc_action_ops", "nf_hook_ops",
    "ip_set_type", "target_type", "w1_family", "xfrm_type", "usb_function_driver", "proto", "nft_object_type",
    "nft_expr_type", "ir_raw_handler", "ip_vs_scheduler", "net_proto_family", "genl_family", "x86_cpu_id",
    "tcf_idrinfo", "btf_kfunc_id_set", "phy_driver", "tcf_ematch_ops", "net", "swait_queue_head", "class_interface",
    # subsystems drivers plug into
    "input_dev", "input_id", "input_handler",
    "input_handle", "input_event", "i2c_client", "i2c_driver", "i2c_adapter", "i2c_msg", "i2c_device_id",
    "net_device", "net_device_ops", "sk_buff", "napi_struct", "ethtool_ops",
    "skb_shared_info", "netdev_queue", "sk_buff_head", "ethtool_ts_info", "ethtool_link_ksettings",
    "rtnl_link_stats64", "net_device_stats", "ethtool_drvinfo", "netdev_hw_addr_list", "netdev_hw_addr",
    "softnet_data", "netdev_rx_queue", "netdev_notifier_info", "sockaddr",
    "dma_map_ops", "crypto_alg", "shash_alg", "skcipher_alg", "hwrng", "virtio_device",
    "virtqueue", "regmap_config", "serio", "serio_driver", "led_classdev", "led_init_data", "gpio_chip",
    # crypto API: algorithms, transforms, requests, templates, library contexts
    "crypto_tfm", "crypto_shash", "crypto_ahash", "crypto_skcipher", "crypto_sync_skcipher", "crypto_aead",
    "crypto_cipher", "crypto_comp", "crypto_rng", "crypto_kpp", "crypto_scomp", "crypto_akcipher",
    "shash_desc", "ahash_alg", "hash_alg_common", "aead_alg", "scomp_alg", "rng_alg", "kpp_alg",
    "akcipher_alg", "cipher_alg", "compress_alg", "crypto_type", "crypto_template", "crypto_instance",
    "skcipher_instance", "aead_instance", "shash_instance", "ahash_instance", "crypto_spawn",
    "crypto_skcipher_spawn", "crypto_aead_spawn", "crypto_ahash_spawn", "crypto_shash_spawn",
    "crypto_cipher_spawn", "crypto_async_request", "skcipher_request", "aead_request", "ahash_request",
    "kpp_request", "skcipher_walk", "scatter_walk", "rtattr", "crypto_attr_alg", "crypto_attr_type",
    "crypto_aes_ctx", "des_ctx", "des3_ede_ctx", "xxh64_state", "crypto_wait", "page",
    # i2c, SMBus, regmap, hwmon, SPI
    "i2c_algorithm", "i2c_board_info", "i2c_lock_operations", "i2c_adapter_quirks", "regmap_range",
    "regmap_access_table", "reg_default", "reg_sequence", "hwmon_chip_info", "hwmon_channel_info", "hwmon_ops",
    "spi_device", "spi_driver", "spi_device_id", "spi_message", "spi_transfer", "spi_controller", "regmap_bus",
    "input_absinfo", "input_value", "input_device_id", "serio_device_id", "input_keymap_entry", "input_mt",
    "input_mt_slot", "ff_device", "ff_effect",
    # sockets, protocol families, fragment reassembly, packet handlers, user namespaces, PHYs
    "ethtool_phy_ops", "socket", "proto_ops", "sock", "sock_common", "socket_wq", "inet_frags", "fqdir",
    "inet_frag_queue", "packet_type", "user_namespace", "uid_gid_map", "uid_gid_extent", "phy_device", "mii_bus",
    "mdio_device", "mdio_driver_common", "mdio_board_info", "cred", "signal_struct", "pid",
    "rhashtable_params", "rhashtable", "tcp_ulp_ops", "nf_sockopt_ops", "net_protocol", "inet6_protocol", "net_offload",
    "sock_diag_handler", "xfrm_input_afinfo", "xfrm4_protocol", "xfrm6_protocol", "xfrm_type_offload",
    # netlink core, generic netlink, the connector
    "sock", "sock_common", "netlink_kernel_cfg", "netlink_skb_parms", "nlmsghdr", "nlattr", "nla_policy",
    "netlink_ext_ack", "nlmsgerr", "netlink_callback", "netlink_dump_control", "netlink_notify",
    "netlink_range_validation", "netlink_range_validation_signed", "nla_bitfield32", "genl_ops",
    "genl_small_ops", "genl_info", "genl_multicast_group", "genl_dumpit_info", "genlmsghdr", "cn_msg", "cb_id",
    # transport classes (drivers/base/transport_class.c, attribute_container.c)
    "transport_class", "anon_transport_class", "attribute_container",
    # keys (the keyrings cfg80211 loads its regulatory certificates into)
    "key",
    # memory as drivers see it (mem_map, page_address, scatterlists)
    "page", "sg_table", "sg_mapping_iter", "sg_page_iter",
    # the TTY layer (built in): drivers, ports, flip buffers, line disciplines, serial core, 8250
    "tty_driver", "tty_struct", "tty_port", "tty_port_operations", "tty_port_client_operations", "tty_operations",
    "tty_buffer", "tty_bufhead", "ktermios", "termios", "termios2", "winsize", "tty_ldisc", "tty_file_private",
    "serial_icounter_struct", "async_icount", "serial_struct", "uart_port", "uart_driver", "uart_ops", "uart_state",
    "uart_8250_port", "plat_serial8250_port",
    # block-device writeback, DMA engines, reclaim, power capping, serial device bus, platform data
    "backing_dev_info", "bdi_writeback", "shrinker", "shrink_control", "dma_chan", "dma_device",
    "powercap_control_type", "powercap_control_type_ops", "serdev_device_driver", "serdev_device",
    "serdev_controller", "olpc_platform_t", "nvmem_config", "nvmem_device",
    # the VFS core a kernel-internal mount (configfs, simple_pin_fs) goes through
    "super_block", "vfsmount", "fs_context", "fs_context_operations", "lockref", "qstr", "user_namespace",
    "address_space_operations", "super_operations", "dentry_operations", "address_space", "path",
]
# Structs defined in modules, by the module whose debug file has their DWARF.
MODULE_STRUCTS = {
    "net/netfilter/x_tables.ko": ["xt_table", "xt_match", "xt_target"],
    "drivers/media/rc/rc-core.ko": ["rc_map_list", "rc_map", "ir_raw_handler"],
    "drivers/comedi/comedi.ko": ["comedi_driver"],
    "drivers/usb/serial/usbserial.ko": ["usb_serial_driver", "usb_serial", "usb_serial_port"],
    "net/netfilter/ipset/ip_set.ko": ["ip_set_type"],
    "drivers/md/dm-mod.ko": ["target_type"],
    "drivers/w1/wire.ko": ["w1_family"],
    "drivers/usb/gadget/libcomposite.ko": ["usb_function_driver"],
    "net/netfilter/nf_tables.ko": ["nft_object_type", "nft_expr_type"],
    "net/netfilter/ipvs/ip_vs.ko": ["ip_vs_scheduler"],
    "lib/crypto/libdes.ko": ["des_ctx", "des3_ede_ctx"],
}
MAX_DEPTH = 3


def members(struct_type, base, prefix, out, depth):
    import gdb  # provided by gdb itself
    for field in struct_type.fields():
        if not hasattr(field, "bitpos") or field.bitpos is None:
            continue  # a static member
        field_type = field.type.strip_typedefs()
        offset = base + field.bitpos // 8
        name = field.name
        if not name:  # anonymous union/struct: its members belong to the parent
            members(field_type, offset, prefix, out, depth)
            continue
        path = prefix + name
        if field.bitsize:
            unit = 4
            start = (base * 8 + field.bitpos) // (8 * unit) * unit
            out[path] = (start, unit, base * 8 + field.bitpos - start * 8, field.bitsize)
            continue
        out[path] = (offset, field_type.sizeof)
        if field_type.code in (gdb.TYPE_CODE_STRUCT, gdb.TYPE_CODE_UNION) and depth < MAX_DEPTH:
            members(field_type, offset, path + ".", out, depth + 1)


def read_fragment(names):
    """Under gdb: the layouts of ``names`` in the loaded file, and the names it lacks."""
    import gdb

    table, missing = {}, []
    for name in names:
        try:
            struct_type = gdb.lookup_type("struct " + name).strip_typedefs()
        except gdb.error:
            missing.append(name)
            continue
        if not struct_type.sizeof:  # only declared in this file
            missing.append(name)
            continue
        fields = {}
        members(struct_type, 0, "", fields, 1)
        table[name] = {"size": struct_type.sizeof, "fields": fields}
    return table, missing


def merge(out, fragments):
    """Write the table from the gdb fragments (a struct found in none is listed as not found)."""
    table, missing, sources = {}, set(), []
    for path in fragments:
        with open(path) as handle:
            part = json.load(handle)
        table.update({name: {"size": v["size"], "fields": {f: tuple(x) for f, x in v["fields"].items()}}
                      for name, v in part["table"].items()})
        missing.update(part["missing"])
        sources.append(part["source"])
    missing -= set(table)
    import textwrap

    lacking = ", ".join(sorted(missing)) or "none"
    found_in = textwrap.fill(f"Read from: {', '.join(sources)}. Not found: {lacking}.", 100, break_on_hyphens=False)
    header = f'''"""Linux {os.environ["LAYOUT_RELEASE"]} (Debian, i386) struct layouts, generated from the kernel's DWARF.

Do not edit: ``tools/gen-linux-layouts`` writes this file (gdb reads
vmlinux and a few modules' debug files from Debian's linux-image-*-dbg
package; only this table is committed). ``LAYOUTS[struct]["size"]`` is
sizeof; ``["fields"][path]`` is (offset, size) or, for a bit-field, (unit
offset, unit size, first bit, width). Nested members are dotted paths.
{found_in}
Read it through :mod:`kernel_stubs.linux.layout`.
"""

LAYOUTS = '''
    with open(out, "w") as handle:
        handle.write(header + pprint.pformat(table, width=120, sort_dicts=True) + "\n")


if "LAYOUT_FRAGMENT" in os.environ:  # under gdb
    module = os.environ.get("LAYOUT_MODULE", "")
    names = MODULE_STRUCTS[module] if module else STRUCTS
    found, lacking = read_fragment(names)
    with open(os.environ["LAYOUT_FRAGMENT"], "w") as handle:
        json.dump({"table": found, "missing": lacking, "source": module or "vmlinux"}, handle)
elif __name__ == "__main__":
    if len(sys.argv) == 2 and sys.argv[1] == "--modules":
        print("\n".join(MODULE_STRUCTS))
    else:
        merge(sys.argv[1], sys.argv[2:])
