"""Reading and checking ELF files (no emulator, no linking).

``ElfImage(data, name)`` or ``ElfImage.from_file(path)`` decodes a 32-bit
i386 ELF file and runs every parse-time check of ELF-CHECKLIST.md; a
malformed file is a ``sandbox.errors.LoadError`` naming the file, the check
and the offending section, symbol or relocation.
"""

from .image import ElfImage
from .relocations import RelocTable
from .sections import Section
from .segments import Segment
from .symbols import SymbolTable

__all__ = ["ElfImage", "RelocTable", "Section", "Segment", "SymbolTable"]
