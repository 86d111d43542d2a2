/* netdemo: a Linux 6.1 i386 Ethernet driver for a frame-FIFO NIC, built by gcc and clang (-mregparm=3).
 *
 * The card (tests/test_linux_net.py models it) has 32-bit ports at NETDEMO_IO:
 *   +0  DATA     write: the next 4 bytes of the frame being sent; read: the next 4 bytes received
 *   +4  TXLEN    write: send the frame written so far, this many bytes long
 *   +8  STATUS   read: RX_READY, TX_DONE, TX_FULL; write: acknowledge those bits
 *   +12 RXLEN    read: length of the frame at the head of the receive FIFO
 *   +16 RXPOP    write: drop the head frame
 *   +20 IMR      write: which STATUS bits interrupt (IRQ NETDEMO_IRQ)
 *   +24 PROMISC  write: 1 to accept every frame
 *   +28 MAC      write: the next byte of the station address (6 writes after a reset of the pointer)
 *
 * It uses what a real NIC driver does: alloc_etherdev_mqs, netdev_priv, register_netdev, the
 * ndo_* callbacks, NAPI (the IRQ handler schedules, the poll receives up to its budget and
 * completes), skbs (napi_alloc_skb, skb_put, eth_type_trans, napi_gro_receive, dev_consume_skb_any),
 * queue control (stop when the card's FIFO is full, wake on TX_DONE), the carrier, ethtool helpers,
 * the netdev_* printk family, and a transmit timeout that resets the card.
 * The struct offsets below are Linux 6.1 i386's (the test checks them against the DWARF table).
 */
typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;
typedef unsigned int size_t;

/* struct net_device */
#define ND_NAME 0
#define ND_BASE_ADDR 32
#define ND_STATE 36
#define ND_FLAGS 104
#define ND_NETDEV_OPS 116
#define ND_STATS 208
#define ND_ETHTOOL_OPS 320
#define ND_IRQ 396
#define ND_DEV_ADDR 500
#define ND_TX 640
#define ND_WATCHDOG_TIMEO 768
#define ND_SIZE 1536
/* struct net_device_stats (unsigned long counters) */
#define ST_RX_PACKETS 0
#define ST_TX_PACKETS 4
#define ST_RX_BYTES 8
#define ST_TX_BYTES 12
#define ST_RX_ERRORS 16
#define ST_TX_DROPPED 28
/* struct netdev_queue, struct sk_buff, struct napi_struct, struct net_device_ops, struct ethtool_ops */
#define TXQ_STATE 76
#define SKB_LEN 84
#define SKB_PROTOCOL 152
#define SKB_TAIL 160
#define SKB_END 164
#define SKB_HEAD 168
#define SKB_DATA 172
#define NAPI_SIZE 212
#define NDO_OPEN 8
#define NDO_STOP 12
#define NDO_START_XMIT 16
#define NDO_SET_RX_MODE 32
#define NDO_SET_MAC_ADDRESS 36
#define NDO_VALIDATE_ADDR 40
#define NDO_TX_TIMEOUT 76
#define NDO_SIZE 344
#define ETO_GET_LINK 44
#define ETO_GET_TS_INFO 188
#define ETO_SIZE 284

#define NETDEMO_IO 0x340
#define NETDEMO_IRQ 5
#define DATA 0
#define TXLEN 4
#define STATUS 8
#define RXLEN 12
#define RXPOP 16
#define IMR 20
#define PROMISC 24
#define MAC 28
#define RX_READY 1
#define TX_DONE 2
#define TX_FULL 4
#define IFF_PROMISC 0x100
#define GFP_ATOMIC 0x820
#define NAPI_WEIGHT 16
#define HZ 250

#define FIELD(type, base, off) (*(type *)((char *)(base) + (off)))
#define STAT(dev, off) FIELD(unsigned long, dev, ND_STATS + (off))

