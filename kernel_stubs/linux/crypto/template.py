"""Templates and their instances, as crypto/algapi.c and crypto/algboss.c make them (Linux 6.1 i386).

``struct crypto_template``: list 0, instances 8, module 12, create 16,
name 20 (128). ``struct crypto_instance`` is a ``struct crypto_alg``
followed by tmpl (336) and the spawns/list union (340), context at 368;
``skcipher_instance``/``aead_instance`` put it at 48 (after ``free`` and the
first 40 bytes of their alg), ``shash_instance`` at 64. ``struct
crypto_spawn``: list 0, alg 8, inst/next 12, frontend 16, mask 20, dead 24,
registered 25.

Asking for "ctr(aes)" when nothing has that name is what cryptomgr does:
the "ctr" template (its module loaded by alias when a tree is known) gets
``create(tmpl, tb)`` with tb[0] a CRYPTOA_TYPE attribute (the type and
mask asked for) and tb[1..] CRYPTOA_ALG attributes naming the arguments; the
module's create grabs its spawns (each a lookup that may build further
instances: "gcm(aes)" grabs "ctr(aes)"), fills the instance and registers it.
An instance lives until its template is unregistered or an algorithm it was
built on goes away; it is then unregistered and freed by its ``free``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sandbox.services import service

from . import flags as F
from .guest import alloc, callback, cstring, free, gcall, owner_of
from .registry import (
    CRA_ALIGNMASK,
    CRA_BLOCKSIZE,
    CRA_CTXSIZE,
    CRA_DRIVER_NAME,
    CRA_FLAGS,
    CRA_MODULE,
    CRA_NAME,
    CRA_PRIORITY,
    CRA_U,
    Alg,
    Crypto,
    Template,
    hold,
    lookup,
    put,
    request_module,
)
from .tfm import LEGACY, Frontend, create, destroy

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

TEMPLATE_SIZE = 148
T_MODULE, T_CREATE, T_NAME = 12, 16, 20
I_TMPL, I_SPAWNS, I_CTX = 336, 340, 368
S_ALG, S_INST, S_FRONTEND, S_MASK, S_DEAD, S_REGISTERED = 8, 12, 16, 20, 24, 25
INSTANCE_AT = {"skcipher": 48, "aead": 48, "shash": 64, "ahash": 56}  # struct crypto_instance in <kind>_instance
ERR_MAX = 0xFFFFF001


@dataclass(slots=True)
class Spawn:
    """A grabbed algorithm (struct crypto_spawn) of an instance being built or registered."""

    alg: Alg
    inst: int  # struct crypto_instance
    registered: bool = False


class Spawns:
    """Live spawns, by address."""

    def __init__(self) -> None:
        self.live: dict[int, Spawn] = {}


class FrontendTypes:
    """Guest-side tokens for the crypto_type pointers grabbed spawns keep in ``spawn->frontend``."""

    def __init__(self) -> None:
        self.address: dict[str, int] = {}
        self.frontend: dict[int, Frontend] = {}

    def of(self, k: Kernel, frontend: Frontend) -> int:
        """The token for ``frontend`` (a small struct crypto_type: type and mask set)."""
        if frontend.name not in self.address:
            token = k.memory.alloc(44)
            k.memory.write_u32(token + 28, frontend.type)
            k.memory.write_u32(token + 32, ~F.TYPE_MASK & 0xFFFFFFFF)  # maskclear
            k.memory.write_u32(token + 36, frontend.maskset)
            k.memory.write_u32(token + 40, frontend.base)  # tfmsize
            self.address[frontend.name] = token
            self.frontend[token] = frontend
        return self.address[frontend.name]


# -- templates ----------------------------------------------------------------------------
@service("int crypto_register_template(struct crypto_template *tmpl)")
def crypto_register_template(k: Kernel, tmpl: int) -> int:
    """Add a template; -EEXIST if that struct is registered already (Linux compares the pointer)."""
    crypto = k.subsystem(Crypto)
    if tmpl in crypto.templates:
        return -F.EEXIST
    crypto.templates[tmpl] = Template(tmpl, cstring(k, tmpl + T_NAME), owner_of(k), k.memory.read_u32(tmpl + T_CREATE))
    return 0


@service("void crypto_unregister_template(struct crypto_template *tmpl)")
def crypto_unregister_template(k: Kernel, tmpl: int) -> None:
    """Remove a template and every instance it made (unregistered, then freed by its own free)."""
    crypto = k.subsystem(Crypto)
    if crypto.templates.pop(tmpl, None) is None:
        k.warn(f"crypto_unregister_template: {tmpl:#x} is not a registered template")
        return
    for alg in [a for a in crypto.algs if a.template == tmpl]:
        remove_instance(k, alg)


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
    """Unregister an array of templates (last first)."""
    for address in reversed(k.memory.array(tmpls, count, TEMPLATE_SIZE, "template array")):
        crypto_unregister_template(k, address)


def find_template(k: Kernel, name: str) -> Template | None:
    """crypto_lookup_template: a registered template, else its module by the ``crypto-<name>`` alias."""
    crypto = k.subsystem(Crypto)
    for attempt in range(2):
        for tmpl in crypto.templates.values():
            if tmpl.name == name:
                return tmpl
        if attempt == 0 and not request_module(k, f"crypto-{name}"):
            return None
    return None


def split_name(name: str) -> tuple[str, list[str]] | None:
    """"gcm(ctr(aes),ghash)" -> ("gcm", ["ctr(aes)", "ghash"]); None when it is not a template name."""
    if "(" not in name or not name.endswith(")"):
        return None
    head, inner = name[: name.index("(")], name[name.index("(") + 1 : -1]
    args, depth, start = [], 0, 0
    for i, char in enumerate(inner):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            return None
        if char == "," and depth == 0:
            args.append(inner[start:i])
            start = i + 1
    args.append(inner[start:])
    if depth or not head or any(not a for a in args) or len(args) > F.CRYPTO_MAX_ATTRS:
        return None
    return head, args


def instantiate(k: Kernel, name: str, type_: int, mask: int) -> int:
    """cryptomgr_probe: build ``name`` from its template; 0, or the errno (-ENOENT without a template)."""
    parsed = split_name(name)
    crypto = k.subsystem(Crypto)
    if parsed is None or name in crypto.building:
        return -F.ENOENT
    tmpl = find_template(k, parsed[0])
    if tmpl is None:
        return -F.ENOENT
    args = parsed[1]
    attrs = 4 + 8 + len(args) * (4 + F.CRYPTO_MAX_ALG_NAME)
    tb = alloc(k, 4 * (len(args) + 2) + attrs)
    if not tb:
        return -F.ENOMEM
    mem = k.memory
    at = tb + 4 * (len(args) + 2)
    mem.write_u32(tb, at)
    mem.write(at, (12).to_bytes(2, "little") + F.CRYPTOA_TYPE.to_bytes(2, "little"))
    mem.write_u32(at + 4, type_ & 0xFFFFFFFF)
    mem.write_u32(at + 8, mask & 0xFFFFFFFF)
    at += 12
    for i, arg in enumerate(args):
        mem.write_u32(tb + 4 * (i + 1), at)
        mem.write(at, (4 + F.CRYPTO_MAX_ALG_NAME).to_bytes(2, "little") + F.CRYPTOA_ALG.to_bytes(2, "little"))
        mem.write(at + 4, arg.encode()[: F.CRYPTO_MAX_ALG_NAME - 1] + b"\0")
        at += 4 + F.CRYPTO_MAX_ALG_NAME
    crypto.building.add(name)
    try:
        return gcall(k, tmpl.create, tmpl.address, tb)
    finally:
        crypto.building.discard(name)
        free(k, tb)


# -- attributes ---------------------------------------------------------------------------
def _err_ptr(errno: int) -> int:
    return errno & 0xFFFFFFFF


@service("struct crypto_attr_type *crypto_get_attr_type(struct rtattr **tb)")
def crypto_get_attr_type(k: Kernel, tb: int) -> int:
    """tb[0] as a crypto_attr_type, or ERR_PTR(-ENOENT/-EINVAL)."""
    rta = k.memory.read_u32(tb)
    if not rta:
        return _err_ptr(-F.ENOENT)
    length, kind = struct.unpack("<HH", k.memory.read(rta, 4))
    if length - 4 < 8 or kind != F.CRYPTOA_TYPE:
        return _err_ptr(-F.EINVAL)
    return rta + 4


@service("int crypto_check_attr_type(struct rtattr **tb, u32 type, u32 *mask_ret)")
def crypto_check_attr_type(k: Kernel, tb: int, type_: int, mask_ret: int) -> int:
    """-EINVAL unless the requested type fits ``type``; *mask_ret: the flags the instance must inherit."""
    algt = crypto_get_attr_type(k, tb)
    if algt >= ERR_MAX:
        return algt - (1 << 32)
    want, mask = k.memory.read_u32(algt), k.memory.read_u32(algt + 4)
    if (want ^ type_) & mask:
        return -F.EINVAL
    k.memory.write_u32(mask_ret, (want ^ F.INHERITED_FLAGS) & mask & F.INHERITED_FLAGS)
    return 0


@service("const char *crypto_attr_alg_name(struct rtattr *rta)")
def crypto_attr_alg_name(k: Kernel, rta: int) -> int:
    """The algorithm name of a CRYPTOA_ALG attribute, or ERR_PTR(-ENOENT/-EINVAL)."""
    if not rta:
        return _err_ptr(-F.ENOENT)
    length, kind = struct.unpack("<HH", k.memory.read(rta, 4))
    if length - 4 < F.CRYPTO_MAX_ALG_NAME or kind != F.CRYPTOA_ALG:
        return _err_ptr(-F.EINVAL)
    k.memory.write(rta + 4 + F.CRYPTO_MAX_ALG_NAME - 1, b"\0")
    return rta + 4


@service("int crypto_inst_setname(struct crypto_instance *inst, const char *name, struct crypto_alg *alg)")
def crypto_inst_setname(k: Kernel, inst: int, name: int, alg: int) -> int:
    """cra_name "name(alg's name)", cra_driver_name "name(alg's driver name)"; -ENAMETOOLONG past 128."""
    template = cstring(k, name)
    names = [f"{template}({cstring(k, alg + CRA_NAME)})", f"{template}({cstring(k, alg + CRA_DRIVER_NAME)})"]
    if any(len(n.encode()) >= F.CRYPTO_MAX_ALG_NAME for n in names):
        return -F.ENAMETOOLONG
    k.memory.write(inst + CRA_NAME, names[0].encode() + b"\0")
    k.memory.write(inst + CRA_DRIVER_NAME, names[1].encode() + b"\0")
    return 0


# -- spawns -------------------------------------------------------------------------------
def grab(k: Kernel, spawn: int, inst: int, name: int, type_: int, mask: int, frontend: Frontend | None) -> int:
    """crypto_grab_spawn: look the algorithm up (building it if need be) and tie it to the instance."""
    mem = k.memory
    if not inst:
        return -F.EINVAL
    if name >= ERR_MAX:  # the result of crypto_attr_alg_name passed straight in
        return name - (1 << 32)
    text = cstring(k, name)
    if frontend is not None:
        mem.write_u32(spawn + S_FRONTEND, k.subsystem(FrontendTypes).of(k, frontend))
        type_, mask = frontend.adjust(type_, mask)
    try:
        alg = lookup(k, text, type_ | F.FIPS_INTERNAL, mask)
    except Exception as error:  # CryptoLookupError; its errno is what Linux returns
        errno = getattr(error, "errno", None)
        if errno is None:
            raise
        return errno
    hold(alg)
    k.subsystem(Spawns).live[spawn] = Spawn(alg, inst)
    mem.write_u32(spawn + S_ALG, alg.base)
    mem.write_u32(spawn + S_MASK, mask & 0xFFFFFFFF)
    mem.write_u32(spawn + S_INST, mem.read_u32(inst + I_SPAWNS))  # spawn->next = inst->spawns
    mem.write_u32(inst + I_SPAWNS, spawn)
    mem.write_u32(inst + CRA_FLAGS, mem.read_u32(inst + CRA_FLAGS) | (alg.flags & F.INHERITED_FLAGS))
    return 0


@service("int crypto_grab_spawn(struct crypto_spawn *spawn, struct crypto_instance *inst, const char *name, "
         "u32 type, u32 mask)")
def crypto_grab_spawn(k: Kernel, spawn: int, inst: int, name: int, type_: int, mask: int) -> int:
    """Grab an algorithm by the spawn's own frontend (none: a plain cipher)."""
    token = k.memory.read_u32(spawn + S_FRONTEND)
    return grab(k, spawn, inst, name, type_, mask, k.subsystem(FrontendTypes).frontend.get(token))


