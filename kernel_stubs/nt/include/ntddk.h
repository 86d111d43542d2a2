/* A small NT-style kernel API for 32-bit drivers (the "nt" profile).
 *
 * Struct layouts are those of 32-bit Windows (checked below with
 * _Static_assert; kernel_stubs/nt/structs.py holds the same offsets for the
 * Python side). Functions are __stdcall (NTAPI) and imported from
 * ntoskrnl.exe, the spin lock pair from hal.dll as __fastcall, as a real
 * i386 WDK build imports them.
 */
#ifndef _SANDBOX_NTDDK_H
#define _SANDBOX_NTDDK_H

#define NTAPI __attribute__((__stdcall__))
#define FASTCALL __attribute__((__fastcall__))
#define NTKERNELAPI __declspec(dllimport)
#define IN
#define OUT
#define OPTIONAL
#define NULL ((void *)0)
#define TRUE 1
#define FALSE 0

typedef unsigned char UCHAR, BOOLEAN, KIRQL, *PUCHAR, *PKIRQL;
typedef char CHAR, CCHAR, *PCHAR;
typedef const char *PCSTR;
typedef unsigned short USHORT, WCHAR, *PWSTR, *PWCH;
typedef const unsigned short *PCWSTR;
typedef short CSHORT;
typedef unsigned long ULONG, *PULONG, DEVICE_TYPE;
typedef long LONG, NTSTATUS;
typedef unsigned long ULONG_PTR, SIZE_T, KSPIN_LOCK, *PKSPIN_LOCK;
typedef void VOID, *PVOID;
typedef long long LONGLONG;
typedef union { struct { ULONG LowPart; LONG HighPart; } u; LONGLONG QuadPart; } LARGE_INTEGER;

#define NT_SUCCESS(status) ((NTSTATUS)(status) >= 0)
#define STATUS_SUCCESS ((NTSTATUS)0x00000000L)
#define STATUS_PENDING ((NTSTATUS)0x00000103L)
#define STATUS_UNSUCCESSFUL ((NTSTATUS)0xC0000001L)
#define STATUS_NOT_IMPLEMENTED ((NTSTATUS)0xC0000002L)
#define STATUS_INVALID_PARAMETER ((NTSTATUS)0xC000000DL)
#define STATUS_INVALID_DEVICE_REQUEST ((NTSTATUS)0xC0000010L)
#define STATUS_END_OF_FILE ((NTSTATUS)0xC0000011L)
#define STATUS_INSUFFICIENT_RESOURCES ((NTSTATUS)0xC000009AL)
#define STATUS_BUFFER_TOO_SMALL ((NTSTATUS)0xC0000023L)
#define STATUS_OBJECT_NAME_NOT_FOUND ((NTSTATUS)0xC0000034L)
#define STATUS_OBJECT_NAME_COLLISION ((NTSTATUS)0xC0000035L)

typedef struct _UNICODE_STRING {
	USHORT Length;		/* bytes, without the terminating NUL */
	USHORT MaximumLength;
	PWSTR Buffer;
} UNICODE_STRING, *PUNICODE_STRING;
typedef const UNICODE_STRING *PCUNICODE_STRING;

typedef struct _LIST_ENTRY { struct _LIST_ENTRY *Flink, *Blink; } LIST_ENTRY;

typedef struct _IO_STATUS_BLOCK {
	union { NTSTATUS Status; PVOID Pointer; };
	ULONG_PTR Information;
} IO_STATUS_BLOCK, *PIO_STATUS_BLOCK;

struct _DEVICE_OBJECT;
struct _IRP;
struct _DRIVER_OBJECT;
typedef NTSTATUS NTAPI DRIVER_DISPATCH(struct _DEVICE_OBJECT *DeviceObject, struct _IRP *Irp);
typedef DRIVER_DISPATCH *PDRIVER_DISPATCH;
typedef VOID NTAPI DRIVER_UNLOAD(struct _DRIVER_OBJECT *DriverObject);
typedef DRIVER_UNLOAD *PDRIVER_UNLOAD;

#define IRP_MJ_CREATE 0x00
#define IRP_MJ_CLOSE 0x02
#define IRP_MJ_READ 0x03
#define IRP_MJ_WRITE 0x04
#define IRP_MJ_DEVICE_CONTROL 0x0e
#define IRP_MJ_CLEANUP 0x12
#define IRP_MJ_MAXIMUM_FUNCTION 0x1b

typedef struct _DRIVER_OBJECT {
	CSHORT Type;				/* 0x00: 4 */
	CSHORT Size;				/* 0x02 */
	struct _DEVICE_OBJECT *DeviceObject;	/* 0x04: IoCreateDevice links devices here */
	ULONG Flags;				/* 0x08 */
	PVOID DriverStart;			/* 0x0c */
	ULONG DriverSize;			/* 0x10 */
	PVOID DriverSection;			/* 0x14 */
	PVOID DriverExtension;			/* 0x18 */
	UNICODE_STRING DriverName;		/* 0x1c */
	PUNICODE_STRING HardwareDatabase;	/* 0x24 */
	PVOID FastIoDispatch;			/* 0x28 */
	PVOID DriverInit;			/* 0x2c */
	PVOID DriverStartIo;			/* 0x30 */
	PDRIVER_UNLOAD DriverUnload;		/* 0x34 */
	PDRIVER_DISPATCH MajorFunction[IRP_MJ_MAXIMUM_FUNCTION + 1];	/* 0x38 */
} DRIVER_OBJECT, *PDRIVER_OBJECT;

