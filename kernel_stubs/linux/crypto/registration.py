"""The four registration services every algorithm kind has, made once: crypto_(un)register_<kind>(s)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from sandbox.services import service

from .registry import unregister

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

Register = Callable[["Kernel", int], int]


def registration_services(kind: str, struct: str, size: int, register: Register, *, plural: str | None = None,
                          arrays: bool = True) -> tuple[Callable[..., int | None], ...]:
    """crypto_register_<kind>, crypto_unregister_<kind> and, with ``arrays``, their array forms
    (``plural``: the array form's name, "<kind>s" by default) for structs of ``size`` bytes."""
    many = plural or f"{kind}s"

    def register_one(k: Kernel, alg: int) -> int:
        return register(k, alg)

    def unregister_one(k: Kernel, alg: int) -> None:
        unregister(k, alg, f"crypto_unregister_{kind}")

    def register_many(k: Kernel, algs: int, count: int) -> int:
        done: list[int] = []
        for address in k.memory.array(algs, count, size, f"{struct} array"):
            result = register(k, address)
            if result < 0:  # all or nothing, as Linux: the ones done are unregistered again
                for earlier in reversed(done):
                    unregister(k, earlier, f"crypto_register_{many} (undo)")
                return result
            done.append(address)
        return 0

    def unregister_many(k: Kernel, algs: int, count: int) -> None:
        for address in reversed(k.memory.array(algs, count, size, f"{struct} array")):
            unregister(k, address, f"crypto_unregister_{many}")

    register_one.__doc__ = f"Register a {kind} ({struct}), checked as the kernel checks it."
    unregister_one.__doc__ = f"Unregister a {kind}; instances built on it go first."
    register_many.__doc__ = f"Register an array of {count_doc(kind)}; all or nothing."
    unregister_many.__doc__ = f"Unregister an array of {count_doc(kind)}, last first."
    made = [service(f"int crypto_register_{kind}(struct {struct} *alg)")(register_one),
            service(f"void crypto_unregister_{kind}(struct {struct} *alg)")(unregister_one)]
    if arrays:
        made += [service(f"int crypto_register_{many}(struct {struct} *algs, int count)")(register_many),
                 service(f"void crypto_unregister_{many}(struct {struct} *algs, int count)")(unregister_many)]
    return tuple(made)


def count_doc(kind: str) -> str:
    """How the docstrings name several of a kind."""
    return {"alg": "plain algorithms"}.get(kind, f"{kind} algorithms")
