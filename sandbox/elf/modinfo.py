"""Linux module metadata sections: ``.modinfo``, ``.gnu.linkonce.this_module``,
``__versions`` and ``__version_ext_crcs``/``__version_ext_names`` (checks 14, 15, 18, G7).
"""

from __future__ import annotations

from collections.abc import Callable

from . import constants as c
from .errors import Refuser
from .sections import Section

MODINFO = ".modinfo"
THIS_MODULE = ".gnu.linkonce.this_module"
VERSIONS = "__versions"
VERSION_EXT_CRCS = "__version_ext_crcs"
VERSION_EXT_NAMES = "__version_ext_names"
VERSION_ENTRY = 64  # struct modversion_info on 32-bit: u32 crc + char name[60]

BytesOf = Callable[[Section], bytes]


def read_modinfo(sections: list[Section], bytes_of: BytesOf, refuse: Refuser) -> list[tuple[str, str]]:
    """Checks 14 and G7, then the ``key=value`` strings of ``.modinfo`` in order ([] if none)."""
    found = [s for s in sections if s.name == MODINFO]
    if not found:
        return []
    if len(found) > 1:
        refuse("modinfo-duplicate", f"{len(found)} {MODINFO} sections: " + ", ".join(s.label() for s in found))
    section = found[0]
    raw = bytes_of(section)
    if raw and raw[-1] != 0:
        refuse("modinfo-nul", f"{section.label()} does not end in NUL: its last string is unterminated")
    pairs = []
    for chunk in raw.split(b"\0"):
        # Empty chunks are the padding between aligned strings; a chunk with
        # no "=" is not a key=value string and Linux's get_modinfo skips it too.
        key, sep, value = chunk.partition(b"=")
        if sep:
            pairs.append((key.decode("utf-8", "replace"), value.decode("utf-8", "replace")))
    return pairs


def has_this_module(sections: list[Section], refuse: Refuser) -> bool:
    """Check 15 for a Linux-style .ko: one ``.gnu.linkonce.this_module``, allocated, with contents."""
    found = [s for s in sections if s.name == THIS_MODULE]
    if len(found) > 1:
        refuse("this-module", f"{THIS_MODULE} appears {len(found)} times: " + ", ".join(s.label() for s in found))
    if found and (found[0].is_nobits or not found[0].is_alloc):
        refuse("this-module", f"{found[0].label()} must be SHF_ALLOC with contents (not SHT_NOBITS)")
    return bool(found)


def check_versions(section: Section | None, bytes_of: BytesOf, refuse: Refuser) -> None:
    """G7: every ``__versions`` entry's name is NUL-terminated inside its 64 bytes."""
    if section is None or section.sh_type == c.SHT_NOBITS:
        return
    if section.sh_size % VERSION_ENTRY:
        refuse("versions", f"{section.label()} size {section.sh_size:#x} is not a multiple of {VERSION_ENTRY} "
               f"(struct modversion_info)")
    raw = bytes_of(section)
    for offset in range(0, len(raw), VERSION_ENTRY):
        if 0 not in raw[offset + 4 : offset + VERSION_ENTRY]:
            name = raw[offset + 4 : offset + 20].decode("utf-8", "replace")
            refuse("versions-nul", f"{section.label()} entry {offset // VERSION_ENTRY} (name {name!r}...) is not NUL-terminated")


def check_version_ext(crcs: Section | None, names: Section | None, bytes_of: BytesOf, refuse: Refuser) -> None:
    """Check 18: extended modversions come as a pair, with a name for every CRC."""
    if crcs is None and names is None:
        return
    if crcs is None or names is None:
        present, missing = (VERSION_EXT_CRCS, VERSION_EXT_NAMES) if names is None else (VERSION_EXT_NAMES, VERSION_EXT_CRCS)
        refuse("version-ext", f"{present} is present without {missing}")
    crc_count = crcs.sh_size // 4
    # Linux counts names by walking NUL-terminated strings; counting NULs is the same count.
    name_count = bytes_of(names).count(0)
    if name_count < crc_count:
        refuse("version-ext", f"{names.label()} holds {name_count} names for {crc_count} CRCs in {crcs.label()}")