def _grabber(kind: str):
    def grab_kind(k: Kernel, spawn: int, inst: int, name: int, type_: int, mask: int) -> int:
        from .aead import AEAD
        from .hash import AHASH, SHASH
        from .skcipher import SKCIPHER

        frontend = {"skcipher": SKCIPHER, "aead": AEAD, "ahash": AHASH, "shash": SHASH}[kind]
        return grab(k, spawn, inst, name, type_, mask, frontend)

    grab_kind.__doc__ = f"crypto_grab_{kind}: grab a {kind} for an instance."
    return grab_kind


_PROTO = "(struct crypto_{0}_spawn *spawn, struct crypto_instance *inst, const char *name, u32 type, u32 mask)"
crypto_grab_skcipher = service("int crypto_grab_skcipher" + _PROTO.format("skcipher"))(_grabber("skcipher"))
crypto_grab_aead = service("int crypto_grab_aead" + _PROTO.format("aead"))(_grabber("aead"))
crypto_grab_ahash = service("int crypto_grab_ahash" + _PROTO.format("ahash"))(_grabber("ahash"))
crypto_grab_shash = service("int crypto_grab_shash" + _PROTO.format("shash"))(_grabber("shash"))


def drop(k: Kernel, spawn: int) -> None:
    """crypto_drop_spawn."""
    entry = k.subsystem(Spawns).live.pop(spawn, None)
    if entry is not None:
        put(entry.alg)


