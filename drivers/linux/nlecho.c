/* nlecho: a Linux 6.1 i386 module with a kernel netlink socket of its own, built by gcc and clang.
 *
 * At init it creates the kernel socket of protocol NLECHO_UNIT (31) with netlink_kernel_create, as
 * scsi_mod, nfnetlink or the audit code do, and checks that a second socket on the same unit is
 * refused (NULL). Its input runs every request through netlink_rcv_skb:
 *   NLECHO_ECHO  the payload comes back to the sender (__nlmsg_put + netlink_unicast)
 *   NLECHO_SHOUT the payload goes to multicast group 1 (netlink_broadcast) if anyone listens, else
 *                the request fails with -ESRCH
 *   NLECHO_SUM   attributes parsed with __nla_parse against a policy (NLA_U32 values, an NLA_STRING
 *                label of at most 8 bytes): the reply carries the label and the sum, a policy error
 *                goes back as the request's ACK
 * It also registers a generic netlink family "nlecho" (small ops: NLECHO_CMD_HELLO, answered with
 * genlmsg_put + netlink_unicast on init_net.genl_sock and announced on its "events" group with
 * genlmsg_multicast_allns; NLECHO_CMD_COUNT, a dump of the numbers 0..299 over as many skbs as it
 * takes, its place kept in cb->args[0]) and a connector callback for cb_id NLECHO_CN_IDX:NLECHO_CN_VAL that sends
 * the message back to its sender with ack = seq + 1 (cn_netlink_send_mult).
 * The struct offsets below are Linux 6.1 i386's (the test checks them against the DWARF table).
 */
#include "linux_module.h"

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("netlink echo service on a protocol of its own");

#define NLECHO_UNIT 31
#define NLECHO_ECHO 0x10
#define NLECHO_SHOUT 0x11
#define NLECHO_SUM 0x12
#define NLECHO_ATTR_VALUE 1
#define NLECHO_ATTR_LABEL 2
#define NLECHO_ATTR_MAX 2
#define NLA_U32 3
#define NLA_STRING 5
#define ESRCH 3
#define MSG_DONTWAIT 0x40

/* struct sk_buff, struct netlink_skb_parms (in skb->cb), struct netlink_kernel_cfg, struct nla_policy */
#define SKB_CB 24
#define SKB_LEN 84
#define SKB_DATA 172
#define NLCB_PORTID 12
#define CFG_GROUPS 0
#define CFG_INPUT 8
#define CFG_SIZE 28
#define POLICY_SIZE 8
/* struct genl_family, struct genl_small_ops, struct genl_info, struct net */
#define FAM_ID 0
#define FAM_NAME 8
#define FAM_VERSION 24
#define FAM_MAXATTR 28
#define FAM_MCGRP_OFFSET 32
#define FAM_BITS 36
#define FAM_N_SMALL_OPS 38
#define FAM_N_MCGRPS 39
#define FAM_RESV_START_OP 40
#define FAM_POLICY 44
#define FAM_SMALL_OPS 60
#define FAM_MCGRPS 64
#define FAM_SIZE 72
#define SOP_DOIT 0
#define SOP_DUMPIT 4
#define SOP_CMD 8
#define SOP_SIZE 12
#define INFO_SND_SEQ 0
#define INFO_SND_PORTID 4
#define INFO_ATTRS 20
#define NET_GENL_SOCK 172
#define MCGRP_SIZE 17
#define NLECHO_CMD_HELLO 1
#define NLECHO_CMD_COUNT 2
#define NLECHO_COUNT_TO 300
#define NLM_F_MULTI 2
/* struct netlink_callback; sk_buff tail and end pointers */
#define NCB_SKB 0
#define NCB_NLH 4
#define NCB_ARGS 48
#define SKB_TAIL 160
#define SKB_END 164
#define NLECHO_CN_IDX 0x4c45
#define NLECHO_CN_VAL 1

#define FIELD(type, base, off) (*(type *)((char *)(base) + (off)))

struct sk_buff;
struct sock;
struct net;
struct nlattr { u16 nla_len; u16 nla_type; };
struct nlmsghdr { u32 nlmsg_len; u16 nlmsg_type; u16 nlmsg_flags; u32 nlmsg_seq; u32 nlmsg_pid; };
struct nla_policy { u8 type; u8 validation_type; u16 len; u32 word; };

