"""Architectures: what the engine needs to know about the CPU a module runs on.

One :class:`Architecture` object per instruction set: word size, register
names, Unicorn and capstone modes, calling conventions, relocation recipes
and the guest relocation loop. The engine asks the object instead of naming
i386 constants, so a second architecture (x86-64) is a second object.
"""

from .base import Architecture
from .i386 import I386

__all__ = ["I386", "Architecture"]
