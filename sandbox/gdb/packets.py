"""GDB remote serial protocol framing: ``$data#checksum`` packets over a socket.

Only what a stub needs: read one packet (acknowledging it unless no-ack mode
was agreed), send one (waiting for the client's ``+``), notice the client's
interrupt byte (0x03), and the run-length-free escaping of binary replies.
"""

from __future__ import annotations

import contextlib
import socket

INTERRUPT = b"\x03"


class ConnectionClosed(Exception):
    """The client went away (EOF or a socket error)."""


def checksum(data: bytes) -> int:
    """The protocol's checksum: the sum of the payload bytes modulo 256."""
    return sum(data) & 0xFF


def escape(data: bytes) -> bytes:
    """Escape ``$ # } *`` in a binary reply (``}`` then the byte XOR 0x20)."""
    out = bytearray()
    for byte in data:
        if byte in b"$#}*":
            out += bytes((0x7D, byte ^ 0x20))
        else:
            out.append(byte)
    return bytes(out)


def unescape(data: bytes) -> bytes:
    """Undo :func:`escape` (binary ``X`` writes from the client)."""
    out = bytearray()
    it = iter(data)
    for byte in it:
        if byte == 0x7D:
            out.append(next(it, 0) ^ 0x20)
        else:
            out.append(byte)
    return bytes(out)


class PacketChannel:
    """One client connection: packets in, packets out."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn
        self.ack = True
        self._buffer = bytearray()
        self.interrupted = False  # a 0x03 arrived while reading a packet

    def _recv(self) -> None:
        try:
            chunk = self.conn.recv(65536)
        except OSError as error:
            raise ConnectionClosed(str(error)) from None
        if not chunk:
            raise ConnectionClosed("client closed the connection")
        self._buffer += chunk

    def read_packet(self) -> bytes:
        """The next packet's payload (blocks). Interrupt bytes set ``interrupted``."""
        while True:
            buf = self._buffer
            while buf and buf[0] != 0x24:  # '$'
                if buf[0] == 0x03:
                    self.interrupted = True
                del buf[0]  # '+', '-', stray bytes between packets
            end = buf.find(b"#")
            if buf and end >= 0 and len(buf) >= end + 3:
                payload = bytes(buf[1:end])
                del buf[: end + 3]
                if self.ack:
                    self.conn.sendall(b"+")
                return payload
            self._recv()

    def send_packet(self, payload: bytes | str) -> None:
        """Send one packet; in ack mode, resend until the client says ``+``."""
        data = payload.encode() if isinstance(payload, str) else payload
        frame = b"$" + data + b"#" + f"{checksum(data):02x}".encode()
        for _ in range(8):
            try:
                self.conn.sendall(frame)
            except OSError as error:
                raise ConnectionClosed(str(error)) from None
            if not self.ack:
                return
            while not self._buffer:
                self._recv()
            first = self._buffer[0]
            if first == 0x2B:  # '+'
                del self._buffer[0]
                return
            if first == 0x2D:  # '-': resend
                del self._buffer[0]
                continue
            return  # a new packet already: take it as an implicit ack
        raise ConnectionClosed("client keeps rejecting packets")

    def pending_interrupt(self) -> bool:
        """Whether the client sent 0x03 (non-blocking check of what arrived)."""
        if self.interrupted:
            self.interrupted = False
            return True
        if INTERRUPT in self._buffer:
            self._buffer = self._buffer.replace(INTERRUPT, b"")
            return True
        return False

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with contextlib.suppress(OSError):
            self.conn.close()
