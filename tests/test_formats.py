"""Every driver in every format × toolchain behaves identically.

Formats: gcc/clang ``-c`` objects, ``ld -r`` .ko files, ``-fPIC`` objects,
``-shared`` objects (GNU ld and ld.lld), and ``ld -q`` executables linked at
base 0. The same scenario runs on each; console, results and the sequence of
kernel calls (names and non-pointer arguments) must match the gcc object's.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from drivers.build import FORMATS
from sandbox import Kernel, LoadError
from sandbox.elf import ElfImage


def _scenario_memlist(k: Kernel, m) -> list[int]:  # type: ignore[no-untyped-def]
    out = [m.call("memlist_push", v, n) for v, n in ((1, "a"), (2, "b"), (3, "c"))]
    buf = bytearray(32)
    out += [m.call("memlist_sum"), m.call("memlist_find", "b"), m.call("memlist_pop"), m.call("memlist_describe", buf, 32)]
    return out


def _scenario_irqcount(k: Kernel, m) -> list[int]:  # type: ignore[no-untyped-def]
    results = [r.result for _ in range(3) for r in k.raise_irq(5)]
    return [*results, m.call("irqcount_get")]


def _scenario_hello(k: Kernel, m) -> list[int]:  # type: ignore[no-untyped-def]
    return [m.call("hello_greet", "formats")]


def _scenario_fmt(k: Kernel, m) -> list[int]:  # type: ignore[no-untyped-def]
    return [m.call("fmt_demo")]


SCENARIOS: dict[str, Callable[..., list[int]]] = {
    "memlist": _scenario_memlist, "irqcount": _scenario_irqcount, "hello": _scenario_hello, "fmt": _scenario_fmt,
}


def _run(path) -> tuple[str, list[int], list[tuple]]:  # type: ignore[no-untyped-def]
    k = Kernel()
    m = k.load(path)
    results = SCENARIOS[m.name](k, m)
    report = k.unload(m)
    assert report.clean
    calls = []
    for event in k.trace.of_kind("service"):
        proto = event.fields["_proto"]
        shown = tuple(a for a, p in zip(event.args, proto.params) if p.kind not in ("ptr", "funcptr"))
        calls.append((event.name, shown))
    return k.console, results, calls


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_same_behaviour_in_every_format_and_toolchain(built, name: str) -> None:
    reference = _run(built[("gcc", "obj", name)])
    combos = sorted((tool, fmt) for (tool, fmt, driver) in built if driver == name)
    assert {fmt for _, fmt in combos} == set(FORMATS)
    for tool, fmt in combos:
        assert _run(built[(tool, fmt, name)]) == reference, f"{tool}/{fmt}"


def test_clang_toolchain_is_present(built) -> None:
    assert any(tool == "clang" for tool, _, _ in built), "CI must install clang and lld"


def test_formats_are_what_they_claim(built) -> None:
    kinds = {fmt: ElfImage.from_file(built[("gcc", fmt, "memlist")]).kind for fmt in FORMATS}
    assert kinds == {"obj": "ET_REL", "rel": "ET_REL", "pic": "ET_REL", "shared": "ET_DYN", "exec": "ET_EXEC"}
    shared = ElfImage.from_file(built[("clang", "shared", "memlist")])
    assert {t.section.name for t in shared.reloc_tables} >= {".rel.dyn", ".rel.plt"}


def test_shared_object_segments_mapped_with_permissions(built) -> None:
    k = Kernel()
    m = k.load(built[("gcc", "shared", "memlist")])
    text = k.memory.region_at(m.symbols["memlist_push"])
    data = k.memory.region_at(m.plan.section_address(m.plan.image.section_by_name(".got.plt")))
    assert text.perms == 5 and data.perms == 3


def test_executable_without_kept_relocations_is_refused(tmp_path, built) -> None:
    import subprocess

    obj = built[("gcc", "obj", "hello")]
    plain = tmp_path / "plain.elf"
    subprocess.run(["ld", "-m", "elf_i386", "-e", "0", "-Ttext-segment=0", "--unresolved-symbols=ignore-all",
                    str(obj), "-o", str(plain)], check=True)
    with pytest.raises(LoadError) as info:
        Kernel().load(plain)
    assert info.value.check == "e_type" and "--emit-relocs" in str(info.value)


def test_shared_object_needs_its_dt_needed_module(tmp_path, compile_c, built) -> None:
    import subprocess

    obj = compile_c("#include <kernel.h>\nextern int hello_greet(const char *);\nint use(void) { return hello_greet(\"so\"); }",
                    "user", "-fPIC")
    so = tmp_path / "user.so"
    subprocess.run(["ld", "-m", "elf_i386", "-shared", str(obj), str(built[("gcc", "shared", "hello")]), "-o", str(so)],
                   check=True)
    k = Kernel()
    with pytest.raises(LoadError) as info:
        k.load(so)
    assert info.value.check == "needed-module" and "hello" in str(info.value)
    hello = k.load(built[("gcc", "shared", "hello")])
    user = k.load(so)
    assert user.call("use") == len("hello: greetings, so!\n")
    assert hello.used_by == {"user"}


def test_rela_shared_object_and_tls_refusal(tmp_path, compile_c) -> None:
    import subprocess

    source = tmp_path / "rela.c"
    source.write_text("int v = 3; int *p = &v; int get(void) { return *p; }\n")
    obj, so = tmp_path / "rela.o", tmp_path / "rela.so"
    subprocess.run(["clang", "--target=i386-pc-none-elf", "-fPIC", "-c", str(source), "-o", str(obj)], check=True)
    subprocess.run(["ld.lld", "-m", "elf_i386", "-shared", "-z", "rela", str(obj), "-o", str(so)], check=True)
    k = Kernel()
    m = k.load(so)
    assert any(t.is_rela for t in m.plan.image.reloc_tables)
    assert m.call("get") == 3
    tls_obj = compile_c("__thread int per_thread; int get(void) { return per_thread; }", "tls", "-fPIC")
    tls_so = tmp_path / "tls.so"
    subprocess.run(["ld", "-m", "elf_i386", "-shared", str(tls_obj), "-o", str(tls_so)], check=True)
    with pytest.raises(LoadError) as info:
        k.load(tls_so)
    assert info.value.check == "tls" and "thread-local storage" in str(info.value)
