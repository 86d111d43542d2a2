"""Write kernel_stubs/linux/crypto/testmgr_vectors.json: crypto/testmgr.c's test table from Debian's vmlinux.

Linux 6.1 runs ``alg_test`` on every algorithm a module registers
(CONFIG_CRYPTO_MANAGER_DISABLE_TESTS is not set in Debian's config); its
table ``alg_test_descs`` (217 entries, sorted by name) and the vectors it
points at are data in the kernel image. This reads them from the debug
vmlinux ``tools/gen-linux-layouts`` caches (Debian's linux-image-*-dbg), so
the sandbox's self-tests use the very vectors Debian's kernel uses:

    python3 tools/testmgr_from_vmlinux.py [VMLINUX]   # default: the cached vmlinux

Every entry keeps its name, generic driver, test kind (the name of its
``test`` function: hash, skcipher, aead, ...) and fips_allowed; the vectors
are kept for the kinds the sandbox runs (hash, crc32c's hash part,
skcipher, the latter also used for plain ciphers through their "ecb(...)"
entry, aead and drbg). Layouts are
6.1 i386 (``ptype /o`` in gdb): ``struct alg_test_desc`` alg 0,
generic_driver 4, test 8, fips_allowed 12, suite 16 (vecs 16, count 20),
32 bytes; ``struct hash_testvec`` key 0, plaintext 4, digest 8, psize 12,
ksize 16, setkey_error 20, digest_error 24, fips_skip 28, 32 bytes;
``struct cipher_testvec`` key 0, iv 4, iv_out 8, ptext 12, ctext 16, wk
20, klen 22, len 24, fips_skip 28, generates_iv 29, setkey_error 32,
crypt_error 36, 40 bytes; ``struct drbg_testvec`` entropy 0, entropylen 4,
entpra 8, entprb 12, entprlen 16, addtla 20, addtlb 24, addtllen 28, pers
32, perslen 36, expected 40, expectedlen 44, 48 bytes; ``struct
aead_testvec`` key 0, iv 4, ptext 8, assoc 12, ctext 16, novrfy 20, wk 21,
klen 22, plen 24, clen 28, alen 32, setkey_error 36, setauthsize_error 40,
crypt_error 44, 48 bytes (``struct aead_test_suite``: vecs 16, count 20,
einval_allowed bit 0 and aad_iv bit 1 of the word at 24).
"""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

from elftools.elf.elffile import ELFFile

DESC_SIZE, HASH_VEC_SIZE, CIPHER_VEC_SIZE, DRBG_VEC_SIZE, AEAD_VEC_SIZE = 32, 32, 40, 48, 48
DIGEST_MAX = 64  # HASH_MAX_DIGESTSIZE: a digest is compared over the algorithm's digest size
IV_MAX = 32  # the largest skcipher IV (xchacha, adiantum)
KINDS = ("hash", "skcipher", "cipher", "aead", "null", "crc32c", "drbg", "cprng", "comp", "akcipher", "kpp")
ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "kernel_stubs/linux/crypto/testmgr_vectors.json"


def default_vmlinux() -> Path:
    cache = Path.home() / ".cache/module-sandbox/linux-dbg/usr/lib/debug/boot"
    found = sorted(cache.glob("vmlinux-*"))
    if not found:
        raise SystemExit(f"no vmlinux under {cache}: run tools/gen-linux-layouts first (it fetches the -dbg package)")
    return found[-1]


class Image:
    """Reads of the kernel image by virtual address."""

    def __init__(self, path: Path) -> None:
        self.file = path.open("rb")
        self.elf = ELFFile(self.file)
        self.sections = [s for s in self.elf.iter_sections() if s["sh_addr"] and s["sh_type"] != "SHT_NOBITS"]
        symtab = self.elf.get_section_by_name(".symtab")
        self.symbols = {sym.name: (sym["st_value"], sym["st_size"]) for sym in symtab.iter_symbols() if sym.name}
        self.names = {value: name for name, (value, _) in self.symbols.items()}

    def read(self, address: int, size: int) -> bytes:
        for section in self.sections:
            start = section["sh_addr"]
            if start <= address and address + size <= start + section["sh_size"]:
                self.file.seek(section["sh_offset"] + address - start)
                return self.file.read(size)
        raise ValueError(f"{address:#x}+{size} is not in a loaded section of the image")

    def u32(self, address: int) -> int:
        return struct.unpack("<I", self.read(address, 4))[0]

    def cstring(self, address: int) -> str:
        return self.read(address, 128).split(b"\0")[0].decode()

    def blob(self, address: int, size: int) -> str | None:
        return self.read(address, size).hex() if address and size else ("" if address else None)


