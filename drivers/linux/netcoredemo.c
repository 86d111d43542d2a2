/* netcoredemo: a Linux 6.1 i386 module using the networking core, built by gcc and clang (-mregparm=3).
 *
 * What a protocol module does at init, the way bluetooth, atm, llc and nf_defrag_ipv6 do it:
 * - a protocol family (PF_ECONET, 19: no Debian module claims it): proto_register, sock_register,
 *   and a create() that accepts SOCK_DGRAM only, allocates the sock (sk_alloc) and links it to the
 *   socket (sock_init_data); release() drops it (sk_free). Registering the family a second time and
 *   a family beyond NPROTO show Linux's refusals (kept in dup_result, big_result).
 * - packet handlers (dev_add_pack): one for ethertype 0x88B5 (IEEE local experimental) that counts
 *   and frees what it gets, and an ETH_P_ALL tap.
 * - ids (make_kuid/from_kuid/from_kuid_munged in init_user_ns), a fragment directory
 *   (inet_frags_init, fqdir_init; fqdir_exit and inet_frags_fini at exit), a netevent notifier and
 *   a /proc/net file (proc_create_net_single) whose show prints the counters.
 * The struct offsets below are Linux 6.1 i386's (the test checks them against the DWARF table).
 */
typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned int size_t;

/* struct socket, struct sock, struct proto, struct net_proto_family, struct proto_ops */
#define SOCKET_STATE 0
#define SOCKET_TYPE 4
#define SOCKET_SK 16
#define SOCKET_OPS 20
#define SK_PROTOCOL 376
#define SK_SIZE 552
#define PROTO_OBJ_SIZE 180
#define PROTO_OWNER 212
#define PROTO_NAME 216
#define PROTO_SIZE 260
#define NPF_FAMILY 0
#define NPF_CREATE 4
#define NPF_OWNER 8
#define NPF_SIZE 12
#define OPS_FAMILY 0
#define OPS_OWNER 4
#define OPS_RELEASE 8
#define OPS_SIZE 116
/* struct packet_type, struct inet_frags, struct net, struct seq_file */
#define PT_TYPE 0
#define PT_FUNC 8
#define PT_SIZE 36
#define IF_QSIZE 0
#define IF_CACHE_NAME 20
#define IF_KEY_LEN 26
#define IF_SIZE 72
#define NET_PROC_NET 108
#define SEQ_PRIVATE 68

#define PF_DEMO 19
#define NPROTO 46
#define SOCK_DGRAM 2
#define SS_UNCONNECTED 1
#define ESOCKTNOSUPPORT 94
#define ENOMEM 12
#define ETH_P_DEMO 0x88B5
#define ETH_P_ALL 0x0003
#define GFP_KERNEL 0xCC0

#define FIELD(type, base, off) (*(type *)((char *)(base) + (off)))
#define htons(x) ((u16)((((x) & 0xff) << 8) | (((x) >> 8) & 0xff)))

struct net;
struct sock;
struct socket;
struct sk_buff;
struct net_device;
struct seq_file;
struct fqdir;

extern struct net init_net;
extern char init_user_ns[];
extern int proto_register(void *prot, int alloc_slab);
extern void proto_unregister(void *prot);
extern int sock_register(const void *ops);
extern void sock_unregister(int family);
extern struct sock *sk_alloc(struct net *net, int family, unsigned int priority, void *prot, int kern);
extern void sk_free(struct sock *sk);
extern void sock_init_data(struct socket *sock, struct sock *sk);
extern void dev_add_pack(void *pt);
extern void dev_remove_pack(void *pt);
extern void consume_skb(struct sk_buff *skb);
extern u32 make_kuid(void *ns, u32 uid);
extern u32 from_kuid(void *ns, u32 kuid);
extern u32 from_kuid_munged(void *ns, u32 kuid);
extern int inet_frags_init(void *f);
extern void inet_frags_fini(void *f);
extern int fqdir_init(struct fqdir **fqdirp, void *f, struct net *net);
extern void fqdir_exit(struct fqdir *fqdir);
extern int register_netevent_notifier(void *nb);
extern int unregister_netevent_notifier(void *nb);
extern int call_netevent_notifiers(unsigned long val, void *v);
extern void *proc_create_net_single(const char *name, unsigned short mode, void *parent,
				    int (*show)(struct seq_file *, void *), void *data);
extern void remove_proc_entry(const char *name, void *parent);
extern void seq_printf(struct seq_file *m, const char *fmt, ...);
extern int _printk(const char *fmt, ...);

static char demo_proto[PROTO_SIZE];
static char demo_family[NPF_SIZE];
static char big_family[NPF_SIZE];
static char demo_ops[OPS_SIZE];
static char demo_pt[PT_SIZE];
static char tap_pt[PT_SIZE];
static char demo_frags[IF_SIZE];
static struct fqdir *demo_fqdir;
static u32 demo_nb[3];

int dup_result, big_result;
int creates, releases, frames, frame_bytes, tapped, netevents;
u32 kuid_1000, uid_back, munged;
unsigned long last_netevent;
struct net *shown_net;

static int demo_release(struct socket *sock)
{
	struct sock *sk = FIELD(struct sock *, sock, SOCKET_SK);

	if (!sk)
		return 0;
	FIELD(struct sock *, sock, SOCKET_SK) = 0;
	sk_free(sk);
	releases++;
	return 0;
}

