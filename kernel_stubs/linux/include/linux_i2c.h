/* I2C, SMBus, regmap and hwmon for the project's Linux-profile drivers (drivers/linux/), Linux 6.1 i386.
 *
 * Not Linux's headers: the declarations a sensor driver needs, with Linux's
 * names and prototypes, and the i386 layout of the structs a driver fills
 * or reads (checked against the kernel's DWARF offsets below). Include
 * linux_module.h first.
 */
#ifndef SANDBOX_LINUX_I2C_H
#define SANDBOX_LINUX_I2C_H

#define offsetof(t, m) __builtin_offsetof(t, m)
#define LAYOUT_CHECK(t, m, n) _Static_assert(offsetof(t, m) == n, #t "." #m)

#ifndef SANDBOX_STRUCT_DEVICE
#define SANDBOX_STRUCT_DEVICE
struct device { char before_driver_data[64]; void *driver_data; char rest[448 - 68]; };
#endif
struct i2c_client { u16 flags; u16 addr; char name[20]; void *adapter; struct device dev; char rest[496 - 476]; };
LAYOUT_CHECK(struct i2c_client, dev, 28);
struct device_driver { const char *name; char rest[72]; };
struct i2c_device_id { char name[20]; unsigned long driver_data; };
struct i2c_driver {
	unsigned int class_;
	int (*probe)(struct i2c_client *, const struct i2c_device_id *);
	void (*remove)(struct i2c_client *);
	int (*probe_new)(struct i2c_client *);
	char callbacks[28 - 16];
	struct device_driver driver;
	const struct i2c_device_id *id_table;
	char rest[128 - 108];
};
LAYOUT_CHECK(struct i2c_driver, driver, 28);
LAYOUT_CHECK(struct i2c_driver, id_table, 104);
struct i2c_msg { u16 addr; u16 flags; u16 len; u8 *buf; };
struct regmap_config {
	const char *name; int reg_bits, reg_stride, reg_downshift; unsigned int reg_base; int pad_bits, val_bits;
	void *writeable_reg, *readable_reg;
	int (*volatile_reg)(struct device *dev, unsigned int reg);
	char middle[100 - 40];
	unsigned int max_register;
	char middle2[136 - 104];
	int cache_type;
	char middle3[168 - 140];
	int val_format_endian;
	char rest[196 - 172];
};
LAYOUT_CHECK(struct regmap_config, val_bits, 24);
LAYOUT_CHECK(struct regmap_config, volatile_reg, 36);
LAYOUT_CHECK(struct regmap_config, max_register, 100);
LAYOUT_CHECK(struct regmap_config, cache_type, 136);
LAYOUT_CHECK(struct regmap_config, val_format_endian, 168);
struct hwmon_ops {
	u16 (*is_visible)(const void *data, int type, u32 attr, int channel);
	int (*read)(struct device *dev, int type, u32 attr, int channel, long *val);
	void *read_string;
	int (*write)(struct device *dev, int type, u32 attr, int channel, long val);
};
struct hwmon_channel_info { int type; const u32 *config; };
struct hwmon_chip_info { const struct hwmon_ops *ops; const struct hwmon_channel_info **info; };
struct regmap;
#define I2C_M_RD 0x0001
#define REGCACHE_RBTREE 1
#define REGMAP_ENDIAN_BIG 1
#define IS_ERR(p) ((unsigned long)(p) >= (unsigned long)-4095)
#define PTR_ERR(p) ((long)(p))
enum hwmon_sensor_types { hwmon_chip, hwmon_temp };
enum hwmon_temp_attributes { hwmon_temp_input = 1, hwmon_temp_max = 7 };

int i2c_register_driver(void *owner, struct i2c_driver *drv);
void i2c_del_driver(struct i2c_driver *drv);
int i2c_smbus_read_byte_data(const struct i2c_client *client, u8 command);
int i2c_smbus_write_byte_data(const struct i2c_client *client, u8 command, u8 value);
int i2c_smbus_read_word_data(const struct i2c_client *client, u8 command);
int i2c_smbus_read_i2c_block_data(const struct i2c_client *client, u8 command, u8 length, u8 *values);
int i2c_transfer(void *adap, struct i2c_msg *msgs, int num);
int i2c_transfer_buffer_flags(const struct i2c_client *client, char *buf, int count, u16 flags);
struct i2c_client *i2c_new_dummy_device(void *adapter, u16 address);
void i2c_unregister_device(struct i2c_client *client);
struct regmap *__devm_regmap_init_i2c(struct i2c_client *i2c, const struct regmap_config *config,
					     void *key, const char *name);
int regmap_read(struct regmap *map, unsigned int reg, unsigned int *val);
int regmap_write(struct regmap *map, unsigned int reg, unsigned int val);
int regmap_update_bits_base(struct regmap *map, unsigned int reg, unsigned int mask, unsigned int val,
				   _Bool *change, _Bool async, _Bool force);
int regmap_bulk_read(struct regmap *map, unsigned int reg, void *val, unsigned int count);
void *devm_kmalloc(struct device *dev, unsigned int size, unsigned int gfp);
struct device *devm_hwmon_device_register_with_info(struct device *dev, const char *name, void *drvdata,
							   const struct hwmon_chip_info *info, const void **groups);
void _dev_info(const struct device *dev, const char *fmt, ...) __attribute__((regparm(0)));

#endif
