/* Character devices: register_chrdev with file operations, user copies. */
#ifndef _SANDBOX_FS_H
#define _SANDBOX_FS_H

#include "compiler.h"
#include "types.h"

struct inode;
struct file;

/* A subset of Linux's struct file_operations, in this order. */
struct file_operations {
	int (*open)(struct inode *inode, struct file *file);
	ssize_t (*read)(struct file *file, char *buf, size_t count, loff_t *pos);
	ssize_t (*write)(struct file *file, const char *buf, size_t count, loff_t *pos);
	long (*unlocked_ioctl)(struct file *file, unsigned int cmd, unsigned long arg);
	int (*release)(struct inode *inode, struct file *file);
};

struct file {
	const struct file_operations *f_op;
	void *private_data;
	loff_t f_pos;
	unsigned int f_flags;
};

KAPI int register_chrdev(unsigned int major, const char *name, const struct file_operations *fops);
KAPI void unregister_chrdev(unsigned int major, const char *name);
KAPI unsigned long copy_to_user(void *to, const void *from, unsigned long n);
KAPI unsigned long copy_from_user(void *to, const void *from, unsigned long n);

/* ioctl command encoding, as Linux's asm-generic/ioctl.h */
#define _IOC(dir, type, nr, size) (((dir) << 30) | ((size) << 16) | ((type) << 8) | (nr))
#define _IO(type, nr) _IOC(0U, (type), (nr), 0)
#define _IOR(type, nr, t) _IOC(2U, (type), (nr), sizeof(t))
#define _IOW(type, nr, t) _IOC(1U, (type), (nr), sizeof(t))
#define _IOWR(type, nr, t) _IOC(3U, (type), (nr), sizeof(t))

#endif
