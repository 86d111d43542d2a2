"""Zstandard decompression and the zstd_common helpers, as Linux 6.1 builds lib/zstd into the kernel.

Debian ships only the compressor (lib/zstd/zstd_compress.ko) as a module;
the decompressor and zstd_common are built in, so modules (crypto/zstd.ko,
and zstd_compress.ko itself) import them. The decoder here follows the
format's specification (RFC 8878): frames with their header, raw, RLE and
compressed blocks, Huffman-coded literals (one or four streams, FSE-coded
weights), FSE-coded sequences with the predefined, RLE, compressed and
repeat table modes, repeat offsets, and the XXH64 content checksum.

The kernel API (include/linux/zstd.h): ``zstd_dctx_workspace_bound``,
``zstd_init_dctx`` (the context lives in the caller's workspace),
``zstd_decompress_dctx``, ``zstd_is_error``/``zstd_get_error_code``; errors
are ``(size_t)-ZSTD_error_*`` as in libzstd. One call decompresses at most
64 MiB (a guest may claim a 4 GiB destination; host memory is not that):
more is ``dstSize_tooSmall``. ``FSE_readNCount``,
``HUF_readStats`` and ``ZSTD_customMalloc/Calloc/Free`` are zstd_common's
(the last three take a ``ZSTD_customMem`` by value: on the stack, after the
size in EAX, which is what ``regparm1`` describes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.services import service

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

# ZSTD_ErrorCode values (lib/zstd/common/zstd_errors.h)
ERR_GENERIC = 1
ERR_PREFIX_UNKNOWN = 10
ERR_FRAME_PARAMETER_UNSUPPORTED = 14
ERR_CORRUPTION = 20
ERR_CHECKSUM = 22
ERR_TABLELOG_TOO_LARGE = 44
ERR_MAXSYMBOL_TOO_SMALL = 48
ERR_DST_TOO_SMALL = 70
ERR_SRC_SIZE = 72
ERR_MAX = 120
SIZE_MASK = 0xFFFFFFFF
MAGIC = 0xFD2FB528
BLOCK_MAX = 128 * 1024  # Block_Maximum_Size
# The most one call decompresses here: a guest's dst_capacity can claim 4 GiB, host memory cannot.
OUTPUT_MAX = 64 << 20


class ZstdError(Exception):
    """A frame that does not decode; ``code`` is the ZSTD_ErrorCode."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(text)
        self.code = code


def error_value(code: int) -> int:
    """(size_t)-code, as a 32-bit size_t."""
    return (-code) & SIZE_MASK


# -- bit streams --------------------------------------------------------------------------
class ForwardBits:
    """Bits read from the start, least significant first (FSE table descriptions)."""

    def __init__(self, data: bytes) -> None:
        self.value = int.from_bytes(data, "little")
        self.pos = 0
        self.limit = 8 * len(data)

    def peek(self, n: int) -> int:
        return (self.value >> self.pos) & ((1 << n) - 1)

    def skip(self, n: int) -> None:
        self.pos += n
        if self.pos > self.limit:
            raise ZstdError(ERR_SRC_SIZE, "table description runs past its input")


class BackwardBits:
    """Bits read from the end (FSE and Huffman streams): the last byte's highest 1 is a marker."""

    def __init__(self, data: bytes) -> None:
        if not data or not data[-1]:
            raise ZstdError(ERR_CORRUPTION, "bit stream without its end marker")
        self.value = int.from_bytes(data, "little")
        self.pos = 8 * (len(data) - 1) + data[-1].bit_length() - 1

    def read(self, n: int) -> int:
        if not n:
            return 0
        self.pos -= n
        if self.pos >= 0:
            return (self.value >> self.pos) & ((1 << n) - 1)
        return (self.value << -self.pos) & ((1 << n) - 1)  # past the start: zeros come in

    def peek(self, n: int) -> int:
        at = self.pos - n
        return (self.value >> at) & ((1 << n) - 1) if at >= 0 else (self.value << -at) & ((1 << n) - 1)

    @property
    def overflowed(self) -> bool:
        return self.pos < 0


