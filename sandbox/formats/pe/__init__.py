"""PE32 (i386) as a registered module format: ``.sys``, ``.dll`` and ``.exe`` drivers.

The reader (:mod:`.image`) checks the headers, section table and data
directories; the planner (:mod:`.plan`) places, binds (through the profile's
DLL map, :mod:`.dlls`) and rebases. ``docs/pe-checklist.md`` lists every check.
"""

from __future__ import annotations

from typing import Any

from ..base import ModuleFormat, module_name_from
from . import constants as pc
from .dlls import dll_stem
from .image import PeImage
from .plan import ENTRY_NAMES, PePlan, plan_image


class PeFormat(ModuleFormat):
    """PE32 images for i386 (IMAGE_FILE_MACHINE_I386): DLLs and native drivers."""

    name = "PE"
    magic_hint = "MZ"

    def matches(self, data: bytes) -> bool:
        return data[:2] == pc.MZ_MAGIC

    def open(self, data: bytes, path: str) -> PeImage:
        return PeImage(data, path)

    def plan(self, image: PeImage) -> PePlan:
        return plan_image(image, self.module_name(image))

    def module_name(self, image: PeImage) -> str:
        """``name=`` in ``.modinfo``, else the file's stem (``pelib.dll`` -> ``pelib``), as for ELF."""
        return module_name_from(image)

    def provides(self, image: PeImage) -> set[str]:
        """The named exports (entry names stay with the module)."""
        return set() if image.exports is None else set(image.exports.names) - ENTRY_NAMES

    def imports(self, image: PeImage) -> set[str]:
        """Names imported by name (ordinal imports name no symbol)."""
        return {name for imported in image.imports for name in imported.names if name is not None}

    def required_modules(self, image: PeImage) -> set[str]:
        """``depends=`` only: whether a DLL is the kernel's depends on the profile, which a file does not know."""
        return super().required_modules(image)

    def describe(self, image: PeImage) -> dict[str, Any]:
        """What ``info`` shows: machine, subsystem, sections, imports by DLL, exports, relocations, entry."""
        from .describe import describe_pe

        return describe_pe(self, image)


PE_FORMAT = PeFormat()

__all__ = ["PE_FORMAT", "PeFormat", "PeImage", "PePlan", "dll_stem"]
