/* What a sample driver for the linux profile needs to be a Linux 6.1 i386 module.
 *
 * Not Linux's headers: the few declarations the project's own drivers in
 * drivers/linux/ use, with Linux 6.1's names, prototypes and (where a
 * driver fills a struct the kernel reads) its i386 layout. Build with
 * -mregparm=3, as kbuild builds i386 modules (drivers/build.py does).
 * Each area has its own header beside this one (linux_pci.h, ...).
 */
#ifndef SANDBOX_LINUX_MODULE_H
#define SANDBOX_LINUX_MODULE_H

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;
typedef signed char s8;
typedef short s16;
typedef int s32;
typedef long long s64;
typedef unsigned int size_t;
typedef _Bool bool;  /* as Linux: one byte in structures, returned in AL */
typedef unsigned int gfp_t;
typedef u32 dma_addr_t;
typedef u32 phys_addr_t;
#define NULL ((void *)0)
#define true 1
#define false 0

#define ENOMEM 12
#define EBUSY 16
#define ENODEV 19
#define EINVAL 22
#define GFP_KERNEL 0xCC0u

#define __stringify_1(x) #x
#define __stringify(x) __stringify_1(x)
#define __modinfo(tag, value) \
	__attribute__((section(".modinfo"), used, aligned(1))) static const char __modinfo_##tag[] = #tag "=" value
#define MODULE_LICENSE(text) __modinfo(license, text)
#define MODULE_DESCRIPTION(text) __modinfo(description, text)
#define MODULE_VERMAGIC() __modinfo(vermagic, "6.1.0-50-686 SMP preempt mod_unload modversions GEODE ")
MODULE_VERMAGIC();

#define module_init(fn) int init_module(void) __attribute__((alias(#fn)))
#define module_exit(fn) void cleanup_module(void) __attribute__((alias(#fn)))
#define __init
#define __exit

int _printk(const char *fmt, ...) __attribute__((regparm(0)));
#define printk _printk
#define pr_info(fmt, ...) _printk("\001" "6" fmt, ##__VA_ARGS__)
#define pr_err(fmt, ...) _printk("\001" "3" fmt, ##__VA_ARGS__)

void *__kmalloc(size_t size, gfp_t flags);
void kfree(const void *p);

typedef int irqreturn_t;
#define IRQ_NONE 0
#define IRQ_HANDLED 1
#define IRQF_SHARED 0x80u
typedef irqreturn_t (*irq_handler_t)(int, void *);
int request_threaded_irq(unsigned int irq, irq_handler_t handler, irq_handler_t thread_fn, unsigned long flags,
                         const char *name, void *dev);
static inline int request_irq(unsigned int irq, irq_handler_t handler, unsigned long flags, const char *name, void *dev)
{
	return request_threaded_irq(irq, handler, NULL, flags, name, dev);
}
const void *free_irq(unsigned int irq, void *dev);

/* MMIO accessors are inline in Linux: plain volatile loads and stores. */
static inline u32 readl(const volatile void *addr) { return *(const volatile u32 *)addr; }
static inline void writel(u32 value, volatile void *addr) { *(volatile u32 *)addr = value; }

#endif
