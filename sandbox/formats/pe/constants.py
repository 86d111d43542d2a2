"""PE/COFF numbers the reader and planner use (values from the Microsoft PE format specification)."""

from __future__ import annotations

MZ_MAGIC = b"MZ"
PE_SIGNATURE = b"PE\0\0"
DOS_HEADER_SIZE = 64
COFF_HEADER_SIZE = 20
SECTION_HEADER_SIZE = 40
COFF_SYMBOL_SIZE = 18

MACHINE_I386 = 0x014C
MACHINE_AMD64 = 0x8664
MACHINE_NAMES = {0x014C: "i386", 0x8664: "x86-64", 0x01C4: "ARMv7 Thumb", 0xAA64: "ARM64", 0x0200: "Itanium"}

OPTIONAL_MAGIC_PE32 = 0x10B
OPTIONAL_MAGIC_PE32_PLUS = 0x20B
# The PE32 optional header up to (not including) the data directories.
OPTIONAL_STANDARD_SIZE = 96
DIRECTORY_ENTRY_SIZE = 8
MAX_DIRECTORIES = 16

# File header characteristics.
FILE_RELOCS_STRIPPED = 0x0001
FILE_EXECUTABLE_IMAGE = 0x0002
FILE_32BIT_MACHINE = 0x0100
FILE_DLL = 0x2000

# Data directory indexes.
DIR_EXPORT = 0
DIR_IMPORT = 1
DIR_RESOURCE = 2
DIR_EXCEPTION = 3
DIR_SECURITY = 4
DIR_BASERELOC = 5
DIR_DEBUG = 6
DIR_TLS = 9
DIR_LOAD_CONFIG = 10
DIR_BOUND_IMPORT = 11
DIR_IAT = 12
DIR_DELAY_IMPORT = 13
DIR_CLR = 14
DIRECTORY_NAMES = (
    "export", "import", "resource", "exception", "security", "base relocation", "debug", "architecture",
    "global pointer", "TLS", "load config", "bound import", "IAT", "delay import", "CLR runtime", "reserved",
)

# Section characteristics.
SCN_CNT_CODE = 0x00000020
SCN_CNT_INITIALIZED_DATA = 0x00000040
SCN_CNT_UNINITIALIZED_DATA = 0x00000080
SCN_MEM_DISCARDABLE = 0x02000000
SCN_MEM_SHARED = 0x10000000
SCN_MEM_EXECUTE = 0x20000000
SCN_MEM_READ = 0x40000000
SCN_MEM_WRITE = 0x80000000

# Base relocation types (the high 4 bits of each entry).
REL_BASED_ABSOLUTE = 0
REL_BASED_HIGHLOW = 3
BASE_RELOCATION_NAMES = {
    0: "IMAGE_REL_BASED_ABSOLUTE", 1: "IMAGE_REL_BASED_HIGH", 2: "IMAGE_REL_BASED_LOW",
    3: "IMAGE_REL_BASED_HIGHLOW", 4: "IMAGE_REL_BASED_HIGHADJ", 5: "IMAGE_REL_BASED_MIPS_JMPADDR",
    7: "IMAGE_REL_BASED_THUMB_MOV32", 9: "IMAGE_REL_BASED_MIPS_JMPADDR16", 10: "IMAGE_REL_BASED_DIR64",
}

ORDINAL_FLAG = 0x80000000

SUBSYSTEM_NAMES = {
    0: "unknown", 1: "native", 2: "windows GUI", 3: "windows CUI", 5: "OS/2 CUI", 7: "POSIX CUI",
    9: "windows CE GUI", 10: "EFI application", 11: "EFI boot service driver", 12: "EFI runtime driver",
    13: "EFI ROM", 14: "Xbox", 16: "windows boot application",
}

# COFF symbol storage classes the symbolizer uses.
SYM_CLASS_EXTERNAL = 2
SYM_CLASS_STATIC = 3
SYM_CLASS_LABEL = 6
SYM_TYPE_FUNCTION = 0x20

# SizeOfImage above this is refused as absurd (the whole module area is 256 MiB).
MAX_IMAGE_SIZE = 64 << 20
# Most sections a file may declare (the format allows 96 in images).
MAX_SECTIONS = 96
