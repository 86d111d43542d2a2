"""Where Debian's Linux 6.1 686 modules are (tools/fetch-linux-modules), or None."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def corpus_dir() -> Path | None:
    """The .../lib/modules/6.1.0-*-686/kernel directory if it was fetched."""
    cache = Path(os.environ.get("SANDBOX_LINUX_CACHE", Path.home() / ".cache" / "module-sandbox" / "linux"))
    found = sorted((cache / "root" / "lib" / "modules").glob("6.1.0-*-686/kernel"))
    return found[-1] if found else None


KDIR = corpus_dir()
needs_corpus = pytest.mark.skipif(KDIR is None, reason="Linux 6.1 686 modules not fetched (tools/fetch-linux-modules)")


def ko(rel: str) -> str:
    """Path of a module in the corpus, e.g. ``ko("lib/crc8.ko")`` (tests using it are skipped without the corpus)."""
    assert KDIR is not None
    return str(KDIR / rel)
