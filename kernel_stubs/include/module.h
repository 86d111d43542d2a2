/* Module entry points, metadata (.modinfo) and parameters. */
#ifndef _SANDBOX_MODULE_H
#define _SANDBOX_MODULE_H

#include "compiler.h"
#include "export.h"

#ifdef _WIN32
/* PE images: no init sections to release (section names are 8 bytes). */
#define __init
#define __exit
#define __initdata
#define __initconst
#else
#define __init __section(".init.text")
#define __exit __section(".exit.text")
#define __initdata __section(".init.data")
#define __initconst __section(".init.rodata")
#endif

struct module;
#define THIS_MODULE ((struct module *)0)

typedef int (*initcall_t)(void);
typedef void (*exitcall_t)(void);

/* As in Linux: the entry points are aliases with well-known names. */
#define module_init(fn) \
	static inline initcall_t __maybe_unused __inittest(void) { return fn; } \
	int init_module(void) __attribute__((__alias__(#fn)))
#ifdef _WIN32
/* PE: the image's entry point is init_module (link with -e / /entry:); the
 * exit is found by its export name. */
#define module_exit(fn) \
	static inline exitcall_t __maybe_unused __exittest(void) { return fn; } \
	void cleanup_module(void) __attribute__((__alias__(#fn))); \
	__PE_EXPORT(cleanup_module)
#else
#define module_exit(fn) \
	static inline exitcall_t __maybe_unused __exittest(void) { return fn; } \
	void cleanup_module(void) __attribute__((__alias__(#fn)))
#endif

#define __MODULE_INFO(tag, info) \
	static const char __UNIQUE_ID(tag)[] __used __section(".modinfo") __aligned(1) = #tag "=" info

#define MODULE_LICENSE(x) __MODULE_INFO(license, x)
#define MODULE_AUTHOR(x) __MODULE_INFO(author, x)
#define MODULE_DESCRIPTION(x) __MODULE_INFO(description, x)
#define MODULE_ALIAS(x) __MODULE_INFO(alias, x)
#define MODULE_VERSION(x) __MODULE_INFO(version, x)
#define MODULE_SOFTDEP(x) __MODULE_INFO(softdep, x)

/* Module parameters: a typed entry in __param plus parmtype in .modinfo. */
enum sandbox_param_type {
	PARAM_TYPE_BYTE = 1, PARAM_TYPE_SHORT, PARAM_TYPE_USHORT, PARAM_TYPE_INT, PARAM_TYPE_UINT,
	PARAM_TYPE_LONG, PARAM_TYPE_ULONG, PARAM_TYPE_BOOL, PARAM_TYPE_CHARP,
};
#define __PARAM_CODE_byte PARAM_TYPE_BYTE
#define __PARAM_CODE_short PARAM_TYPE_SHORT
#define __PARAM_CODE_ushort PARAM_TYPE_USHORT
#define __PARAM_CODE_int PARAM_TYPE_INT
#define __PARAM_CODE_uint PARAM_TYPE_UINT
#define __PARAM_CODE_long PARAM_TYPE_LONG
#define __PARAM_CODE_ulong PARAM_TYPE_ULONG
#define __PARAM_CODE_bool PARAM_TYPE_BOOL
#define __PARAM_CODE_charp PARAM_TYPE_CHARP

/* 16 bytes on i386: name, arg, type_code, perm (+2 bytes padding). */
struct kernel_param {
	const char *name;
	void *arg;
	unsigned int type_code;
	unsigned short perm;
};

/* The C type each parameter type stands for: module_param checks the
 * variable against it (a mismatch is an incompatible-pointer warning). */
#define __PARAM_CTYPE_byte unsigned char
#define __PARAM_CTYPE_short short
#define __PARAM_CTYPE_ushort unsigned short
#define __PARAM_CTYPE_int int
#define __PARAM_CTYPE_uint unsigned int
#define __PARAM_CTYPE_long long
#define __PARAM_CTYPE_ulong unsigned long
#define __PARAM_CTYPE_bool _Bool
#define __PARAM_CTYPE_charp char *

#define module_param(name, type, perm) \
	static inline __PARAM_CTYPE_##type *__maybe_unused __param_check_##name(void) { return &(name); } \
	__MODULE_INFO(parmtype, #name ":" #type); \
	static const char __param_str_##name[] = #name; \
	static const struct kernel_param __param_##name __used __section("__param") __aligned(4) = \
		{ __param_str_##name, &(name), __PARAM_CODE_##type, (perm) }
#define MODULE_PARM_DESC(name, desc) __MODULE_INFO(parm, #name ":" desc)

#endif
