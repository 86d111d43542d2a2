"""Which of the linux profile's services Linux 6.1 exports with ``EXPORT_SYMBOL_GPL``.

A module whose license is not GPL-compatible cannot bind these
(``sandbox/licenses.py``), as on Linux. Each name is checked against the
6.1 source's export macro: RCU (kernel/rcu/tree.c, tree_plugin.h),
workqueues (kernel/workqueue.c), pernet ops (net/core/net_namespace.c),
debugfs (fs/debugfs/inode.c), device classes (drivers/base/class.c), the
shash API (crypto/shash.c), platform drivers (drivers/base/platform.c), USB
and HID driver registration (drivers/usb/core/driver.c, drivers/hid/hid-core.c).
"""

GPL_ONLY = frozenset({
    "synchronize_rcu", "call_rcu", "rcu_barrier", "__rcu_read_lock", "__rcu_read_unlock",
    "queue_work_on", "alloc_workqueue", "destroy_workqueue",
    "register_pernet_subsys", "unregister_pernet_subsys", "register_pernet_device",
    "debugfs_create_dir", "debugfs_create_file", "debugfs_remove",
    "__class_create", "class_destroy",
    "crypto_register_shash", "crypto_unregister_shash",
    "__platform_driver_register", "platform_driver_unregister",
    "usb_register_driver", "__hid_register_driver",
})