struct net_device;
struct sk_buff;
struct napi_struct;
typedef int irqreturn_t;

extern struct net_device *alloc_etherdev_mqs(int sizeof_priv, unsigned int txqs, unsigned int rxqs);
extern void free_netdev(struct net_device *dev);
extern int register_netdev(struct net_device *dev);
extern void unregister_netdev(struct net_device *dev);
extern void dev_addr_mod(struct net_device *dev, unsigned int offset, const void *addr, size_t len);
extern int eth_mac_addr(struct net_device *dev, void *p);
extern int eth_validate_addr(struct net_device *dev);
extern unsigned short eth_type_trans(struct sk_buff *skb, struct net_device *dev);
extern void netif_carrier_on(struct net_device *dev);
extern void netif_carrier_off(struct net_device *dev);
extern void netif_tx_wake_queue(void *txq);
extern void netif_napi_add_weight(struct net_device *dev, struct napi_struct *napi,
				  int (*poll)(struct napi_struct *, int), int weight);
extern void __netif_napi_del(struct napi_struct *napi);
extern void napi_enable(struct napi_struct *n);
extern void napi_disable(struct napi_struct *n);
extern _Bool napi_schedule_prep(struct napi_struct *n);
extern void __napi_schedule(struct napi_struct *n);
extern _Bool napi_complete_done(struct napi_struct *n, int work_done);
extern int napi_gro_receive(struct napi_struct *napi, struct sk_buff *skb);
extern struct sk_buff *__napi_alloc_skb(struct napi_struct *napi, unsigned int len, unsigned int gfp);
extern struct sk_buff *__alloc_skb(unsigned int size, unsigned int gfp, int flags, int node);
extern void *skb_put(struct sk_buff *skb, unsigned int len);
extern void *skb_push(struct sk_buff *skb, unsigned int len);
extern void *skb_pull(struct sk_buff *skb, unsigned int len);
extern void skb_trim(struct sk_buff *skb, unsigned int len);
extern int skb_copy_bits(const struct sk_buff *skb, int offset, void *to, int len);
extern struct sk_buff *skb_clone(struct sk_buff *skb, unsigned int gfp);
extern struct sk_buff *skb_copy_expand(const struct sk_buff *skb, int newheadroom, int newtailroom, unsigned int gfp);
extern void skb_queue_tail(void *list, struct sk_buff *skb);
extern struct sk_buff *skb_dequeue(void *list);
extern void skb_queue_purge(void *list);
extern void consume_skb(struct sk_buff *skb);
extern void kfree_skb_reason(struct sk_buff *skb, int reason);
extern void __dev_kfree_skb_any(struct sk_buff *skb, int reason);
extern u32 ethtool_op_get_link(struct net_device *dev);
extern int ethtool_op_get_ts_info(struct net_device *dev, void *info);
extern int request_threaded_irq(unsigned int irq, irqreturn_t (*handler)(int, void *), void *thread_fn,
				unsigned long flags, const char *name, void *dev_id);
extern const void *free_irq(unsigned int irq, void *dev_id);
extern void netdev_info(const struct net_device *dev, const char *fmt, ...);
extern void netdev_warn(const struct net_device *dev, const char *fmt, ...);
extern void netdev_err(const struct net_device *dev, const char *fmt, ...);
extern void *memset(void *s, int c, size_t n);

static inline void outl(u32 v, u16 port) { __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port)); }
static inline u32 inl(u16 port) { u32 v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline void outb(u8 v, u16 port) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }

struct netdemo_priv {
	char napi[NAPI_SIZE];   /* struct napi_struct */
	struct net_device *dev;
	u32 io;
	u32 polls;
	u32 rx_mode_calls;
	u32 timeouts;
};

static struct net_device *netdemo_dev;
static char netdemo_ops[NDO_SIZE];      /* struct net_device_ops, filled in at init */
static char netdemo_ethtool_ops[ETO_SIZE];
static const u8 netdemo_mac[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x42 };

