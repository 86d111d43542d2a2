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
	pr_info("nlecho: listening on netlink protocol %d\n", NLECHO_UNIT);
	return 0;
}

static void __exit nlecho_exit(void)
{
	netlink_kernel_release(nlecho_sk);
	pr_info("nlecho: %u requests served\n", nlecho_requests);
}

module_init(nlecho_init);
module_exit(nlecho_exit);
