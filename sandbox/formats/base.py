"""What a module format provides to the rest of the engine.

A format turns file bytes into a checked *image* (parse-time checks only,
no machine) and an image into a *plan* (layout, binding, relocation: what
``sandbox.lifecycle`` maps into the machine). Dependency ordering asks the
format what an image exports, imports and names as required modules, so
``load_all`` needs no format knowledge.

The plan a format returns must offer what :mod:`sandbox.lifecycle` uses of
``sandbox.link.plan.LinkPlan``: ``name``, ``layout`` (``sizes`` and
``extents``), ``place``, ``bind``, ``relocate``, ``read_exports``,
``imports``, ``needed``, ``memory``, ``bases``, ``find_symbol``,
``defined_symbols``, ``global_symbol_names``, ``symbol_ranges``,
``entry_table`` (Linux's fixed-size loader tables; None where a format has
none) and ``relocation_count``. The ELF plans are the reference implementation.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Protocol


class ModuleImage(Protocol):
    """A parsed, checked module file: the attributes every format's image has."""

    name: str  # the path (or label) named in every error
    modinfo: list[tuple[str, str]]  # key=value metadata (``.modinfo`` for ELF), in file order


def module_name_from(image: ModuleImage) -> str:
    """A module's name: its ``name=`` metadata, else the file's stem with ``-`` as ``_`` (Linux's rule)."""
    for key, value in image.modinfo:
        if key == "name" and value:
            return value
    return Path(image.name).name.split(".")[0].replace("-", "_")


class ModuleFormat(ABC):
    """One module file format: recognise, parse and check, plan, and describe dependencies."""

    #: Short name shown in errors and by ``info`` ("ELF", "PE").
    name: str = "?"
    #: What the magic looks like, for the error when no format matches.
    magic_hint: str = ""

    @abstractmethod
    def matches(self, data: bytes) -> bool:
        """True if ``data`` starts like a file of this format (cheap: magic bytes only)."""

    @abstractmethod
    def open(self, data: bytes, path: str) -> Any:
        """Parse and check ``data``; a malformed file is a LoadError naming ``path`` and the check."""

    @abstractmethod
    def plan(self, image: Any) -> Any:
        """Check link rules and lay the image out: the plan the life cycle places, binds and maps."""

    def module_name(self, image: Any) -> str:
        """The name the module will have once loaded."""
        return module_name_from(image)

    @abstractmethod
    def provides(self, image: Any) -> set[str]:
        """Names the module will export once live (for ordering a set of modules)."""

    @abstractmethod
    def imports(self, image: Any) -> set[str]:
        """Names the module must import: undefined, non-weak symbols it cannot do without."""

    def required_modules(self, image: Any) -> set[str]:
        """Modules it names as required (``depends=``, DT_NEEDED, DLL names), by module name."""
        found: set[str] = set()
        for key, value in image.modinfo:
            if key == "depends":
                found.update(d for d in value.split(",") if d)
        return found

    def describe(self, image: Any) -> dict[str, Any]:
        """What ``python -m sandbox info`` shows for a file of this format (JSON-ready).

        The default gives the format-neutral part; formats add their own
        structure (sections, segments, relocations by type).
        """
        return {
            "name": self.module_name(image),
            "format": self.name,
            "modinfo": [{"key": k, "value": v} for k, v in image.modinfo],
            "exports": sorted(self.provides(image)),
            "toolchain": [], "sections": [], "segments": [], "defined": [], "relocations": {},
        }

    def check_vermagic(self, image: Any, expected: str) -> None:  # noqa: B027 - optional for formats without it
        """Refuse a module built for another kernel (formats with a vermagic; default: nothing to check)."""
