"""The crypto API's registration side, Linux 6.1 i386 layouts.

``crypto_register_shash`` and friends record what a module registers; the
:class:`Shash` helper then lets Python use a registered hash exactly as the
kernel would: allocate a ``struct crypto_shash`` (running ``cra_init``), a
``struct shash_desc``, and call the algorithm's own init/update/final.

Offsets (6.1, i386, checked against crc32c_generic.ko's code and relocations):

- ``struct shash_alg``: init 0, update 4, final 8, finup 12, digest 16,
  export 20, import 24, setkey 28, init_tfm 32, exit_tfm 36, descsize 40,
  digestsize 48, statesize 52, base (``struct crypto_alg``) 56; 392 bytes.
- ``struct crypto_alg``: cra_flags 16, cra_blocksize 20, cra_ctxsize 24,
  cra_alignmask 28, cra_priority 32, cra_name 40 (128), cra_driver_name 168,
  cra_init 320, cra_exit 324, cra_module 332; 336 bytes.
- ``struct crypto_tfm``: refcnt 0, crt_flags 4, node 8, exit 12,
  __crt_alg 16, __crt_ctx 24.  ``struct crypto_shash``: descsize 0, base 8
  (so the tfm context is at 32).  ``struct shash_desc``: tfm 0, __ctx 8.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sandbox.errors import SandboxError
from sandbox.services import service

if TYPE_CHECKING:
    from sandbox.kernel import Kernel
    from sandbox.module import Module

SHASH_FIELDS = ("init", "update", "final", "finup", "digest", "export", "import", "setkey", "init_tfm", "exit_tfm")
SHASH_BASE = 56
SHASH_SIZE = 392
CRYPTO_ALG_SIZE = 336
CRA_NAME = 40
CRA_DRIVER_NAME = 168
CRA_CTXSIZE = 24
CRA_BLOCKSIZE = 20
CRA_PRIORITY = 32
CRA_INIT = 320
CRA_EXIT = 324
TFM_ALG = 16
TFM_CTX = 24
SHASH_TFM_BASE = 8
DESC_CTX = 8
EEXIST = 17
ENOENT = 2


@dataclass(slots=True)
class Registration:
    """One algorithm a module registered."""

    kind: str  # "shash", "alg"
    address: int  # the shash_alg (or crypto_alg)
    alg: int  # its struct crypto_alg
    name: str
    driver_name: str
    priority: int
    owner: str
    fields: dict[str, int] = field(default_factory=dict)


class Crypto:
    """Per-kernel registry of algorithms."""

    def __init__(self) -> None:
        self.registered: list[Registration] = []

    def find(self, name: str, kind: str | None = None) -> Registration:
        """The highest-priority registration whose cra_name or cra_driver_name is ``name``."""
        found = [r for r in self.registered if name in (r.name, r.driver_name) and (kind is None or r.kind == kind)]
        if not found:
            raise SandboxError(f"no crypto algorithm {name!r} is registered")
        return max(found, key=lambda r: r.priority)

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """Algorithms still registered by the module."""
        leaks = []
        for reg in [r for r in self.registered if r.owner == module.name]:
            leaks.append(f"crypto algorithm {reg.driver_name} ({reg.name}) still registered")
            self.registered.remove(reg)
        return leaks


def _owner(k: Kernel) -> str:
    module = k.caller_module()
    return module.name if module is not None else "kernel"


def _read_alg(k: Kernel, kind: str, address: int, alg: int) -> Registration:
    name = k.memory.read_cstring(alg + CRA_NAME, 128).decode("utf-8", "replace")
    driver = k.memory.read_cstring(alg + CRA_DRIVER_NAME, 128).decode("utf-8", "replace") or name
    priority = k.memory.read_u32(alg + CRA_PRIORITY)
    priority -= (1 << 32) if priority >> 31 else 0
    reg = Registration(kind, address, alg, name, driver, priority, _owner(k))
    reg.fields.update(cra_ctxsize=k.memory.read_u32(alg + CRA_CTXSIZE), cra_blocksize=k.memory.read_u32(alg + CRA_BLOCKSIZE),
                      cra_init=k.memory.read_u32(alg + CRA_INIT), cra_exit=k.memory.read_u32(alg + CRA_EXIT))
    if kind == "shash":
        words = [k.memory.read_u32(address + 4 * i) for i in range(len(SHASH_FIELDS))]
        reg.fields.update(zip(SHASH_FIELDS, words))
        reg.fields.update(descsize=k.memory.read_u32(address + 40), digestsize=k.memory.read_u32(address + 48),
                          statesize=k.memory.read_u32(address + 52))
    return reg


def _register(k: Kernel, reg: Registration) -> int:
    crypto = k.subsystem(Crypto)
    if any(r.driver_name == reg.driver_name for r in crypto.registered):
        return -EEXIST
    if reg.kind == "shash" and (reg.fields["digestsize"] > 64 or reg.fields["descsize"] > 360):
        return -22  # -EINVAL, as shash_prepare_alg
    crypto.registered.append(reg)
    return 0


def _unregister(k: Kernel, address: int) -> int:
    crypto = k.subsystem(Crypto)
    for reg in crypto.registered:
        if reg.address == address:
            crypto.registered.remove(reg)
            return 0
    return -ENOENT


@service("int crypto_register_shash(struct shash_alg *alg)")
def crypto_register_shash(k: Kernel, alg: int) -> int:
    """Register a synchronous hash."""
    return _register(k, _read_alg(k, "shash", alg, alg + SHASH_BASE))


@service("void crypto_unregister_shash(struct shash_alg *alg)")
def crypto_unregister_shash(k: Kernel, alg: int) -> None:
    """Unregister a synchronous hash."""
    _unregister(k, alg)


def _register_array(k: Kernel, algs: int, count: int, size: int, register: Callable[[Kernel, int], int]) -> int:
    """Register ``count`` structs of ``size`` bytes; all or nothing, as Linux."""
    done = []
    for address in k.memory.array(algs, count, size, "algorithm array"):
        result = register(k, address)
        if result < 0:
            for earlier in done:
                _unregister(k, earlier)
            return result
        done.append(address)
    return 0


@service("int crypto_register_shashes(struct shash_alg *algs, int count)")
def crypto_register_shashes(k: Kernel, algs: int, count: int) -> int:
    """Register an array of hashes; all or nothing."""
    return _register_array(k, algs, count, SHASH_SIZE, crypto_register_shash)


@service("void crypto_unregister_shashes(struct shash_alg *algs, int count)")
def crypto_unregister_shashes(k: Kernel, algs: int, count: int) -> None:
    """Unregister an array of hashes (in reverse, as Linux)."""
    for address in reversed(k.memory.array(algs, count, SHASH_SIZE, "hash array")):
        _unregister(k, address)


@service("int crypto_register_alg(struct crypto_alg *alg)")
def crypto_register_alg(k: Kernel, alg: int) -> int:
    """Register a plain algorithm (cipher, compression)."""
    return _register(k, _read_alg(k, "alg", alg, alg))


@service("int crypto_unregister_alg(struct crypto_alg *alg)")
def crypto_unregister_alg(k: Kernel, alg: int) -> int:
    """Unregister a plain algorithm."""
    _unregister(k, alg)
    return 0


@service("int crypto_register_algs(struct crypto_alg *algs, int count)")
def crypto_register_algs(k: Kernel, algs: int, count: int) -> int:
    """Register an array of plain algorithms."""
    return _register_array(k, algs, count, CRYPTO_ALG_SIZE, crypto_register_alg)


@service("void crypto_unregister_algs(struct crypto_alg *algs, int count)")
def crypto_unregister_algs(k: Kernel, algs: int, count: int) -> None:
    """Unregister an array of plain algorithms."""
    for address in reversed(k.memory.array(algs, count, CRYPTO_ALG_SIZE, "algorithm array")):
        _unregister(k, address)


class Shash:
    """A registered shash used from Python, as ``crypto_alloc_shash`` + ``shash_desc`` would.

    >>> h = Shash(k, "crc32c")
    >>> h.digest(b"123456789")
    """

    def __init__(self, k: Kernel, name: str) -> None:
        self.k = k
        self.reg = k.subsystem(Crypto).find(name, "shash")
        f = self.reg.fields
        self.digestsize = f["digestsize"]
        self.descsize = f["descsize"]
        self.tfm = k.memory.alloc(SHASH_TFM_BASE + TFM_CTX + max(f["cra_ctxsize"], 4))
        if not self.tfm:
            raise SandboxError("cannot allocate a crypto_shash")
        k.memory.write_u32(self.tfm, self.descsize)
        k.memory.write_u32(self.tfm + SHASH_TFM_BASE + TFM_ALG, self.reg.alg)
        if f["cra_init"]:
            self._check(k.call(f["cra_init"], self.tfm + SHASH_TFM_BASE), "cra_init")
        if f["init_tfm"]:
            self._check(k.call(f["init_tfm"], self.tfm), "init_tfm")
        self.desc = k.memory.alloc(DESC_CTX + max(self.descsize, 4))
        k.memory.write_u32(self.desc, self.tfm)

    def _check(self, result: int, what: str) -> int:
        if result < 0:
            raise SandboxError(f"{self.reg.driver_name}: {what} returned {result}")
        return result

    def _with_buffer(self, data: bytes, fn: int, what: str, *extra: int) -> int:
        buf = self.k.memory.alloc(max(len(data), 1))
        try:
            self.k.memory.write(buf, data)
            return self._check(self.k.call(fn, self.desc, buf, len(data), *extra), what)
        finally:
            self.k.memory.free(buf)

    def setkey(self, key: bytes) -> None:
        """The algorithm's setkey on the tfm."""
        fn = self.reg.fields["setkey"]
        if not fn:
            raise SandboxError(f"{self.reg.driver_name} has no setkey")
        buf = self.k.memory.alloc(max(len(key), 1))
        try:
            self.k.memory.write(buf, key)
            self._check(self.k.call(fn, self.tfm, buf, len(key)), "setkey")
        finally:
            self.k.memory.free(buf)

    def init(self) -> None:
        """shash init."""
        self._check(self.k.call(self.reg.fields["init"], self.desc), "init")

    def update(self, data: bytes) -> None:
        """shash update."""
        self._with_buffer(data, self.reg.fields["update"], "update")

    def final(self) -> bytes:
        """shash final: the digest."""
        out = self.k.memory.alloc(max(self.digestsize, 4))
        try:
            self._check(self.k.call(self.reg.fields["final"], self.desc, out), "final")
            return self.k.memory.read(out, self.digestsize)
        finally:
            self.k.memory.free(out)

    def digest(self, data: bytes, chunks: int = 1) -> bytes:
        """init, update (in ``chunks`` pieces), final."""
        self.init()
        step = max(1, -(-len(data) // chunks))
        for i in range(0, len(data), step):
            self.update(data[i : i + step])
        return self.final()

    def close(self) -> None:
        """Free the tfm and desc (running cra_exit / exit_tfm)."""
        f = self.reg.fields
        if f["exit_tfm"]:
            self.k.call(f["exit_tfm"], self.tfm)
        if f["cra_exit"]:
            self.k.call(f["cra_exit"], self.tfm + SHASH_TFM_BASE)
        self.k.memory.free(self.desc)
        self.k.memory.free(self.tfm)


# struct crypto_template (checked against ccm.ko): list 0, instances 8, module 12, create 16, name[128] 20; 148 bytes.
TEMPLATE_SIZE, TEMPLATE_CREATE, TEMPLATE_NAME = 148, 16, 20


class Templates:
    """Registered crypto templates ("ccm", "hmac", ...), by address."""

    def __init__(self) -> None:
        self.registered: dict[int, tuple[str, str, int]] = {}  # address -> (name, owner, create)

    def clone(self) -> Templates:
        """A copy for snapshots."""
        twin = Templates()
        twin.registered = dict(self.registered)
        return twin

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """Templates still registered by the module."""
        leaks = []
        for address, (name, owner, _) in list(self.registered.items()):
            if owner == module.name:
                leaks.append(f"crypto template {name} still registered")
                del self.registered[address]
        return leaks


@service("int crypto_register_template(struct crypto_template *tmpl)")
def crypto_register_template(k: Kernel, tmpl: int) -> int:
    """Add a template; -EEXIST if the same struct is registered (Linux checks the pointer)."""
    templates = k.subsystem(Templates)
    if tmpl in templates.registered:
        return -EEXIST
    name = k.memory.read_cstring(tmpl + TEMPLATE_NAME, 128).decode("utf-8", "replace")
    templates.registered[tmpl] = (name, _owner(k), k.memory.read_u32(tmpl + TEMPLATE_CREATE))
    return 0


@service("void crypto_unregister_template(struct crypto_template *tmpl)")
def crypto_unregister_template(k: Kernel, tmpl: int) -> None:
    """Remove a template (no instances exist here to tear down)."""
    k.subsystem(Templates).registered.pop(tmpl, None)


@service("int crypto_register_templates(struct crypto_template *tmpls, int count)")
def crypto_register_templates(k: Kernel, tmpls: int, count: int) -> int:
    """Register an array of templates; all or nothing."""
    for i, address in enumerate(k.memory.array(tmpls, count, TEMPLATE_SIZE, "template array")):
        result = crypto_register_template(k, address)
        if result:
            for j in reversed(range(i)):
                crypto_unregister_template(k, tmpls + j * TEMPLATE_SIZE)
            return result
    return 0


@service("void crypto_unregister_templates(struct crypto_template *tmpls, int count)")
def crypto_unregister_templates(k: Kernel, tmpls: int, count: int) -> None:
    """Unregister an array of templates (in reverse)."""
    for address in reversed(k.memory.array(tmpls, count, TEMPLATE_SIZE, "template array")):
        crypto_unregister_template(k, address)
