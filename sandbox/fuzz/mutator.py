"""The built-in mutator: AFL-style havoc on byte strings, seeded and deterministic.

Each call applies 1-8 stacked edits chosen from: flip a bit, set a byte to
an interesting value, add or subtract a small number to a byte or a
little-endian 16/32-bit word, set a word to an interesting value (0, 1,
-1, 16, 17, 64, 0x7fffffff, ...: the boundaries drivers check), copy a
block within the input, splice with another corpus entry, and insert or
delete a few bytes. The same ``random.Random`` state gives the same
mutations, so a campaign is reproducible from its seed.
"""

from __future__ import annotations

import random
import struct

INTERESTING_8 = (0, 1, 2, 4, 8, 15, 16, 17, 31, 32, 33, 55, 56, 57, 63, 64, 100, 127, 128, 255)
INTERESTING_32 = (0, 1, 2, 4, 8, 16, 17, 32, 56, 57, 64, 255, 256, 4096, 0x7FFF, 0x8000, 0xFFFF,
                  0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)
MAX_INPUT = 4096


def mutate(data: bytes, rng: random.Random, corpus: list[bytes] | None = None) -> bytes:
    """A mutated copy of ``data`` (never longer than MAX_INPUT bytes)."""
    out = bytearray(data or b"\0")
    for _ in range(1 << rng.randint(0, 3)):
        _EDITS[rng.randrange(len(_EDITS))](out, rng, corpus)
        if not out:
            out.append(0)
    return bytes(out[:MAX_INPUT])


def _flip(out: bytearray, rng: random.Random, corpus: list[bytes] | None) -> None:
    bit = rng.randrange(len(out) * 8)
    out[bit >> 3] ^= 1 << (bit & 7)


def _interesting_byte(out: bytearray, rng: random.Random, corpus: list[bytes] | None) -> None:
    out[rng.randrange(len(out))] = rng.choice(INTERESTING_8)


def _random_byte(out: bytearray, rng: random.Random, corpus: list[bytes] | None) -> None:
    out[rng.randrange(len(out))] = rng.randrange(256)


def _arith_byte(out: bytearray, rng: random.Random, corpus: list[bytes] | None) -> None:
    i = rng.randrange(len(out))
    out[i] = (out[i] + rng.choice((-1, 1)) * rng.randint(1, 35)) & 0xFF


def _word(out: bytearray, rng: random.Random, corpus: list[bytes] | None) -> None:
    width = rng.choice((2, 4))
    if len(out) < width:
        out.extend(bytes(width - len(out)))
    # Words at aligned offsets most of the time: struct fields are aligned.
    i = rng.randrange(0, len(out) - width + 1, width if rng.random() < 0.8 and len(out) >= width else 1)
    fmt = "<H" if width == 2 else "<I"
    mask = (1 << (8 * width)) - 1
    if rng.random() < 0.5:
        value = rng.choice(INTERESTING_32) & mask
    else:
        (old,) = struct.unpack_from(fmt, out, i)
        value = (old + rng.choice((-1, 1)) * rng.randint(1, 35)) & mask
    struct.pack_into(fmt, out, i, value)


def _copy_block(out: bytearray, rng: random.Random, corpus: list[bytes] | None) -> None:
    size = rng.randint(1, max(1, min(16, len(out))))
    src, dst = rng.randrange(len(out) - size + 1), rng.randrange(len(out) - size + 1)
    out[dst : dst + size] = out[src : src + size]


def _splice(out: bytearray, rng: random.Random, corpus: list[bytes] | None) -> None:
    if not corpus:
        return _random_byte(out, rng, corpus)
    other = corpus[rng.randrange(len(corpus))]
    cut = rng.randrange(min(len(out), len(other)) + 1)
    out[cut:] = other[cut:]
    return None


def _insert(out: bytearray, rng: random.Random, corpus: list[bytes] | None) -> None:
    i = rng.randrange(len(out) + 1)
    out[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))


def _delete(out: bytearray, rng: random.Random, corpus: list[bytes] | None) -> None:
    i = rng.randrange(len(out))
    del out[i : i + rng.randint(1, 8)]


_EDITS = (_flip, _interesting_byte, _random_byte, _arith_byte, _word, _word, _word, _copy_block, _splice,
          _insert, _delete)
