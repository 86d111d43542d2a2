"""Placing, binding and relocating relocatable objects, checked by running them."""

from __future__ import annotations

import pytest

from sandbox import GuestFault, Kernel, LoadError, ServiceError

PRELUDE = """
typedef unsigned int size_t;
extern int printk(const char *fmt, ...);
extern void *kmalloc(size_t size, unsigned int flags);
extern void kfree(const void *p);
"""


def test_data_relocations_and_bss(kernel: Kernel, compile_c) -> None:
    path = compile_c(PRELUDE + """
        static int table[4] = {10, 20, 30, 40};
        int *const pointers[2] = {&table[1], &table[3]};
        static int zeroed[100];
        const char *const greeting = "relocated string";
        int sum_pointers(void) { return *pointers[0] + *pointers[1]; }
        int bss_is_zero(void) { int s = 0; for (int i = 0; i < 100; i++) s |= zeroed[i]; return s; }
        const char *get_greeting(void) { return greeting; }
    """)
    m = kernel.load(path)
    assert m.call("sum_pointers") == 60
    assert m.call("bss_is_zero") == 0
    address = m.call("get_greeting", returns="ptr")
    assert kernel.memory.read_cstring(address) == b"relocated string"


def test_sections_mapped_with_permissions(kernel: Kernel, compile_c) -> None:
    path = compile_c(PRELUDE + """
        const int answer = 42;
        int counter;
        int bump(void) { return ++counter; }
    """)
    m = kernel.load(path)
    text = kernel.memory.region_at(m.symbols["bump"])
    rodata = kernel.memory.region_at(m.symbols["answer"])
    data = kernel.memory.region_at(m.symbols["counter"])
    assert (text.perms, rodata.perms, data.perms) == (5, 1, 3)  # R-X, R--, RW-
    assert "text" in text.label and "rodata" in rodata.label and "data" in data.label
    assert m.call("bump") == 1 and m.call("bump") == 2


def test_local_and_global_with_same_name_bind_by_index(kernel: Kernel, compile_c, tmp_path) -> None:
    # Two objects each with a static 'value'; ld -r keeps both as LOCAL symbols
    # plus one GLOBAL 'value_g'. Binding by name would mix them up.
    a = compile_c("static int value = 1; int get_a(void) { return value; }", "a")
    b = compile_c("static int value = 2; int get_b(void) { return value; }", "b")
    import subprocess

    out = tmp_path / "ab.ko"
    subprocess.run(["ld", "-m", "elf_i386", "-r", str(a), str(b), "-o", str(out)], check=True)
    m = kernel.load(out)
    assert (m.call("get_a"), m.call("get_b")) == (1, 2)


def test_weak_undefined_binds_to_zero(kernel: Kernel, compile_c) -> None:
    path = compile_c("""
        extern int optional_feature(int) __attribute__((weak));
        int has_feature(void) { return optional_feature ? optional_feature(1) : -1; }
    """)
    m = kernel.load(path)
    assert m.call("has_feature") == -1
    assert "optional_feature" in m.plan.weak_unresolved


def test_common_symbols_are_allocated(kernel: Kernel, compile_c) -> None:
    path = compile_c("int shared_counter; int big[256]; int touch(void) { big[255] = 7; return ++shared_counter + big[255]; }",
                     "common", "-fcommon")
    m = kernel.load(path)
    assert m.call("touch") == 8
    assert m.plan.common_offsets, "expected COMMON symbols in a -fcommon build"


def test_all_unresolved_names_in_one_error(kernel: Kernel, compile_c) -> None:
    path = compile_c("""
        extern int no_such_a(void); extern int no_such_b(int); extern int printk(const char *, ...);
        int f(void) { printk("x"); return no_such_a() + no_such_b(1); }
    """)
    with pytest.raises(LoadError) as info:
        kernel.load(path)
    error = info.value
    assert error.check == "unresolved-symbols"
    assert "no_such_a" in str(error) and "no_such_b" in str(error) and "printk" not in error.detail
    assert str(path) in str(error)
    assert kernel.modules == []