@service("void crypto_drop_spawn(struct crypto_spawn *spawn)")
def crypto_drop_spawn(k: Kernel, spawn: int) -> None:
    """Let go of a grabbed algorithm."""
    drop(k, spawn)


def _spawn_alg(k: Kernel, spawn: int) -> Alg | int:
    entry = k.subsystem(Spawns).live.get(spawn)
    if entry is None or entry.alg not in k.subsystem(Crypto).algs:
        return -F.EAGAIN  # a dead spawn: its algorithm went away
    return entry.alg


@service("struct crypto_tfm *crypto_spawn_tfm(struct crypto_spawn *spawn, u32 type, u32 mask)")
def crypto_spawn_tfm(k: Kernel, spawn: int, type_: int, mask: int) -> int:
    """A plain transform (a block cipher) of the spawn's algorithm."""
    alg = _spawn_alg(k, spawn)
    return (alg if isinstance(alg, int) else create(k, alg, LEGACY)) & 0xFFFFFFFF


@service("void *crypto_spawn_tfm2(struct crypto_spawn *spawn)")
def crypto_spawn_tfm2(k: Kernel, spawn: int) -> int:
    """A transform of the spawn's algorithm by its frontend (crypto_spawn_skcipher and friends)."""
    alg = _spawn_alg(k, spawn)
    if isinstance(alg, int):
        return alg & 0xFFFFFFFF
    frontend = k.subsystem(FrontendTypes).frontend.get(k.memory.read_u32(spawn + S_FRONTEND), LEGACY)
    return create(k, alg, frontend) & 0xFFFFFFFF


