"""``k.open()`` on Linux 6.1 modules' character devices: misc devices, register_chrdev and cdevs.

A small module compiled here as Linux builds modules (-mregparm=3) spells
out 6.1 i386's struct offsets itself, so the layouts the sandbox builds are
tested without the corpus; real Debian modules (uinput, uhid) follow when
the corpus is fetched.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from sandbox import DeviceError, Kernel, SandboxError
from sandbox.devices.chardev import O_EXCL, O_NONBLOCK, O_RDONLY, O_RDWR, O_WRONLY
from tests.linux_corpus import ko, needs_corpus

O_TRUNC = 0o1000

VERMAGIC = '__attribute__((section(".modinfo"), used)) static const char vm[] = ' \
           '"vermagic=6.1.0-50-686 SMP preempt mod_unload modversions GEODE ";\n'

SOURCE = VERMAGIC + r"""
typedef unsigned int size_t;
typedef long long loff_t;
typedef int ssize_t;
struct file; struct inode;
/* struct file_operations, Linux 6.1 i386: 35 words, the ones used here named. */
struct file_operations {
    void *owner;
    loff_t (*llseek)(struct file *, loff_t, int);
    ssize_t (*read)(struct file *, char *, size_t, loff_t *);
    ssize_t (*write)(struct file *, const char *, size_t, loff_t *);
    void *read_iter, *write_iter, *iopoll, *iterate, *iterate_shared, *poll;
    long (*unlocked_ioctl)(struct file *, unsigned int, unsigned long);
    void *compat_ioctl, *mmap; unsigned long mmap_supported_flags;
    int (*open)(struct inode *, struct file *);
    void *flush;
    int (*release)(struct inode *, struct file *);
    void *rest[18];
};
struct list_head { void *next, *prev; };
struct miscdevice {
    int minor; const char *name; const struct file_operations *fops; struct list_head list;
    void *parent, *this_device; const void *groups; const char *nodename; unsigned short mode;
};
struct cdev { char kobj[36]; void *owner; const struct file_operations *ops; struct list_head list; unsigned int dev, count; };

#define FIELD(p, off, type) (*(type *)((char *)(p) + (off)))
#define F_FLAGS(f) FIELD(f, 0x20, unsigned int)
#define F_MODE(f) FIELD(f, 0x24, unsigned int)
#define F_INODE(f) FIELD(f, 0x10, struct inode *)
#define PRIVATE(f) FIELD(f, 0x8c, void *)
#define I_RDEV(i) FIELD(i, 0x30, unsigned int)
#define I_CDEV(i) FIELD(i, 0x17c, struct cdev *)

extern int misc_register(struct miscdevice *);
extern void misc_deregister(struct miscdevice *);
extern int __register_chrdev(unsigned int, unsigned int, unsigned int, const char *, const struct file_operations *);
extern void __unregister_chrdev(unsigned int, unsigned int, unsigned int, const char *);
extern int alloc_chrdev_region(unsigned int *, unsigned int, unsigned int, const char *);
extern void unregister_chrdev_region(unsigned int, unsigned int);
extern void cdev_init(struct cdev *, const struct file_operations *);
extern int cdev_add(struct cdev *, unsigned int, unsigned int);
extern void cdev_del(struct cdev *);
extern void *__kmalloc(size_t, unsigned int);
extern void kfree(const void *);
extern unsigned long _copy_to_user(void *, const void *, unsigned long);
extern unsigned long _copy_from_user(void *, const void *, unsigned long);
extern loff_t fixed_size_llseek(struct file *, loff_t, int, loff_t);

/* put_user/get_user as Linux's uaccess.h calls them: value in %eax, address in %ecx / %eax. */
static int put_user4(unsigned int value, unsigned int *p) {
    int err; asm volatile("call __put_user_4" : "=c"(err) : "a"(value), "0"(p) : "ebx", "memory"); return err;
}
static int get_user4(unsigned int *value, const unsigned int *p) {
    int err; unsigned int v;
    asm volatile("call __get_user_4" : "=a"(err), "=d"(v) : "0"(p) : "memory"); *value = v; return err;
}

#define SIZE 64
struct state { char data[SIZE]; unsigned int length, minor, flags, mode; void *private_at_open; };
static struct miscdevice misc;
static struct cdev cdev;
static unsigned int region;
int opens, releases, chrdev_major;

