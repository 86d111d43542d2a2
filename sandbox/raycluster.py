"""Ray, the optional engine for work spread over processes or machines (fuzz campaigns, the corpus).

:func:`ray_session` gives the ``ray`` module inside a context: a local
cluster of ``workers`` CPUs is started when no address is given (and
stopped again afterwards), ``address`` joins an existing cluster, and a
session someone already started is reused and left running.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .errors import SandboxError


@contextmanager
def ray_session(workers: int, address: str | None = None) -> Iterator[Any]:
    """The ``ray`` module, initialised for ``workers`` local CPUs or the cluster at ``address``."""
    try:
        import ray
    except ImportError:
        raise SandboxError("the Ray engine needs the 'ray' package (pip install 'module-sandbox[ray]')") from None
    started_here = not ray.is_initialized()
    if started_here:
        if address is None:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=address, log_to_driver=False)
    try:
        yield ray
    finally:
        if started_here:
            ray.shutdown()
