"""The calling-convention matrix on PE builds of drivers/callconv.c (mingw-w64 and clang + lld-link).

The same checks as tests/test_callconv.py makes on the ELF builds: Python calling the
driver in each convention, the driver calling services in each (``ret N`` stubs for
stdcall and fastcall, the names a PE import table carries undecorated), and callbacks.
"""

from __future__ import annotations

import pytest

try:
    from sandbox import Int64

    from .test_callconv import NAMES, A, B, C, D, _kernel, mix_callback, mix_mixed, mix_narrow, mix_wide, s32, s64
except ImportError:  # until the stdcall/fastcall conventions land (helper "callconv")
    pytest.skip("needs the calling conventions of tests/test_callconv.py", allow_module_level=True)
from .test_pe import pe_built  # noqa: F401 - the session fixture


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("toolchain", ("gcc", "clang"))
def test_pe_driver_in_each_convention(pe_built, toolchain: str, name: str) -> None:  # noqa: F811
    k, seen, callbacks = _kernel()
    m = k.load(pe_built[(toolchain, "pe", "callconv")])
    assert m.call(f"cc_mixed_{name}", A, Int64(B), C, D, convention=name, returns="s64") == mix_mixed(A, B, C, D)
    assert m.call(f"cc_narrow_{name}", -5, -300, 123456, 250, convention=name) == mix_narrow(-5, -300, 123456, 250)
    assert m.call(f"cc_wide_{name}", Int64(B), -9, convention=name, returns="s64") == mix_wide(B, -9)
    total = m.call(f"cc_use_{name}", A, Int64(B), C, D, returns="s64")
    narrow_args = (s32(A << 24) >> 24, C, D, D & 0xFF)
    assert seen == [("mixed", A, B, C, D), ("narrow", *narrow_args), ("wide", B, A)]
    assert total == s64(mix_mixed(A, B, C, D) + mix_narrow(*narrow_args) + mix_wide(B, A))
    assert set(callbacks) == set(NAMES)  # registered by the entry point
    assert m.call(f"cc_call_back_{name}", 4, Int64(0x500000007), -6) == mix_callback(4, 0x500000007, -6) + 1


@pytest.mark.parametrize("toolchain", ("gcc", "clang"))
def test_pe_and_elf_builds_make_the_same_kernel_calls(pe_built, toolchain: str) -> None:  # noqa: F811
    """Names, non-pointer arguments and results of every service call match the gcc object's."""
    sequences = []
    for path in (pe_built[("gcc", "obj", "callconv")], pe_built[(toolchain, "pe", "callconv")]):
        k, _, _ = _kernel()
        m = k.load(path)
        for name in NAMES:
            m.call(f"cc_use_{name}", A, Int64(B), C, D, returns="s64")
            m.call(f"cc_call_back_{name}", 1, Int64(2), 3)
        sequences.append([(e.name, tuple(a for a, p in zip(e.args, e.fields["_proto"].params)
                                         if p.kind not in ("ptr", "funcptr")), e.result)
                          for e in k.trace.of_kind("service")])
    assert sequences[0] == sequences[1]
