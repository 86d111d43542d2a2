"""The "nt" profile: a small NT-style kernel for 32-bit PE drivers.

``DriverEntry(PDRIVER_OBJECT, PUNICODE_STRING)`` with a driver object whose
``MajorFunction`` table and ``DriverUnload`` the driver fills; I/O manager
devices and symbolic links; IRPs sent from Python (:func:`.irp.send_irp`);
pool allocations with tags; spin locks at IRQL; counted Unicode strings.
Services are stdcall, the i386 fastcall names (``IofCompleteRequest``, ``IofCallDriver``,
``hal.dll!KfAcquireSpinLock``/``KfReleaseSpinLock``) fastcall, ``DbgPrint``
cdecl. Struct layouts: :mod:`.structs` (and ``include/ntddk.h``).
"""