#define DO_BUFFERED_IO 0x00000004
#define DO_DIRECT_IO 0x00000010
#define DO_DEVICE_INITIALIZING 0x00000080
#define FILE_DEVICE_UNKNOWN 0x00000022

typedef struct _DEVICE_OBJECT {
	CSHORT Type;				/* 0x00: 3 */
	USHORT Size;				/* 0x02 */
	LONG ReferenceCount;			/* 0x04 */
	struct _DRIVER_OBJECT *DriverObject;	/* 0x08 */
	struct _DEVICE_OBJECT *NextDevice;	/* 0x0c */
	struct _DEVICE_OBJECT *AttachedDevice;	/* 0x10 */
	struct _IRP *CurrentIrp;		/* 0x14 */
	PVOID Timer;				/* 0x18 */
	ULONG Flags;				/* 0x1c */
	ULONG Characteristics;			/* 0x20 */
	PVOID Vpb;				/* 0x24 */
	PVOID DeviceExtension;			/* 0x28 */
	DEVICE_TYPE DeviceType;			/* 0x2c */
	CCHAR StackSize;			/* 0x30 */
	UCHAR Queue[0x28];			/* 0x34: ListEntry or WAIT_CONTEXT_BLOCK */
	ULONG AlignmentRequirement;		/* 0x5c */
	UCHAR DeviceQueue[0x14];		/* 0x60: KDEVICE_QUEUE */
	UCHAR Dpc[0x20];			/* 0x74: KDPC */
	ULONG ActiveThreadCount;		/* 0x94 */
	PVOID SecurityDescriptor;		/* 0x98 */
	UCHAR DeviceLock[0x10];			/* 0x9c: KEVENT */
	USHORT SectorSize;			/* 0xac */
	USHORT Spare1;				/* 0xae */
	PVOID DeviceObjectExtension;		/* 0xb0 */
	PVOID Reserved;				/* 0xb4 */
} DEVICE_OBJECT, *PDEVICE_OBJECT;

typedef struct _IO_STACK_LOCATION {
	UCHAR MajorFunction;			/* 0x00 */
	UCHAR MinorFunction;			/* 0x01 */
	UCHAR Flags;				/* 0x02 */
	UCHAR Control;				/* 0x03 */
	union {					/* 0x04 */
		struct { PVOID SecurityContext; ULONG Options; USHORT FileAttributes; USHORT ShareAccess; ULONG EaLength; } Create;
		struct { ULONG Length; ULONG Key; LARGE_INTEGER ByteOffset; } __attribute__((packed)) Read;
		struct { ULONG Length; ULONG Key; LARGE_INTEGER ByteOffset; } __attribute__((packed)) Write;
		struct { ULONG OutputBufferLength; ULONG InputBufferLength; ULONG IoControlCode; PVOID Type3InputBuffer; } DeviceIoControl;
		struct { PVOID Argument1, Argument2, Argument3, Argument4; } Others;
	} Parameters;
	PDEVICE_OBJECT DeviceObject;		/* 0x14 */
	PVOID FileObject;			/* 0x18 */
	PVOID CompletionRoutine;		/* 0x1c */
	PVOID Context;				/* 0x20 */
} IO_STACK_LOCATION, *PIO_STACK_LOCATION;

typedef struct _IRP {
	CSHORT Type;				/* 0x00: 6 */
	USHORT Size;				/* 0x02 */
	PVOID MdlAddress;			/* 0x04 */
	ULONG Flags;				/* 0x08 */
	union { struct _IRP *MasterIrp; LONG IrpCount; PVOID SystemBuffer; } AssociatedIrp;	/* 0x0c */
	LIST_ENTRY ThreadListEntry;		/* 0x10 */
	IO_STATUS_BLOCK IoStatus;		/* 0x18 */
	CHAR RequestorMode;			/* 0x20 */
	BOOLEAN PendingReturned;		/* 0x21 */
	CHAR StackCount;			/* 0x22 */
	CHAR CurrentLocation;			/* 0x23 */
	BOOLEAN Cancel;				/* 0x24 */
	KIRQL CancelIrql;			/* 0x25 */
	CCHAR ApcEnvironment;			/* 0x26 */
	UCHAR AllocationFlags;			/* 0x27 */
	PIO_STATUS_BLOCK UserIosb;		/* 0x28 */
	PVOID UserEvent;			/* 0x2c */
	UCHAR Overlay[8];			/* 0x30 */
	PVOID CancelRoutine;			/* 0x38 */
	PVOID UserBuffer;			/* 0x3c */
	union {					/* 0x40 */
		struct {
			PVOID DriverContext[4];			/* 0x40 */
			PVOID Thread;				/* 0x50 */
			PCHAR AuxiliaryBuffer;			/* 0x54 */
			LIST_ENTRY ListEntry;			/* 0x58 */
			PIO_STACK_LOCATION CurrentStackLocation;	/* 0x60 */
			PVOID OriginalFileObject;		/* 0x64 */
		} Overlay;
		UCHAR Apc[0x30];
	} Tail;
} IRP, *PIRP;