# -- FSE ----------------------------------------------------------------------------------
def read_ncount(data: bytes, max_symbol: int, max_log: int = 15) -> tuple[list[int], int, int]:
    """An FSE table description: (normalized counts, accuracy log, bytes used)."""
    if len(data) < 1:
        raise ZstdError(ERR_SRC_SIZE, "empty FSE table description")
    bits = ForwardBits(data + bytes(8))
    log = bits.peek(4) + 5
    bits.skip(4)
    if log > max_log:
        raise ZstdError(ERR_TABLELOG_TOO_LARGE, f"FSE accuracy log {log} above {max_log}")
    remaining = (1 << log) + 1
    threshold = 1 << log
    nbits = log + 1
    counts: list[int] = []
    previous0 = False
    while remaining > 1:
        if previous0:
            while True:
                repeat = bits.peek(2)
                bits.skip(2)
                counts += [0] * repeat
                if repeat != 3:
                    break
        if len(counts) > max_symbol:
            raise ZstdError(ERR_MAXSYMBOL_TOO_SMALL, f"FSE table has more than {max_symbol + 1} symbols")
        biggest = 2 * threshold - 1 - remaining
        low = bits.peek(nbits - 1)
        if low < biggest:
            value = low
            bits.skip(nbits - 1)
        else:
            value = bits.peek(nbits)
            if value >= threshold:
                value -= biggest
            bits.skip(nbits)
        count = value - 1
        remaining -= abs(count)
        counts.append(count)
        previous0 = count == 0
        while remaining < threshold:
            nbits -= 1
            threshold >>= 1
    if remaining != 1 or len(counts) > max_symbol + 1:
        raise ZstdError(ERR_CORRUPTION, "FSE counts do not add up")
    used = (bits.pos + 7) // 8
    if used > len(data):
        raise ZstdError(ERR_SRC_SIZE, "FSE table description runs past its input")
    return counts, log, used


def build_fse(counts: list[int], log: int) -> list[tuple[int, int, int]]:
    """The decoding table: (symbol, bits to read, baseline) per state."""
    size = 1 << log
    symbols = [0] * size
    high = size - 1
    following = []
    for s, c in enumerate(counts):
        if c == -1:
            symbols[high] = s
            high -= 1
            following.append(1)
        else:
            following.append(c)
    step = (size >> 1) + (size >> 3) + 3
    pos = 0
    for s, c in enumerate(counts):
        for _ in range(max(c, 0)):
            symbols[pos] = s
            pos = (pos + step) & (size - 1)
            while pos > high:
                pos = (pos + step) & (size - 1)
    if pos:
        raise ZstdError(ERR_CORRUPTION, "FSE table spread did not come back to 0")
    table = []
    for u in range(size):
        s = symbols[u]
        nxt = following[s]
        following[s] += 1
        nb = log - (nxt.bit_length() - 1)
        table.append((s, nb, (nxt << nb) - size))
    return table


def rle_table(symbol: int) -> list[tuple[int, int, int]]:
    return [(symbol, 0, 0)]