static struct netdemo_priv *priv_of(struct net_device *dev) { return (void *)((char *)dev + ND_SIZE); }
static void *txq0(struct net_device *dev) { return FIELD(void *, dev, ND_TX); }
static void stop_queue(struct net_device *dev) { FIELD(unsigned long, txq0(dev), TXQ_STATE) |= 1; }
static void start_queue(struct net_device *dev) { FIELD(unsigned long, txq0(dev), TXQ_STATE) &= ~1ul; }
static struct napi_struct *napi_of(struct netdemo_priv *p) { return (struct napi_struct *)p->napi; }

static void load_mac(struct netdemo_priv *p, const u8 *mac)
{
	int i;

	outl(0xFFFFFFFF, p->io + MAC);  /* rewind the address pointer */
	for (i = 0; i < 6; i++)
		outb(mac[i], p->io + MAC);
}

static irqreturn_t netdemo_interrupt(int irq, void *dev_id)
{
	struct net_device *dev = dev_id;
	struct netdemo_priv *p = priv_of(dev);
	u32 status = inl(p->io + STATUS);

	(void)irq;
	if (!status)
		return 0;                               /* IRQ_NONE: not ours */
	outl(status & TX_DONE, p->io + STATUS);
	if (status & RX_READY) {
		outl(TX_DONE, p->io + IMR);             /* receive interrupts off until the poll is done */
		if (napi_schedule_prep(napi_of(p)))
			__napi_schedule(napi_of(p));
	}
	if (status & TX_DONE)
		netif_tx_wake_queue(txq0(dev));
	return 1;                                       /* IRQ_HANDLED */
}

static int netdemo_poll(struct napi_struct *napi, int budget)
{
	struct netdemo_priv *p = (struct netdemo_priv *)napi;
	struct net_device *dev = p->dev;
	int work = 0;

	p->polls++;
	while (work < budget && (inl(p->io + STATUS) & RX_READY)) {
		u32 len = inl(p->io + RXLEN), i;
		struct sk_buff *skb = __napi_alloc_skb(napi, len, GFP_ATOMIC);
		u32 *to;

		if (!skb) {
			STAT(dev, ST_RX_ERRORS)++;
			outl(1, p->io + RXPOP);
			continue;
		}
		to = skb_put(skb, len);
		for (i = 0; i < (len + 3) / 4; i++) {
			u32 word = inl(p->io + DATA);
			u32 left = len - 4 * i;
			if (left >= 4)
				to[i] = word;
			else
				__builtin_memcpy((char *)to + 4 * i, &word, left);
		}
		outl(1, p->io + RXPOP);
		FIELD(u16, skb, SKB_PROTOCOL) = eth_type_trans(skb, dev);
		STAT(dev, ST_RX_PACKETS)++;
		STAT(dev, ST_RX_BYTES) += len;
		napi_gro_receive(napi, skb);
		work++;
	}
	if (work < budget && napi_complete_done(napi, work))
		outl(RX_READY | TX_DONE, p->io + IMR);
	return work;
}

static int netdemo_open(struct net_device *dev)
{
	struct netdemo_priv *p = priv_of(dev);
	int err = request_threaded_irq(NETDEMO_IRQ, netdemo_interrupt, 0, 0, (const char *)dev + ND_NAME, dev);

	if (err) {
		netdev_err(dev, "cannot get IRQ %d: %d\n", NETDEMO_IRQ, err);
		return err;
	}
	napi_enable(napi_of(p));
	outl(RX_READY | TX_DONE, p->io + IMR);
	netif_carrier_on(dev);
	start_queue(dev);
	netdev_info(dev, "link up\n");
	return 0;
}

static int netdemo_stop(struct net_device *dev)
{
	struct netdemo_priv *p = priv_of(dev);

	stop_queue(dev);
	outl(0, p->io + IMR);
	napi_disable(napi_of(p));
	free_irq(NETDEMO_IRQ, dev);
	netif_carrier_off(dev);
	return 0;
}

