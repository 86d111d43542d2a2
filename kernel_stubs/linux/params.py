"""Module parameters as Linux 6.1 implements them (kernel/params.c).

A module's ``__param`` section holds one ``struct kernel_param`` per
parameter (20 bytes on i386)::

    0 name  4 mod  8 ops  12 perm (u16)  14 level (s8)  15 flags (u8)  16 arg

``ops`` points at a ``struct kernel_param_ops`` (flags, set, get, free): one
of the exported ``param_ops_*`` tables below, ``param_array_ops`` (``arg`` is
a ``struct kparam_array``), or the module's own. The loader
(sandbox/params.py) calls ``ops->set(val, kp)`` for each ``name=value``, as
``parse_args`` does; these services are those ``set``/``get``/``free``
functions, exported too because modules call them from their own ops.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.services import kernel_variable, service

from .kstrto import EINVAL, kstrto, kstrtobool

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

ENOSPC = 28
PAGE_SIZE = 4096
KERNEL_PARAM_OPS_FL_NOARG = 1
KP_ARG = 16  # offsetof(struct kernel_param, arg)
KP_SIZE = 20
MAX_CHARP = 1024  # param_set_charp refuses longer strings


def _text(k: Kernel, val: int) -> bytes | None:
    return None if val == 0 else k.memory.read_cstring(val, PAGE_SIZE)


def _name(k: Kernel, kp: int) -> str:
    return k.memory.read_cstring(k.memory.read_u32(kp), 64).decode("latin-1")


def _arg(k: Kernel, kp: int) -> int:
    return k.memory.read_u32(kp + KP_ARG)


def _emit(k: Kernel, buffer: int, text: str) -> int:
    data = text.encode("latin-1")[: PAGE_SIZE - 1]
    k.memory.write(buffer, data + b"\0")
    return len(data)


def _read(k: Kernel, address: int, size: int, signed: bool) -> int:
    return int.from_bytes(k.memory.read(address, size), "little", signed=signed)


# -- integers: STANDARD_PARAM_DEF(name, type, format, kstrto) --------------------
_INTEGERS = {  # name -> (kstrto kind, size, signed, get format)
    "byte": ("u8", 1, False, "{}"), "short": ("s16", 2, True, "{}"), "ushort": ("u16", 2, False, "{}"),
    "int": ("int", 4, True, "{}"), "uint": ("uint", 4, False, "{}"), "long": ("long", 4, True, "{}"),
    "ulong": ("ulong", 4, False, "{}"), "ullong": ("ull", 8, False, "{}"), "hexint": ("uint", 4, False, "{:#08x}"),
}


def set_integer(k: Kernel, type_name: str, val: int, target: int) -> int:
    """``param_set_<type>``: kstrto<kind>(val, 0, target); 0 or -EINVAL/-ERANGE."""
    kind, size, _signed, _format = _INTEGERS[type_name]
    text = _text(k, val)
    if text is None:
        return -EINVAL
    error, value = kstrto(text, 0, kind)
    if error:
        return error
    k.memory.write(target, (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little"))
    return 0


def get_integer(k: Kernel, type_name: str, buffer: int, source: int) -> int:
    """``param_get_<type>``: the value and a newline, as sysfs shows it."""
    _kind, size, signed, form = _INTEGERS[type_name]
    return _emit(k, buffer, form.format(_read(k, source, size, signed)) + "\n")


@service("int param_set_byte(const char *val, const struct kernel_param *kp)")
def param_set_byte(k: Kernel, val: int, kp: int) -> int:
    """kstrtou8 into the byte at kp->arg."""
    return set_integer(k, "byte", val, _arg(k, kp))


@service("int param_set_short(const char *val, const struct kernel_param *kp)")
def param_set_short(k: Kernel, val: int, kp: int) -> int:
    """kstrtos16 into the short at kp->arg."""
    return set_integer(k, "short", val, _arg(k, kp))


@service("int param_set_ushort(const char *val, const struct kernel_param *kp)")
def param_set_ushort(k: Kernel, val: int, kp: int) -> int:
    """kstrtou16 into the unsigned short at kp->arg."""
    return set_integer(k, "ushort", val, _arg(k, kp))


@service("int param_set_int(const char *val, const struct kernel_param *kp)")
def param_set_int(k: Kernel, val: int, kp: int) -> int:
    """kstrtoint into the int at kp->arg."""
    return set_integer(k, "int", val, _arg(k, kp))


@service("int param_set_uint(const char *val, const struct kernel_param *kp)")
def param_set_uint(k: Kernel, val: int, kp: int) -> int:
    """kstrtouint into the unsigned int at kp->arg."""
    return set_integer(k, "uint", val, _arg(k, kp))


@service("int param_set_long(const char *val, const struct kernel_param *kp)")
def param_set_long(k: Kernel, val: int, kp: int) -> int:
    """kstrtol into the long at kp->arg."""
    return set_integer(k, "long", val, _arg(k, kp))


@service("int param_set_ulong(const char *val, const struct kernel_param *kp)")
def param_set_ulong(k: Kernel, val: int, kp: int) -> int:
    """kstrtoul into the unsigned long at kp->arg."""
    return set_integer(k, "ulong", val, _arg(k, kp))


@service("int param_set_ullong(const char *val, const struct kernel_param *kp)")
def param_set_ullong(k: Kernel, val: int, kp: int) -> int:
    """kstrtoull into the u64 at kp->arg."""
    return set_integer(k, "ullong", val, _arg(k, kp))


@service("int param_set_hexint(const char *val, const struct kernel_param *kp)")
def param_set_hexint(k: Kernel, val: int, kp: int) -> int:
    """kstrtouint into the unsigned int at kp->arg (shown in hex)."""
    return set_integer(k, "hexint", val, _arg(k, kp))


@service("int param_get_byte(char *buffer, const struct kernel_param *kp)")
def param_get_byte(k: Kernel, buffer: int, kp: int) -> int:
    """The byte as ``%hhu\\n``."""
    return get_integer(k, "byte", buffer, _arg(k, kp))


@service("int param_get_short(char *buffer, const struct kernel_param *kp)")
def param_get_short(k: Kernel, buffer: int, kp: int) -> int:
    """The short as ``%hi\\n``."""
    return get_integer(k, "short", buffer, _arg(k, kp))


@service("int param_get_ushort(char *buffer, const struct kernel_param *kp)")
def param_get_ushort(k: Kernel, buffer: int, kp: int) -> int:
    """The unsigned short as ``%hu\\n``."""
    return get_integer(k, "ushort", buffer, _arg(k, kp))


@service("int param_get_int(char *buffer, const struct kernel_param *kp)")
def param_get_int(k: Kernel, buffer: int, kp: int) -> int:
    """The int as ``%i\\n``."""
    return get_integer(k, "int", buffer, _arg(k, kp))


@service("int param_get_uint(char *buffer, const struct kernel_param *kp)")
def param_get_uint(k: Kernel, buffer: int, kp: int) -> int:
    """The unsigned int as ``%u\\n``."""
    return get_integer(k, "uint", buffer, _arg(k, kp))


@service("int param_get_long(char *buffer, const struct kernel_param *kp)")
def param_get_long(k: Kernel, buffer: int, kp: int) -> int:
    """The long as ``%li\\n``."""
    return get_integer(k, "long", buffer, _arg(k, kp))


@service("int param_get_ulong(char *buffer, const struct kernel_param *kp)")
def param_get_ulong(k: Kernel, buffer: int, kp: int) -> int:
    """The unsigned long as ``%lu\\n``."""
    return get_integer(k, "ulong", buffer, _arg(k, kp))


@service("int param_get_ullong(char *buffer, const struct kernel_param *kp)")
def param_get_ullong(k: Kernel, buffer: int, kp: int) -> int:
    """The u64 as ``%llu\\n``."""
    return get_integer(k, "ullong", buffer, _arg(k, kp))


@service("int param_get_hexint(char *buffer, const struct kernel_param *kp)")
def param_get_hexint(k: Kernel, buffer: int, kp: int) -> int:
    """The unsigned int as ``%#08x\\n``."""
    return get_integer(k, "hexint", buffer, _arg(k, kp))