# -- Huffman ------------------------------------------------------------------------------
def read_weights(data: bytes) -> tuple[list[int], int]:
    """Huffman weights of a tree description (the implied last one not yet added); bytes used."""
    if not data:
        raise ZstdError(ERR_SRC_SIZE, "empty Huffman tree description")
    header = data[0]
    if header >= 128:
        count = header - 127
        size = (count + 1) // 2
        if 1 + size > len(data):
            raise ZstdError(ERR_SRC_SIZE, "Huffman weights run past their input")
        weights = []
        for i in range(count):
            byte = data[1 + i // 2]
            weights.append(byte >> 4 if i % 2 == 0 else byte & 15)
        return weights, 1 + size
    if 1 + header > len(data):
        raise ZstdError(ERR_SRC_SIZE, "Huffman weights run past their input")
    body = data[1 : 1 + header]
    counts, log, used = read_ncount(body, 255, 6)
    table = build_fse(counts, log)
    bits = BackwardBits(body[used:])
    s1, s2 = bits.read(log), bits.read(log)
    weights = []
    while True:
        for state_index in (0, 1):
            state = s1 if state_index == 0 else s2
            symbol, nb, base = table[state]
            weights.append(symbol)
            if bits.pos - nb < 0:
                # Not enough bits to move on: the other state's symbol ends the stream.
                other = s2 if state_index == 0 else s1
                weights.append(table[other][0])
                if len(weights) > 255:
                    raise ZstdError(ERR_CORRUPTION, "too many Huffman weights")
                return weights, 1 + header
            state = base + bits.read(nb)
            if state_index == 0:
                s1 = state
            else:
                s2 = state
        if len(weights) > 255:
            raise ZstdError(ERR_CORRUPTION, "too many Huffman weights")


def complete_weights(weights: list[int]) -> tuple[list[int], int]:
    """All weights (the last one implied) and the maximum code length."""
    total = sum(1 << (w - 1) for w in weights if w)
    if not total or any(w > 12 for w in weights):
        raise ZstdError(ERR_CORRUPTION, "bad Huffman weights")
    max_bits = total.bit_length()
    rest = (1 << max_bits) - total
    if rest & (rest - 1):
        raise ZstdError(ERR_CORRUPTION, "Huffman weights do not complete a tree")
    return [*weights, rest.bit_length()], max_bits


def build_huffman(weights: list[int], max_bits: int) -> list[tuple[int, int]]:
    """Decoding table of 2**max_bits entries: (symbol, code length)."""
    table: list[tuple[int, int]] = [(0, 0)] * (1 << max_bits)
    pos = 0
    for w in range(1, max_bits + 1):
        for s, weight in enumerate(weights):
            if weight == w:
                span = 1 << (w - 1)
                table[pos : pos + span] = [(s, max_bits + 1 - w)] * span
                pos += span
    return table


def huffman_stream(data: bytes, table: list[tuple[int, int]], max_bits: int, count: int) -> bytes:
    bits = BackwardBits(data)
    out = bytearray()
    for _ in range(count):
        symbol, nb = table[bits.peek(max_bits)]
        out.append(symbol)
        bits.pos -= nb
    if bits.pos != 0:
        raise ZstdError(ERR_CORRUPTION, "Huffman stream did not end where it should")
    return bytes(out)


# -- sequences ----------------------------------------------------------------------------
LL_DEFAULT = [4, 3, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 2, 1, 1, 1, 1, 1,
              -1, -1, -1, -1]
ML_DEFAULT = [1, 4, 3, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
              1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, -1, -1, -1, -1, -1, -1, -1]
OF_DEFAULT = [1, 1, 1, 1, 1, 1, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, -1, -1, -1, -1, -1]
LL_CODES = [(i, 0) for i in range(16)] + [
    (16, 1), (18, 1), (20, 1), (22, 1), (24, 2), (28, 2), (32, 3), (40, 3), (48, 4), (64, 6), (128, 7),
    (256, 8), (512, 9), (1024, 10), (2048, 11), (4096, 12), (8192, 13), (16384, 14), (32768, 15), (65536, 16)]
ML_CODES = [(i + 3, 0) for i in range(32)] + [
    (35, 1), (37, 1), (39, 1), (41, 1), (43, 2), (47, 2), (51, 3), (59, 3), (67, 4), (83, 4), (99, 5),
    (131, 7), (259, 8), (515, 9), (1027, 10), (2051, 11), (4099, 12), (8195, 13), (16387, 14), (32771, 15),
    (65539, 16)]
KINDS = (("ll", LL_DEFAULT, 6, 35, 9), ("of", OF_DEFAULT, 5, 31, 8), ("ml", ML_DEFAULT, 6, 52, 9))


class Frame:
    """State carried from block to block of one frame."""

    def __init__(self, window: int) -> None:
        self.out = bytearray()
        self.window = window
        self.huffman: tuple[list[tuple[int, int]], int] | None = None
        self.tables: dict[str, list[tuple[int, int, int]]] = {}
        self.reps = [1, 4, 8]


def literals(frame: Frame, block: bytes) -> tuple[bytes, int]:
    """The literals section: (literals, bytes used)."""
    kind, size_format = block[0] & 3, (block[0] >> 2) & 3
    if kind in (0, 1):
        if size_format in (0, 2):
            size, at = block[0] >> 3, 1
        elif size_format == 1:
            size, at = (block[0] >> 4) + (block[1] << 4), 2
        else:
            size, at = (block[0] >> 4) + (block[1] << 4) + (block[2] << 12), 3
        if kind == 0:
            if at + size > len(block):
                raise ZstdError(ERR_CORRUPTION, "raw literals run past the block")
            return block[at : at + size], at + size
        if at >= len(block):
            raise ZstdError(ERR_CORRUPTION, "RLE literals without their byte")
        return bytes([block[at]]) * size, at + 1
    header_size, width = {0: (3, 10), 1: (3, 10), 2: (4, 14), 3: (5, 18)}[size_format]
    if header_size > len(block):
        raise ZstdError(ERR_CORRUPTION, "literals header runs past the block")
    combined = int.from_bytes(block[:header_size], "little") >> 4
    regen, comp = combined & ((1 << width) - 1), (combined >> width) & ((1 << width) - 1)
    streams = 1 if size_format == 0 else 4
    body = block[header_size : header_size + comp]
    if len(body) != comp:
        raise ZstdError(ERR_CORRUPTION, "compressed literals run past the block")
    if kind == 2:
        weights, used = read_weights(body)
        weights, max_bits = complete_weights(weights)
        frame.huffman = (build_huffman(weights, max_bits), max_bits)
        body = body[used:]
    elif frame.huffman is None:
        raise ZstdError(ERR_CORRUPTION, "treeless literals with no previous Huffman table")
    table, max_bits = frame.huffman
    if streams == 1:
        out = huffman_stream(body, table, max_bits, regen)
    else:
        if len(body) < 6:
            raise ZstdError(ERR_CORRUPTION, "four literal streams without their jump table")
        sizes = [int.from_bytes(body[i : i + 2], "little") for i in (0, 2, 4)]
        sizes.append(len(body) - 6 - sum(sizes))
        if sizes[3] < 0:
            raise ZstdError(ERR_CORRUPTION, "literal stream sizes exceed the section")
        each = (regen + 3) // 4
        counts = [each, each, each, regen - 3 * each]
        out, at = b"", 6
        for size, count in zip(sizes, counts):
            out += huffman_stream(body[at : at + size], table, max_bits, count)
            at += size
    return out, header_size + comp


def sequences(frame: Frame, block: bytes) -> list[tuple[int, int, int]]:
    """The sequences section: (literal length, offset, match length) each."""
    if not block:
        raise ZstdError(ERR_CORRUPTION, "sequences section missing")
    count = block[0]
    at = 1
    if count == 0:
        return []
    if count >= 128:
        if count < 255:
            count = ((count - 128) << 8) + block[1]
            at = 2
        else:
            count = block[1] + (block[2] << 8) + 0x7F00
            at = 3
    modes = block[at]
    at += 1
    for shift, (name, default, default_log, max_symbol, max_log) in zip((6, 4, 2), KINDS):
        mode = (modes >> shift) & 3
        if mode == 0:
            frame.tables[name] = build_fse(default, default_log)
        elif mode == 1:
            if block[at] > max_symbol:
                raise ZstdError(ERR_CORRUPTION, f"RLE {name} code {block[at]} out of range")
            frame.tables[name] = rle_table(block[at])
            at += 1
        elif mode == 2:
            counts, log, used = read_ncount(block[at:], max_symbol, max_log)
            frame.tables[name] = build_fse(counts, log)
            at += used
        elif name not in frame.tables:
            raise ZstdError(ERR_CORRUPTION, f"repeat mode for {name} with no previous table")
    tables = [frame.tables[name] for name, *_ in KINDS]
    logs = [(len(t) - 1).bit_length() for t in tables]
    bits = BackwardBits(block[at:])
    states = [bits.read(log) for log in logs]
    out = []
    for i in range(count):
        ll_code, of_code, ml_code = (tables[j][states[j]][0] for j in range(3))
        if ll_code > 35 or ml_code > 52 or of_code > 31:
            raise ZstdError(ERR_CORRUPTION, "sequence code out of range")
        offset_value = (1 << of_code) + bits.read(of_code)
        base, extra = ML_CODES[ml_code]
        match = base + bits.read(extra)
        base, extra = LL_CODES[ll_code]
        lit = base + bits.read(extra)
        reps = frame.reps
        if offset_value > 3:
            offset = offset_value - 3
            frame.reps = [offset, reps[0], reps[1]]
        else:
            index = offset_value - (1 if lit else 0)
            if index == 0:
                offset = reps[0]
            elif index == 1:
                offset = reps[1]
                frame.reps = [reps[1], reps[0], reps[2]]
            elif index == 2:
                offset = reps[2]
                frame.reps = [reps[2], reps[0], reps[1]]
            else:
                offset = reps[0] - 1
                frame.reps = [offset, reps[0], reps[1]]
        out.append((lit, offset, match))
        if i != count - 1:
            for j in (0, 2, 1):  # literal lengths, match lengths, offsets
                _, nb, baseline = tables[j][states[j]]
                states[j] = baseline + bits.read(nb)
    if bits.pos != 0:
        raise ZstdError(ERR_CORRUPTION, "sequence stream did not end where it should")
    return out


def compressed_block(frame: Frame, block: bytes, limit: int) -> None:
    lits, at = literals(frame, block)
    start = len(frame.out)
    used = 0
    for lit, offset, match in sequences(frame, block[at:]):
        if used + lit > len(lits):
            raise ZstdError(ERR_CORRUPTION, "a sequence wants more literals than there are")
        frame.out += lits[used : used + lit]
        used += lit
        if not offset or offset > len(frame.out):
            raise ZstdError(ERR_CORRUPTION, f"match offset {offset} reaches before the output")
        if len(frame.out) + match > limit:
            raise ZstdError(ERR_DST_TOO_SMALL, "output does not fit the destination")
        src = len(frame.out) - offset
        if offset >= match:
            frame.out += frame.out[src : src + match]
        else:
            for j in range(match):
                frame.out.append(frame.out[src + j])
    frame.out += lits[used:]
    if len(frame.out) > limit or len(frame.out) - start > 128 * 1024:
        raise ZstdError(ERR_DST_TOO_SMALL if len(frame.out) > limit else ERR_CORRUPTION, "block too large")


def decompress(src: bytes, capacity: int) -> bytes:
    """Every frame of ``src`` (skippable frames skipped) into at most ``capacity`` bytes."""
    from .crypto.library import xxh64_reference

    capacity = min(capacity, OUTPUT_MAX)
    out = bytearray()
    at = 0
    if not src:
        raise ZstdError(ERR_SRC_SIZE, "no frame")
    while at < len(src):
        if len(src) - at < 4:
            raise ZstdError(ERR_SRC_SIZE, "truncated frame magic")
        magic = int.from_bytes(src[at : at + 4], "little")
        if magic & 0xFFFFFFF0 == 0x184D2A50:
            size = int.from_bytes(src[at + 4 : at + 8], "little")
            at += 8 + size
            continue
        if magic != MAGIC:
            raise ZstdError(ERR_PREFIX_UNKNOWN, f"not a zstd frame (magic {magic:#x})")
        at += 4
        if at >= len(src):
            raise ZstdError(ERR_SRC_SIZE, "truncated frame header")
        fhd = src[at]
        at += 1
        single = fhd >> 5 & 1
        if fhd & 0x08:
            raise ZstdError(ERR_FRAME_PARAMETER_UNSUPPORTED, "reserved frame header bit set")
        window = 0
        if not single:
            wd = src[at]
            at += 1
            exponent, mantissa = wd >> 3, wd & 7
            base = 1 << (10 + exponent)
            window = base + (base // 8) * mantissa
        dict_size = (0, 1, 2, 4)[fhd & 3]
        if dict_size and int.from_bytes(src[at : at + dict_size], "little"):
            raise ZstdError(ERR_FRAME_PARAMETER_UNSUPPORTED, "frames with a dictionary are not supported")
        at += dict_size
        fcs_size = (1 if single else 0, 2, 4, 8)[fhd >> 6]
        content = int.from_bytes(src[at : at + fcs_size], "little") + (256 if fcs_size == 2 else 0)
        at += fcs_size
        frame = Frame(window or content)
        limit = capacity - len(out)
        while True:
            if at + 3 > len(src):
                raise ZstdError(ERR_SRC_SIZE, "truncated block header")
            header = int.from_bytes(src[at : at + 3], "little")
            at += 3
            last, kind, size = header & 1, (header >> 1) & 3, header >> 3
            if size > BLOCK_MAX:
                raise ZstdError(ERR_CORRUPTION, f"block of {size} bytes (at most {BLOCK_MAX})")
            if kind == 0:
                if at + size > len(src):
                    raise ZstdError(ERR_SRC_SIZE, "truncated raw block")
                frame.out += src[at : at + size]
                at += size
            elif kind == 1:
                if at >= len(src):
                    raise ZstdError(ERR_SRC_SIZE, "truncated RLE block")
                frame.out += bytes([src[at]]) * size
                at += 1
            elif kind == 2:
                if at + size > len(src):
                    raise ZstdError(ERR_SRC_SIZE, "truncated compressed block")
                compressed_block(frame, src[at : at + size], limit)
                at += size
            else:
                raise ZstdError(ERR_CORRUPTION, "reserved block type")
            if len(frame.out) > limit:
                raise ZstdError(ERR_DST_TOO_SMALL, "output does not fit the destination")
            if last:
                break
        if fcs_size and len(frame.out) != content:
            raise ZstdError(ERR_CORRUPTION, "frame content size does not match its header")
        if fhd & 0x04:
            if at + 4 > len(src):
                raise ZstdError(ERR_SRC_SIZE, "truncated content checksum")
            if int.from_bytes(src[at : at + 4], "little") != xxh64_reference(bytes(frame.out)) & 0xFFFFFFFF:
                raise ZstdError(ERR_CHECKSUM, "content checksum does not match")
            at += 4
        out += frame.out
    return bytes(out)


# -- the kernel API -----------------------------------------------------------------------
DCTX_WORKSPACE = 160 * 1024  # what the real decompression context needs (ZSTD_estimateDCtxSize, 32-bit)
DCTX_TAG = 0x5A44  # written at the start of an initialised context


@service("size_t zstd_dctx_workspace_bound(void)")
def zstd_dctx_workspace_bound(k: Kernel) -> int:
    """The workspace a decompression context needs."""
    return DCTX_WORKSPACE


@service("zstd_dctx *zstd_init_dctx(void *workspace, size_t workspace_size)")
def zstd_init_dctx(k: Kernel, workspace: int, workspace_size: int) -> int:
    """A decompression context in the caller's workspace; NULL if the workspace is too small."""
    if not workspace or workspace_size < DCTX_WORKSPACE:
        return 0
    k.memory.write_u32(workspace, DCTX_TAG)
    return workspace


@service("size_t zstd_decompress_dctx(zstd_dctx *dctx, void *dst, size_t dst_capacity, const void *src, "
         "size_t src_size)")
def zstd_decompress_dctx(k: Kernel, dctx: int, dst: int, capacity: int, src: int, size: int) -> int:
    """Decompress whole frames: the decompressed size, or (size_t)-ZSTD_error_*."""
    if not dctx or k.memory.read_u32(dctx) != DCTX_TAG:
        return error_value(ERR_GENERIC)
    try:
        out = decompress(k.memory.read(src, size) if size else b"", capacity)
    except ZstdError as error:
        return error_value(error.code)
    if out:
        k.memory.write(dst, out)
    return len(out)


@service("unsigned int zstd_is_error(size_t code)")
def zstd_is_error(k: Kernel, code: int) -> int:
    """Whether a size_t result is an error code."""
    return int(code > error_value(ERR_MAX))


@service("zstd_error_code zstd_get_error_code(size_t code)")
def zstd_get_error_code(k: Kernel, code: int) -> int:
    """The ZSTD_ErrorCode of a result (0 for a success)."""
    return (-code) & SIZE_MASK if code > error_value(ERR_MAX) else 0


@service("size_t FSE_readNCount(short *normalizedCounter, unsigned *maxSVPtr, unsigned *tableLogPtr, "
         "const void *headerBuffer, size_t hbSize)")
def FSE_readNCount(k: Kernel, counter: int, max_sv: int, table_log: int, header: int, size: int) -> int:
    """Read an FSE table description: counts, the last symbol and the log written out; bytes read or an error."""
    if size < 1:
        return error_value(ERR_SRC_SIZE)
    try:
        counts, log, used = read_ncount(k.memory.read(header, size), k.memory.read_u32(max_sv))
    except ZstdError as error:
        return error_value(error.code)
    k.memory.write(counter, b"".join((c & 0xFFFF).to_bytes(2, "little") for c in counts))
    k.memory.write_u32(max_sv, len(counts) - 1)
    k.memory.write_u32(table_log, log)
    return used


@service("size_t HUF_readStats(u8 *huffWeight, size_t hwSize, u32 *rankStats, u32 *nbSymbolsPtr, u32 *tableLogPtr, "
         "const void *src, size_t srcSize)")
def HUF_readStats(k: Kernel, weights_out: int, hw_size: int, rank_stats: int, nb_symbols: int, table_log: int,
                  src: int, size: int) -> int:
    """Read a Huffman tree description: weights (the last one added), counts per weight, symbols, log."""
    if size < 1:
        return error_value(ERR_SRC_SIZE)
    try:
        weights, used = read_weights(k.memory.read(src, size))
        weights, max_bits = complete_weights(weights)
    except ZstdError as error:
        return error_value(error.code)
    if len(weights) > hw_size:
        return error_value(ERR_CORRUPTION)
    k.memory.write(weights_out, bytes(weights))
    ranks = [0] * 13
    for w in weights:
        ranks[w] += 1
    k.memory.write(rank_stats, b"".join(r.to_bytes(4, "little") for r in ranks))
    k.memory.write_u32(nb_symbols, len(weights))
    k.memory.write_u32(table_log, max_bits)
    return used


@service("void *ZSTD_customMalloc(size_t size, void *customAlloc, void *customFree, void *opaque)",
         convention="regparm1")
def ZSTD_customMalloc(k: Kernel, size: int, custom_alloc: int, custom_free: int, opaque: int) -> int:
    """The custom allocator's block; NULL without one (the kernel's ZSTD_malloc is NULL)."""
    return k.call_function_pointer(custom_alloc, opaque, size) if custom_alloc else 0


@service("void *ZSTD_customCalloc(size_t size, void *customAlloc, void *customFree, void *opaque)",
         convention="regparm1")
def ZSTD_customCalloc(k: Kernel, size: int, custom_alloc: int, custom_free: int, opaque: int) -> int:
    """ZSTD_customMalloc, zeroed."""
    block = k.call_function_pointer(custom_alloc, opaque, size) if custom_alloc else 0
    if block and size:
        k.memory.write(block, bytes(size))
    return block


@service("void ZSTD_customFree(void *ptr, void *customAlloc, void *customFree, void *opaque)", convention="regparm1")
def ZSTD_customFree(k: Kernel, ptr: int, custom_alloc: int, custom_free: int, opaque: int) -> None:
    """Give a block back to the custom allocator (nothing to do without one)."""
    if ptr and custom_free:
        k.call_function_pointer(custom_free, opaque, ptr)
