"""Reading and checking ELF files (no emulator, no linking)."""

from .image import ElfImage
from .relocations import RelocTable
from .sections import Section
from .segments import Segment
from .symbols import SymbolTable

__all__ = ["ElfImage", "RelocTable", "Section", "Segment", "SymbolTable"]
