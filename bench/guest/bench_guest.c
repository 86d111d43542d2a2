/* Guest code for bench/bench_exec.py: the same bytes run in the sandbox and
 * in bare Unicorn. Self-contained (declares the one kernel service it uses)
 * so the benchmark does not depend on the sample drivers. */
typedef unsigned int size_t;
extern size_t ksize(const void *p);

unsigned int crc32_bitwise(const unsigned char *p, unsigned int n)
{
    unsigned int crc = 0xffffffffu;
    for (unsigned int i = 0; i < n; i++) {
        crc ^= p[i];
        for (int b = 0; b < 8; b++)
            crc = (crc >> 1) ^ (0xedb88320u & -(crc & 1));
    }
    return ~crc;
}

int call_service_loop(int n)
{
    int total = 0;
    for (int i = 0; i < n; i++)
        total += (int)ksize((const void *)0);
    return total;
}

int add(int a, int b)
{
    return a + b;
}

#ifdef NATIVE
/* Static native build: the physical upper limit for the CRC loop. */
static unsigned char buffer[16 << 20];
void _start(void)
{
    unsigned int r = crc32_bitwise(buffer, sizeof buffer);
    __asm__ volatile("int $0x80" : : "a"(1), "b"(r & 0x7f));
    for (;;) {}
}
size_t ksize(const void *p) { (void)p; return 0; }
#endif