# -- registering instances ----------------------------------------------------------------
def register_instance(k: Kernel, tmpl: int, inst: int, kind: str, prepare_and_register) -> int:
    """crypto_register_instance: the module's free must exist; spawns marked; listed under its template."""
    mem = k.memory
    if not mem.read_u32(inst - INSTANCE_AT[kind]):  # WARN_ON(!inst->free)
        return -F.EINVAL
    mem.write_u32(inst + CRA_MODULE, mem.read_u32(tmpl + T_MODULE))
    mem.write_u32(inst + CRA_FLAGS, mem.read_u32(inst + CRA_FLAGS) | F.INSTANCE)
    spawns = k.subsystem(Spawns).live
    for address, entry in spawns.items():
        if entry.inst == inst:
            entry.registered = True
            mem.write_u32(address + S_INST, inst)
            mem.write(address + S_REGISTERED, b"\1")
    error = prepare_and_register(k, inst - INSTANCE_AT[kind] + 8, inst, tmpl)
    if error:
        return error
    mem.write_u32(inst + I_TMPL, tmpl)
    return 0


@service("int skcipher_register_instance(struct crypto_template *tmpl, struct skcipher_instance *inst)")
def skcipher_register_instance(k: Kernel, tmpl: int, inst: int) -> int:
    """Register a template's skcipher instance."""
    from .skcipher import register_skcipher

    return register_instance(k, tmpl, inst + INSTANCE_AT["skcipher"], "skcipher", register_skcipher)