_Static_assert(sizeof(DRIVER_OBJECT) == 0xa8, "DRIVER_OBJECT is 0xa8 bytes on i386");
_Static_assert(sizeof(DEVICE_OBJECT) == 0xb8, "DEVICE_OBJECT is 0xb8 bytes on i386");
_Static_assert(sizeof(IRP) == 0x70, "IRP is 0x70 bytes on i386");
_Static_assert(sizeof(IO_STACK_LOCATION) == 0x24, "IO_STACK_LOCATION is 0x24 bytes on i386");
_Static_assert(__builtin_offsetof(IRP, Tail.Overlay.CurrentStackLocation) == 0x60, "IRP stack location at 0x60");
_Static_assert(__builtin_offsetof(DEVICE_OBJECT, DeviceExtension) == 0x28, "DeviceExtension at 0x28");

#define IoGetCurrentIrpStackLocation(irp) ((irp)->Tail.Overlay.CurrentStackLocation)

#define METHOD_BUFFERED 0
#define METHOD_NEITHER 3
#define FILE_ANY_ACCESS 0
#define CTL_CODE(type, function, method, access) (((type) << 16) | ((access) << 14) | ((function) << 2) | (method))
#define IO_NO_INCREMENT 0

typedef enum _POOL_TYPE { NonPagedPool = 0, PagedPool = 1 } POOL_TYPE;

/* ntoskrnl.exe */
NTKERNELAPI ULONG DbgPrint(PCSTR Format, ...);
NTKERNELAPI PVOID NTAPI ExAllocatePoolWithTag(POOL_TYPE PoolType, SIZE_T NumberOfBytes, ULONG Tag);
NTKERNELAPI VOID NTAPI ExFreePoolWithTag(PVOID P, ULONG Tag);
NTKERNELAPI NTSTATUS NTAPI IoCreateDevice(PDRIVER_OBJECT DriverObject, ULONG DeviceExtensionSize, PUNICODE_STRING DeviceName, DEVICE_TYPE DeviceType, ULONG DeviceCharacteristics, BOOLEAN Exclusive, PDEVICE_OBJECT *DeviceObject);
NTKERNELAPI VOID NTAPI IoDeleteDevice(PDEVICE_OBJECT DeviceObject);
NTKERNELAPI NTSTATUS NTAPI IoCreateSymbolicLink(PUNICODE_STRING SymbolicLinkName, PUNICODE_STRING DeviceName);
NTKERNELAPI NTSTATUS NTAPI IoDeleteSymbolicLink(PUNICODE_STRING SymbolicLinkName);
NTKERNELAPI VOID FASTCALL IofCompleteRequest(PIRP Irp, CCHAR PriorityBoost);
NTKERNELAPI NTSTATUS FASTCALL IofCallDriver(PDEVICE_OBJECT DeviceObject, PIRP Irp);
NTKERNELAPI VOID NTAPI KeInitializeSpinLock(PKSPIN_LOCK SpinLock);
NTKERNELAPI VOID NTAPI RtlInitUnicodeString(PUNICODE_STRING DestinationString, PCWSTR SourceString);
NTKERNELAPI BOOLEAN NTAPI RtlEqualUnicodeString(PCUNICODE_STRING String1, PCUNICODE_STRING String2, BOOLEAN CaseInSensitive);
NTKERNELAPI VOID NTAPI RtlCopyUnicodeString(PUNICODE_STRING DestinationString, PCUNICODE_STRING SourceString);
/* hal.dll */
NTKERNELAPI KIRQL FASTCALL KfAcquireSpinLock(PKSPIN_LOCK SpinLock);
NTKERNELAPI VOID FASTCALL KfReleaseSpinLock(PKSPIN_LOCK SpinLock, KIRQL NewIrql);

/* As the i386 WDK: the stdcall names are macros over the fastcall ones. */
#define IoCompleteRequest(irp, boost) IofCompleteRequest(irp, boost)
#define IoCallDriver(device, irp) IofCallDriver(device, irp)
#define IoGetNextIrpStackLocation(irp) ((irp)->Tail.Overlay.CurrentStackLocation - 1)
#define IoCopyCurrentIrpStackLocationToNext(irp) do { \
	PIO_STACK_LOCATION __next = IoGetNextIrpStackLocation(irp); \
	*__next = *IoGetCurrentIrpStackLocation(irp); \
	__next->CompletionRoutine = NULL; \
	__next->Control = 0; \
} while (0)
#define KeAcquireSpinLock(lock, old_irql) (*(old_irql) = KfAcquireSpinLock(lock))
#define KeReleaseSpinLock(lock, new_irql) KfReleaseSpinLock(lock, new_irql)

#endif