static int demo_create(struct net *net, struct socket *sock, int protocol, int kern)
{
	struct sock *sk;

	if (FIELD(short, sock, SOCKET_TYPE) != SOCK_DGRAM)
		return -ESOCKTNOSUPPORT;
	sk = sk_alloc(net, PF_DEMO, GFP_KERNEL, demo_proto, kern);
	if (!sk)
		return -ENOMEM;
	FIELD(const void *, sock, SOCKET_OPS) = demo_ops;
	FIELD(int, sock, SOCKET_STATE) = SS_UNCONNECTED;
	sock_init_data(sock, sk);
	FIELD(u16, sk, SK_PROTOCOL) = (u16)protocol;
	creates++;
	return 0;
}

static int demo_rcv(struct sk_buff *skb, struct net_device *dev, void *pt, struct net_device *orig)
{
	frames++;
	frame_bytes += FIELD(unsigned int, skb, 84); /* skb->len after eth_type_trans */
	consume_skb(skb);
	return 0;
}

static int demo_tap(struct sk_buff *skb, struct net_device *dev, void *pt, struct net_device *orig)
{
	tapped++;
	consume_skb(skb);
	return 0;
}

static int demo_netevent(void *nb, unsigned long event, void *ptr)
{
	netevents++;
	last_netevent = event;
	return 0;
}

static int demo_show(struct seq_file *m, void *v)
{
	shown_net = FIELD(struct net *, m, SEQ_PRIVATE);
	seq_printf(m, "creates %d releases %d frames %d bytes %d tapped %d\n", creates, releases, frames,
		   frame_bytes, tapped);
	return 0;
}

/* Called from the test: what a neighbour update in the stack does. */
int demo_fire_netevent(unsigned long event)
{
	return call_netevent_notifiers(event, &demo_nb);
}

int init_module(void)
{
	int err;

	FIELD(unsigned int, demo_proto, PROTO_OBJ_SIZE) = SK_SIZE;
	FIELD(void *, demo_proto, PROTO_OWNER) = 0; /* THIS_MODULE: the sample has no struct module */
	__builtin_memcpy(demo_proto + PROTO_NAME, "NETCOREDEMO", 12);
	err = proto_register(demo_proto, 1);
	if (err)
		return err;
	FIELD(int, demo_family, NPF_FAMILY) = PF_DEMO;
	FIELD(void *, demo_family, NPF_CREATE) = demo_create;
	FIELD(void *, demo_family, NPF_OWNER) = 0;
	FIELD(int, demo_ops, OPS_FAMILY) = PF_DEMO;
	FIELD(void *, demo_ops, OPS_OWNER) = 0;
	FIELD(void *, demo_ops, OPS_RELEASE) = demo_release;
	err = sock_register(demo_family);
	if (err)
		goto out_proto;
	dup_result = sock_register(demo_family);
	FIELD(int, big_family, NPF_FAMILY) = NPROTO;
	big_result = sock_register(big_family);

	FIELD(u16, demo_pt, PT_TYPE) = htons(ETH_P_DEMO);
	FIELD(void *, demo_pt, PT_FUNC) = demo_rcv;
	dev_add_pack(demo_pt);
	FIELD(u16, tap_pt, PT_TYPE) = htons(ETH_P_ALL);
	FIELD(void *, tap_pt, PT_FUNC) = demo_tap;
	dev_add_pack(tap_pt);

	kuid_1000 = make_kuid(init_user_ns, 1000);
	uid_back = from_kuid(init_user_ns, kuid_1000);
	munged = from_kuid_munged(init_user_ns, 0xFFFFFFFF);

	FIELD(unsigned int, demo_frags, IF_QSIZE) = 64;
	FIELD(const char *, demo_frags, IF_CACHE_NAME) = "netcoredemo-frags";
	FIELD(u16, demo_frags, IF_KEY_LEN) = 8;
	err = inet_frags_init(demo_frags);
	if (err)
		goto out_pack;
	err = fqdir_init(&demo_fqdir, demo_frags, &init_net);
	if (err)
		goto out_frags;

	demo_nb[0] = (u32)demo_netevent;
	register_netevent_notifier(demo_nb);
	if (!proc_create_net_single("netcoredemo", 0444, FIELD(void *, &init_net, NET_PROC_NET), demo_show, 0)) {
		err = -ENOMEM;
		goto out_notifier;
	}
	_printk("\0016netcoredemo: family %d, handlers for 0x%04x and all\n", PF_DEMO, ETH_P_DEMO);
	return 0;

out_notifier:
	unregister_netevent_notifier(demo_nb);
	fqdir_exit(demo_fqdir);
out_frags:
	inet_frags_fini(demo_frags);
out_pack:
	dev_remove_pack(tap_pt);
	dev_remove_pack(demo_pt);
	sock_unregister(PF_DEMO);
out_proto:
	proto_unregister(demo_proto);
	return err;
}

void cleanup_module(void)
{
	remove_proc_entry("netcoredemo", FIELD(void *, &init_net, NET_PROC_NET));
	unregister_netevent_notifier(demo_nb);
	fqdir_exit(demo_fqdir);
	inet_frags_fini(demo_frags);
	dev_remove_pack(tap_pt);
	dev_remove_pack(demo_pt);
	sock_unregister(PF_DEMO);
	proto_unregister(demo_proto);
}

char __modinfo_license[] __attribute__((section(".modinfo"))) = "license=GPL";
