"""Profiles from anywhere: built in user code, registered, from an installed package's entry point, from a file."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sandbox import (
    EntryPolicy,
    Kernel,
    LoadError,
    NamedEntry,
    Profile,
    SandboxError,
    UnknownProfile,
    get_profile,
    known_profiles,
    register_profile,
)
from sandbox.profile import ENTRY_POINT_GROUP, unregister_profile
from sandbox.services import kernel_variable, service

from .conftest import ROOT

# A driver for a kernel of the user's own: its own printk and its own entry point.
OWN_KERNEL_DRIVER = r"""
int printk(const char *fmt, ...);
int shout(const char *text);
static int calls;
int start(void) { calls++; printk("own printk %d", 7); return shout("hi"); }
int calls_made(void) { return calls; }
"""


@service("int printk(const char *fmt, ...)")
def own_printk(k, fmt, args) -> int:
    text = k.memory.read_cstring(fmt).decode()
    k.console_write(f"[own] {text.replace('%d', str(args.next_u32()))}\n")
    return 0


@service("int shout(const char *text)")
def shout(k, text) -> int:
    k.console_write(k.memory.read_cstring(text).decode().upper() + "\n")
    return 3


def own_profile(**changes: object) -> Profile:
    options: dict[str, object] = {"services": [own_printk, shout], "entry": EntryPolicy(init=(NamedEntry("start"),))}
    options.update(changes)
    return Profile("own", "cdecl", **options)  # type: ignore[arg-type]


def test_a_profile_built_in_user_code_starts_empty(compile_c) -> None:
    k = Kernel(profile=own_profile())
    assert k.export_owner("kmalloc") is None  # nothing of the generic kernel
    m = k.load(compile_c(OWN_KERNEL_DRIVER, "own"))
    assert k.console == "[own] own printk 7\nHI\n"
    assert m.call("calls_made") == 1
    assert k.trace.of_kind("init")[0].result == 3


def test_services_may_be_named_as_modules_objects_functions_or_lists() -> None:
    import kernel_stubs.strings as strings

    by_name = Kernel(Profile("a", services="kernel_stubs.strings"))
    by_object = Kernel(Profile("b", services=(strings,)))
    mixed = Kernel(Profile("c", services=[[own_printk], shout, "kernel_stubs.strings"]))
    for k in (by_name, by_object, mixed):
        assert k.export_owner("strlen") == "kernel"
    assert mixed.export_owner("shout") == "kernel" and by_name.export_owner("shout") is None


def test_a_bad_service_module_name_is_one_clear_error() -> None:
    with pytest.raises(UnknownProfile, match=r"profile bad: cannot import service module 'no_such_services'"):
        Kernel(Profile("bad", services=("no_such_services",)))


def test_register_profile_makes_the_name_known(compile_c) -> None:
    register_profile(own_profile())
    try:
        assert "own" in known_profiles()
        assert Kernel("own").profile.name == "own"
        with pytest.raises(ValueError, match="already known"):
            register_profile(own_profile())
        register_profile(own_profile(hz=50), replace=True)
        assert Kernel("own").clock.hz == 50
    finally:
        unregister_profile("own")
    with pytest.raises(UnknownProfile):
        get_profile("own")


def test_unknown_profile_lists_the_known_ones() -> None:
    with pytest.raises(UnknownProfile) as error:
        Kernel("myos")
    message = str(error.value)
    assert message.startswith("unknown profile 'myos'; known: generic, generic-regparm, linux, nt")
    assert "\n" not in message
    assert isinstance(error.value, SandboxError) and isinstance(error.value, ValueError)


def _fake_distribution(where: Path, entry_points: str, module: str) -> None:
    """An installed package as importlib.metadata sees one: a dist-info folder and its module."""
    info = where / "extra_profiles-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: extra-profiles\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{entry_points}")
    (where / "extra_profiles_mod.py").write_text(module)


EXTRA_MODULE = textwrap.dedent("""
    from sandbox import Profile
    EXTRA = Profile("extra", "regparm3", services="kernel_stubs.strings", hz=1000)
    def make_other():
        return Profile("other", services="kernel_stubs.printk")