static int echo_open(struct inode *inode, struct file *file) {
    struct state *s = __kmalloc(sizeof(*s), 0xcc0);
    int i;
    if (!s) return -12;
    for (i = 0; i < (int)sizeof(*s); i++) ((char *)s)[i] = 0;
    if (F_INODE(file) != inode) return -22;
    s->minor = I_RDEV(inode);
    s->flags = F_FLAGS(file);
    s->mode = F_MODE(file);
    s->private_at_open = PRIVATE(file);
    if (I_CDEV(inode) && I_CDEV(inode) != &cdev) return -6;   /* -ENXIO: the wrong cdev */
    if (s->flags & 0x80) { kfree(s); return -16; }             /* O_EXCL: refuse, -EBUSY */
    PRIVATE(file) = s;
    opens++;
    return 0;
}
static int echo_release(struct inode *inode, struct file *file) {
    kfree(PRIVATE(file));
    releases++;
    return 0;
}
static ssize_t echo_read(struct file *file, char *buf, size_t count, loff_t *ppos) {
    struct state *s = PRIVATE(file);
    if (*ppos >= s->length) return 0;
    if (count > s->length - *ppos) count = s->length - *ppos;
    if (_copy_to_user(buf, s->data + *ppos, count)) return -14;
    *ppos += count;
    return count;
}
static ssize_t echo_write(struct file *file, const char *buf, size_t count, loff_t *ppos) {
    struct state *s = PRIVATE(file);
    if (*ppos + count > SIZE) return -28;   /* -ENOSPC */
    if (_copy_from_user(s->data + *ppos, buf, count)) return -14;
    *ppos += count;
    if (*ppos > s->length) s->length = *ppos;
    return count;
}
static long echo_ioctl(struct file *file, unsigned int cmd, unsigned long arg) {
    struct state *s = PRIVATE(file);
    unsigned int value;
    switch (cmd) {
    case 0x6501: return s->length;                                  /* _IO('e', 1) */
    case 0x80046502: return put_user4(s->minor, (unsigned int *)arg);  /* _IOR('e', 2, int) */
    case 0x80046503: return put_user4(s->flags, (unsigned int *)arg);
    case 0x80046504: return put_user4(s->mode, (unsigned int *)arg);
    case 0x80046505: return put_user4((unsigned int)s->private_at_open, (unsigned int *)arg);
    case 0x80046507: return put_user4(F_FLAGS(file), (unsigned int *)arg);   /* f_flags now */
    case 0x40046506:                                                /* _IOW('e', 6, int): truncate */
        if (get_user4(&value, (const unsigned int *)arg)) return -14;
        if (value > SIZE) return -22;
        s->length = value;
        return 0;
    }
    return -25;  /* -ENOTTY */
}
static loff_t echo_llseek(struct file *file, loff_t offset, int whence) {
    return fixed_size_llseek(file, offset, whence, SIZE);
}
static const struct file_operations fops = {
    .llseek = echo_llseek, .read = echo_read, .write = echo_write, .unlocked_ioctl = echo_ioctl,
    .open = echo_open, .release = echo_release,
};
static const struct file_operations bare_fops = { .open = echo_open, .release = echo_release };