static int netdemo_start_xmit(struct sk_buff *skb, struct net_device *dev)
{
	struct netdemo_priv *p = priv_of(dev);
	u32 len = FIELD(u32, skb, SKB_LEN), i;
	const u8 *data = FIELD(u8 *, skb, SKB_DATA);

	if (len > 1514) {
		STAT(dev, ST_TX_DROPPED)++;
		kfree_skb_reason(skb, 2);
		return 0;
	}
	for (i = 0; i < len; i += 4) {
		u32 word = 0;
		__builtin_memcpy(&word, data + i, len - i < 4 ? len - i : 4);
		outl(word, p->io + DATA);
	}
	outl(len, p->io + TXLEN);
	STAT(dev, ST_TX_PACKETS)++;
	STAT(dev, ST_TX_BYTES) += len;
	if (inl(p->io + STATUS) & TX_FULL)
		stop_queue(dev);                        /* woken by the TX_DONE interrupt */
	__dev_kfree_skb_any(skb, 0);                    /* dev_consume_skb_any */
	return 0;                                       /* NETDEV_TX_OK */
}

static void netdemo_set_rx_mode(struct net_device *dev)
{
	struct netdemo_priv *p = priv_of(dev);

	p->rx_mode_calls++;
	outl(FIELD(u32, dev, ND_FLAGS) & IFF_PROMISC ? 1 : 0, p->io + PROMISC);
}

static int netdemo_set_mac_address(struct net_device *dev, void *addr)
{
	int err = eth_mac_addr(dev, addr);

	if (!err)
		load_mac(priv_of(dev), FIELD(u8 *, dev, ND_DEV_ADDR));
	return err;
}

static void netdemo_tx_timeout(struct net_device *dev, unsigned int txqueue)
{
	struct netdemo_priv *p = priv_of(dev);

	p->timeouts++;
	netdev_warn(dev, "transmit queue %u timed out, resetting the card\n", txqueue);
	outl(0xFFFFFFFF, p->io + TXLEN);                /* flush the card's transmit FIFO */
	netif_tx_wake_queue(txq0(dev));
}

/* Exercised from Python: each skb helper, one bit per check that held. */
u32 netdemo_skb_selftest(void)
{
	static char queue[16];                          /* struct sk_buff_head */
	struct sk_buff *skb = __alloc_skb(128, GFP_ATOMIC, 0, -1), *clone, *copy;
	u32 ok = 0;
	char *p, buf[8];

	if (!skb)
		return 0;
	FIELD(char *, skb, SKB_DATA) += 32;             /* skb_reserve(skb, 32) */
	FIELD(char *, skb, SKB_TAIL) += 32;
	p = skb_put(skb, 10);
	__builtin_memcpy(p, "0123456789", 10);
	ok |= (FIELD(u32, skb, SKB_LEN) == 10) << 0;
	p = skb_push(skb, 2);
	p[0] = 'a';
	p[1] = 'b';
	ok |= (FIELD(u32, skb, SKB_LEN) == 12 && p == FIELD(char *, skb, SKB_DATA)) << 1;
	p = skb_pull(skb, 4);
	ok |= (p && p[0] == '2' && FIELD(u32, skb, SKB_LEN) == 8) << 2;
	ok |= (skb_pull(skb, 100) == 0) << 3;
	skb_trim(skb, 5);
	ok |= (FIELD(u32, skb, SKB_LEN) == 5 && FIELD(char *, skb, SKB_TAIL) == p + 5) << 4;
	ok |= (skb_copy_bits(skb, 1, buf, 3) == 0 && buf[0] == '3' && buf[2] == '5') << 5;
	ok |= (skb_copy_bits(skb, 4, buf, 3) == -14) << 6;
	clone = skb_clone(skb, GFP_ATOMIC);
	ok |= (clone && FIELD(char *, clone, SKB_DATA) == FIELD(char *, skb, SKB_DATA)) << 7;
	copy = skb_copy_expand(skb, 64, 16, GFP_ATOMIC);
	ok |= (copy && FIELD(char *, copy, SKB_DATA) != FIELD(char *, skb, SKB_DATA)
	       && FIELD(char *, copy, SKB_DATA) - FIELD(char *, copy, SKB_HEAD) == 64
	       && FIELD(char *, copy, SKB_DATA)[0] == '2') << 8;
	FIELD(void *, queue, 0) = queue;                /* skb_queue_head_init */
	FIELD(void *, queue, 4) = queue;
	FIELD(u32, queue, 8) = 0;
	skb_queue_tail(queue, clone);
	skb_queue_tail(queue, copy);
	ok |= (FIELD(u32, queue, 8) == 2 && skb_dequeue(queue) == clone && FIELD(u32, queue, 8) == 1) << 9;
	consume_skb(clone);
	skb_queue_purge(queue);
	ok |= (FIELD(u32, queue, 8) == 0 && skb_dequeue(queue) == 0) << 10;
	kfree_skb_reason(skb, 2);
	return ok;
}

