/* EXPORT_SYMBOL: Linux's absolute-pointer kernel_symbol layout (12 bytes on i386). */
#ifndef _SANDBOX_EXPORT_H
#define _SANDBOX_EXPORT_H

#include "compiler.h"

struct kernel_symbol {
	unsigned long value;
	const char *name;
	const char *namespace;
};

#define __EXPORT_SYMBOL(sym, sec) \
	extern __typeof__(sym) sym; \
	static const char __kstrtab_##sym[] __used __section("__ksymtab_strings") __aligned(1) = #sym; \
	static const struct kernel_symbol __ksymtab_##sym __used __section("__ksymtab" sec) __aligned(4) = \
		{ (unsigned long)&sym, __kstrtab_##sym, 0 }

#ifdef _WIN32
/* PE images export through the export directory: a linker directive, spelt
 * as each toolchain's own dllexport is (MSVC mode names the decorated symbol). */
#ifdef _MSC_VER
#define __PE_EXPORT(sym) __asm__(".section .drectve,\"yn\"\n.ascii \" /EXPORT:_" #sym "\"\n.text")
#else
#define __PE_EXPORT(sym) __asm__(".section .drectve\n.ascii \" -export:" #sym "\"\n.text")
#endif
#define EXPORT_SYMBOL(sym) __PE_EXPORT(sym)
#define EXPORT_SYMBOL_GPL(sym) __PE_EXPORT(sym)
#else
#define EXPORT_SYMBOL(sym) __EXPORT_SYMBOL(sym, "")
#define EXPORT_SYMBOL_GPL(sym) __EXPORT_SYMBOL(sym, "_gpl")
#endif

#endif