extern struct net init_net;
extern struct sock *__netlink_kernel_create(struct net *net, int unit, void *module, void *cfg);
extern void netlink_kernel_release(struct sock *sk);
extern int netlink_rcv_skb(struct sk_buff *skb, int (*cb)(struct sk_buff *, struct nlmsghdr *, void *));
extern int netlink_unicast(struct sock *ssk, struct sk_buff *skb, u32 portid, int nonblock);
extern int netlink_broadcast(struct sock *ssk, struct sk_buff *skb, u32 portid, u32 group, gfp_t allocation);
extern int netlink_has_listeners(struct sock *sk, unsigned int group);
extern struct nlmsghdr *__nlmsg_put(struct sk_buff *skb, u32 portid, u32 seq, int type, int len, int flags);
extern struct sk_buff *__alloc_skb(unsigned int size, gfp_t gfp, int flags, int node);
extern int nla_put(struct sk_buff *skb, int attrtype, int attrlen, const void *data);
extern int __nla_parse(struct nlattr **tb, int maxtype, const struct nlattr *head, int len,
		       const struct nla_policy *policy, unsigned int validate, void *extack);
extern void *memcpy(void *dst, const void *src, size_t n);
extern int genl_register_family(void *family);
extern int genl_unregister_family(const void *family);
extern void *genlmsg_put(struct sk_buff *skb, u32 portid, u32 seq, const void *family, int flags, u8 cmd);
extern int genlmsg_multicast_allns(const void *family, struct sk_buff *skb, u32 portid, unsigned int group,
				   gfp_t flags);
struct cb_id { u32 idx, val; };
struct cn_msg { struct cb_id id; u32 seq; u32 ack; u16 len; u16 flags; u8 data[]; };
extern int cn_add_callback(const struct cb_id *id, const char *name, void (*callback)(struct cn_msg *, void *));
extern void cn_del_callback(const struct cb_id *id);
extern int cn_netlink_send_mult(struct cn_msg *msg, u16 len, u32 portid, u32 group, gfp_t gfp_mask);

static struct sock *nlecho_sk;
static unsigned int nlecho_requests;

static const struct nla_policy nlecho_policy[NLECHO_ATTR_MAX + 1] = {
	[NLECHO_ATTR_VALUE] = { .type = NLA_U32 },
	[NLECHO_ATTR_LABEL] = { .type = NLA_STRING, .len = 8 },
};

static u32 sender(struct sk_buff *skb) { return FIELD(u32, skb, SKB_CB + NLCB_PORTID); }
static int payload_len(const struct nlmsghdr *nlh) { return nlh->nlmsg_len - sizeof(*nlh); }

/* A reply of ``type`` to the request's sender and sequence number, ``len`` payload bytes. */
static struct sk_buff *reply(struct sk_buff *req, struct nlmsghdr *nlh, int type, int len, void **payload)
{
	struct sk_buff *skb = __alloc_skb(((sizeof(*nlh) + len + 3) & ~3u) + 64, GFP_KERNEL, 0, -1);
	struct nlmsghdr *out;

	if (!skb)
		return NULL;
	out = __nlmsg_put(skb, sender(req), nlh->nlmsg_seq, type, len, 0);
	*payload = out + 1;
	return skb;
}

static int nlecho_sum(struct sk_buff *req, struct nlmsghdr *nlh, void *extack)
{
	struct nlattr *tb[NLECHO_ATTR_MAX + 1];
	struct nlattr *attr = (struct nlattr *)(nlh + 1);
	int remaining = payload_len(nlh), err;
	u32 sum = 0;
	struct sk_buff *skb;
	void *payload;

	/* strict parsing, as nlmsg_parse (NL_VALIDATE_STRICT) */
	err = __nla_parse(tb, NLECHO_ATTR_MAX, attr, remaining, nlecho_policy, 0x1f, extack);
	if (err)
		return err;
	/* every value attribute counts, not only the last one the table kept */
	while (remaining >= (int)sizeof(*attr) && attr->nla_len >= sizeof(*attr) && attr->nla_len <= remaining) {
		if ((attr->nla_type & 0x3fff) == NLECHO_ATTR_VALUE)
			sum += *(u32 *)(attr + 1);
		remaining -= (attr->nla_len + 3) & ~3;
		attr = (struct nlattr *)((char *)attr + ((attr->nla_len + 3) & ~3));
	}
	skb = reply(req, nlh, NLECHO_SUM, 0, &payload);
	if (!skb)
		return -ENOMEM;
	if (tb[NLECHO_ATTR_LABEL])
		nla_put(skb, NLECHO_ATTR_LABEL, tb[NLECHO_ATTR_LABEL]->nla_len - 4, tb[NLECHO_ATTR_LABEL] + 1);
	nla_put(skb, NLECHO_ATTR_VALUE, 4, &sum);
	FIELD(struct nlmsghdr *, skb, SKB_DATA)->nlmsg_len = FIELD(u32, skb, SKB_LEN);  /* nlmsg_end */
	netlink_unicast(nlecho_sk, skb, sender(req), MSG_DONTWAIT);
	return 0;
}

