"""Linux module conventions: .modinfo, __ksymtab layouts, parameters, this_module."""

from __future__ import annotations

import pytest

from sandbox import Kernel, LoadError


def test_parameters_set_before_init(kernel: Kernel, driver) -> None:
    m = kernel.load(driver("hello"), params={"answer": 7, "greeting": "hi", "loud": "y"})
    assert kernel.console == "hello: loaded, answer=7\n"
    assert m.params == {"answer": 7, "greeting": "hi", "loud": 1}
    m.call("hello_greet", "you")
    assert kernel.console.endswith("hello: hi, you!!!\n")
    assert sorted(m.info("parmtype")) == ["answer:int", "greeting:charp", "loud:bool"]
    assert m.info("parm") == ["answer:The number printed at load"]
    assert kernel.unload(m).clean


def test_parameter_defaults(kernel: Kernel, driver) -> None:
    m = kernel.load(driver("hello"))
    assert m.params == {"answer": 42, "greeting": "greetings", "loud": 0}


@pytest.mark.parametrize(("params", "check", "fragment"), [
    ({"answer": "abc"}, "bad-parameter", "not a valid int"),
    ({"answer": 2**31}, "bad-parameter", "out of range for int"),
    ({"loud": "maybe"}, "bad-parameter", "not a boolean"),
    ({"missing": 1}, "unknown-parameter", "declared: answer, greeting, loud"),
])
def test_bad_parameters_are_refused(kernel: Kernel, driver, params, check: str, fragment: str) -> None:
    before = kernel.module_table.area.snapshot(), kernel.memory.heap.snapshot()
    with pytest.raises(LoadError) as info:
        kernel.load(driver("hello"), params=params)
    assert info.value.check == check and fragment in str(info.value)
    assert (kernel.module_table.area.snapshot(), kernel.memory.heap.snapshot()) == before
    assert kernel.modules == [] and kernel.console == ""


def test_prel32_ksymtab_layout(kernel: Kernel, compile_c) -> None:
    # Linux 6.1 i386 builds __ksymtab entries as three 32-bit offsets from
    # each field (PREL32), not pointers.
    m = kernel.load(compile_c(r"""
        int prel_exported(void) { return 5; }
        int prel_other(void) { return 6; }
        __asm__(
            ".pushsection __ksymtab_strings,\"aMS\",@progbits,1\n"
            "name_a: .asciz \"prel_exported\"\n"
            "name_b: .asciz \"prel_other\"\n"
            ".section __ksymtab,\"a\"\n"
            ".balign 4\n"
            ".long prel_exported - .\n .long name_a - .\n .long 0\n"
            ".long prel_other - .\n .long name_b - .\n .long 0\n"
            ".popsection\n");
    """, "prel"))
    assert m.exports == {"prel_exported": m.symbols["prel_exported"], "prel_other": m.symbols["prel_other"]}
    assert kernel.export_owner("prel_other") == "prel"


def test_gpl_exports_and_modinfo_fields(kernel: Kernel, compile_c) -> None:
    m = kernel.load(compile_c("""
        #include <kernel.h>
        int gpl_only(void) { return 1; }
        EXPORT_SYMBOL_GPL(gpl_only);
        MODULE_LICENSE("Dual MIT/GPL");
        MODULE_ALIAS("pci:v00008086d*");
        MODULE_VERSION("1.2");
        static const char dep[] __used __section(".modinfo") = "depends=";
        static const char vm[] __used __section(".modinfo") = "vermagic=6.1.0 SMP mod_unload 686 ";
    """, "meta"))
    assert m.gpl_exports == {"gpl_only"}
    assert m.info("alias") == ["pci:v00008086d*"] and m.info("version") == ["1.2"]
    assert m.info("vermagic") == ["6.1.0 SMP mod_unload 686 "] and m.info("depends") == [""]


def test_module_name_from_modinfo(kernel: Kernel, compile_c) -> None:
    m = kernel.load(compile_c('static const char n[] __attribute__((used, section(".modinfo"))) = "name=renamed";', "file-name"))
    assert m.name == "renamed"
