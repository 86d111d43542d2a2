"""Debugging the guest with a real gdb: a remote-protocol stub and symbol files.

``Kernel(gdb=1234)`` (or ``python -m sandbox run --gdb :1234 ...``) serves
localhost:1234; ``gdb -ex 'target remote :1234'`` then sees every loaded
module with its DWARF at its load address and the kernel's services as
functions. See :class:`GdbServer`.
"""

from .server import GdbServer, parse_address
from .symbols import SymbolFile, add_symbol_file_script, library_list

__all__ = ["GdbServer", "SymbolFile", "add_symbol_file_script", "library_list", "parse_address"]
