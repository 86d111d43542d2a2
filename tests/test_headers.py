"""Declared but not implemented: every ordinary declaration style in a profile's headers binds to a named stub.

The scanner is checked against gcc's own list of declared prototypes
(``-aux-info``) on the project's headers and on a plain hobby header, and a
driver compiled with gcc and clang against a header without any marker
macro calls a declared function nothing implements.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from sandbox import Kernel, ServiceError
from sandbox.services.headers import declared_functions, scan_header
from sandbox.services.prototype import parse_prototype

ROOT = Path(__file__).resolve().parent.parent
INCLUDE = ROOT / "kernel_stubs" / "include"

HOBBY_H = r"""/* hobby.h: a hobby kernel's API, written without any marker macro. */
#ifndef HOBBY_H
#define HOBBY_H

#ifdef __cplusplus
extern "C" {
#endif

#define EXPORT __attribute__((visibility("default")))
#define asmlinkage __attribute__((regparm(0)))
#define PRINTF(a, b) __attribute__((format(printf, a, b)))

typedef unsigned int u32;
typedef unsigned long long u64;
typedef int (*hobby_handler_t)(int line, void *dev);

struct hobby_dev {
	int (*probe)(struct hobby_dev *dev);   /* a member, not a function */
	u32 flags;
};

int hobby_plain(int a, int b);
extern void *hobby_extern(unsigned long size);
EXPORT int hobby_exported(const char *name);
asmlinkage long hobby_asmlinkage(int nr);
int hobby_log(const char *fmt, ...) PRINTF(1, 2);
__attribute__((noreturn)) void hobby_panic(const char *why);
int
hobby_multiline(struct hobby_dev *dev,
                u32 flags,
                u64 deadline);
int hobby_callback(int (*cb)(void *arg, int n), void *arg);
int hobby_irq(unsigned int line, hobby_handler_t handler, void *dev);
u64 hobby_ticks(void);
int hobby_unnamed(int, char *);

/* int hobby_commented(int x); */
// int hobby_line_comment(void);
#if 0
int hobby_disabled(void);
#endif

static inline int hobby_inline(int x) { return x + 1; }
static int hobby_static(int x);
int hobby_defined(int x) { return x; }
extern int (*hobby_hook)(int);
extern int hobby_variable;
typedef int hobby_fn_type(int);

#ifdef __cplusplus
}
#endif
#endif
"""

EXPECTED = {
    "hobby_plain": 22, "hobby_extern": 23, "hobby_exported": 24, "hobby_asmlinkage": 25, "hobby_log": 26,
    "hobby_panic": 27, "hobby_multiline": 29, "hobby_callback": 32, "hobby_irq": 33, "hobby_ticks": 34,
    "hobby_unnamed": 35,
}


def test_every_ordinary_declaration_style_is_found_with_its_line() -> None:
    found = {parse_prototype(text).name: line for text, line in scan_header(HOBBY_H)}
    assert found == EXPECTED


def test_attributes_and_decoration_macros_stay_in_the_prototype_text() -> None:
    """A calling convention may hide in them (asmlinkage is regparm(0), WINAPI is stdcall)."""
    texts = {parse_prototype(text).name: text for text, _line in scan_header(HOBBY_H)}
    assert texts["hobby_asmlinkage"] == "__attribute__((regparm(0))) long hobby_asmlinkage(int nr)"
    assert texts["hobby_panic"] == "__attribute__((noreturn)) void hobby_panic(const char *why)"
    assert texts["hobby_extern"] == "void *hobby_extern(unsigned long size)"  # extern itself is dropped


def test_declarations_parse_into_prototypes(tmp_path: Path) -> None:
    (tmp_path / "hobby.h").write_text(HOBBY_H)
    declared = declared_functions(str(tmp_path))
    multiline = declared["hobby_multiline"]
    assert multiline.where == "hobby.h:29"  # the line of the name
    assert [p.name for p in multiline.prototype.params] == ["dev", "flags", "deadline"]
    assert [p.slots for p in multiline.prototype.params] == [1, 1, 2]  # u64 takes two slots
    callback = declared["hobby_callback"].prototype
    assert [(p.name, p.kind) for p in callback.params] == [("cb", "funcptr"), ("arg", "ptr")]
    assert declared["hobby_log"].prototype.variadic
    assert declared["hobby_ticks"].prototype.returns.width == 8
    assert declared["hobby_exported"].prototype.params[0].kind == "str"


def _gcc_declared(header_dir: Path, headers: list[str], tmp_path: Path) -> dict[str, int]:
    """What gcc itself says the headers declare (not define): name -> line."""
    source = tmp_path / "all.c"
    source.write_text("".join(f'#include "{h}"\n' for h in headers))
    aux = tmp_path / "aux.txt"
    subprocess.run(["gcc", "-m32", "-ffreestanding", "-nostdinc", "-I", str(header_dir), "-fsyntax-only",
                    "-aux-info", str(aux), str(source)], check=True, capture_output=True)
    found: dict[str, int] = {}
    for line in aux.read_text().splitlines():
        match = re.match(r"/\* (\S+):(\d+):([NO])([CF]) \*/ (.*)", line)
        if match and match[4] == "C" and not match[5].startswith("static") and str(header_dir) in match[1]:
            name = re.search(r"(\w+) \(", match[5])[1]  # type: ignore[index]
            found[name] = int(match[2])
    return found


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is the oracle")
def test_scanner_agrees_with_gcc_on_the_hobby_header(tmp_path: Path) -> None:
    (tmp_path / "inc").mkdir()
    (tmp_path / "inc" / "hobby.h").write_text(HOBBY_H.replace("int hobby_defined(int x) { return x; }\n", ""))
    gcc = _gcc_declared(tmp_path / "inc", ["hobby.h"], tmp_path)
    ours = {name: d.line for name, d in declared_functions(str(tmp_path / "inc")).items()}
    assert ours == gcc == EXPECTED


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is the oracle")
def test_scanner_agrees_with_gcc_on_the_project_headers(tmp_path: Path) -> None:
    headers = sorted(p.name for p in INCLUDE.glob("*.h"))
    gcc = _gcc_declared(INCLUDE, headers, tmp_path)
    ours = {name: d.line for name, d in declared_functions(str(INCLUDE)).items()}
    assert ours == gcc and "printk" in ours and "sandbox_unimplemented_service" in ours


PLAIN_H = """/* A plain header: no KAPI, no extern. */
typedef unsigned int size_t;
int plain_log(const char *text);
int plain_reset(int unit,
                int flags);