def hash_vectors(image: Image, vecs: int, count: int) -> list[dict]:
    out = []
    for i in range(count):
        at = vecs + i * HASH_VEC_SIZE
        key, plain, digest, psize = struct.unpack("<4I", image.read(at, 16))
        ksize = struct.unpack("<H", image.read(at + 16, 2))[0]
        setkey_error, digest_error = struct.unpack("<2i", image.read(at + 20, 8))
        out.append({"key": image.blob(key, ksize) if ksize else None, "plaintext": image.blob(plain, psize) or "",
                    "digest": image.blob(digest, DIGEST_MAX), "setkey_error": setkey_error,
                    "digest_error": digest_error, "fips_skip": bool(image.read(at + 28, 1)[0])})
    return out


def cipher_vectors(image: Image, vecs: int, count: int) -> list[dict]:
    out = []
    for i in range(count):
        at = vecs + i * CIPHER_VEC_SIZE
        key, iv, iv_out, ptext, ctext = struct.unpack("<5I", image.read(at, 20))
        wk, klen, length = image.read(at + 20, 1)[0], *struct.unpack("<HI", image.read(at + 22, 6))
        fips_skip, generates_iv = image.read(at + 28, 2)
        setkey_error, crypt_error = struct.unpack("<2i", image.read(at + 32, 8))
        out.append({"key": image.blob(key, klen) or "", "iv": image.blob(iv, IV_MAX),
                    "iv_out": image.blob(iv_out, IV_MAX), "ptext": image.blob(ptext, length) or "",
                    "ctext": image.blob(ctext, length) or "", "wk": wk, "fips_skip": bool(fips_skip),
                    "generates_iv": bool(generates_iv), "setkey_error": setkey_error, "crypt_error": crypt_error})
    return out


def drbg_vectors(image: Image, vecs: int, count: int) -> list[dict]:
    out = []
    for i in range(count):
        (entropy, entropylen, entpra, entprb, entprlen, addtla, addtlb, addtllen, pers, perslen, expected,
         expectedlen) = struct.unpack("<12I", image.read(vecs + i * DRBG_VEC_SIZE, DRBG_VEC_SIZE))
        out.append({"entropy": image.blob(entropy, entropylen) or "", "entpra": image.blob(entpra, entprlen) or "",
                    "entprb": image.blob(entprb, entprlen) or "", "addtla": image.blob(addtla, addtllen) or "",
                    "addtlb": image.blob(addtlb, addtllen) or "", "pers": image.blob(pers, perslen) or "",
                    "expected": image.blob(expected, expectedlen) or ""})
    return out


def aead_vectors(image: Image, vecs: int, count: int) -> list[dict]:
    out = []
    for i in range(count):
        at = vecs + i * AEAD_VEC_SIZE
        key, iv, ptext, assoc, ctext = struct.unpack("<5I", image.read(at, 20))
        novrfy, wk, klen = image.read(at + 20, 3)
        plen, clen, alen = struct.unpack("<3I", image.read(at + 24, 12))
        setkey_error, setauthsize_error, crypt_error = struct.unpack("<3i", image.read(at + 36, 12))
        out.append({"key": image.blob(key, klen) or "", "iv": image.blob(iv, IV_MAX),
                    "ptext": image.blob(ptext, plen) or "", "assoc": image.blob(assoc, alen) or "",
                    "ctext": image.blob(ctext, clen) or "", "novrfy": novrfy, "wk": wk,
                    "setkey_error": setkey_error, "setauthsize_error": setauthsize_error,
                    "crypt_error": crypt_error})
    return out


def descs(image: Image) -> list[dict]:
    table, size = image.symbols["alg_test_descs"]
    if size % DESC_SIZE:
        raise SystemExit(f"alg_test_descs is {size} bytes, not a whole number of {DESC_SIZE}-byte entries")
    out = []
    for i in range(size // DESC_SIZE):
        at = table + i * DESC_SIZE
        alg, generic, test, fips = struct.unpack("<4I", image.read(at, 16))
        vecs, count = struct.unpack("<2I", image.read(at + 16, 8))
        kind = image.names.get(test, "").removeprefix("alg_test_")
        if kind not in KINDS:
            raise SystemExit(f"alg_test_descs[{i}]: test function {image.names.get(test, hex(test))} is not known")
        entry = {"alg": image.cstring(alg), "generic_driver": image.cstring(generic) if generic else None,
                 "test": kind, "fips_allowed": fips}
        if kind in ("hash", "crc32c"):
            entry["vectors"] = hash_vectors(image, vecs, count)
        elif kind == "skcipher":
            entry["vectors"] = cipher_vectors(image, vecs, count)
        elif kind == "aead":
            entry["vectors"] = aead_vectors(image, vecs, count)
            flags = image.u32(at + 24)
            entry["einval_allowed"], entry["aad_iv"] = bool(flags & 1), bool(flags & 2)
        elif kind == "drbg":
            entry["vectors"] = drbg_vectors(image, vecs, count)
        out.append(entry)
    return out


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else default_vmlinux()
    table = {"source": path.name, "descs": descs(Image(path))}
    OUT.write_text(json.dumps(table, indent=0, separators=(",", ":")) + "\n")
    print(f"{OUT.relative_to(ROOT)}: {len(table['descs'])} entries from {path.name}")


if __name__ == "__main__":
    main()
