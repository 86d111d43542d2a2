/* ntsample: an NT-style driver (the "nt" profile), built by mingw as a .sys.
 *
 * DriverEntry makes \Device\ntsample (buffered I/O) with a symbolic link
 * \DosDevices\ntsample and fills MajorFunction and DriverUnload. WRITE
 * appends to a pool buffer (tag 'Samp') under a spin lock, READ returns
 * what was written, DEVICE_CONTROL answers IOCTL_NTSAMPLE_COUNT (bytes
 * written, a ULONG) and IOCTL_NTSAMPLE_REVERSE (the input reversed);
 * IOCTL_NTSAMPLE_LEAK allocates a pool block ('Leak') it never frees;
 * IOCTL_NTSAMPLE_NAME returns a copy of the device name (RtlCopyUnicodeString)
 * and succeeds if it equals \DEVICE\NTSAMPLE ignoring case (RtlEqualUnicodeString);
 * IOCTL_NTSAMPLE_FORWARD passes the IRP on as IOCTL_NTSAMPLE_COUNT to its own
 * device with IoCallDriver (so the device asks for two stack locations).
 * Console: "ntsample: DriverEntry for \Registry\...\ntsample" on load,
 * "ntsample: unloaded after N write(s)" at unload.
 */
#include <ntddk.h>

#define IOCTL_NTSAMPLE_COUNT CTL_CODE(FILE_DEVICE_UNKNOWN, 0x800, METHOD_BUFFERED, FILE_ANY_ACCESS)
#define IOCTL_NTSAMPLE_REVERSE CTL_CODE(FILE_DEVICE_UNKNOWN, 0x801, METHOD_BUFFERED, FILE_ANY_ACCESS)
#define IOCTL_NTSAMPLE_LEAK CTL_CODE(FILE_DEVICE_UNKNOWN, 0x802, METHOD_BUFFERED, FILE_ANY_ACCESS)
#define IOCTL_NTSAMPLE_NAME CTL_CODE(FILE_DEVICE_UNKNOWN, 0x803, METHOD_BUFFERED, FILE_ANY_ACCESS)
#define IOCTL_NTSAMPLE_FORWARD CTL_CODE(FILE_DEVICE_UNKNOWN, 0x804, METHOD_BUFFERED, FILE_ANY_ACCESS)
#define CAPACITY 256
#define TAG 0x706d6153 /* 'Samp' */

struct sample {
	KSPIN_LOCK lock;
	char *data;
	ULONG used;
	ULONG writes;
	ULONG opens;
};

static UNICODE_STRING link_name;
static UNICODE_STRING device_name;

static NTSTATUS finish(PIRP irp, NTSTATUS status, ULONG_PTR information)
{
	irp->IoStatus.Status = status;
	irp->IoStatus.Information = information;
	IoCompleteRequest(irp, IO_NO_INCREMENT);
	return status;
}

static NTSTATUS NTAPI sample_create_close(PDEVICE_OBJECT device, PIRP irp)
{
	struct sample *sample = device->DeviceExtension;
	if (IoGetCurrentIrpStackLocation(irp)->MajorFunction == IRP_MJ_CREATE)
		sample->opens++;
	return finish(irp, STATUS_SUCCESS, 0);
}

static NTSTATUS NTAPI sample_write(PDEVICE_OBJECT device, PIRP irp)
{
	struct sample *sample = device->DeviceExtension;
	ULONG length = IoGetCurrentIrpStackLocation(irp)->Parameters.Write.Length;
	const char *from = irp->AssociatedIrp.SystemBuffer;
	KIRQL old;

	KeAcquireSpinLock(&sample->lock, &old);
	if (length > CAPACITY - sample->used)
		length = CAPACITY - sample->used;
	for (ULONG i = 0; i < length; i++)
		sample->data[sample->used + i] = from[i];
	sample->used += length;
	sample->writes++;
	KeReleaseSpinLock(&sample->lock, old);
	return finish(irp, STATUS_SUCCESS, length);
}

static NTSTATUS NTAPI sample_read(PDEVICE_OBJECT device, PIRP irp)
{
	struct sample *sample = device->DeviceExtension;
	ULONG length = IoGetCurrentIrpStackLocation(irp)->Parameters.Read.Length;
	char *to = irp->AssociatedIrp.SystemBuffer;
	KIRQL old;

	KeAcquireSpinLock(&sample->lock, &old);
	if (sample->used == 0) {
		KeReleaseSpinLock(&sample->lock, old);
		return finish(irp, STATUS_END_OF_FILE, 0);
	}
	if (length > sample->used)
		length = sample->used;
	for (ULONG i = 0; i < length; i++)
		to[i] = sample->data[i];
	KeReleaseSpinLock(&sample->lock, old);
	return finish(irp, STATUS_SUCCESS, length);
}

