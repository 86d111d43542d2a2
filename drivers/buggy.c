/* buggy: a character device with three planted bugs, for the debugger and
 * fuzzer tests. Registers /dev/buggy; console on load: "buggy: ready".
 *
 * Each open gets a kmalloc'd session. ioctls take a struct buggy_req:
 *   BUGGY_SET_NAME  copies req.len bytes into the session's 16-byte name
 *                   buffer; the bound checked is the request's data size
 *                   (56), not the buffer's: len 17..56 overflows the heap
 *                   block (bug 1).
 *   BUGGY_AVERAGE   returns the sum of req.data[0..len) divided by len;
 *                   len 0 divides by zero (bug 2).
 *   BUGGY_KEEP      marks the session kept (req.len = a tag); release then
 *                   frees it and writes its tag into the freed block: a
 *                   use after free on close (bug 3).
 *   BUGGY_SUM       a correct ioctl: the sum of req.data[0..len), len <= 56.
 *   BUGGY_STATS     a histogram of req.data into kmalloc'd tables; correct
 *                   while allocations succeed, with two bad error paths for
 *                   the fault-injection explorer: a failed second kmalloc
 *                   leaks the first, a failed third one is written through.
 * Everything else is -ENOTTY.
 */
#include <kernel.h>

struct buggy_req {
	unsigned int len;
	unsigned int tag;
	unsigned char data[56];
};

#define BUGGY_SET_NAME _IOW('b', 1, struct buggy_req)
#define BUGGY_AVERAGE _IOW('b', 2, struct buggy_req)
#define BUGGY_KEEP _IOW('b', 3, struct buggy_req)
#define BUGGY_SUM _IOW('b', 4, struct buggy_req)
#define BUGGY_STATS _IOW('b', 5, struct buggy_req)

struct buggy_session {
	char *name;
	unsigned int kept;
	unsigned int tag;
	unsigned int calls;
};

int buggy_opens;
int buggy_last_result;
static int major;

static noinline unsigned int buggy_sum(const struct buggy_req *req)
{
	unsigned int sum = 0;

	for (unsigned int i = 0; i < req->len && i < sizeof(req->data); i++)
		sum += req->data[i];
	return sum;
}

static noinline int buggy_set_name(struct buggy_session *s, const struct buggy_req *req)
{
	volatile char *name = s->name;

	if (req->len > sizeof(req->data))
		return -EINVAL;
	for (unsigned int i = 0; i < req->len; i++)
		name[i] = req->data[i];
	return 0;
}

static noinline int buggy_average(const struct buggy_req *req)
{
	unsigned int sum;

	if (req->len > sizeof(req->data))
		return -EINVAL;
	sum = buggy_sum(req);
	return sum / req->len;
}

static noinline int buggy_stats(const struct buggy_req *req)
{
	unsigned int *histogram, *total;
	char *label;
	int peak = 0;

	histogram = kzalloc(16 * sizeof(*histogram), GFP_KERNEL);
	if (!histogram)
		return -ENOMEM;
	label = kmalloc(8, GFP_KERNEL);
	if (!label)
		return -ENOMEM; /* planted: leaks histogram */
	total = kmalloc(sizeof(*total), GFP_KERNEL);
	*total = 0; /* planted: not checked */
	for (unsigned int i = 0; i < req->len && i < sizeof(req->data); i++) {
		histogram[req->data[i] & 15]++;
		(*total)++;
	}
	for (int b = 0; b < 16; b++)
		if (histogram[b] > histogram[peak])
			peak = b;
	label[0] = 'A' + peak;
	kfree(total);
	kfree(label);
	kfree(histogram);
	return peak;
}

static int buggy_open(struct inode *inode, struct file *file)
{
	struct buggy_session *s;

	(void)inode;
	s = kzalloc(sizeof(*s), GFP_KERNEL);
	if (!s)
		return -ENOMEM;
	s->name = kmalloc(16, GFP_KERNEL);
	if (!s->name) {
		kfree(s);
		return -ENOMEM;
	}
	file->private_data = s;
	buggy_opens++;
	return 0;
}

static long buggy_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct buggy_session *s = file->private_data;
	struct buggy_req req;
	int result;

	if (copy_from_user(&req, (const void *)arg, sizeof(req)))
		return -EFAULT;
	s->calls++;
	switch (cmd) {
	case BUGGY_SET_NAME:
		result = buggy_set_name(s, &req);
		break;
	case BUGGY_AVERAGE:
		result = buggy_average(&req);
		break;
	case BUGGY_KEEP:
		s->kept = 1;
		s->tag = req.tag;
		result = 0;
		break;
	case BUGGY_SUM:
		result = req.len <= sizeof(req.data) ? (int)buggy_sum(&req) : -EINVAL;
		break;
	case BUGGY_STATS:
		result = buggy_stats(&req);
		break;
	default:
		return -ENOTTY;
	}
	buggy_last_result = result;
	return result;
}

static int buggy_release(struct inode *inode, struct file *file)
{
	struct buggy_session *s = file->private_data;
	unsigned int kept = s->kept;

	(void)inode;
	kfree(s->name);
	kfree(s);
	if (kept)
		s->tag = 0; /* the planted use after free */
	return 0;
}

static const struct file_operations buggy_fops = {
	.open = buggy_open,
	.unlocked_ioctl = buggy_ioctl,
	.release = buggy_release,
};

static int __init buggy_init(void)
{
	major = register_chrdev(0, "buggy", &buggy_fops);
	if (major < 0)
		return major;
	pr_info("buggy: ready\n");
	return 0;
}

static void __exit buggy_exit(void)
{
	unregister_chrdev(major, "buggy");
}

module_init(buggy_init);
module_exit(buggy_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("A character device with planted bugs (for the fuzzer and the debugger)");
