"""The crypto API's algorithm list, as crypto/api.c and crypto/algapi.c keep it (Linux 6.1).

Every registration of any kind (shash, skcipher, aead, scomp, rng, kpp,
akcipher, plain cipher/compression algorithms and template instances) ends
here as an :class:`Alg`: the kind's own struct (``struct skcipher_alg`` ...)
and the ``struct crypto_alg`` inside it. Lookup is Linux's
``__crypto_alg_lookup``: ``cra_driver_name`` matches exactly and wins,
otherwise the ``cra_name`` match of highest ``cra_priority``; type and mask
filter on ``cra_flags``; internal algorithms only for callers that ask. A
name nobody registered is looked for as a module (``crypto-<name>``
aliases of a tree given to :meth:`Crypto.autoload_from`), then built from a
registered template ("ctr(aes)" asks the "ctr" template to create an
instance over "aes"), as cryptomgr does; else -ENOENT.

The state here is Python's: names, priorities and flags are read from guest
memory once, at registration, as Linux reads them then.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sandbox.errors import SandboxError
from sandbox.services import as_context

from . import flags as F
from .guest import cstring, owner_of, signed

if TYPE_CHECKING:
    from sandbox.kernel import Kernel
    from sandbox.module import Module


@dataclass(frozen=True, slots=True)
class Kind:
    """One kind of algorithm: its struct, where its crypto_alg sits, its type bits."""

    name: str
    struct: str  # "skcipher_alg"
    base: int  # offset of struct crypto_alg in it
    type: int  # CRYPTO_ALG_TYPE_*


KINDS = {
    kind.name: kind
    for kind in (
        Kind("shash", "shash_alg", 56, F.TYPE_SHASH),
        Kind("ahash", "ahash_alg", 48, F.TYPE_AHASH),
        Kind("skcipher", "skcipher_alg", 40, F.TYPE_SKCIPHER),
        Kind("aead", "aead_alg", 40, F.TYPE_AEAD),
        Kind("scomp", "scomp_alg", 16, F.TYPE_SCOMPRESS),
        Kind("rng", "rng_alg", 16, F.TYPE_RNG),
        Kind("kpp", "kpp_alg", 32, F.TYPE_KPP),
        Kind("akcipher", "akcipher_alg", 40, F.TYPE_AKCIPHER),
        Kind("alg", "crypto_alg", 0, 0),  # crypto_register_alg: the type is the module's own cra_flags
    )
}

# struct crypto_alg (6.1 i386, generated table)
CRA_FLAGS = 16
CRA_BLOCKSIZE = 20
CRA_CTXSIZE = 24
CRA_ALIGNMASK = 28
CRA_PRIORITY = 32
CRA_REFCNT = 36
CRA_NAME = 40
CRA_DRIVER_NAME = 168
CRA_TYPE = 296
CRA_U = 300
CRA_INIT = 320
CRA_EXIT = 324
CRA_DESTROY = 328
CRA_MODULE = 332
CRYPTO_ALG_SIZE = 336


@dataclass(slots=True)
class Alg:
    """A registered algorithm."""

    kind: str
    address: int  # the kind's struct
    base: int  # its struct crypto_alg
    name: str
    driver_name: str
    priority: int
    flags: int
    owner: str  # the registering module ("kernel" for the sandbox's own)
    instance: int = 0  # struct crypto_instance of a template instance
    template: int = 0  # the struct crypto_template that made it
    users: int = 0  # transforms and spawns holding it (cra_refcnt - 1)
    fields: dict[str, int] = field(default_factory=dict)  # kept for the Shash helper's callers

    @property
    def type(self) -> int:
        """The CRYPTO_ALG_TYPE_* of cra_flags."""
        return self.flags & F.TYPE_MASK

    def __repr__(self) -> str:
        return f"<{self.kind} {self.driver_name} ({self.name}) prio {self.priority} by {self.owner}>"


@dataclass(slots=True)
class Template:
    """A registered struct crypto_template."""

    address: int
    name: str
    owner: str
    create: int


class CryptoLookupError(SandboxError):
    """No algorithm answers a name (the errno Linux returns is ``errno``)."""

    def __init__(self, message: str, errno: int = -F.ENOENT) -> None:
        super().__init__(message)
        self.errno = errno


class Crypto:
    """Per-kernel crypto state: algorithms (newest first, as Linux's list), templates, notifiers."""

    def __init__(self) -> None:
        self.algs: list[Alg] = []
        self.templates: dict[int, Template] = {}
        self.notifiers: list[tuple[int, int]] = []  # (priority, struct notifier_block *)
        self.aliases: dict[str, str] | None = None  # "crypto-ctr" -> module file, once a tree is known
        self.tree: str | None = None
        self.building: set[str] = set()  # names a template is being asked for (no endless recursion)

    def boot(self, k: Kernel) -> None:
        """What Debian's kernel registers before any module loads: the built-in algorithms and templates."""
        from .builtin import register_builtins

        register_builtins(k)

    # -- the list ------------------------------------------------------------------------
    @property
    def registered(self) -> list[Alg]:
        """Every registered algorithm, newest first."""
        return list(self.algs)

    @property
    def from_modules(self) -> list[Alg]:
        """The algorithms modules registered (and the instances templates built for them), newest first:
        everything but the kernel's own built-ins."""
        return [alg for alg in self.algs if alg.owner != "kernel"]

    @property
    def builtin_templates(self) -> list[Template]:
        """The templates the kernel registered itself (cbc, hmac)."""
        return [tmpl for tmpl in self.templates.values() if tmpl.owner == "kernel"]

    def by_base(self, base: int) -> Alg | None:
        """The algorithm whose struct crypto_alg is at ``base``."""
        for alg in self.algs:
            if alg.base == base:
                return alg
        return None

    def by_address(self, address: int) -> Alg | None:
        """The algorithm registered with the struct at ``address``."""
        for alg in self.algs:
            if alg.address == address:
                return alg
        return None

    def match(self, name: str, type_: int, mask: int) -> Alg | None:
        """__crypto_alg_lookup: exact driver-name match, else highest-priority name match."""
        best, chosen = -2, None
        for alg in self.algs:
            if (alg.flags ^ type_) & mask:
                continue
            exact = alg.driver_name == name
            fuzzy = alg.name == name
            if not exact and not (fuzzy and alg.priority > best):
                continue
            best, chosen = alg.priority, alg
            if exact:
                break
        return chosen

    def find(self, name: str, kind: str | None = None) -> Alg:
        """The algorithm a Python helper means by ``name`` (of ``kind`` if given); SandboxError if none."""
        found = [a for a in self.algs if name in (a.name, a.driver_name) and (kind is None or a.kind == kind)]
        if not found:
            raise SandboxError(f"no crypto algorithm {name!r} is registered")
        exact = [a for a in found if a.driver_name == name]
        return exact[0] if exact else max(found, key=lambda a: a.priority)

    # -- module autoload -----------------------------------------------------------------
    def autoload_from(self, tree: str | Path) -> None:
        """Let lookups load modules of ``tree`` (a lib/modules/<release> or its kernel/ folder) by their
        ``crypto-<name>`` aliases, as request_module does through modprobe."""
        root = Path(tree)
        kernel = root if root.name == "kernel" else root / "kernel"
        if not kernel.is_dir():
            raise SandboxError(f"{tree}: no kernel/ folder of modules")
        self.tree = str(kernel.parent)
        self.aliases = crypto_aliases(kernel)

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """What the module left registered (its exit should have unregistered it)."""
        leaks = []
        for alg in [a for a in self.algs if a.owner == module.name and not a.instance]:
            leaks.append(f"crypto algorithm {alg.driver_name} ({alg.name}) still registered")
            self.algs.remove(alg)
        for address, tmpl in list(self.templates.items()):
            if tmpl.owner == module.name:
                leaks.append(f"crypto template {tmpl.name} still registered")
                del self.templates[address]
        for alg in [a for a in self.algs if a.instance and (a.owner == module.name or a.template not in
                                                              self.templates)]:
            self.algs.remove(alg)
        self.notifiers = [(p, nb) for p, nb in self.notifiers if k.module_at(nb) is not module]
        return leaks


def crypto_aliases(kernel_dir: Path) -> dict[str, str]:
    """``crypto-*`` aliases of the modules under the crypto folders of a tree: alias -> file."""
    from sandbox.formats import open_file

    aliases: dict[str, str] = {}
    for folder in ("crypto", "arch/x86/crypto", "lib/crypto", "lib"):
        for path in sorted((kernel_dir / folder).glob("*.ko*")):
            try:
                _, image = open_file(str(path))
            except SandboxError:  # a file that does not read is simply not a candidate
                continue
            for key, value in getattr(image, "modinfo", []):
                if key == "alias" and value.startswith("crypto-"):
                    aliases.setdefault(value, str(path))
    return aliases


# -- reading and registering -------------------------------------------------------------
def read_alg(k: Kernel, kind: str, address: int) -> Alg:
    """The Alg for a struct of ``kind`` at ``address`` (names, priority, flags as they are now)."""
    base = address + KINDS[kind].base
    mem = k.memory
    return Alg(kind, address, base, cstring(k, base + CRA_NAME), cstring(k, base + CRA_DRIVER_NAME),
               signed(mem.read_u32(base + CRA_PRIORITY)), mem.read_u32(base + CRA_FLAGS), owner_of(k))


def check_alg(k: Kernel, alg: Alg) -> int:
    """crypto_check_alg: names, alignment mask, block size, priority; 0 or -EINVAL."""
    mem = k.memory
    alignmask = mem.read_u32(alg.base + CRA_ALIGNMASK)
    blocksize = mem.read_u32(alg.base + CRA_BLOCKSIZE)
    if not alg.name or not alg.driver_name:
        return -F.EINVAL
    if alignmask & (alignmask + 1) or alignmask > F.MAX_ALGAPI_ALIGNMASK or blocksize > 2 * F.PAGE_SIZE:
        return -F.EINVAL
    if alg.type == F.TYPE_CIPHER and (alignmask > F.MAX_ALGAPI_ALIGNMASK or blocksize > F.MAX_CIPHER_BLOCKSIZE):
        return -F.EINVAL
    if alg.priority < 0:
        return -F.EINVAL
    return 0


def register(k: Kernel, alg: Alg, *, selftest: bool = True) -> int:
    """__crypto_register_alg + the manager's test: checks, -EEXIST on a duplicate, then listed and announced.

    ``selftest=False``: the kernel's own built-in algorithms, tested at boot on Linux.
    """
    crypto = k.subsystem(Crypto)
    mem = k.memory
    if not alg.driver_name and alg.name:
        # An empty cra_driver_name takes the cra_name (crypto_check_alg's copy).
        k.memory.write(alg.base + CRA_DRIVER_NAME, alg.name.encode() + b"\0")
        alg.driver_name = alg.name
    error = check_alg(k, alg)
    if error:
        return error
    for other in crypto.algs:
        if other.base == alg.base or alg.driver_name in (other.driver_name, other.name) or \
                other.driver_name == alg.name:
            return -F.EEXIST
    # Debian's kernel runs crypto/testmgr.c's self-tests on each new algorithm before lookups may find it
    # (testmgr.py); the kernel's own built-ins and internal algorithms are marked tested at once.
    tested = not selftest or bool(alg.flags & F.INTERNAL)
    alg.flags = alg.flags | F.TESTED if tested else alg.flags & ~F.TESTED
    mem.write_u32(alg.base + CRA_FLAGS, alg.flags)
    mem.write_u32(alg.base + CRA_REFCNT, 1)
    crypto.algs.insert(0, alg)
    notify(k, F.MSG_ALG_REGISTER, alg.base)
    if not tested:
        from .testmgr import alg_test

        if alg_test(k, alg) == 0 and alg in crypto.algs:  # crypto_alg_tested: a pass sets the flag
            alg.flags |= F.TESTED
            mem.write_u32(alg.base + CRA_FLAGS, mem.read_u32(alg.base + CRA_FLAGS) | F.TESTED)
    notify(k, F.MSG_ALG_LOADED, alg.base)
    return 0


def unregister(k: Kernel, address: int, what: str) -> int:
    """crypto_unregister_alg for the struct at ``address``: instances built on it go first; -ENOENT if not listed."""
    crypto = k.subsystem(Crypto)
    alg = crypto.by_address(address)
    if alg is None:
        k.warn(f"{what}: algorithm at {address:#x} is not registered")
        return -F.ENOENT
    from .template import remove_instances_using

    remove_instances_using(k, alg)
    if alg.users:
        k.warn(f"{what}: {alg.driver_name} is unregistered while {alg.users} transform(s) or spawn(s) still use it")
    if alg in crypto.algs:
        crypto.algs.remove(alg)
    k.memory.write_u32(alg.base + CRA_FLAGS, alg.flags | F.DEAD)
    return 0


def notify(k: Kernel, message: int, data: int) -> None:
    """crypto_notify: every registered notifier_block's notifier_call(nb, message, data), by priority."""
    for _, nb in sorted(k.subsystem(Crypto).notifiers, key=lambda entry: -entry[0]):
        call = k.memory.read_u32(nb)
        if call:
            result = k.call_function_pointer(call, nb, message, data)
            if result & 0x8000:  # NOTIFY_STOP_MASK
                break


# -- lookup ------------------------------------------------------------------------------
def lookup(k: Kernel, name: str, type_: int, mask: int) -> Alg:
    """crypto_alg_mod_lookup: a registered algorithm, else a module by alias, else a template instance.

    Raises :class:`CryptoLookupError` (errno -ENOENT, or the template's error).
    """
    from .null import NAMES, ensure_registered

    if name in NAMES:
        ensure_registered(k)
    if not ((type_ | mask) & F.TESTED):
        type_ |= F.TESTED
        mask |= F.TESTED
    if not ((type_ | mask) & F.INTERNAL):
        mask |= F.INTERNAL
    crypto = k.subsystem(Crypto)
    alg = crypto.match(name, type_, mask)
    loadable = alg is None and not mask & F.NOLOAD
    if loadable and (request_module(k, f"crypto-{name}") or request_module(k, f"crypto-{name}-all")):
        alg = crypto.match(name, type_, mask)
    if alg is None and type_ & mask & F.TESTED:
        failed = crypto.match(name, type_ & ~F.TESTED, mask & ~F.TESTED)
        if failed is not None:  # crypto_alg_lookup: registered, but its self-test failed
            raise CryptoLookupError(f"crypto: {failed.driver_name} ({name!r}) failed its self-tests", -F.ELIBBAD)
    if alg is None and "(" in name:
        from .template import instantiate

        error = instantiate(k, name, type_ & ~F.TESTED, mask & ~F.TESTED)
        if error:
            raise CryptoLookupError(f"crypto: cannot build {name!r}: the template returned {error}", error)
        alg = crypto.match(name, type_, mask)
    if alg is None:
        raise CryptoLookupError(f"crypto: no algorithm {name!r} (type {type_ & F.TYPE_MASK:#x}, mask {mask:#x})")
    return alg


def request_module(k: Kernel, alias: str) -> bool:
    """Load the module a tree names for ``alias`` (with its dependencies); whether one was loaded."""
    crypto = k.subsystem(Crypto)
    if crypto.aliases is None or alias not in crypto.aliases or crypto.tree is None:
        return False
    path = Path(crypto.aliases[alias])
    name = path.name.split(".ko")[0]
    if any(m.name == name.replace("-", "_") for m in k.modules):
        return False
    as_context(k).note("request_module", module=alias, file=path.name)
    k.modprobe(name, crypto.tree)
    return True


def hold(alg: Alg) -> None:
    """crypto_mod_get: one more user."""
    alg.users += 1


def put(alg: Alg) -> None:
    """crypto_mod_put: one user fewer."""
    alg.users = max(0, alg.users - 1)
