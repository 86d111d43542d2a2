"""Numbers of the virtio 1.x specification (OASIS virtio v1.1/1.2) that the models use.

Feature bits, device status bits, device ids, descriptor and ring flags, and
the virtio-mmio register offsets (section 4.2.2, "MMIO Device Register
Layout", version 2).
"""

from __future__ import annotations

# -- device status (2.1) --------------------------------------------------------------
STATUS_ACKNOWLEDGE = 0x01
STATUS_DRIVER = 0x02
STATUS_DRIVER_OK = 0x04
STATUS_FEATURES_OK = 0x08
STATUS_DEVICE_NEEDS_RESET = 0x40
STATUS_FAILED = 0x80

# -- reserved feature bits (6) ----------------------------------------------------------
F_NOTIFY_ON_EMPTY = 24
F_ANY_LAYOUT = 27
F_RING_INDIRECT_DESC = 28
F_RING_EVENT_IDX = 29
F_VERSION_1 = 32
F_ACCESS_PLATFORM = 33
F_RING_PACKED = 34
F_IN_ORDER = 35
F_ORDER_PLATFORM = 36
F_SR_IOV = 37
F_NOTIFICATION_DATA = 38
F_RING_RESET = 40

# -- device ids (5) -----------------------------------------------------------------------
ID_NET = 1
ID_BLOCK = 2
ID_CONSOLE = 3
ID_RNG = 4
ID_BALLOON = 5
ID_INPUT = 18

# -- split virtqueues (2.7) ----------------------------------------------------------------
DESC_F_NEXT = 1
DESC_F_WRITE = 2
DESC_F_INDIRECT = 4
AVAIL_F_NO_INTERRUPT = 1
USED_F_NO_NOTIFY = 1
DESC_SIZE = 16
USED_ELEM_SIZE = 8

# -- interrupt status bits (4.2.2) -----------------------------------------------------------
INT_USED_BUFFER = 0x1
INT_CONFIG_CHANGE = 0x2

# -- virtio-mmio registers, version 2 (4.2.2) ----------------------------------------------
MMIO_MAGIC_VALUE = 0x000
MMIO_VERSION = 0x004
MMIO_DEVICE_ID = 0x008
MMIO_VENDOR_ID = 0x00C
MMIO_DEVICE_FEATURES = 0x010
MMIO_DEVICE_FEATURES_SEL = 0x014
MMIO_DRIVER_FEATURES = 0x020
MMIO_DRIVER_FEATURES_SEL = 0x024
MMIO_GUEST_PAGE_SIZE = 0x028  # legacy (version 1) only
MMIO_QUEUE_SEL = 0x030
MMIO_QUEUE_NUM_MAX = 0x034
MMIO_QUEUE_NUM = 0x038
MMIO_QUEUE_ALIGN = 0x03C  # legacy
MMIO_QUEUE_PFN = 0x040  # legacy
MMIO_QUEUE_READY = 0x044
MMIO_QUEUE_NOTIFY = 0x050
MMIO_INTERRUPT_STATUS = 0x060
MMIO_INTERRUPT_ACK = 0x064
MMIO_STATUS = 0x070
MMIO_QUEUE_DESC_LOW = 0x080
MMIO_QUEUE_DESC_HIGH = 0x084
MMIO_QUEUE_AVAIL_LOW = 0x090
MMIO_QUEUE_AVAIL_HIGH = 0x094
MMIO_QUEUE_USED_LOW = 0x0A0
MMIO_QUEUE_USED_HIGH = 0x0A4
MMIO_SHM_SEL = 0x0AC
MMIO_SHM_LEN_LOW = 0x0B0
MMIO_SHM_LEN_HIGH = 0x0B4
MMIO_SHM_BASE_LOW = 0x0B8
MMIO_SHM_BASE_HIGH = 0x0BC
MMIO_QUEUE_RESET = 0x0C0
MMIO_CONFIG_GENERATION = 0x0FC
MMIO_CONFIG = 0x100
MMIO_MAGIC = 0x74726976  # "virt"
MMIO_WINDOW = 0x200  # what a device tree or command line describes for one device

MMIO_REGISTER_NAMES = {
    MMIO_MAGIC_VALUE: "MagicValue", MMIO_VERSION: "Version", MMIO_DEVICE_ID: "DeviceID",
    MMIO_VENDOR_ID: "VendorID", MMIO_DEVICE_FEATURES: "DeviceFeatures",
    MMIO_DEVICE_FEATURES_SEL: "DeviceFeaturesSel", MMIO_DRIVER_FEATURES: "DriverFeatures",
    MMIO_DRIVER_FEATURES_SEL: "DriverFeaturesSel", MMIO_GUEST_PAGE_SIZE: "GuestPageSize",
    MMIO_QUEUE_SEL: "QueueSel", MMIO_QUEUE_NUM_MAX: "QueueNumMax", MMIO_QUEUE_NUM: "QueueNum",
    MMIO_QUEUE_ALIGN: "QueueAlign", MMIO_QUEUE_PFN: "QueuePFN", MMIO_QUEUE_READY: "QueueReady",
    MMIO_QUEUE_NOTIFY: "QueueNotify", MMIO_INTERRUPT_STATUS: "InterruptStatus",
    MMIO_INTERRUPT_ACK: "InterruptACK", MMIO_STATUS: "Status",
    MMIO_QUEUE_DESC_LOW: "QueueDescLow", MMIO_QUEUE_DESC_HIGH: "QueueDescHigh",
    MMIO_QUEUE_AVAIL_LOW: "QueueDriverLow", MMIO_QUEUE_AVAIL_HIGH: "QueueDriverHigh",
    MMIO_QUEUE_USED_LOW: "QueueDeviceLow", MMIO_QUEUE_USED_HIGH: "QueueDeviceHigh",
    MMIO_SHM_SEL: "SHMSel", MMIO_SHM_LEN_LOW: "SHMLenLow", MMIO_SHM_LEN_HIGH: "SHMLenHigh",
    MMIO_SHM_BASE_LOW: "SHMBaseLow", MMIO_SHM_BASE_HIGH: "SHMBaseHigh", MMIO_QUEUE_RESET: "QueueReset",
    MMIO_CONFIG_GENERATION: "ConfigGeneration",
}
