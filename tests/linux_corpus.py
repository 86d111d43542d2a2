"""Where Debian's Linux 6.1 686 modules are (tools/fetch-linux-modules), or None."""

from __future__ import annotations

import pytest

from sandbox.testing import corpus_dir

KDIR = corpus_dir()
needs_corpus = pytest.mark.skipif(KDIR is None, reason="Linux 6.1 686 modules not fetched (tools/fetch-linux-modules)")


def ko(rel: str) -> str:
    """Path of a module in the corpus, e.g. ``ko("lib/crc8.ko")`` (tests using it are skipped without the corpus)."""
    assert KDIR is not None
    return str(KDIR / rel)
