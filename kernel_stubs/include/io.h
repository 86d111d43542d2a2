/* Port I/O as real in/out instructions (Linux argument order: value, port),
 * and MMIO accessors. Inline, not kernel services: the sandbox sees the
 * instructions themselves. No _p (pause) variants and no io_delay. */
#ifndef _SANDBOX_IO_H
#define _SANDBOX_IO_H

#include "compiler.h"
#include "types.h"

#define __iomem

/* Device memory: ioremap gives the virtual address of a device's MMIO
 * window (the sandbox maps windows at their physical address), and the
 * accessors are single volatile loads and stores of the stated width. */
KAPI void __iomem *ioremap(unsigned long phys_addr, unsigned long size);
KAPI void iounmap(volatile void __iomem *addr);

static inline u8 readb(const volatile void __iomem *addr)
{
	return *(const volatile u8 *)addr;
}

static inline u16 readw(const volatile void __iomem *addr)
{
	return *(const volatile u16 *)addr;
}

static inline u32 readl(const volatile void __iomem *addr)
{
	return *(const volatile u32 *)addr;
}

static inline void writeb(u8 value, volatile void __iomem *addr)
{
	*(volatile u8 *)addr = value;
}

static inline void writew(u16 value, volatile void __iomem *addr)
{
	*(volatile u16 *)addr = value;
}

static inline void writel(u32 value, volatile void __iomem *addr)
{
	*(volatile u32 *)addr = value;
}

static inline u8 inb(u16 port)
{
	u8 value;
	__asm__ __volatile__("inb %1, %0" : "=a"(value) : "Nd"(port));
	return value;
}

static inline u16 inw(u16 port)
{
	u16 value;
	__asm__ __volatile__("inw %1, %0" : "=a"(value) : "Nd"(port));
	return value;
}

static inline u32 inl(u16 port)
{
	u32 value;
	__asm__ __volatile__("inl %1, %0" : "=a"(value) : "Nd"(port));
	return value;
}

static inline void outb(u8 value, u16 port)
{
	__asm__ __volatile__("outb %0, %1" : : "a"(value), "Nd"(port));
}

static inline void outw(u16 value, u16 port)
{
	__asm__ __volatile__("outw %0, %1" : : "a"(value), "Nd"(port));
}

static inline void outl(u32 value, u16 port)
{
	__asm__ __volatile__("outl %0, %1" : : "a"(value), "Nd"(port));
}

static inline void insb(u16 port, void *buf, unsigned long count)
{
	__asm__ __volatile__("rep insb" : "+D"(buf), "+c"(count) : "d"(port) : "memory");
}

static inline void insw(u16 port, void *buf, unsigned long count)
{
	__asm__ __volatile__("rep insw" : "+D"(buf), "+c"(count) : "d"(port) : "memory");
}

static inline void insl(u16 port, void *buf, unsigned long count)
{
	__asm__ __volatile__("rep insl" : "+D"(buf), "+c"(count) : "d"(port) : "memory");
}

static inline void outsb(u16 port, const void *buf, unsigned long count)
{
	__asm__ __volatile__("rep outsb" : "+S"(buf), "+c"(count) : "d"(port) : "memory");
}

static inline void outsw(u16 port, const void *buf, unsigned long count)
{
	__asm__ __volatile__("rep outsw" : "+S"(buf), "+c"(count) : "d"(port) : "memory");
}

static inline void outsl(u16 port, const void *buf, unsigned long count)
{
	__asm__ __volatile__("rep outsl" : "+S"(buf), "+c"(count) : "d"(port) : "memory");
}

#endif