"""

PLAIN_DRIVER = r"""
#include "plain.h"
int init_module(void) { return 0; }
int do_reset(int unit) { int r = plain_reset(unit, 3); return r + 1; }
int tail_reset(int unit, int flags) { return plain_reset(unit, flags); }
"""


def _kernel_with_headers(include: Path, monkeypatch: pytest.MonkeyPatch) -> Kernel:
    """A kernel whose profile's headers are ``include`` (the generic services, no KAPI header)."""
    try:
        from sandbox.profile import Profile  # type: ignore[import-not-found]  # profiles from anywhere (item 1)
    except ImportError:
        import dataclasses

        from kernel_stubs import profiles

        monkeypatch.setitem(profiles.PROFILES, "plain",
                            dataclasses.replace(profiles.GENERIC, name="plain", include_dir=include))
        return Kernel("plain")
    return Kernel(Profile(name="plain", services=("kernel_stubs.printk",), include_dir=include))


@pytest.mark.parametrize("compiler", ["gcc", "clang"])
def test_a_function_a_plain_header_declares_binds_and_names_itself(tmp_path: Path, compiler: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    include = tmp_path / "include"
    include.mkdir()
    (include / "plain.h").write_text(PLAIN_H)
    (tmp_path / "plaindrv.c").write_text(PLAIN_DRIVER)
    obj = tmp_path / "plaindrv.o"
    subprocess.run([compiler, "-m32", "-ffreestanding", "-nostdinc", "-fno-pic", "-O2", "-I", str(include),
                    "-c", str(tmp_path / "plaindrv.c"), "-o", str(obj)], check=True)
    k = _kernel_with_headers(include, monkeypatch)
    m = k.load(obj)  # plain_reset is declared, so the load links although nothing implements it
    with pytest.raises(ServiceError) as info:
        m.call("do_reset", 2)
    assert re.fullmatch(r"kernel service plain_reset is declared in plain\.h:4 but not implemented by the plain "
                        r"profile \(called from plaindrv:do_reset\+0x[0-9a-f]+\)", str(info.value)), str(info.value)
    with pytest.raises(ServiceError, match=r"called from plaindrv:tail_reset\+0x[0-9a-f]+ \(tail call\)\)"):
        m.call("tail_reset", 2, 3)
    event = k.trace.calls("plain_reset")[0]
    assert event.args == (2, 3) and event.fields["error"] == "error"


def test_a_convention_named_by_a_macro_or_attribute_reaches_the_prototype(tmp_path: Path) -> None:
    (tmp_path / "win.h").write_text(
        "#define WINAPI __attribute__((stdcall))\n"
        "#define asmlinkage __attribute__((regparm(0)))\n"
        "WINAPI int hw_poke(int port, int value);\n"
        "int __attribute__((fastcall)) hw_peek(int port);\n"
        "asmlinkage long sys_thing(int nr);\n"
        "int plain(int x);\n"
    )
    declared = declared_functions(str(tmp_path))
    assert {name: d.prototype.convention for name, d in declared.items()} == {
        "hw_poke": "stdcall", "hw_peek": "fastcall", "sys_thing": "cdecl", "plain": None}