static int nlecho_msg(struct sk_buff *req, struct nlmsghdr *nlh, void *extack)
{
	struct sk_buff *skb;
	void *payload;
	int len = payload_len(nlh);

	nlecho_requests++;
	switch (nlh->nlmsg_type) {
	case NLECHO_ECHO:
		skb = reply(req, nlh, NLECHO_ECHO, len, &payload);
		if (!skb)
			return -ENOMEM;
		memcpy(payload, nlh + 1, len);
		return netlink_unicast(nlecho_sk, skb, sender(req), MSG_DONTWAIT) < 0 ? -EINVAL : 0;
	case NLECHO_SHOUT:
		if (!netlink_has_listeners(nlecho_sk, 1))
			return -ESRCH;
		skb = reply(req, nlh, NLECHO_SHOUT, len, &payload);
		if (!skb)
			return -ENOMEM;
		memcpy(payload, nlh + 1, len);
		return netlink_broadcast(nlecho_sk, skb, 0, 1, GFP_KERNEL);
	case NLECHO_SUM:
		return nlecho_sum(req, nlh, extack);
	}
	return -EINVAL;
}

/* -- generic netlink ------------------------------------------------------------------------ */
static char nlecho_family[FAM_SIZE];
static char nlecho_genl_ops[2 * SOP_SIZE];
/* struct genl_multicast_group: name, then flags GENL_UNS_ADMIN_PERM (joining needs CAP_NET_ADMIN) */
static char nlecho_groups[MCGRP_SIZE] = "events\0\0\0\0\0\0\0\0\0\0\x10";
static unsigned int nlecho_hellos;

static struct sk_buff *genl_reply(u32 portid, u32 seq, struct nlattr *label)
{
	struct sk_buff *skb = __alloc_skb(256, GFP_KERNEL, 0, -1);
	struct nlmsghdr *nlh;

	if (!skb)
		return NULL;
	nlh = FIELD(struct nlmsghdr *, skb, SKB_DATA);
	if (!genlmsg_put(skb, portid, seq, nlecho_family, 0, NLECHO_CMD_HELLO))
		return NULL;
	if (label)
		nla_put(skb, NLECHO_ATTR_LABEL, label->nla_len - 4, label + 1);
	nla_put(skb, NLECHO_ATTR_VALUE, 4, &nlecho_hellos);
	nlh->nlmsg_len = FIELD(u32, skb, SKB_LEN);  /* genlmsg_end */
	return skb;
}

static int nlecho_hello(struct sk_buff *req __attribute__((unused)), void *info)
{
	struct nlattr **attrs = FIELD(struct nlattr **, info, INFO_ATTRS);
	u32 portid = FIELD(u32, info, INFO_SND_PORTID);
	struct sk_buff *skb, *event;

	nlecho_hellos++;
	skb = genl_reply(portid, FIELD(u32, info, INFO_SND_SEQ), attrs[NLECHO_ATTR_LABEL]);
	if (!skb)
		return -ENOMEM;
	event = genl_reply(0, 0, attrs[NLECHO_ATTR_LABEL]);
	if (event)
		genlmsg_multicast_allns(nlecho_family, event, 0, 0, GFP_KERNEL);  /* -ESRCH if nobody listens */
	return netlink_unicast(FIELD(struct sock *, &init_net, NET_GENL_SOCK), skb, portid, MSG_DONTWAIT) < 0
		? -EINVAL : 0;  /* genlmsg_reply */
}

static int nlecho_count(struct sk_buff *skb, void *cb)
{
	struct sk_buff *req = FIELD(struct sk_buff *, cb, NCB_SKB);
	struct nlmsghdr *nlh = FIELD(struct nlmsghdr *, cb, NCB_NLH);
	long *next = &FIELD(long, cb, NCB_ARGS);

	while (*next < NLECHO_COUNT_TO) {
		struct nlmsghdr *msg = (struct nlmsghdr *)FIELD(char *, skb, SKB_TAIL);
		u32 value = *next;

		if (FIELD(char *, skb, SKB_END) - FIELD(char *, skb, SKB_TAIL) < 64)
			break;  /* the next message goes into the next skb */
		if (!genlmsg_put(skb, sender(req), nlh->nlmsg_seq, nlecho_family, NLM_F_MULTI, NLECHO_CMD_COUNT))
			break;
		nla_put(skb, NLECHO_ATTR_VALUE, 4, &value);
		msg->nlmsg_len = FIELD(char *, skb, SKB_TAIL) - (char *)msg;
		(*next)++;
	}
	return FIELD(u32, skb, SKB_LEN);
}