@service("int aead_register_instance(struct crypto_template *tmpl, struct aead_instance *inst)")
def aead_register_instance(k: Kernel, tmpl: int, inst: int) -> int:
    """Register a template's AEAD instance."""
    from .aead import register_aead

    return register_instance(k, tmpl, inst + INSTANCE_AT["aead"], "aead", register_aead)


@service("int shash_register_instance(struct crypto_template *tmpl, struct shash_instance *inst)")
def shash_register_instance(k: Kernel, tmpl: int, inst: int) -> int:
    """Register a template's shash instance."""
    from .hash import register_shash

    return register_instance(k, tmpl, inst + INSTANCE_AT["shash"], "shash", register_shash)


@service("void shash_free_singlespawn_instance(struct shash_instance *inst)")
def shash_free_singlespawn_instance(k: Kernel, inst: int) -> None:
    """Drop the one spawn in the instance context, free the instance."""
    drop(k, inst + INSTANCE_AT["shash"] + I_CTX)
    free(k, inst)


def remove_instance(k: Kernel, alg: Alg) -> None:
    """Unregister an instance (and what was built on it), then its kind's free(inst)."""
    crypto = k.subsystem(Crypto)
    if alg not in crypto.algs:
        return
    remove_instances_using(k, alg)
    crypto.algs.remove(alg)
    if alg.users:
        k.warn(f"crypto instance {alg.driver_name} removed while {alg.users} transform(s) still use it")
    free_fn = k.memory.read_u32(alg.address - 8)
    if free_fn:
        gcall(k, free_fn, alg.address - 8)


def remove_instances_using(k: Kernel, alg: Alg) -> None:
    """crypto_remove_spawns: instances that grabbed ``alg`` go with it."""
    for spawn in list(k.subsystem(Spawns).live.values()):
        if spawn.alg is alg and spawn.registered:
            owner = k.subsystem(Crypto).by_base(spawn.inst)
            if owner is not None:
                remove_instance(k, owner)


# -- skcipher_alloc_instance_simple and its kernel-side callbacks --------------------------
def _simple_ctx(k: Kernel, tfm: int) -> int:
    return tfm + 8 + 24  # crypto_skcipher_ctx(): a struct skcipher_ctx_simple { struct crypto_cipher *cipher; }


@callback("void skcipher_free_instance_simple(struct skcipher_instance *inst)")
def skcipher_free_instance_simple(k: Kernel, inst: int) -> None:
    """Drop the cipher spawn, free the instance."""
    drop(k, inst + INSTANCE_AT["skcipher"] + I_CTX)
    free(k, inst)


@callback("int skcipher_setkey_simple(struct crypto_skcipher *tfm, const u8 *key, unsigned int keylen)")
def skcipher_setkey_simple(k: Kernel, tfm: int, key: int, keylen: int) -> int:
    """Key the underlying cipher (request flags passed down)."""
    from .kinds import cipher_setkey
    from .tfm import TFM_FLAGS

    cipher = k.memory.read_u32(_simple_ctx(k, tfm))
    flags = k.memory.read_u32(cipher + TFM_FLAGS) & ~F.TFM_REQ_MASK
    k.memory.write_u32(cipher + TFM_FLAGS, flags | (k.memory.read_u32(tfm + 8 + TFM_FLAGS) & F.TFM_REQ_MASK))
    return cipher_setkey(k, cipher, key, keylen)


