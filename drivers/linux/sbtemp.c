/* sbtemp: an I2C temperature sensor driver written against Linux 6.1 i386's
 * i2c, SMBus, regmap and hwmon interfaces (-mregparm=3, as the kernel is built).
 *
 * It binds to clients named "sbtemp" (an LM75-style chip: an 8-bit pointer,
 * 16-bit registers sent MSB first, temperature at 0 in 1/256 degree units,
 * an 8-bit configuration at 1, the high limit at 3). Probe clears the
 * shutdown bit over SMBus, makes a regmap (temperature volatile, the rest
 * cached) and registers hwmon temp1_input and temp1_max. Console on probe:
 *   "sbtemp 0-0048: sensor at 0x48, config 0xNN"
 * The exported sbtemp_* functions let a test drive the other paths.
 */
#include "linux_module.h"
#include "linux_i2c.h"
struct sbtemp { struct i2c_client *client; struct regmap *map; int config; };
static struct sbtemp *the_sensor;
static int removed;

static int is_volatile(struct device *dev __attribute__((unused)), unsigned int reg) { return reg == 0; }

static const struct regmap_config sbtemp_regmap = {
	.reg_bits = 8, .val_bits = 16, .volatile_reg = is_volatile, .max_register = 3,
	.cache_type = REGCACHE_RBTREE, .val_format_endian = REGMAP_ENDIAN_BIG,
};

static long to_millidegrees(unsigned int raw) { return ((long)(short)raw * 1000) / 256; }

static u16 visible(const void *data, int type, u32 attr, int channel)
{
	(void)data, (void)channel;
	if (type != hwmon_temp)
		return 0;
	return attr == hwmon_temp_max ? 0644 : 0444;
}

static int read(struct device *dev, int type, u32 attr, int channel, long *val)
{
	struct sbtemp *sensor = dev->driver_data;
	unsigned int raw;
	int err = regmap_read(sensor->map, attr == hwmon_temp_max ? 3 : 0, &raw);

	(void)type, (void)channel;
	if (err)
		return err;
	*val = to_millidegrees(raw);
	return 0;
}

static int write(struct device *dev, int type, u32 attr, int channel, long val)
{
	struct sbtemp *sensor = dev->driver_data;

	(void)type, (void)attr, (void)channel;
	return regmap_write(sensor->map, 3, (unsigned int)((val * 256) / 1000) & 0xFF80);
}

static const struct hwmon_ops ops = { .is_visible = visible, .read = read, .write = write };
static const u32 temp_config[] = { (1 << hwmon_temp_input) | (1 << hwmon_temp_max), 0 };
static const struct hwmon_channel_info temp_channel = { .type = hwmon_temp, .config = temp_config };
static const struct hwmon_channel_info *channels[] = { &temp_channel, NULL };
static const struct hwmon_chip_info chip_info = { .ops = &ops, .info = channels };

static int probe(struct i2c_client *client)
{
	struct sbtemp *sensor = devm_kmalloc(&client->dev, sizeof(*sensor), 0xcc0 | 0x100);
	struct device *hwmon;
	int config;

	if (!sensor)
		return -12;
	config = i2c_smbus_read_byte_data(client, 1);
	if (config < 0)
		return config;
	if (config & 1) {                                    /* in shutdown: start converting */
		int err = i2c_smbus_write_byte_data(client, 1, config & ~1);
		if (err)
			return err;
	}
	sensor->client = client;
	sensor->config = config;
	sensor->map = __devm_regmap_init_i2c(client, &sbtemp_regmap, NULL, "sbtemp");
	if (IS_ERR(sensor->map))
		return PTR_ERR(sensor->map);
	client->dev.driver_data = sensor;
	hwmon = devm_hwmon_device_register_with_info(&client->dev, client->name, sensor, &chip_info, NULL);
	if (IS_ERR(hwmon))
		return PTR_ERR(hwmon);
	the_sensor = sensor;
	_dev_info(&client->dev, "sensor at 0x%02x, config 0x%02x\n", client->addr, config);
	return 0;
}

static void remove(struct i2c_client *client)
{
	(void)client;
	removed++;
	the_sensor = NULL;
}

/* -- entry points for tests ------------------------------------------------------------- */

int sbtemp_removed(void) { return removed; }

/* SMBus word read of the temperature register: LSB first on the wire, so byte-swapped. */
int sbtemp_smbus_word(void) { return the_sensor ? i2c_smbus_read_word_data(the_sensor->client, 0) : -19; }

/* Write the pointer, repeated START, read two bytes: one i2c_transfer of two messages. */
int sbtemp_transfer(void)
{
	u8 reg = 0, data[2] = { 0, 0 };
	struct i2c_msg msgs[2] = {
		{ the_sensor->client->addr, 0, 1, &reg },
		{ the_sensor->client->addr, I2C_M_RD, 2, data },
	};
	int n = i2c_transfer(the_sensor->client->adapter, msgs, 2);

	return n < 0 ? n : n * 0x10000 + (data[0] << 8 | data[1]);
}

/* i2c_master_recv of three bytes with no pointer written: the chip goes on from where it is. */
int sbtemp_recv3(unsigned char *out) { return i2c_transfer_buffer_flags(the_sensor->client, (char *)out, 3, I2C_M_RD); }

/* An SMBus byte read from a second address of the adapter, through a dummy client. */
int sbtemp_read_other(u16 address, u8 command)
{
	struct i2c_client *other = i2c_new_dummy_device(the_sensor->client->adapter, address);
	int value;

	if (IS_ERR(other))
		return PTR_ERR(other);
	value = i2c_smbus_read_byte_data(other, command);
	i2c_unregister_device(other);
	return value;
}

int sbtemp_block(u8 command, u8 length, u8 *out)
{
	return i2c_smbus_read_i2c_block_data(the_sensor->client, command, length, out);
}

int sbtemp_regmap_read(unsigned int reg)
{
	unsigned int value;
	int err = regmap_read(the_sensor->map, reg, &value);

	return err ? err : (int)value;
}

int sbtemp_regmap_write(unsigned int reg, unsigned int value) { return regmap_write(the_sensor->map, reg, value); }

int sbtemp_update_bits(unsigned int reg, unsigned int mask, unsigned int value)
{
	_Bool change = 0;
	int err = regmap_update_bits_base(the_sensor->map, reg, mask, value, &change, 0, 0);

	return err ? err : change;
}

int sbtemp_bulk(unsigned int reg, u16 *values, unsigned int count)
{
	return regmap_bulk_read(the_sensor->map, reg, values, count);
}

static const struct i2c_device_id ids[] = { { "sbtemp", 0 }, { "", 0 } };
static struct i2c_driver driver = {
	.driver = { .name = "sbtemp" }, .probe_new = probe, .remove = remove, .id_table = ids,
};

static int __init sbtemp_init(void) { return i2c_register_driver(NULL, &driver); }
static void __exit sbtemp_exit(void) { i2c_del_driver(&driver); }
module_init(sbtemp_init);
module_exit(sbtemp_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("sandbox I2C temperature sensor");
