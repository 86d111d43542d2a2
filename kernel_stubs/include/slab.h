/* The kernel heap. */
#ifndef _SANDBOX_SLAB_H
#define _SANDBOX_SLAB_H

#include "compiler.h"
#include "types.h"

#define __GFP_ZERO 0x100u
#define GFP_ATOMIC 0x820u
#define GFP_KERNEL 0xcc0u

KAPI void *kmalloc(size_t size, gfp_t flags);
KAPI void *kzalloc(size_t size, gfp_t flags);
KAPI void *kcalloc(size_t n, size_t size, gfp_t flags);
KAPI void *krealloc(const void *p, size_t new_size, gfp_t flags);
KAPI void kfree(const void *p);
KAPI size_t ksize(const void *p);

#endif
