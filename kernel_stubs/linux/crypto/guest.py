"""Small guest-memory and guest-call helpers the crypto services share."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sandbox.services import service

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

_SPEC = "__sandbox_service__"  # where @service leaves its ServiceSpec on the function


def signed(value: int) -> int:
    """A 32-bit register value as a C int."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def cstring(k: Kernel, address: int, limit: int = 128) -> str:
    """A NUL-terminated name of at most ``limit`` bytes."""
    return k.memory.read_cstring(address, limit).decode("utf-8", "replace")


def owner_of(k: Kernel) -> str:
    """The module making the call in progress, or "kernel" (the host, the sandbox itself)."""
    module = k.caller_module()
    return module.name if module is not None else "kernel"


def gcall(k: Kernel, function: int, *args: int) -> int:
    """Call a guest function pointer (a module's callback) with ints; its int result."""
    return signed(k.call_function_pointer(function, *(a & 0xFFFFFFFF for a in args)))


class Callback:
    """A kernel function that is not exported but that the crypto API stores in guest structs.

    Linux puts pointers to its own static functions in the structs it builds
    for modules (``shash_async_init`` in a ``crypto_ahash``,
    ``skcipher_setkey_simple`` in a template instance); modules call them
    through those pointers. Here each is a service bound to a stub on first
    use (:meth:`address`) but never exported, so no module can import it.
    """

    def __init__(self, func: Callable[..., Any]) -> None:
        self.func = func
        self.spec = getattr(func, _SPEC)
        self.name = self.spec.name

    def address(self, k: Kernel) -> int:
        """Its stub address in this kernel (bound on first use)."""
        return k.dispatcher.bind(self.spec)

    def __call__(self, k: Kernel, *args: int) -> Any:
        return self.func(k, *args)


def callback(prototype: str) -> Callable[[Callable[..., Any]], Callback]:
    """Declare a :class:`Callback` by its C prototype (as ``@service``, without exporting it)."""

    def mark(func: Callable[..., Any]) -> Callback:
        return Callback(service(prototype)(func))

    return mark


def alloc(k: Kernel, size: int, owner: str | None = None) -> int:
    """kzalloc for the calling module (leak-checked at its unload), or for ``owner``; 0 when impossible."""
    from kernel_stubs.memory import allocate

    return allocate(k, max(size, 1), owner)


def free(k: Kernel, address: int) -> None:
    """kfree_sensitive: zero, then free."""
    from kernel_stubs.memory import release

    if address:
        block = k.memory.heap_block_size(address)
        if block:
            k.memory.write(address, bytes(block))
        release(k, address)
