/* portio: port I/O through real in/out instructions (kernel_stubs/include/io.h).
 * Nothing here prints; there is no init or exit. Ports are truncated to 16
 * bits and values to the access width, as the instructions do.
 *
 *   unsigned int pio_in8(unsigned int port)              inb
 *   unsigned int pio_in16(unsigned int port)             inw
 *   unsigned int pio_in32(unsigned int port)             inl
 *   void pio_out8(unsigned int port, unsigned int v)     outb(v, port)
 *   void pio_out16(unsigned int port, unsigned int v)    outw(v, port)
 *   void pio_out32(unsigned int port, unsigned int v)    outl(v, port)
 *   unsigned int pio_sum_rep(unsigned int port, int n)
 *       rep insb of n bytes (clamped to 0..PIO_REP_MAX) into a local buffer,
 *       returns the sum of the bytes read
 *   void pio_out_rep(unsigned int port, unsigned int first, int n)
 *       rep outsb of the n bytes first, first+1, ... (clamped likewise)
 */
#include <kernel.h>

#define PIO_REP_MAX 256

unsigned int pio_in8(unsigned int port)
{
	return inb((u16)port);
}
EXPORT_SYMBOL(pio_in8);

unsigned int pio_in16(unsigned int port)
{
	return inw((u16)port);
}
EXPORT_SYMBOL(pio_in16);

unsigned int pio_in32(unsigned int port)
{
	return inl((u16)port);
}
EXPORT_SYMBOL(pio_in32);

void pio_out8(unsigned int port, unsigned int v)
{
	outb((u8)v, (u16)port);
}
EXPORT_SYMBOL(pio_out8);

void pio_out16(unsigned int port, unsigned int v)
{
	outw((u16)v, (u16)port);
}
EXPORT_SYMBOL(pio_out16);

void pio_out32(unsigned int port, unsigned int v)
{
	outl(v, (u16)port);
}
EXPORT_SYMBOL(pio_out32);

static int clamp_count(int n)
{
	if (n < 0)
		return 0;
	return n > PIO_REP_MAX ? PIO_REP_MAX : n;
}

unsigned int pio_sum_rep(unsigned int port, int n)
{
	u8 buf[PIO_REP_MAX];
	unsigned int sum = 0;
	int i;

	n = clamp_count(n);
	insb((u16)port, buf, n);
	for (i = 0; i < n; i++)
		sum += buf[i];
	return sum;
}
EXPORT_SYMBOL(pio_sum_rep);

void pio_out_rep(unsigned int port, unsigned int first, int n)
{
	u8 buf[PIO_REP_MAX];
	int i;

	n = clamp_count(n);
	for (i = 0; i < n; i++)
		buf[i] = (u8)(first + i);
	outsb((u16)port, buf, n);
}
EXPORT_SYMBOL(pio_out_rep);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("module-sandbox");
MODULE_DESCRIPTION("Port I/O through in/out instructions");