static NTSTATUS NTAPI sample_ioctl(PDEVICE_OBJECT device, PIRP irp)
{
	struct sample *sample = device->DeviceExtension;
	PIO_STACK_LOCATION stack = IoGetCurrentIrpStackLocation(irp);
	ULONG in = stack->Parameters.DeviceIoControl.InputBufferLength;
	ULONG out = stack->Parameters.DeviceIoControl.OutputBufferLength;
	char *buffer = irp->AssociatedIrp.SystemBuffer;

	switch (stack->Parameters.DeviceIoControl.IoControlCode) {
	case IOCTL_NTSAMPLE_COUNT:
		if (out < sizeof(ULONG))
			return finish(irp, STATUS_BUFFER_TOO_SMALL, 0);
		*(ULONG *)buffer = sample->used;
		return finish(irp, STATUS_SUCCESS, sizeof(ULONG));
	case IOCTL_NTSAMPLE_REVERSE:
		if (out < in)
			return finish(irp, STATUS_BUFFER_TOO_SMALL, 0);
		for (ULONG i = 0; i < in / 2; i++) {
			char c = buffer[i];
			buffer[i] = buffer[in - 1 - i];
			buffer[in - 1 - i] = c;
		}
		return finish(irp, STATUS_SUCCESS, in);
	case IOCTL_NTSAMPLE_NAME: {
		WCHAR text[16];
		UNICODE_STRING copy = { 0, sizeof(text), text }, upper;
		RtlCopyUnicodeString(&copy, &device_name);
		RtlInitUnicodeString(&upper, L"\\DEVICE\\NTSAMPLE");
		if (out < copy.Length)
			return finish(irp, STATUS_BUFFER_TOO_SMALL, 0);
		for (ULONG i = 0; i < copy.Length; i++)
			buffer[i] = ((char *)copy.Buffer)[i];
		return finish(irp, RtlEqualUnicodeString(&copy, &upper, TRUE) ? STATUS_SUCCESS : STATUS_UNSUCCESSFUL, copy.Length);
	}
	case IOCTL_NTSAMPLE_FORWARD:
		IoCopyCurrentIrpStackLocationToNext(irp);
		IoGetNextIrpStackLocation(irp)->Parameters.DeviceIoControl.IoControlCode = IOCTL_NTSAMPLE_COUNT;
		return IoCallDriver(device, irp);
	case IOCTL_NTSAMPLE_LEAK:
		return finish(irp, ExAllocatePoolWithTag(NonPagedPool, 24, 0x6b61654c /* 'Leak' */) ? STATUS_SUCCESS
			      : STATUS_INSUFFICIENT_RESOURCES, 0);
	}
	return finish(irp, STATUS_INVALID_DEVICE_REQUEST, 0);
}

static VOID NTAPI sample_unload(PDRIVER_OBJECT driver)
{
	PDEVICE_OBJECT device = driver->DeviceObject;
	struct sample *sample = device->DeviceExtension;

	DbgPrint("ntsample: unloaded after %lu write(s)\n", sample->writes);
	IoDeleteSymbolicLink(&link_name);
	ExFreePoolWithTag(sample->data, TAG);
	IoDeleteDevice(device);
}

NTSTATUS NTAPI DriverEntry(PDRIVER_OBJECT driver, PUNICODE_STRING registry)
{
	PDEVICE_OBJECT device;
	struct sample *sample;
	NTSTATUS status;

	DbgPrint("ntsample: DriverEntry for %d-byte key\n", registry->Length);
	RtlInitUnicodeString(&device_name, L"\\Device\\ntsample");
	RtlInitUnicodeString(&link_name, L"\\DosDevices\\ntsample");
	status = IoCreateDevice(driver, sizeof(struct sample), &device_name, FILE_DEVICE_UNKNOWN, 0, FALSE, &device);
	if (!NT_SUCCESS(status))
		return status;
	sample = device->DeviceExtension;
	KeInitializeSpinLock(&sample->lock);
	sample->data = ExAllocatePoolWithTag(NonPagedPool, CAPACITY, TAG);
	if (!sample->data) {
		IoDeleteDevice(device);
		return STATUS_INSUFFICIENT_RESOURCES;
	}
	status = IoCreateSymbolicLink(&link_name, &device_name);
	if (!NT_SUCCESS(status)) {
		ExFreePoolWithTag(sample->data, TAG);
		IoDeleteDevice(device);
		return status;
	}
	device->StackSize = 2;
	device->Flags |= DO_BUFFERED_IO;
	device->Flags &= ~DO_DEVICE_INITIALIZING;
	driver->MajorFunction[IRP_MJ_CREATE] = sample_create_close;
	driver->MajorFunction[IRP_MJ_CLOSE] = sample_create_close;
	driver->MajorFunction[IRP_MJ_READ] = sample_read;
	driver->MajorFunction[IRP_MJ_WRITE] = sample_write;
	driver->MajorFunction[IRP_MJ_DEVICE_CONTROL] = sample_ioctl;
	driver->DriverUnload = sample_unload;
	return STATUS_SUCCESS;
}