# -- booleans ----------------------------------------------------------------------
def _set_bool_at(k: Kernel, val: int, target: int, size: int = 1, invert: bool = False) -> int:
    text = _text(k, val)
    error, value = kstrtobool(b"1" if text is None else text)  # no value means "set it"
    if error:
        return error
    k.memory.write(target, int(value != invert).to_bytes(size, "little"))
    return 0


@service("int param_set_bool(const char *val, const struct kernel_param *kp)")
def param_set_bool(k: Kernel, val: int, kp: int) -> int:
    """kstrtobool into the bool at kp->arg; no value means true."""
    return _set_bool_at(k, val, _arg(k, kp))


@service("int param_get_bool(char *buffer, const struct kernel_param *kp)")
def param_get_bool(k: Kernel, buffer: int, kp: int) -> int:
    """``Y\\n`` or ``N\\n``."""
    return _emit(k, buffer, "Y\n" if k.memory.read(_arg(k, kp), 1)[0] else "N\n")


@service("int param_set_bool_enable_only(const char *val, const struct kernel_param *kp)")
def param_set_bool_enable_only(k: Kernel, val: int, kp: int) -> int:
    """A bool that may be set but never cleared again (-EROFS)."""
    target = _arg(k, kp)
    was = k.memory.read(target, 1)[0]
    result = _set_bool_at(k, val, target)
    if result == 0 and was and not k.memory.read(target, 1)[0]:
        k.memory.write(target, b"\1")
        return -30  # -EROFS
    return result


