/* lib/string.c, implemented by the kernel. */
#ifndef _SANDBOX_STRING_H
#define _SANDBOX_STRING_H

#include "compiler.h"
#include "types.h"

KAPI void *memcpy(void *dst, const void *src, size_t n);
KAPI void *memmove(void *dst, const void *src, size_t n);
KAPI void *memset(void *s, int c, size_t n);
KAPI int memcmp(const void *a, const void *b, size_t n);
KAPI size_t strlen(const char *s);
KAPI size_t strnlen(const char *s, size_t max);
KAPI int strcmp(const char *a, const char *b);
KAPI int strncmp(const char *a, const char *b, size_t n);
KAPI char *strcpy(char *dst, const char *src);
KAPI char *strncpy(char *dst, const char *src, size_t n);
KAPI char *strcat(char *dst, const char *src);
KAPI char *strchr(const char *s, int c);
KAPI char *strrchr(const char *s, int c);
KAPI char *strstr(const char *haystack, const char *needle);
KAPI ssize_t strscpy(char *dst, const char *src, size_t size);

#endif
