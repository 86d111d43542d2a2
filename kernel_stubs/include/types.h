/* Fixed-width and kernel types, i386 ILP32. */
#ifndef _SANDBOX_TYPES_H
#define _SANDBOX_TYPES_H

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;
typedef signed char s8;
typedef signed short s16;
typedef signed int s32;
typedef signed long long s64;

typedef unsigned int size_t;
typedef int ssize_t;
typedef unsigned long uintptr_t;
typedef long intptr_t;
typedef int ptrdiff_t;
typedef long long loff_t;
typedef unsigned int gfp_t;

typedef _Bool bool;
#define true 1
#define false 0
#define NULL ((void *)0)

#define INT_MAX 0x7fffffff
#define INT_MIN (-INT_MAX - 1)
#define UINT_MAX 0xffffffffU

#endif
