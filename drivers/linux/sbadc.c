/* sbadc: an SPI ADC driver against Linux 6.1 i386's SPI interfaces.
 *
 * The chip (a Python model in the tests) takes a command byte 0x80 | channel
 * and answers with the 12-bit conversion in the next two bytes, MSB first.
 * The driver binds to devices named "sbadc4" or "sbadc8" (the id's
 * driver_data is the channel count), sets mode 0 and 8-bit words with
 * spi_setup, reads channel 0 at probe (spi_write_then_read) and logs
 *   "sbadc spi0.1: 4 channels, channel 0 reads NNNN"
 * The exported sbadc_* functions drive spi_sync with several transfers,
 * cs_change, 16-bit words and spi_async for the tests.
 */
#include "linux_module.h"
#include "linux_spi.h"

void _dev_info(const void *dev, const char *fmt, ...) __attribute__((regparm(0)));

static struct spi_device *the_spi;
int channels, removed, completions;

static int read_channel(struct spi_device *spi, int channel)
{
	u8 command = 0x80 | channel, rx[2];
	int err = spi_write_then_read(spi, &command, 1, rx, 2);

	return err ? err : (rx[0] << 8 | rx[1]) & 0xFFF;
}

static int probe(struct spi_device *spi)
{
	const struct spi_device_id *id = spi_get_device_id(spi);
	int err, value;

	spi->mode = 0;
	spi->bits_per_word = 8;
	err = spi_setup(spi);
	if (err)
		return err;
	channels = id ? (int)id->driver_data : 0;
	value = read_channel(spi, 0);
	if (value < 0)
		return value;
	the_spi = spi;
	_dev_info(spi->dev, "%d channels, channel 0 reads %d\n", channels, value);
	return 0;
}

static void remove(struct spi_device *spi)
{
	(void)spi;
	removed++;
	the_spi = NULL;
}

int sbadc_read(int channel) { return the_spi ? read_channel(the_spi, channel) : -ENODEV; }

/* Two conversions in one message: the select pulses between them (cs_change). */
int sbadc_pair(int first, int second)
{
	u8 tx[2][3] = { { 0x80 | first, 0, 0 }, { 0x80 | second, 0, 0 } }, rx[2][3];
	struct spi_transfer t[2] = { { .tx_buf = tx[0], .rx_buf = rx[0], .len = 3, .cs_change = 1 },
				     { .tx_buf = tx[1], .rx_buf = rx[1], .len = 3 } };
	struct spi_message m;
	int err;

	spi_message_init(&m);
	spi_message_add_tail(&t[0], &m);
	spi_message_add_tail(&t[1], &m);
	err = spi_sync(the_spi, &m);
	if (err)
		return err;
	return ((rx[0][1] << 8 | rx[0][2]) & 0xFFF) << 16 | ((rx[1][1] << 8 | rx[1][2]) & 0xFFF);
}

/* The same exchange in 16-bit words: the buffer holds CPU-order words, the wire MSB first. */
int sbadc_read16(int channel)
{
	u16 tx[2] = { (u16)((0x80 | channel) << 8), 0 }, rx[2] = { 0, 0 };
	struct spi_transfer t = { .tx_buf = tx, .rx_buf = rx, .len = 4, .bits_per_word = 16 };
	struct spi_message m;
	int err;

	spi_message_init(&m);
	spi_message_add_tail(&t, &m);
	err = spi_sync(the_spi, &m);
	return err ? err : ((rx[0] & 0xFF) << 8 | rx[1] >> 8) & 0xFFF;
}

int sbadc_actual_length;
static void done(void *context) { completions += *(int *)context; }

int sbadc_async(void)
{
	static u8 tx[3] = { 0x80, 0, 0 }, rx[3];
	static struct spi_transfer t = { .tx_buf = tx, .rx_buf = rx, .len = 3 };
	static struct spi_message m;
	static int one = 1;
	int err;

	spi_message_init(&m);
	spi_message_add_tail(&t, &m);
	m.complete = done;
	m.context = &one;
	err = spi_async(the_spi, &m);
	sbadc_actual_length = m.actual_length;
	return err ? err : m.status;
}

static const struct spi_device_id ids[] = { { "sbadc4", 4 }, { "sbadc8", 8 }, { "", 0 } };
static struct spi_driver driver = { .id_table = ids, .probe = probe, .remove = remove, .driver = { .name = "sbadc" } };

static int __init sbadc_init(void) { return __spi_register_driver(NULL, &driver); }
static void __exit sbadc_exit(void) { spi_unregister_driver(&driver); }
module_init(sbadc_init);
module_exit(sbadc_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("sandbox SPI ADC");
