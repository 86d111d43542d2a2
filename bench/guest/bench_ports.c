/* Guest code for bench/bench_devices.py: a loop of port reads, run in the
 * sandbox (a Python device answers) and in bare Unicorn (a bare IN hook).
 * Self-contained so the benchmark does not depend on the kernel headers. */
static inline unsigned char inb(unsigned short port)
{
	unsigned char value;
	__asm__ __volatile__("inb %1, %0" : "=a"(value) : "Nd"(port));
	return value;
}

unsigned int in_loop(int n)
{
	unsigned int total = 0;
	for (int i = 0; i < n; i++)
		total += inb(0x300);
	return total;
}
