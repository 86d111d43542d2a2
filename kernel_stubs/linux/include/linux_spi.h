/* SPI for the project's Linux-profile drivers (drivers/linux/), Linux 6.1 i386.
 *
 * Not Linux's headers: the declarations an SPI device driver needs, with
 * Linux's names and prototypes and the i386 layout of the structs a driver
 * fills (offsets checked against the kernel's DWARF). Include
 * linux_module.h first.
 */
#ifndef SANDBOX_LINUX_SPI_H
#define SANDBOX_LINUX_SPI_H

#define SPI_LAYOUT_CHECK(t, m, n) _Static_assert(__builtin_offsetof(t, m) == n, #t "." #m)

struct list_head { struct list_head *next, *prev; };
static inline void INIT_LIST_HEAD(struct list_head *list) { list->next = list; list->prev = list; }
static inline void list_add_tail(struct list_head *entry, struct list_head *head)
{
	entry->prev = head->prev;
	entry->next = head;
	head->prev->next = entry;
	head->prev = entry;
}

struct spi_device {
	char dev[448];              /* struct device */
	void *controller, *master;
	u32 max_speed_hz;
	u8 chip_select, bits_per_word;
	u8 rt;
	u32 mode;
	int irq;
	void *controller_state, *controller_data;
	char modalias[32];
	char rest[540 - 512];
};
SPI_LAYOUT_CHECK(struct spi_device, mode, 464);
SPI_LAYOUT_CHECK(struct spi_device, modalias, 480);

struct spi_device_id { char name[32]; unsigned long driver_data; };
struct spi_driver {
	const struct spi_device_id *id_table;
	int (*probe)(struct spi_device *spi);
	void (*remove)(struct spi_device *spi);
	void (*shutdown)(struct spi_device *spi);
	struct { const char *name; char rest[72]; } driver;   /* struct device_driver */
};
SPI_LAYOUT_CHECK(struct spi_driver, driver, 16);

struct spi_delay { u16 value; u8 unit; };
struct spi_transfer {
	const void *tx_buf;
	void *rx_buf;
	unsigned int len;
	char dma_and_sg[44 - 12];
	unsigned dummy_data:1, cs_off:1, cs_change:1, tx_nbits:3, rx_nbits:3;
	u8 bits_per_word;
	struct spi_delay delay;
	struct spi_delay cs_change_delay;
	struct spi_delay word_delay;
	u32 speed_hz, effective_speed_hz;
	char ptp[84 - 68];
	struct list_head transfer_list;
	u16 error;
};
SPI_LAYOUT_CHECK(struct spi_transfer, bits_per_word, 46);
SPI_LAYOUT_CHECK(struct spi_transfer, delay, 48);
SPI_LAYOUT_CHECK(struct spi_transfer, transfer_list, 84);
_Static_assert(sizeof(struct spi_transfer) == 96, "struct spi_transfer");

struct spi_message {
	struct list_head transfers;
	struct spi_device *spi;
	unsigned is_dma_mapped:1;
	void (*complete)(void *context);
	void *context;
	unsigned int frame_length, actual_length;
	int status;
	char rest[60 - 36];
};
SPI_LAYOUT_CHECK(struct spi_message, status, 32);

static inline void spi_message_init(struct spi_message *m)
{
	__builtin_memset(m, 0, sizeof(*m));
	INIT_LIST_HEAD(&m->transfers);
}
static inline void spi_message_add_tail(struct spi_transfer *t, struct spi_message *m)
{
	list_add_tail(&t->transfer_list, &m->transfers);
}

int __spi_register_driver(void *owner, struct spi_driver *sdrv);
void driver_unregister(void *drv);
static inline void spi_unregister_driver(struct spi_driver *sdrv) { driver_unregister(&sdrv->driver); }
const struct spi_device_id *spi_get_device_id(const struct spi_device *sdev);
int spi_setup(struct spi_device *spi);
int spi_sync(struct spi_device *spi, struct spi_message *message);
int spi_async(struct spi_device *spi, struct spi_message *message);
int spi_write_then_read(struct spi_device *spi, const void *txbuf, unsigned int n_tx, void *rxbuf, unsigned int n_rx);

#endif
