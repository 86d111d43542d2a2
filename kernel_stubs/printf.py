"""The C printf engine, which now lives in the engine (:mod:`sandbox.services.printf`).

Kept so that ``from kernel_stubs.printf import format_printf`` goes on working.
"""

from sandbox.services.printf import (
    FIELD_WIDTH_MAX,
    LEVEL_NAMES,
    PRECISION_MAX,
    ArgSource,
    ListArgs,
    Spec,
    format_printf,
    parse_format,
    split_kern_level,
)

__all__ = [
    "FIELD_WIDTH_MAX",
    "LEVEL_NAMES",
    "PRECISION_MAX",
    "ArgSource",
    "ListArgs",
    "Spec",
    "format_printf",
    "parse_format",
    "split_kern_level",
]
