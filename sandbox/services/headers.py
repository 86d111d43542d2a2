"""Find the kernel functions the C headers declare (lines marked ``KAPI``).

The headers are the contract drivers compile against; a function declared
there but not implemented in Python still links, to a stub that reports the
missing service by name when called, instead of failing every load.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from .prototype import Prototype, PrototypeError, parse_prototype

_KAPI_LINE = re.compile(r"^\s*KAPI\s+(?P<decl>[^;]*\))[^;]*;", re.M)


@lru_cache(maxsize=8)
def declared_functions(include_dir: str) -> dict[str, tuple[Prototype, str]]:
    """Map name -> (prototype, header path) for every KAPI line under include_dir."""
    found: dict[str, tuple[Prototype, str]] = {}
    root = Path(include_dir)
    for header in sorted(root.rglob("*.h")):
        text = header.read_text(errors="replace")
        for match in _KAPI_LINE.finditer(text):
            try:
                proto = parse_prototype(match["decl"])
            except PrototypeError:
                continue
            found.setdefault(proto.name, (proto, str(header.relative_to(root.parent.parent))))
    return found
