"""Module formats: a registry of readers, chosen by the file's first bytes.

Nothing downstream of :func:`open_image` names a format: the life cycle,
``load_all``'s dependency order, ``info`` and the corpus all go through the
:class:`ModuleFormat` a file's magic selects. ELF is registered here; a new
format (PE is next) registers itself with :func:`register_format`.
"""

from __future__ import annotations

from .base import ModuleFormat, ModuleImage, module_name_from
from .registry import format_of, formats, open_file, open_image, register_format

__all__ = [
    "ModuleFormat",
    "ModuleImage",
    "format_of",
    "formats",
    "module_name_from",
    "open_file",
    "open_image",
    "register_format",
]
