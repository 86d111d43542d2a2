"""Static keys and jump labels: a module's ``__jump_table`` sites patched at load and when a key changes."""

from __future__ import annotations

from sandbox import Kernel
from sandbox.jumptable import JumpLabels
from tests.linux_corpus import ko, needs_corpus

pytestmark = needs_corpus


def test_linux_test_static_keys_passes() -> None:
    """lib/test_static_keys checks every static_branch_* form against static_key_enabled, inverts all keys, checks again."""
    k = Kernel("linux")
    base = k.load(ko("lib/test_static_key_base.ko"))
    tests = k.load(ko("lib/test_static_keys.ko"))
    assert base.init_ran and tests.init_ran
    k.unload(tests)
    assert all(site.module != "test_static_keys" for sites in k.subsystem(JumpLabels).by_key.values() for site in sites)


def test_enabling_a_key_later_flips_every_site() -> None:
    k = Kernel("linux")
    k.load(ko("lib/test_static_key_base.ko"))
    tests = k.load(ko("lib/test_static_keys.ko"), run_init=False)
    key = k.export_address("base_false_key")
    assert tests.call("base_false_key_static_branch_unlikely") == 0
    assert tests.call("base_false_key_static_branch_likely") == 0
    k.call(k.export_address("static_key_enable"), key)  # the service, called as a module would
    assert k.call(k.export_address("static_key_count"), key) == 1
    assert tests.call("base_false_key_static_branch_unlikely") == 1  # the 2-byte and 5-byte sites both rewritten
    assert tests.call("base_false_key_static_branch_likely") == 1
    k.call(k.export_address("static_key_slow_inc"), key)
    k.call(k.export_address("static_key_slow_dec"), key)
    assert tests.call("base_false_key_static_branch_unlikely") == 1  # still one user
    k.call(k.export_address("static_key_disable"), key)
    assert tests.call("base_false_key_static_branch_unlikely") == 0
    assert tests.call("base_false_key_static_branch_likely") == 0
