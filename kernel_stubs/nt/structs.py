"""32-bit Windows kernel struct layouts the nt profile reads and writes (offsets in bytes).

The same layouts as ``include/ntddk.h`` (which checks them with
_Static_assert when a driver compiles) and as the i386 WDK's wdm.h:

- UNICODE_STRING, 0x08: Length 0x0 (u16, bytes), MaximumLength 0x2 (u16), Buffer 0x4.
- DRIVER_OBJECT, 0xa8: Type 0x0 (=4), Size 0x2, DeviceObject 0x4, DriverStart 0xc,
  DriverSize 0x10, DriverName 0x1c, DriverUnload 0x34, MajorFunction[28] 0x38.
- DEVICE_OBJECT, 0xb8: Type 0x0 (=3), Size 0x2, DriverObject 0x8, NextDevice 0xc,
  Flags 0x1c, Characteristics 0x20, DeviceExtension 0x28, DeviceType 0x2c, StackSize 0x30.
- IRP, 0x70: Type 0x0 (=6), Size 0x2, AssociatedIrp.SystemBuffer 0xc, IoStatus.Status 0x18,
  IoStatus.Information 0x1c, StackCount 0x22, CurrentLocation 0x23, UserBuffer 0x3c,
  Tail.Overlay.CurrentStackLocation 0x60; the stack locations follow the IRP.
- IO_STACK_LOCATION, 0x24: MajorFunction 0x0, Parameters 0x4 (Read/Write: Length 0x4,
  Key 0x8, ByteOffset 0xc; DeviceIoControl: OutputBufferLength 0x4, InputBufferLength 0x8,
  IoControlCode 0xc, Type3InputBuffer 0x10), DeviceObject 0x14, FileObject 0x18.
"""

from __future__ import annotations

UNICODE_STRING_SIZE = 0x08

DRIVER_OBJECT_TYPE = 4
DRIVER_OBJECT_SIZE = 0xA8
DRIVER_DEVICE_OBJECT = 0x04
DRIVER_START = 0x0C
DRIVER_SIZE = 0x10
DRIVER_NAME = 0x1C
DRIVER_UNLOAD = 0x34
DRIVER_MAJOR_FUNCTION = 0x38
IRP_MJ_COUNT = 0x1C

DEVICE_OBJECT_TYPE = 3
DEVICE_OBJECT_SIZE = 0xB8
DEVICE_DRIVER_OBJECT = 0x08
DEVICE_NEXT_DEVICE = 0x0C
DEVICE_FLAGS = 0x1C
DEVICE_CHARACTERISTICS = 0x20
DEVICE_EXTENSION = 0x28
DEVICE_TYPE = 0x2C
DEVICE_STACK_SIZE = 0x30

IRP_TYPE = 6
IRP_SIZE = 0x70
IRP_SYSTEM_BUFFER = 0x0C
IRP_STATUS = 0x18
IRP_INFORMATION = 0x1C
IRP_STACK_COUNT = 0x22
IRP_CURRENT_LOCATION = 0x23
IRP_USER_BUFFER = 0x3C
IRP_CURRENT_STACK_LOCATION = 0x60

STACK_LOCATION_SIZE = 0x24
STACK_MAJOR = 0x00
STACK_PARAMETERS = 0x04
STACK_DEVICE_OBJECT = 0x14

# Flags and codes.
DO_BUFFERED_IO = 0x04
DO_DIRECT_IO = 0x10
DO_DEVICE_INITIALIZING = 0x80
METHOD_BUFFERED = 0
METHOD_NEITHER = 3

IRP_MJ_CREATE = 0x00
IRP_MJ_CLOSE = 0x02
IRP_MJ_READ = 0x03
IRP_MJ_WRITE = 0x04
IRP_MJ_DEVICE_CONTROL = 0x0E
IRP_MJ_CLEANUP = 0x12
IRP_MJ_NAMES = {0x00: "CREATE", 0x02: "CLOSE", 0x03: "READ", 0x04: "WRITE", 0x0E: "DEVICE_CONTROL", 0x12: "CLEANUP"}

STATUS_SUCCESS = 0x00000000
STATUS_PENDING = 0x00000103
STATUS_INVALID_DEVICE_REQUEST = 0xC0000010
STATUS_OBJECT_NAME_NOT_FOUND = 0xC0000034
STATUS_OBJECT_NAME_COLLISION = 0xC0000035
STATUS_INSUFFICIENT_RESOURCES = 0xC000009A

PASSIVE_LEVEL = 0
DISPATCH_LEVEL = 2
