"""Run inside gdb (tools/gen-linux-layouts): write the struct layout table from vmlinux's DWARF.

For each struct below: its size and every member's (offset, size), nested
members as dotted paths ("dev.kobj.name"), anonymous unions and structs
flattened into their parent, bit-fields as (offset of their storage unit,
size of the unit, first bit, width).
"""

import os
import pprint

import gdb  # provided by gdb itself

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
    # memory as drivers see it (mem_map, page_address, scatterlists)
    "page", "sg_table", "sg_mapping_iter", "sg_page_iter",
]
MAX_DEPTH = 3


def members(struct_type, base, prefix, out, depth):
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


table = {}
missing = []
for name in STRUCTS:
    try:
        struct_type = gdb.lookup_type("struct " + name).strip_typedefs()
    except gdb.error:
        missing.append(name)
        continue
    fields = {}
    members(struct_type, 0, "", fields, 1)
    table[name] = {"size": struct_type.sizeof, "fields": fields}

header = f'''"""Linux {os.environ["LAYOUT_RELEASE"]} (Debian, i386) struct layouts, generated from the kernel's DWARF.

Do not edit: ``tools/gen-linux-layouts`` writes this file (gdb reads
vmlinux from Debian's linux-image-*-dbg package; only this table is
committed). ``LAYOUTS[struct]["size"]`` is sizeof; ``["fields"][path]`` is
(offset, size) or, for a bit-field, (unit offset, unit size, first bit,
width). Nested members are dotted paths. Not found: {", ".join(missing) or "none"}.
Read it through :mod:`kernel_stubs.linux.layout`.
"""

LAYOUTS = '''
with open(os.environ["LAYOUT_OUT"], "w") as handle:
    handle.write(header + pprint.pformat(table, width=120, sort_dicts=True) + "\n")
