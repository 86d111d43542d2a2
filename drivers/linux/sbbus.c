/* sbbus: an I2C bus driver (an adapter of a module's own) against Linux 6.1 i386's i2c core.
 *
 * Its master_xfer answers one pretend chip at 0x50, a 256-byte memory with a
 * one-byte address pointer (writes: pointer, then data; reads: from the
 * pointer on), NACKs every other address with -ENXIO, and counts what it
 * carried. init registers adapter number "nr" (a parameter-free static: 3,
 * or -1 for the next free one with i2c_add_adapter); exit deletes it.
 */
#include "linux_module.h"
#include "linux_i2c.h"

static u8 memory[256], pointer;
int transfers, messages, last_flags;
int requested_nr = 3;

static int xfer(struct i2c_adapter *adap, struct i2c_msg *msgs, int num)
{
	(void)adap;
	transfers++;
	for (int i = 0; i < num; i++) {
		struct i2c_msg *m = &msgs[i];

		messages++;
		last_flags = m->flags;
		if (m->addr != 0x50)
			return -6;                             /* -ENXIO: nobody acknowledged */
		if (m->flags & I2C_M_RD) {
			for (int j = 0; j < m->len; j++)
				m->buf[j] = memory[pointer++];
		} else if (m->len) {
			pointer = m->buf[0];
			for (int j = 1; j < m->len; j++)
				memory[pointer++] = m->buf[j];
		}
	}
	return num;
}

static u32 functionality(struct i2c_adapter *adap)
{
	(void)adap;
	return I2C_FUNC_I2C | I2C_FUNC_SMBUS_EMUL;
}

static const struct i2c_algorithm algo = { .master_xfer = xfer, .functionality = functionality };
static struct i2c_adapter adapter = { .algo = &algo, .name = "sbbus", .retries = 2 };

int sbbus_memory(int offset) { return memory[offset & 0xFF]; }

static int __init sbbus_init(void)
{
	adapter.nr = requested_nr;
	return requested_nr < 0 ? i2c_add_adapter(&adapter) : i2c_add_numbered_adapter(&adapter);
}
static void __exit sbbus_exit(void) { i2c_del_adapter(&adapter); }
module_init(sbbus_init);
module_exit(sbbus_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("sandbox I2C bus driver");
