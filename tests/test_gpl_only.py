"""EXPORT_SYMBOL_GPL is enforced as Linux enforces it (issue 13 item 8)."""

from __future__ import annotations

import pytest

from sandbox import Kernel, LoadError
from sandbox.licenses import GPL_COMPATIBLE, license_is_gpl_compatible

PROVIDER = """
#include <kernel.h>
int gpl_thing(void) { return 7; }
EXPORT_SYMBOL_GPL(gpl_thing);
int plain_thing(void) { return 8; }
EXPORT_SYMBOL(plain_thing);
MODULE_LICENSE("GPL");
"""

USER = """
#include <kernel.h>
int gpl_thing(void);
int plain_thing(void);
int use_gpl(void) { return gpl_thing(); }
%s
"""

PLAIN_USER = """
#include <kernel.h>
int plain_thing(void);
int use_plain(void) { return plain_thing(); }
MODULE_LICENSE("Proprietary");
"""


def test_linux_license_list() -> None:
    assert {"GPL", "GPL v2", "GPL and additional rights", "Dual BSD/GPL", "Dual MIT/GPL",
                              "Dual MPL/GPL"} == GPL_COMPATIBLE
    assert not license_is_gpl_compatible("Proprietary") and not license_is_gpl_compatible(None)
    assert not license_is_gpl_compatible("GPLv2")  # Linux compares exact strings


@pytest.mark.parametrize(("license_line", "shown"), [
    ('MODULE_LICENSE("Proprietary");', 'MODULE_LICENSE("Proprietary")'),
    ("", "no MODULE_LICENSE"),
])
def test_proprietary_module_cannot_import_a_gpl_only_export(compile_c, license_line: str, shown: str) -> None:
    k = Kernel()
    provider = k.load(compile_c(PROVIDER, "provider"))
    with pytest.raises(LoadError) as caught:
        k.load(compile_c(USER % license_line, "closed"))
    message = str(caught.value)
    assert "gpl-only-symbol" in message and shown in message and "gpl_thing (module provider)" in message
    assert [m.name for m in k.modules] == ["provider"] and not provider.used_by  # nothing half-loaded
    assert k.load(compile_c(PLAIN_USER, "plain")).call("use_plain") == 8  # plain exports stay open to it


@pytest.mark.parametrize("license_name", sorted(GPL_COMPATIBLE))
def test_gpl_compatible_modules_may(compile_c, license_name: str) -> None:
    k = Kernel()
    k.load(compile_c(PROVIDER, "provider"))
    user = k.load(compile_c(USER % f'MODULE_LICENSE("{license_name}");', "open"))
    assert user.call("use_gpl") == 7


LINUX_USER = r"""
void synchronize_rcu(void);
int init_module(void) { synchronize_rcu(); return 0; }
static const char license[] __attribute__((used, section(".modinfo"))) = "license=%s";
"""


def test_linux_profile_marks_its_gpl_only_services(compile_c) -> None:
    k = Kernel("linux", check_vermagic=False)
    assert "synchronize_rcu" in k.gpl_only_services
    assert [name for name in sorted(k.gpl_only_services) if k.export_address(name) is None] == []
    with pytest.raises(LoadError, match=r'MODULE_LICENSE\("Proprietary"\).*synchronize_rcu \(kernel\)'):
        k.load(compile_c(LINUX_USER % "Proprietary", "closed_rcu", "-mregparm=3"))
    assert k.load(compile_c(LINUX_USER % "GPL", "open_rcu", "-mregparm=3")).name == "open_rcu"
    assert not Kernel().gpl_only_services  # the generic profile has none