static int nlecho_genl_register(void)
{
	memcpy(nlecho_family + FAM_NAME, "nlecho", 7);
	FIELD(u32, nlecho_family, FAM_VERSION) = 1;
	FIELD(u32, nlecho_family, FAM_MAXATTR) = NLECHO_ATTR_MAX;
	FIELD(const void *, nlecho_family, FAM_POLICY) = nlecho_policy;
	FIELD(u8, nlecho_family, FAM_BITS) = 1;  /* netnsok */
	FIELD(u8, nlecho_family, FAM_N_SMALL_OPS) = 2;
	FIELD(u8, nlecho_family, FAM_N_MCGRPS) = 1;
	FIELD(u8, nlecho_family, FAM_RESV_START_OP) = NLECHO_CMD_HELLO;  /* new commands: reserved bytes checked */
	FIELD(void *, nlecho_family, FAM_SMALL_OPS) = nlecho_genl_ops;
	FIELD(void *, nlecho_family, FAM_MCGRPS) = nlecho_groups;
	FIELD(void *, nlecho_genl_ops, SOP_DOIT) = nlecho_hello;
	FIELD(u8, nlecho_genl_ops, SOP_CMD) = NLECHO_CMD_HELLO;
	FIELD(void *, nlecho_genl_ops, SOP_SIZE + SOP_DUMPIT) = nlecho_count;
	FIELD(u8, nlecho_genl_ops, SOP_SIZE + SOP_CMD) = NLECHO_CMD_COUNT;
	return genl_register_family(nlecho_family);
}

/* -- the connector ---------------------------------------------------------------------------- */
static const struct cb_id nlecho_cn_id = { NLECHO_CN_IDX, NLECHO_CN_VAL };

static void nlecho_cn(struct cn_msg *msg, void *nsp)
{
	msg->ack = msg->seq + 1;
	cn_netlink_send_mult(msg, msg->len, FIELD(u32, nsp, NLCB_PORTID), 0, GFP_KERNEL);
}

static void nlecho_input(struct sk_buff *skb)
{
	netlink_rcv_skb(skb, nlecho_msg);
}

static int __init nlecho_init(void)
{
	char cfg[CFG_SIZE] = { 0 };
	struct sock *twin;

	FIELD(unsigned int, cfg, CFG_GROUPS) = 4;
	FIELD(void *, cfg, CFG_INPUT) = nlecho_input;
	nlecho_sk = __netlink_kernel_create(&init_net, NLECHO_UNIT, NULL, cfg);
	if (!nlecho_sk) {
		pr_err("nlecho: no kernel socket for protocol %d\n", NLECHO_UNIT);
		return -ENOMEM;
	}
	twin = __netlink_kernel_create(&init_net, NLECHO_UNIT, NULL, cfg);
	if (twin) {
		pr_err("nlecho: a second kernel socket on protocol %d was accepted\n", NLECHO_UNIT);
		netlink_kernel_release(twin);
		netlink_kernel_release(nlecho_sk);
		return -EBUSY;
	}
	if (__netlink_kernel_create(&init_net, 32, NULL, cfg)) {
		pr_err("nlecho: protocol 32 was accepted\n");
		netlink_kernel_release(nlecho_sk);
		return -EINVAL;
	}
	if (nlecho_genl_register()) {
		pr_err("nlecho: genl_register_family failed\n");
		netlink_kernel_release(nlecho_sk);
		return -EINVAL;
	}
	if (cn_add_callback(&nlecho_cn_id, "nlecho", nlecho_cn)) {
		genl_unregister_family(nlecho_family);
		netlink_kernel_release(nlecho_sk);
		return -EINVAL;
	}
	pr_info("nlecho: listening on netlink protocol %d, genl family %u (groups from %u)\n", NLECHO_UNIT,
		FIELD(u32, nlecho_family, FAM_ID), FIELD(u32, nlecho_family, FAM_MCGRP_OFFSET));
	return 0;
}

static void __exit nlecho_exit(void)
{
	cn_del_callback(&nlecho_cn_id);
	genl_unregister_family(nlecho_family);
	netlink_kernel_release(nlecho_sk);
	pr_info("nlecho: %u requests served\n", nlecho_requests);
}

module_init(nlecho_init);
module_exit(nlecho_exit);