@service("int param_set_invbool(const char *val, const struct kernel_param *kp)")
def param_set_invbool(k: Kernel, val: int, kp: int) -> int:
    """The inverse of kstrtobool into the bool at kp->arg."""
    return _set_bool_at(k, val, _arg(k, kp), invert=True)


@service("int param_get_invbool(char *buffer, const struct kernel_param *kp)")
def param_get_invbool(k: Kernel, buffer: int, kp: int) -> int:
    """``N\\n`` when the bool is set, ``Y\\n`` when clear."""
    return _emit(k, buffer, "N\n" if k.memory.read(_arg(k, kp), 1)[0] else "Y\n")


@service("int param_set_bint(const char *val, const struct kernel_param *kp)")
def param_set_bint(k: Kernel, val: int, kp: int) -> int:
    """A boolean stored in an int (0 or 1)."""
    return _set_bool_at(k, val, _arg(k, kp), size=4)


# -- strings -------------------------------------------------------------------------
@service("int param_set_charp(const char *val, const struct kernel_param *kp)")
def param_set_charp(k: Kernel, val: int, kp: int) -> int:
    """A kmalloc'd copy of val in the char * at kp->arg (freed at unload by param_free_charp)."""
    text = _text(k, val) or b""
    if len(text) > MAX_CHARP:
        k.console_write(f"{_name(k, kp)}: string parameter too long\n", 3)
        return -ENOSPC
    target = _arg(k, kp)
    _free_charp_at(k, target)
    block = k.memory.alloc(len(text) + 1)
    k.memory.write(block, text + b"\0")
    k.subsystem(ParamStrings).blocks.add(block)
    k.memory.write_u32(target, block)
    return 0


def _free_charp_at(k: Kernel, target: int) -> None:
    """maybe_kfree_parameter: free the old value only if this code allocated it."""
    strings = k.subsystem(ParamStrings)
    old = k.memory.read_u32(target)
    if old in strings.blocks:
        strings.blocks.discard(old)
        k.memory.free(old)


@service("int param_get_charp(char *buffer, const struct kernel_param *kp)")
def param_get_charp(k: Kernel, buffer: int, kp: int) -> int:
    """The string and a newline (``(null)`` for NULL)."""
    pointer = k.memory.read_u32(_arg(k, kp))
    text = k.memory.read_cstring(pointer, PAGE_SIZE).decode("latin-1") if pointer else "(null)"
    return _emit(k, buffer, text + "\n")


@service("void param_free_charp(void *arg)")
def param_free_charp(k: Kernel, arg: int) -> None:
    """Free the copy param_set_charp made."""
    _free_charp_at(k, arg)


@service("int param_set_copystring(const char *val, const struct kernel_param *kp)")
def param_set_copystring(k: Kernel, val: int, kp: int) -> int:
    """Copy val into the module's buffer (struct kparam_string {maxlen, string}); -ENOSPC if too long."""
    kps = _arg(k, kp)
    maxlen, string = k.memory.read_u32(kps), k.memory.read_u32(kps + 4)
    text = _text(k, val) or b""
    if len(text) + 1 > maxlen:
        k.console_write(f"{_name(k, kp)}: string doesn't fit in {maxlen - 1} chars.\n", 3)
        return -ENOSPC
    k.memory.write(string, text + b"\0")
    return 0


@service("int param_get_string(char *buffer, const struct kernel_param *kp)")
def param_get_string(k: Kernel, buffer: int, kp: int) -> int:
    """The buffer's string and a newline."""
    kps = _arg(k, kp)
    maxlen, string = k.memory.read_u32(kps), k.memory.read_u32(kps + 4)
    return _emit(k, buffer, k.memory.read_cstring(string, maxlen).decode("latin-1") + "\n")


class ParamStrings:
    """The charp values param_set_charp allocated (only those are freed again)."""

    def __init__(self) -> None:
        self.blocks: set[int] = set()


