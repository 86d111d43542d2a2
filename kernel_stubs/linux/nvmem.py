"""NVMEM providers (drivers/nvmem/core.c), Linux 6.1 i386: nvmem_register, nvmem_unregister.

A provider (an EEPROM driver, mtd for each flash device) describes its
storage in a ``struct nvmem_config`` (generated layout); ``nvmem_register``
copies it into a new ``struct nvmem_device``, names its device as 6.1 does
(``id`` -1: the config's name, -2: name + an allocated id, else name + id),
adds it on the ``nvmem`` bus under its provider's device
(``/sys/bus/nvmem/devices/<name>``) and returns it, or an ERR_PTR
(-EINVAL for a config without ``dev``). From Python,
:func:`read_nvmem` reads a provider's cells through its ``reg_read``
callback, as the ``nvmem`` sysfs file would.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sandbox.errors import SandboxError
from sandbox.services import service

from ..memory import allocate, release
from . import driver_core
from .layout import Fields, offset, size
from .registrations import EINVAL, ENOMEM, err_ptr, guest_string, is_err

if TYPE_CHECKING:
    from sandbox.kernel import Kernel
    from sandbox.module import Module

NVMEM_DEVID_NONE, NVMEM_DEVID_AUTO = -1, -2
GPL_ONLY = frozenset({"nvmem_register", "nvmem_unregister"})  # EXPORT_SYMBOL_GPL in nvmem/core.c
NVMEM_DEV = offset("nvmem_device", "dev")
COPIED = ("owner", "stride", "word_size", "size", "read_only", "root_only", "reg_read", "reg_write", "priv", "type",
          "keepout", "nkeepout", "cell_post_process")


@dataclass(slots=True)
class Provider:
    """A registered nvmem device."""

    name: str
    nvmem: int
    owner: str


class NvmemCore:
    """The registered providers, the ids NVMEM_DEVID_AUTO hands out, the nvmem bus."""

    def __init__(self) -> None:
        self.providers: dict[int, Provider] = {}
        self.next_id = 0
        self.bus = 0

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """Providers a module left registered: reported and unregistered."""
        leaks = []
        for nvmem, record in list(self.providers.items()):
            if record.owner == module.name:
                leaks.append(f"nvmem device {record.name} still registered")
                unregister(k, nvmem)
        return leaks


def _bus(k: Kernel, state: NvmemCore) -> int:
    """The kernel's nvmem_bus_type (made on first use; ``nvmem`` is a built-in bus)."""
    if not state.bus:
        bus = allocate(k, size("bus_type"), owner="kernel")
        name = allocate(k, 8, owner="kernel")
        k.memory.write(name, b"nvmem\0")
        k.memory.write_u32(bus + offset("bus_type", "name"), name)
        driver_core.register_bus(k, bus, driver_core.NativeBus(), owner="kernel")
        state.bus = bus
    return state.bus


def _release_nvmem(k: Kernel, dev: int) -> None:
    """nvmem_release: the last reference frees the nvmem_device."""
    release(k, dev - NVMEM_DEV)


@service("struct nvmem_device *nvmem_register(const struct nvmem_config *config)")
def nvmem_register(k: Kernel, config: int) -> int:
    """Register a provider described by ``config``: its nvmem_device, or ERR_PTR(-EINVAL/-ENOMEM)."""
    c = Fields(k.memory, "nvmem_config", config)
    if not c["dev"]:
        return err_ptr(EINVAL)
    if not c["reg_read"] and not c["reg_write"]:
        return err_ptr(EINVAL)
    state = k.subsystem(NvmemCore)
    nvmem = allocate(k, size("nvmem_device"), owner="kernel")
    if not nvmem:
        return err_ptr(ENOMEM)
    n = Fields(k.memory, "nvmem_device", nvmem)
    n["id"] = state.next_id
    state.next_id += 1
    for name in COPIED:
        n[name] = c[name]
    n["stride"] = n["stride"] or 1  # nvmem_register: stride and word_size default to 1
    n["word_size"] = n["word_size"] or 1
    n["refcnt"] = 1
    base = guest_string(k, c["name"], 64) if c["name"] else ""
    config_id = c["id"] - (1 << 32) if c["id"] >> 31 else c["id"]
    if config_id == NVMEM_DEVID_NONE:
        name = base
    elif config_id == NVMEM_DEVID_AUTO:
        name = f"{base}{n['id']}"
    else:
        name = f"{base}{config_id}" if base else f"nvmem{n['id']}"
    dev = nvmem + NVMEM_DEV
    driver_core.initialize_device(k, dev, owner="kernel").on_release = _release_nvmem
    d = Fields(k.memory, "device", dev)
    d["bus"], d["parent"] = _bus(k, state), c["dev"]
    result = driver_core.set_name(k, dev, name.encode()) or driver_core.add_device(k, dev)
    if result:
        driver_core.put(k, dev)
        return err_ptr(-result)
    caller = k.caller_module()
    state.providers[nvmem] = Provider(name, nvmem, caller.name if caller else "kernel")
    return nvmem


def unregister(k: Kernel, nvmem: int) -> None:
    """Remove the provider's device and drop the registration's reference."""
    if k.subsystem(NvmemCore).providers.pop(nvmem, None) is None:
        return
    driver_core.delete_device(k, nvmem + NVMEM_DEV)
    driver_core.put(k, nvmem + NVMEM_DEV)


@service("void nvmem_unregister(struct nvmem_device *nvmem)")
def nvmem_unregister(k: Kernel, nvmem: int) -> None:
    """Unregister a provider (NULL and ERR_PTR are ignored, as 6.1's kref_put on a valid device only)."""
    if nvmem and not is_err(nvmem):
        unregister(k, nvmem)


def read_nvmem(kernel: Kernel, name: str, start: int, count: int) -> bytes:
    """Read ``count`` bytes at ``start`` of the provider called ``name`` through its ``reg_read``.

    Raises SandboxError for an unknown name, a range outside the device, or
    a callback's negative errno.
    """
    k = kernel.service_context
    state = k.subsystem(NvmemCore)
    nvmem = next((p.nvmem for p in state.providers.values() if p.name == name), 0)
    if not nvmem:
        known = ", ".join(sorted(p.name for p in state.providers.values())) or "none"
        raise SandboxError(f"no nvmem device {name!r} (registered: {known})")
    n = Fields(k.memory, "nvmem_device", nvmem)
    if start < 0 or count < 0 or start + count > n["size"]:
        raise SandboxError(f"nvmem {name}: bytes {start}..{start + count} are outside its {n['size']} bytes")
    if not n["reg_read"]:
        raise SandboxError(f"nvmem {name} has no reg_read")
    buf = allocate(k, max(count, 1), owner="kernel")
    try:
        ret = kernel.call_function_pointer(n["reg_read"], n["priv"], start, buf, count)
        if ret >> 31:
            raise SandboxError(f"nvmem {name}: reg_read returned {ret - (1 << 32)}")
        return k.memory.read(buf, count)
    finally:
        release(k, buf)
