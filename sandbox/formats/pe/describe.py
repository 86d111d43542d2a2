"""What ``python -m sandbox info`` shows for a PE image (JSON-ready, no machine)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..base import ModuleFormat
from . import constants as pc
from .dlls import DEFAULT_KERNEL_DLLS, dll_stem
from .image import PeImage

if TYPE_CHECKING:
    from . import PeFormat


def describe_pe(fmt: PeFormat, image: PeImage, kernel_dll_names: tuple[str, ...] = DEFAULT_KERNEL_DLLS) -> dict[str, Any]:
    """Machine, subsystem, sections with characteristics, imports by DLL, exports, relocations, entry point."""
    kernel_dlls = {n.lower() for n in kernel_dll_names} | {dll_stem(n) for n in kernel_dll_names}
    described = ModuleFormat.describe(fmt, image)  # the format-neutral part
    imports = []
    for imported in image.imports:
        provider = "kernel" if imported.dll.lower() in kernel_dlls or dll_stem(imported.dll) in kernel_dlls \
            else f"module {dll_stem(imported.dll)}"
        imports.append({"dll": imported.dll, "provider": provider, "delayed": imported.delayed,
                        "names": [imported.label(i).split("!", 1)[1] for i in range(len(imported.names))]})
    exports = image.exports
    described.update(
        format=f"PE32 {'DLL' if image.is_dll else 'image'}",
        machine=pc.MACHINE_NAMES.get(image.machine, hex(image.machine)),
        subsystem=pc.SUBSYSTEM_NAMES.get(image.subsystem, str(image.subsystem)),
        image_base=image.image_base,
        size_of_image=image.size_of_image,
        entry_point=image.entry_rva,
        sections=[{"index": s.index, "name": s.name, "type": 0, "address": s.virtual_address, "size": s.virtual_size,
                   "flags": s.flags_text(), "characteristics": s.characteristics} for s in image.sections[1:]],
        imports_by_dll=imports,
        export_ordinals=[] if exports is None else [
            {"ordinal": ordinal, "names": sorted(n for n, o in exports.names.items() if o == ordinal),
             "forwarder": exports.forwarders.get(ordinal)}
            for ordinal in sorted({*exports.functions, *exports.forwarders})],
        defined=[{"name": s.name, "value": s.value, "size": 0, "bind": "global" if s.storage_class == pc.SYM_CLASS_EXTERNAL
                  else "local", "type": "function" if s.is_function else "object"} for s in image.coff_symbols],
        relocations={"IMAGE_REL_BASED_HIGHLOW": len(image.relocations)} if len(image.relocations) else {},
    )
    return described


def import_labels(image: PeImage) -> list[str]:
    """Every import as ``DLL!name`` / ``DLL!#ordinal``, in file order."""
    return [imported.label(i) for imported in image.imports for i in range(len(imported.names))]