# -- arrays: struct kparam_array {max, elemsize, *num, *ops, *elem} -------------------
@service("int param_array_set(const char *val, const struct kernel_param *kp)")
def param_array_set(k: Kernel, val: int, kp: int) -> int:
    """Comma-separated values, each through the element ops' set (param_array in params.c)."""
    arr = _arg(k, kp)
    maximum, elemsize, num, ops, elem = (k.memory.read_u32(arr + 4 * i) for i in range(5))
    element_set = k.memory.read_u32(ops + 4)
    text = _text(k, val) or b""
    name = _name(k, kp)
    # A kernel_param for the elements: the array's name (for errors), arg walking elem.
    element_kp = k.memory.alloc(KP_SIZE)
    piece = k.memory.alloc(len(text) + 1)
    try:
        k.memory.write(element_kp, k.memory.read(kp, KP_SIZE))
        if num:
            k.memory.write_u32(num, 0)
        for count, part in enumerate(text.split(b","), start=1):
            if count > maximum:
                k.console_write(f"{name}: can only take {maximum} arguments\n", 3)
                return -EINVAL
            k.memory.write(piece, part + b"\0")
            k.memory.write_u32(element_kp + KP_ARG, elem + (count - 1) * elemsize)
            result = k.call_function_pointer(element_set, piece, element_kp)
            if result:
                return result - (1 << 32) if result >> 31 else result
            if num:
                k.memory.write_u32(num, count)
        return 0
    finally:
        k.memory.free(piece)
        k.memory.free(element_kp)


@service("int param_array_get(char *buffer, const struct kernel_param *kp)")
def param_array_get(k: Kernel, buffer: int, kp: int) -> int:
    """Each element through the element ops' get, joined by commas."""
    arr = _arg(k, kp)
    maximum, elemsize, num, ops, elem = (k.memory.read_u32(arr + 4 * i) for i in range(5))
    count = k.memory.read_u32(num) if num else maximum
    element_get = k.memory.read_u32(ops + 8)
    element_kp = k.memory.alloc(KP_SIZE)
    scratch = k.memory.alloc(PAGE_SIZE)
    try:
        k.memory.write(element_kp, k.memory.read(kp, KP_SIZE))
        parts = []
        for index in range(min(count, maximum)):
            k.memory.write_u32(element_kp + KP_ARG, elem + index * elemsize)
            length = k.call_function_pointer(element_get, scratch, element_kp)
            parts.append(k.memory.read(scratch, min(length, PAGE_SIZE)).rstrip(b"\n").decode("latin-1"))
        return _emit(k, buffer, ",".join(parts) + "\n")
    finally:
        k.memory.free(scratch)
        k.memory.free(element_kp)


@service("void param_array_free(void *arg)")
def param_array_free(k: Kernel, arg: int) -> None:
    """Each element through the element ops' free, if it has one."""
    maximum, elemsize, _num, ops, elem = (k.memory.read_u32(arg + 4 * i) for i in range(5))
    element_free = k.memory.read_u32(ops + 12)
    if element_free:
        for index in range(maximum):
            k.call_function_pointer(element_free, elem + index * elemsize)


# -- the exported ops tables: struct kernel_param_ops {flags, set, get, free} --------
def _ops(type_name: str, setter: str, getter: str, free: str | None = None, flags: int = 0) -> object:
    pointers = {4: setter, 8: getter}
    if free:
        pointers[12] = free
    return kernel_variable(f"param_ops_{type_name}", 16, flags, pointers)


param_ops = [
    _ops(name, f"param_set_{name}", f"param_get_{name}") for name in _INTEGERS
] + [
    _ops("bool", "param_set_bool", "param_get_bool", flags=KERNEL_PARAM_OPS_FL_NOARG),
    _ops("bool_enable_only", "param_set_bool_enable_only", "param_get_bool", flags=KERNEL_PARAM_OPS_FL_NOARG),
    _ops("invbool", "param_set_invbool", "param_get_invbool", flags=KERNEL_PARAM_OPS_FL_NOARG),
    _ops("bint", "param_set_bint", "param_get_int", flags=KERNEL_PARAM_OPS_FL_NOARG),
    _ops("charp", "param_set_charp", "param_get_charp", "param_free_charp"),
    _ops("string", "param_set_copystring", "param_get_string"),
]
param_array_ops = kernel_variable("param_array_ops", 16, 0,
                                  {4: "param_array_set", 8: "param_array_get", 12: "param_array_free"})
