"""Kernel library functions of the linux profile that run as guest code (lib/sort.c).

``sort`` and ``sort_r`` call the module's comparison (and swap) at every
step; as Python services each step would be a guest -> host -> guest round
trip, so they are raw code in kernel text (``code.py``, compiled from
``sort.c`` with ``-mregparm=3`` by ``tools/gen-guest-code``) that calls the
callbacks directly, at guest speed. The algorithm is Linux 6.1's bottom-up
heapsort: the same comparisons and swaps in the same order, so elements
that compare equal end where Linux leaves them.
"""

from __future__ import annotations

from sandbox.services import kernel_code

from .code import CODE

LIBRARY = [kernel_code(name, code) for name, code in CODE.items()]
