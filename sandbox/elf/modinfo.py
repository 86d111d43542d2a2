"""``.modinfo`` (key=value strings) and ``__versions`` checks."""

from __future__ import annotations

from . import constants as c
from .errors import Refuser
from .sections import Section

_VERSION_ENTRY = 64  # struct modversion_info: u32 crc + char name[60] on 32-bit


def parse_modinfo(section: Section, data: bytes, refuse: Refuser) -> list[tuple[str, str]]:
    """The ``key=value`` strings of ``.modinfo``, in order."""
    if section.is_nobits:
        return []
    raw = data[section.sh_offset : section.sh_offset + section.sh_size]
    if not raw:
        return []
    if raw[-1] != 0:
        refuse("modinfo-nul", f"{section.label()} does not end in NUL (its last string is unterminated)")
    pairs = []
    for chunk in raw.split(b"\0"):
        if not chunk:
            continue  # padding between aligned strings
        key, sep, value = chunk.partition(b"=")
        if sep:
            pairs.append((key.decode("utf-8", "replace"), value.decode("utf-8", "replace")))
    return pairs


def check_versions(section: Section, data: bytes, refuse: Refuser) -> None:
    """Every ``__versions`` name must be NUL-terminated inside its entry."""
    if section.sh_type == c.SHT_NOBITS:
        return
    if section.sh_size % _VERSION_ENTRY:
        refuse("versions", f"{section.label()} size {section.sh_size:#x} is not a multiple of {_VERSION_ENTRY}")
    for offset in range(section.sh_offset, section.sh_offset + section.sh_size, _VERSION_ENTRY):
        if 0 not in data[offset + 4 : offset + _VERSION_ENTRY]:
            refuse("versions-nul", f"{section.label()} entry at {offset - section.sh_offset:#x} has an unterminated name")