def test_declared_but_unimplemented_service_is_named_when_called(kernel: Kernel, compile_c) -> None:
    path = compile_c("""
        #include <kernel.h>
        int use_missing(void) { return sandbox_unimplemented_service(3); }
        int fine(void) { return 5; }
    """)
    m = kernel.load(path)
    with pytest.raises(ServiceError, match="sandbox_unimplemented_service"):
        m.call("use_missing")
    assert m.call("fine") == 5


def test_pic_object_uses_got(kernel: Kernel, compile_c) -> None:
    path = compile_c(PRELUDE + """
        int global_value = 5;
        static int local_value = 7;
        int *global_ptr(void) { return &global_value; }
        int read_both(void) { return global_value * 10 + local_value; }
        int call_out(void) { return printk("pic %d\\n", 3); }
    """, "picmod", "-fPIC")
    m = kernel.load(path)
    assert m.call("read_both") == 57
    assert m.call("global_ptr", returns="ptr") == m.symbols["global_value"]
    assert m.call("call_out") == 6 and kernel.console == "pic 3\n"
    types = {t for table in m.plan.image.reloc_tables for t in table.r_type}
    assert types & {3, 43} and 10 in types  # GOT32/GOT32X and GOTPC were exercised


def test_narrow_relocations(kernel: Kernel, compile_c) -> None:
    # 16- and 8-bit absolute and PC-relative fields, emitted from assembly.
    path = compile_c("""
        __asm__(
            ".data\\n"
            ".globl small_fields\\n"
            "small_fields:\\n"
            ".word target16\\n"            /* R_386_16 */
            ".byte target8\\n"             /* R_386_8 */
            ".text\\n"
            ".globl jump_short\\n"
            "jump_short:\\n"
            "  jmp target_short\\n"         /* R_386_PC8 to a global (not resolved by gas) */
            ".globl target_short\\n"
            "target_short:\\n"
            "  movl $99, %eax\\n"
            "  ret\\n"
            ".set target16, 0x1234\\n"
            ".set target8, 0x56\\n"
        );
        extern unsigned char small_fields[3];
        int read_fields(void) { return small_fields[0] | small_fields[1] << 8 | small_fields[2] << 16; }
    """, "narrow")
    m = kernel.load(path)
    assert m.call("read_fields") == 0x561234
    assert m.call("jump_short") == 99


def test_module_area_is_reused_after_unload(kernel: Kernel, compile_c) -> None:
    path = compile_c("int f(void) { return 1; }")
    first = kernel.load(path)
    base = first.base
    kernel.unload(first)
    second = kernel.load(path)
    assert second.base == base
    assert second.call("f") == 1


def test_failed_load_leaves_kernel_unchanged(kernel: Kernel, compile_c) -> None:
    good = kernel.load(compile_c("int g(void) { return 2; }", "good"))
    before = ([r.start for r in kernel.memory.regions()], kernel.module_table.area.snapshot(), len(kernel.modules))
    bad = compile_c("extern int nope(void); int init_module(void) { return nope(); }", "bad")
    with pytest.raises(LoadError):
        kernel.load(bad)
    failing_init = compile_c("int init_module(void) { return -12; }", "failing")
    with pytest.raises(LoadError, match=r"-12 \(-ENOMEM\)"):
        kernel.load(failing_init)
    crashing_init = compile_c("int init_module(void) { return *(volatile int *)8; }", "crashing")
    with pytest.raises(GuestFault) as info:
        kernel.load(crashing_init)
    assert info.value.kind == "null-pointer"
    after = ([r.start for r in kernel.memory.regions()], kernel.module_table.area.snapshot(), len(kernel.modules))
    assert after == before
    assert good.call("g") == 2


def test_init_sections_released_after_init(kernel: Kernel, compile_c) -> None:
    path = compile_c("""
        __attribute__((section(".init.text"))) int setup(void) { return 11; }
        static int (*saved)(void);
        int init_module(void) { saved = setup; return setup() - 11; }
        int call_saved(void) { return saved(); }
    """, "initrel")
    m = kernel.load(path)
    assert m.init_released
    with pytest.raises(GuestFault) as info:
        m.call("call_saved")
    assert info.value.kind == "released-init"
    assert "init code of module initrel, released after init" in info.value.report