int init_module(void) {
    int err;
    misc.minor = 255;   /* MISC_DYNAMIC_MINOR */
    misc.name = "echo";
    misc.fops = &fops;
    err = misc_register(&misc);
    if (err) return err;
    chrdev_major = __register_chrdev(0, 0, 256, "echoc", &bare_fops);
    if (chrdev_major < 0) return chrdev_major;
    err = alloc_chrdev_region(&region, 4, 2, "echov");
    if (err) return err;
    cdev_init(&cdev, &fops);
    return cdev_add(&cdev, region, 2);
}
void cleanup_module(void) {
    cdev_del(&cdev);
    unregister_chrdev_region(region, 2);
    __unregister_chrdev(chrdev_major, 0, 256, "echoc");
    misc_deregister(&misc);
}
void forget_misc(void) { misc_deregister(&misc); }
void *misc_address(void) { return &misc; }
int counts(void) { return opens << 8 | releases; }
"""

FMODE_READ, FMODE_WRITE, FMODE_LSEEK, FMODE_CAN_READ, FMODE_CAN_WRITE, FMODE_OPENED = 0x1, 0x2, 0x4, 0x20000, 0x40000, 0x80000


@pytest.fixture
def echo(compile_c: Callable[..., Path]):  # type: ignore[no-untyped-def]
    k = Kernel("linux", budget_seconds=10, memcheck=True)
    return k, k.load(compile_c(SOURCE, "echo", "-mregparm=3", "-fno-stack-protector"))


def test_misc_device_read_write_ioctl_llseek(echo) -> None:  # type: ignore[no-untyped-def]
    k, m = echo
    with k.open("/dev/echo") as f:
        assert f.write(b"hello world") == 11
        assert f.position == 11
        assert f.llseek(0) == 0  # fixed_size_llseek: SEEK_SET
        assert f.read(5) == b"hello" and f.read(100) == b" world" and f.read(10) == b""
        assert f.llseek(-5, 2) == 59 and f.llseek(-100, 1) == -22  # SEEK_END of 64; before 0 is -EINVAL
        assert f.ioctl(0x6501) == 11
        minor = bytearray(4)
        assert f.ioctl(0x80046502, minor) == 0  # put_user through __put_user_4
        assert int.from_bytes(minor, "little") == 10 << 20 | 127  # MKDEV(MISC_MAJOR, first dynamic minor)
        private = bytearray(4)
        f.ioctl(0x80046505, private)  # misc_open put the miscdevice in private_data before open ran
        assert int.from_bytes(private, "little") == m.call("misc_address", returns="ptr")
        mode = bytearray(4)
        f.ioctl(0x80046504, mode)  # f_mode as open saw it: read, write, seekable
        assert int.from_bytes(mode, "little") & 7 == FMODE_READ | FMODE_WRITE | FMODE_LSEEK
        assert f.ioctl(0x40046506, (3).to_bytes(4, "little")) == 0  # get_user through __get_user_4
        assert f.ioctl(0x6501) == 3
        assert f.ioctl(0x40046506, (99).to_bytes(4, "little")) == -22
        assert f.ioctl(0x1234) == -25  # -ENOTTY from the driver
        assert f.write(b"x" * 100) == -28  # -ENOSPC
        after_open = FMODE_READ | FMODE_WRITE | FMODE_LSEEK | FMODE_CAN_READ | FMODE_CAN_WRITE | FMODE_OPENED
        assert k.memory.read_u32(f.file + 0x24) & after_open == after_open  # f_mode as do_dentry_open leaves it
        assert m.call("counts") == 1 << 8
    assert m.call("counts") == 1 << 8 | 1  # close called release once
    report = k.unload(m)
    assert report.clean, report.leaks


def test_open_flags_and_modes(echo) -> None:  # type: ignore[no-untyped-def]
    k, _ = echo
    with k.open("/dev/echo", O_RDONLY | O_NONBLOCK) as f:
        flags, mode = bytearray(4), bytearray(4)
        f.ioctl(0x80046503, flags)
        f.ioctl(0x80046504, mode)
        assert int.from_bytes(flags, "little") == O_NONBLOCK
        assert int.from_bytes(mode, "little") & (FMODE_READ | FMODE_WRITE) == FMODE_READ
        assert f.write(b"no") == -9  # -EBADF: not open for writing, the driver is not called
    with k.open("/dev/echo", O_RDWR | O_TRUNC) as f:
        at_open, now = bytearray(4), bytearray(4)
        f.ioctl(0x80046503, at_open)
        f.ioctl(0x80046507, now)
        assert int.from_bytes(at_open, "little") == O_RDWR | O_TRUNC  # ->open sees the open-time flags
        assert int.from_bytes(now, "little") == O_RDWR  # do_dentry_open drops them afterwards
    with k.open("/dev/echo", O_WRONLY) as f, pytest.raises(DeviceError) as caught:
        f.read(1)
    assert caught.value.errno == 9
    with pytest.raises(DeviceError) as refused:
        k.open("/dev/echo", O_EXCL)  # O_EXCL: the driver's open returns -EBUSY
    assert refused.value.errno == 16


def test_register_chrdev_and_cdev_nodes(echo) -> None:  # type: ignore[no-untyped-def]
    k, m = echo
    with k.open("/dev/echoc") as f:  # register_chrdev: bare fops, no read
        assert f.ioctl(1) == -25  # no unlocked_ioctl: the VFS's -ENOTTY
        assert f.write(b"x") == -22  # no write: -EINVAL
        assert f.llseek(0) == -29  # no llseek: -ESPIPE
        assert k.memory.read_u32(f.file + 0x24) & (FMODE_CAN_READ | FMODE_CAN_WRITE | FMODE_LSEEK) == 0
    with k.open("/dev/echov5") as f:  # the cdev's second minor (region from minor 4)
        minor = bytearray(4)
        assert f.ioctl(0x80046502, minor) == 0
        dev = int.from_bytes(minor, "little")
        assert dev & 0xFFFFF == 5
        private = bytearray(4)
        f.ioctl(0x80046505, private)
        assert private == bytes(4)  # chrdev_open leaves private_data NULL
        assert f.write(b"abc") == 3
    with k.open(f"/dev/char/{dev >> 20}:4") as f:
        assert f.ioctl(0x6501) == 0  # a fresh open: its own state
    with pytest.raises(SandboxError, match="/dev/echov4"):
        k.open("/dev/nonexistent")
    assert k.unload(m).clean


def test_file_left_open_at_unload_is_a_leak(echo) -> None:  # type: ignore[no-untyped-def]
    k, m = echo
    f = k.open("/dev/echo")
    report = k.unload(m)
    assert report.leaks[0] == "file /dev/echo still open"  # Linux would refuse the rmmod
    assert len(report.leaks) == 2 and "allocated at echo:echo_open" in report.leaks[1]  # what open kmalloc'd
    assert f.closed
    with pytest.raises(SandboxError, match="closed"):
        f.read(1)


def test_deregistered_misc_device_cannot_be_opened(echo) -> None:  # type: ignore[no-untyped-def]
    k, m = echo
    m.call("forget_misc")  # misc_deregister: the node goes with the registration
    with pytest.raises(SandboxError, match="no device /dev/echo "):
        k.open("/dev/echo")
    k.unload(m)
    assert any(e.fields.get("warning", "").startswith("misc device") for e in k.trace.of_kind("note"))


@needs_corpus
def test_uinput_version_and_errors() -> None:
    k = Kernel("linux", unresolved="trap", budget_seconds=10)
    m = k.load(ko("drivers/input/misc/uinput.ko"))
    with k.open("/dev/uinput") as f:
        version = bytearray(4)
        assert f.ioctl(0x8004552D, version) == 0  # UI_GET_VERSION: put_user(UINPUT_VERSION)
        assert int.from_bytes(version, "little") == 5
        assert f.ioctl(0x1234) == -22  # uinput's default case: -EINVAL
        assert f.ioctl(0x40045564, 1) == 0  # UI_SET_EVBIT EV_KEY
        with pytest.raises(DeviceError) as caught:
            f.read(24)  # no device created yet
        assert caught.value.errno == 19  # -ENODEV
        assert f.write(b"xx") == -22  # shorter than a uinput_user_dev / input_event
        assert f.llseek(0) == -29  # stream_open: -ESPIPE
    assert k.open("/dev/char/10:223").close() == 0  # UINPUT_MINOR
    report = k.unload(m)
    assert report.clean, report.leaks


@needs_corpus
def test_uhid_nonblocking_read_and_bad_writes() -> None:
    k = Kernel("linux", unresolved="trap", budget_seconds=10)
    m = k.load(ko("drivers/hid/uhid.ko"))
    f = k.open("/dev/uhid", O_RDWR | O_NONBLOCK)
    with pytest.raises(DeviceError) as caught:
        f.read(64)
    assert caught.value.errno == 11  # -EAGAIN: no event queued, O_NONBLOCK
    assert f.write(b"\x00") == -22  # shorter than the event type
    assert f.ioctl(0) == -25  # uhid has no ioctl: -ENOTTY from the VFS
    report = k.unload(m)  # left open: Linux would refuse the rmmod; here a leak
    assert "file /dev/uhid still open" in report.leaks


@needs_corpus
def test_autofs_control_device_version_and_einval_efault() -> None:
    k = Kernel("linux", unresolved="trap", budget_seconds=10, memcheck=True)
    m = k.load(ko("fs/autofs/autofs4.ko"))
    version_cmd = 0xC0189371  # AUTOFS_DEV_IOCTL_VERSION: _IOWR(0x93, 0x71, struct autofs_dev_ioctl)
    with k.open("/dev/autofs") as f:
        request = bytearray(struct.pack("<IIIi", 1, 0, 24, -1) + bytes(8))  # ver 1.0, size 24, no fd
        assert f.ioctl(version_cmd, request) == 0  # copy_from_user, memdup_user, copy_to_user back
        assert struct.unpack("<IIIi", request[:16]) == (1, 1, 24, -1)  # the driver's 1.1
        assert f.ioctl(version_cmd, bytearray(struct.pack("<IIIi", 2, 0, 24, -1) + bytes(8))) == -22  # major 2
        assert f.ioctl(version_cmd, bytearray(struct.pack("<IIIi", 1, 0, 8, -1) + bytes(8))) == -22  # size < 24
        assert f.ioctl(version_cmd, 0x10) == -14  # a user pointer into the NULL page: -EFAULT, no oops
        assert f.ioctl(0xC0189300, bytearray(24)) == -25  # not an autofs command: -ENOTTY
    assert k.unload(m).clean


def test_snapshot_restores_the_device_state(echo) -> None:  # type: ignore[no-untyped-def]
    k, m = echo
    snap = k.snapshot()
    with k.open("/dev/echo") as f:
        f.write(b"before")
    k.restore(snap)  # the registrations are the only record of the nodes, so they come back with it
    with k.open("/dev/echo") as f:
        assert f.read(10) == b""  # a fresh open's own buffer
    assert m.call("counts") == 1 << 8 | 1  # the counters were restored too