""")


def test_an_installed_package_contributes_profiles_through_the_entry_point_group(tmp_path, monkeypatch) -> None:
    _fake_distribution(tmp_path, "extra = extra_profiles_mod:EXTRA\nother = extra_profiles_mod:make_other\n"
                                 "broken = extra_profiles_mod:MISSING\n", EXTRA_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert {"extra", "other", "broken", "generic", "linux"} <= set(known_profiles())
    k = Kernel("extra")
    assert (k.profile.convention, k.clock.hz, k.export_owner("strlen")) == ("regparm3", 1000, "kernel")
    assert Kernel("other").export_owner("printk") == "kernel"  # a function returning the profile
    with pytest.raises(UnknownProfile, match=r"profile 'broken' \(entry point extra_profiles_mod:MISSING\) cannot be loaded"):
        Kernel("broken")


def test_the_built_in_profiles_are_declared_in_the_entry_point_group() -> None:
    import tomllib

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"][ENTRY_POINT_GROUP]
    assert declared == {"generic": "kernel_stubs.profiles:GENERIC", "generic-regparm": "kernel_stubs.profiles:GENERIC_REGPARM",
                        "linux": "kernel_stubs.profiles:LINUX", "nt": "kernel_stubs.nt.profile:NT"}


def test_a_profile_from_a_file(tmp_path) -> None:
    (tmp_path / "tiny_services.py").write_text(textwrap.dedent("""
        from sandbox.services import service
        @service("int tiny_answer(void)")
        def tiny_answer(k):
            return 42
    """))
    (tmp_path / "tiny.py").write_text(textwrap.dedent("""
        import tiny_services
        from sandbox import Profile
        TINY = Profile("tiny", services=tiny_services)
    """))
    k = Kernel(f"{tmp_path / 'tiny.py'}:TINY")  # the file imports its sibling module
    assert k.profile.name == "tiny" and k.export_owner("tiny_answer") == "kernel"
    assert get_profile("tiny.py:TINY", base=tmp_path).name == "tiny"
    with pytest.raises(UnknownProfile, match=r"tiny.py has no profile 'OTHER'; it defines: TINY"):
        get_profile(f"{tmp_path / 'tiny.py'}:OTHER")
    with pytest.raises(UnknownProfile, match=r"profile file nowhere.py not found"):
        Kernel("nowhere.py:X")


def test_the_engine_imports_no_profile_code() -> None:
    # Every module of the engine, and a kernel of an empty profile.
    code = ("import sys, importlib, pkgutil, sandbox; from sandbox import Kernel, Profile;"
            "[importlib.import_module(m.name) for m in pkgutil.walk_packages(sandbox.__path__, 'sandbox.')"
            " if m.name != 'sandbox.__main__'];"
            "Kernel(Profile('empty', services=[]));"
            "print(sorted(m for m in sys.modules if m.startswith('kernel_stubs')))")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


def test_the_tick_writes_the_variables_the_profile_names() -> None:
    variables = [kernel_variable("ticks", 4), kernel_variable("jiffies", 4)]
    k = Kernel(Profile("clocked", services=[variables], tick_variables=(("ticks", 4),), initial_jiffies=100))
    k.tick(5)
    assert k.memory.read_u32(k.export_address("ticks")) == 105
    assert k.memory.read_u32(k.export_address("jiffies")) == 0  # not named: the engine leaves it alone


def test_fault_injection_defaults_are_the_profiles() -> None:
    k = Kernel(own_profile(failure_values={"shout": -5}))
    k.inject_failure("shout")
    assert k.injections.plan["shout"] == ({1}, -5)
    with pytest.raises(ValueError, match="no default failure value for kmalloc in this profile"):
        Kernel(own_profile()).inject_failure("kmalloc")


def test_load_checks_may_refuse_a_module(compile_c) -> None:
    def only_small(image, profile) -> None:
        if len(image.sections) > 3:
            raise LoadError(image.name, "too-big", f"the {profile.name} kernel takes at most 3 sections")

    k = Kernel(own_profile(load_checks=(only_small,)))
    with pytest.raises(LoadError, match="too-big: the own kernel takes at most 3 sections"):
        k.load(compile_c(OWN_KERNEL_DRIVER, "own"))
    assert k.modules == []


def test_a_profile_names_several_header_directories(tmp_path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    for folder, name in ((first, "one"), (second, "two")):
        folder.mkdir()
        (folder / f"{name}.h").write_text(f"KAPI int {name}_thing(int x);\n")
    k = Kernel(Profile("headers", include_dirs=(first, second)))
    assert k.can_resolve("one_thing") and k.can_resolve("two_thing")
    assert Profile("single", include_dir=first).include_dirs == (first,)


def test_an_unknown_calling_convention_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown calling convention 'pascal'.*known: .*cdecl"):
        Kernel(Profile("odd", "pascal"))


# ---------------------------------------------------------------------- CLI

def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "sandbox", *args], capture_output=True, text=True, cwd=ROOT, env=env)


def test_cli_unknown_profile_is_one_line_without_traceback(driver) -> None:
    result = _cli("run", str(driver("hello")), "--profile", "myos")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == ("python -m sandbox: error: unknown profile 'myos'; known: generic, generic-regparm, linux, nt"
                             " (or a file: path/to/file.py:NAME)\n")


def test_cli_lists_the_profiles() -> None:
    result = _cli("profiles")
    assert result.returncode == 0
    assert "generic: cdecl, the project's own kernel.h API\n" in result.stdout
    assert "linux: regparm3, " in result.stdout


def test_cli_info_against_a_profile_file(tmp_path, driver) -> None:
    (tmp_path / "strings_only.py").write_text("from sandbox import Profile\nP = Profile('strings-only', services='kernel_stubs.strings')\n")
    result = _cli("info", str(driver("memlist")), "--json", "--profile", f"{tmp_path / 'strings_only.py'}:P")
    assert result.returncode == 0, result.stderr
    import json

    described = json.loads(result.stdout)
    assert described["profile"] == "strings-only"
    assert "kmalloc" in described["unresolved"] and "strscpy" not in described["unresolved"]


def test_a_built_in_profile_is_a_starting_point(driver) -> None:
    import dataclasses

    fast = dataclasses.replace(get_profile("generic"), name="fast", hz=1000)
    assert fast.include_dirs == get_profile("generic").include_dirs
    k = Kernel(fast)
    beat = k.load(driver("heartbeat"))  # re-arms a timer every 10 jiffies (built with timer.h's HZ=100)
    k.run_for(1000)  # one second at this profile's tick rate
    assert (k.clock.hz, k.jiffies, beat.call("heartbeat_beats")) == (1000, 1000, 100)