int init_module(void)
{
	struct net_device *dev = alloc_etherdev_mqs(sizeof(struct netdemo_priv), 1, 1);
	struct netdemo_priv *p;
	int err;

	if (!dev)
		return -12;
	p = priv_of(dev);
	p->dev = dev;
	p->io = NETDEMO_IO;
	FIELD(void *, netdemo_ops, NDO_OPEN) = netdemo_open;
	FIELD(void *, netdemo_ops, NDO_STOP) = netdemo_stop;
	FIELD(void *, netdemo_ops, NDO_START_XMIT) = netdemo_start_xmit;
	FIELD(void *, netdemo_ops, NDO_SET_RX_MODE) = netdemo_set_rx_mode;
	FIELD(void *, netdemo_ops, NDO_SET_MAC_ADDRESS) = netdemo_set_mac_address;
	FIELD(void *, netdemo_ops, NDO_VALIDATE_ADDR) = eth_validate_addr;
	FIELD(void *, netdemo_ops, NDO_TX_TIMEOUT) = netdemo_tx_timeout;
	FIELD(void *, netdemo_ethtool_ops, ETO_GET_LINK) = ethtool_op_get_link;
	FIELD(void *, netdemo_ethtool_ops, ETO_GET_TS_INFO) = ethtool_op_get_ts_info;
	FIELD(void *, dev, ND_NETDEV_OPS) = netdemo_ops;
	FIELD(void *, dev, ND_ETHTOOL_OPS) = netdemo_ethtool_ops;
	FIELD(u32, dev, ND_BASE_ADDR) = NETDEMO_IO;
	FIELD(int, dev, ND_IRQ) = NETDEMO_IRQ;
	FIELD(int, dev, ND_WATCHDOG_TIMEO) = HZ;
	dev_addr_mod(dev, 0, netdemo_mac, 6);           /* eth_hw_addr_set */
	load_mac(p, netdemo_mac);
	netif_napi_add_weight(dev, napi_of(p), netdemo_poll, NAPI_WEIGHT);
	netif_carrier_off(dev);
	err = register_netdev(dev);
	if (err) {
		free_netdev(dev);
		return err;
	}
	netdemo_dev = dev;
	netdev_info(dev, "netdemo at %#x, IRQ %d, %pM\n", NETDEMO_IO, NETDEMO_IRQ, FIELD(u8 *, dev, ND_DEV_ADDR));
	return 0;
}

void cleanup_module(void)
{
	unregister_netdev(netdemo_dev);
	free_netdev(netdemo_dev);
}

char __modinfo_license[] __attribute__((section(".modinfo"))) = "license=GPL";
