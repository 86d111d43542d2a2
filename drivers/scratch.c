/* scratch: a character device holding up to 256 bytes.
 * Registers /dev/scratch with a dynamic major; console on load:
 *   "scratch: registered major %d". Reads return what was written, from
 * the file position; ioctls clear it, report its length, and copy
 * statistics to a user buffer. */
#include <kernel.h>

#define SCRATCH_SIZE 256
#define SCRATCH_CLEAR _IO('s', 1)
#define SCRATCH_LENGTH _IO('s', 2)
#define SCRATCH_STATS _IOR('s', 3, struct scratch_stats)

struct scratch_stats {
	unsigned int opens;
	unsigned int reads;
	unsigned int writes;
	unsigned int length;
};

static char data[SCRATCH_SIZE];
static unsigned int length;
static struct scratch_stats stats;
static int major;

static int scratch_open(struct inode *inode, struct file *file)
{
	(void)inode;
	file->private_data = data;
	stats.opens++;
	return 0;
}

static ssize_t scratch_read(struct file *file, char *buf, size_t count, loff_t *pos)
{
	size_t left;

	(void)file;
	stats.reads++;
	if (*pos >= length)
		return 0;
	left = length - (size_t)*pos;
	if (count > left)
		count = left;
	if (copy_to_user(buf, data + *pos, count))
		return -EFAULT;
	*pos += count;
	return count;
}

static ssize_t scratch_write(struct file *file, const char *buf, size_t count, loff_t *pos)
{
	(void)file;
	(void)pos;
	stats.writes++;
	if (count > SCRATCH_SIZE - length)
		return -ENOSPC;
	if (copy_from_user(data + length, buf, count))
		return -EFAULT;
	length += count;
	return count;
}

static long scratch_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	(void)file;
	switch (cmd) {
	case SCRATCH_CLEAR:
		length = 0;
		return 0;
	case SCRATCH_LENGTH:
		return length;
	case SCRATCH_STATS:
		stats.length = length;
		return copy_to_user((void *)arg, &stats, sizeof(stats)) ? -EFAULT : 0;
	default:
		return -ENOTTY;
	}
}

static int scratch_release(struct inode *inode, struct file *file)
{
	(void)inode;
	(void)file;
	return 0;
}

static const struct file_operations scratch_fops = {
	.open = scratch_open,
	.read = scratch_read,
	.write = scratch_write,
	.unlocked_ioctl = scratch_ioctl,
	.release = scratch_release,
};

static int __init scratch_init(void)
{
	major = register_chrdev(0, "scratch", &scratch_fops);
	if (major < 0)
		return major;
	pr_info("scratch: registered major %d\n", major);
	return 0;
}

static void __exit scratch_exit(void)
{
	unregister_chrdev(major, "scratch");
}

module_init(scratch_init);
module_exit(scratch_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("A character device holding 256 bytes");