@callback("int skcipher_init_tfm_simple(struct crypto_skcipher *tfm)")
def skcipher_init_tfm_simple(k: Kernel, tfm: int) -> int:
    """A cipher transform from the instance's spawn, kept in the context."""
    alg_base = k.memory.read_u32(tfm + 8 + 16)
    cipher = crypto_spawn_tfm(k, alg_base + I_CTX, F.TYPE_CIPHER, F.TYPE_MASK)
    if cipher >= ERR_MAX:
        return cipher - (1 << 32)
    k.memory.write_u32(_simple_ctx(k, tfm), cipher)
    return 0


@callback("void skcipher_exit_tfm_simple(struct crypto_skcipher *tfm)")
def skcipher_exit_tfm_simple(k: Kernel, tfm: int) -> None:
    """Free the cipher transform."""
    destroy(k, k.memory.read_u32(_simple_ctx(k, tfm)))


@service("struct skcipher_instance *skcipher_alloc_instance_simple(struct crypto_template *tmpl, struct rtattr **tb)")
def skcipher_alloc_instance_simple(k: Kernel, tmpl: int, tb: int) -> int:
    """An skcipher instance over one block cipher (ecb, cbc, ctr...): names, sizes and the simple
    setkey/init/exit set, for the template to finish and register."""
    mask_ret = alloc(k, 4)
    error = crypto_check_attr_type(k, tb, F.TYPE_SKCIPHER, mask_ret)
    mask = k.memory.read_u32(mask_ret)
    free(k, mask_ret)
    if error:
        return _err_ptr(error)
    inst = alloc(k, 416 + 28)  # sizeof(struct skcipher_instance) + sizeof(struct crypto_cipher_spawn)
    if not inst:
        return _err_ptr(-F.ENOMEM)
    base = inst + INSTANCE_AT["skcipher"]
    spawn = base + I_CTX
    name = crypto_attr_alg_name(k, k.memory.read_u32(tb + 4))
    error = grab(k, spawn, base, name, F.TYPE_CIPHER, mask | F.TYPE_MASK, None)
    if not error:
        cipher = k.memory.read_u32(spawn + S_ALG)
        error = crypto_inst_setname(k, base, tmpl + T_NAME, cipher)
    if error:
        skcipher_free_instance_simple(k, inst)
        return _err_ptr(error)
    mem = k.memory
    mem.write_u32(inst, skcipher_free_instance_simple.address(k))
    for offset in (CRA_BLOCKSIZE, CRA_ALIGNMASK, CRA_PRIORITY):
        mem.write_u32(base + offset, mem.read_u32(cipher + offset))
    alg = inst + 8
    mem.write_u32(alg + 20, mem.read_u32(cipher + CRA_U))  # min_keysize = cia_min_keysize
    mem.write_u32(alg + 24, mem.read_u32(cipher + CRA_U + 4))  # max_keysize
    mem.write_u32(alg + 28, mem.read_u32(cipher + CRA_BLOCKSIZE))  # ivsize
    mem.write_u32(base + CRA_CTXSIZE, 4)
    mem.write_u32(alg + 0, skcipher_setkey_simple.address(k))
    mem.write_u32(alg + 12, skcipher_init_tfm_simple.address(k))
    mem.write_u32(alg + 16, skcipher_exit_tfm_simple.address(k))
    return inst


@service("int ahash_register_instance(struct crypto_template *tmpl, struct ahash_instance *inst)")
def ahash_register_instance(k: Kernel, tmpl: int, inst: int) -> int:
    """Register a template's ahash instance."""
    from .hash import register_ahash

    return register_instance(k, tmpl, inst + INSTANCE_AT["ahash"], "ahash", register_ahash)


@service("void crypto_unregister_instance(struct crypto_instance *inst)")
def crypto_unregister_instance(k: Kernel, inst: int) -> None:
    """Remove one instance (and what was built on it), freed by its own free."""
    alg = k.subsystem(Crypto).by_base(inst)
    if alg is None:
        k.warn(f"crypto_unregister_instance: {inst:#x} is not a registered instance")
        return
    remove_instance(k, alg)
