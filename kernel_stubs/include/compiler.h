/* Compiler helpers shared by every kernel header. */
#ifndef _SANDBOX_COMPILER_H
#define _SANDBOX_COMPILER_H

/* KAPI marks a function the kernel provides. The sandbox finds every function
 * the headers declare, with or without it (sandbox/services/headers.py), and
 * binds one nothing implements to a stub that names it when called; the
 * project's own headers keep one KAPI declaration per line for readability. */
#define KAPI extern

#define __used __attribute__((__used__))
#define __maybe_unused __attribute__((__unused__))
#define __aligned(x) __attribute__((__aligned__(x)))
#define __section(s) __attribute__((__section__(s)))
#ifdef __MINGW32__
/* mingw's "printf" format checks Microsoft's runtime; the kernel's printk is C99's. */
#define __printf(a, b) __attribute__((__format__(gnu_printf, a, b)))
#else
#define __printf(a, b) __attribute__((__format__(printf, a, b)))
#endif
#define __noreturn __attribute__((__noreturn__))
#define noinline __attribute__((__noinline__))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
/* Sparse annotations, empty here. */
#define __user
#define __iomem
#define __force

#define barrier() __asm__ __volatile__("" : : : "memory")

#define ___PASTE(a, b) a##b
#define __PASTE(a, b) ___PASTE(a, b)
#define __UNIQUE_ID(prefix) __PASTE(__PASTE(__UNIQUE_ID_, prefix), __COUNTER__)

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define offsetof(type, member) __builtin_offsetof(type, member)
#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

#endif
