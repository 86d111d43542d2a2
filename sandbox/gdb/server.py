"""A GDB remote-protocol stub for a Kernel: breakpoints, watchpoints, steps, faults.

How it stops the guest without costing anything while nobody is attached:

- It listens on localhost; a daemon thread accepts the client and, if the
  guest is running, asks the CPU to stop (``emu_stop``), like the watchdog.
  :class:`~sandbox.machine.cpu.Cpu` tells the server about every guest run it
  starts (:meth:`GdbServer.on_call`), every stop that was not the return
  (:meth:`after_stop`) and every fault (:meth:`on_fault`); with no server
  those are one ``is None`` test each.
- The protocol is served on the emulating thread, from inside Unicorn hooks
  (a breakpoint is a UC_HOOK_CODE ranged over one address; a step or a
  watchpoint adds one hook over all code while needed), or between runs.
  Services may call back into the guest (nested ``emu_start``): a stop in
  inner code is served from the inner run's hook, with the outer frames on
  the guest stack, so ``bt`` walks through them.
- Hooks are compiled into translated blocks, so after a stop that changed
  them the server stops the run right before the current instruction
  (``emu_stop`` in a code hook does exactly that) and the CPU restarts it
  there with the caches of the code regions invalidated — except at a
  service stub, whose hook already ran: there it returns and lets the stub's
  ``ret`` finish, and the next block is translated afresh anyway.
- While the client holds the guest stopped, the call's time budget is
  paused.
"""

from __future__ import annotations

import contextlib
import select
import signal
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unicorn import UC_HOOK_CODE, UC_HOOK_MEM_READ, UC_HOOK_MEM_WRITE, UC_MEM_WRITE, UcError

from ..errors import GuestFault, SandboxError
from ..machine import address_map as amap
from ..machine.memory import X
from ..machine.registers import EBP
from . import symbols
from .packets import ConnectionClosed, PacketChannel, escape, unescape
from .target import EIP_NUMBER, GENERAL_REGISTERS, TARGET_XML, register_size, signal_for_fault

if TYPE_CHECKING:
    from ..kernel import Kernel

_SIGTRAP = int(signal.SIGTRAP)
_SIGINT = int(signal.SIGINT)
_WATCH_KINDS = {2: "watch", 3: "rwatch", 4: "awatch"}


def parse_address(spec: int | str) -> tuple[str, int]:
    """``1234``, ``":1234"``, ``"localhost:1234"`` -> (host, port). Only loopback is served."""
    if isinstance(spec, int):
        return "127.0.0.1", spec
    host, _, port = spec.rpartition(":")
    if host not in ("", "localhost", "127.0.0.1"):
        raise ValueError(f"the gdb stub serves localhost only, not {host!r}")
    try:
        return "127.0.0.1", int(port)
    except ValueError:
        raise ValueError(f"bad gdb port {spec!r} (use PORT or :PORT)") from None


class GdbServer:
    """Serve the GDB remote protocol for ``kernel`` on localhost ``address``.

    ``address`` is a port (0: any free one; see :attr:`port`) or ``":PORT"``.
    With ``wait``, the first entry into module code (normally init) blocks
    until a client attaches and is reported to it as a stop, so breakpoints
    can be set before init runs.

    ``attach_timeout`` (seconds, None: forever) bounds that wait (a
    SandboxError if nobody came); ``client_timeout`` bounds each read from
    an attached client (a silent client is detached and the guest runs on).
    """

    attach_timeout: float | None = None
    client_timeout: float | None = None

    def __init__(self, kernel: Kernel, address: int | str = 0, wait: bool = False) -> None:
        host, port = parse_address(address)
        self.kernel = kernel
        self.cpu = kernel.cpu
        self.uc = kernel.cpu.uc
        self.regs = kernel.cpu.regs
        self.wait = wait
        self._listener = socket.create_server((host, port))
        self.port: int = self._listener.getsockname()[1]
        self._scratch = tempfile.TemporaryDirectory(prefix="sandbox-gdb-")
        self._kernel_file: symbols.SymbolFile | None = None
        self._channel: PacketChannel | None = None
        self._incoming: socket.socket | None = None
        self._arrived = threading.Event()
        self._closed = False
        self._running = False  # the client resumed the guest and waits for a stop reply
        self._interrupt = False  # a stop was asked for from the other thread
        self._breakpoints: dict[int, Any] = {}
        self._watchpoints: dict[tuple[int, int, int], Any] = {}
        self._tracer: Any = None  # code hook over everything while stepping or watching
        self._stepping = False
        self._watch_hit: tuple[str, int] | None = None
        self._skip_pc: int | None = None  # the instruction a resume starts at: not a new stop
        self._restart = False
        self._pc_written = False
        self._fresh = False
        self._stop_reply = "S05"
        self._libraries_seen: tuple[tuple[str, int], ...] | None = None
        self.log: list[str] = []  # packets received, for tests and --gdb debugging
        kernel.cpu.debugger = self
        self._thread = threading.Thread(target=self._watch_sockets, name="sandbox-gdb", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------ lifecycle
    @property
    def attached(self) -> bool:
        """Whether a client is connected."""
        return self._channel is not None

    def close(self) -> None:
        """Tell an attached client the program exited, and stop serving."""
        if self._channel is not None:
            try:
                if self._running:
                    self._channel.send_packet("W00")
            except ConnectionClosed:
                pass
            self._detach()
        self._closed = True
        with contextlib.suppress(OSError):
            self._listener.close()
        if self.cpu.debugger is self:
            self.cpu.debugger = None
        self._scratch.cleanup()

    def _watch_sockets(self) -> None:
        """Accept one client at a time; while the guest runs, notice its interrupt byte."""
        while not self._closed:
            channel = self._channel
            watched: list[Any] = [self._listener]
            if channel is not None and self._running:
                watched.append(channel.conn)
            try:
                ready, _, _ = select.select(watched, [], [], 0.05 if len(watched) > 1 else 0.5)
            except (OSError, ValueError):
                if self._closed:
                    return
                continue
            if self._listener in ready:
                try:
                    conn, _ = self._listener.accept()
                except OSError:
                    continue
                if self._channel is not None or self._incoming is not None:
                    conn.close()  # one client at a time
                    continue
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self._incoming = conn
                self._interrupt = True
                self._arrived.set()
                self._request_stop()
            if channel is not None and channel.conn in ready and self._running:
                self._running = False
                self._interrupt = True
                self._request_stop()

    def _request_stop(self) -> None:
        if self.cpu.depth > 0:
            self.cpu.stop()

    def _take_client(self) -> None:
        conn, self._incoming = self._incoming, None
        if conn is not None:
            conn.settimeout(self.client_timeout)
            self._channel = PacketChannel(conn)
            self._fresh = True  # its first stop is the attach (SIGTRAP), not an interrupt
            self._running = False
            self._libraries_seen = self._library_signature()

    def _detach(self) -> None:
        for hook in list(self._breakpoints.values()) + list(self._watchpoints.values()):
            self.uc.hook_del(hook)
        self._breakpoints.clear()
        self._watchpoints.clear()
        self._set_tracer(False)
        self._stepping = False
        self._running = False
        self._watch_hit = None
        if self._channel is not None:
            self._channel.close()
        self._channel = None
        self._arrived.clear()
        self._invalidate_code()

    # ---------------------------------------------------- the CPU's questions
    def on_call(self, address: int, registers: dict[int, int]) -> int:
        """A guest run is about to start at ``address`` with ``registers`` set; returns where to start it."""
        if self._channel is None:
            if self._incoming is None and self.wait and amap.MODULE_AREA_BASE <= address < amap.HEAP_BASE:
                self.wait = False  # only the first entry waits
                if not self._paused(lambda: self._arrived.wait(self.attach_timeout)):
                    raise SandboxError(f"no gdb client attached to localhost:{self.port} "
                                       f"within {self.attach_timeout} s")
            if self._incoming is None:
                return address
            self._take_client()
        if self.cpu.depth == 1 and EBP not in registers:
            # A zero frame pointer marks the host's frame as the outermost
            # one, so gdb's backtrace ends there instead of guessing on.
            self.regs.write(EBP, 0)
        reason = None
        if self._interrupt or self._fresh:
            self._interrupt = False
            reason = (_SIGTRAP if self._fresh else _SIGINT, "")
        elif self._libraries_seen != self._library_signature():
            reason = (_SIGTRAP, "library:;")
        elif self._stepping:
            reason = (_SIGTRAP, "")
        if reason is None:
            return address
        if reason[1]:
            # A library stop is shown in the host's frame, not at the first
            # instruction: gdb steps over a breakpoint at the pc it resumes
            # from, so one it has just set there would never be hit.
            self.regs.write(amap_eip(), amap.RETURN_TRAP)
            self._serve(*reason)
            pc = self.regs.read(amap_eip())
            self._pc_written = False
            if pc == amap.RETURN_TRAP:
                self._skip_pc = None
                return address
            self._skip_pc = pc
            return pc
        self.regs.write(amap_eip(), address)
        self._serve(*reason)
        pc = self.regs.read(amap_eip())
        self._skip_pc = pc
        self._pc_written = False
        return pc

    def after_stop(self, pc: int) -> int | None:
        """The run stopped before the return trap; the address to restart at if it was ours."""
        if self._restart:
            self._restart = False
            self._invalidate_code()
            return self.regs.read(amap_eip())
        if self._interrupt and not self.cpu.expired:
            self._interrupt = False
            if self._channel is None:
                self._take_client()
            if self._channel is None:
                return pc
            self._serve(_SIGTRAP if self._fresh else _SIGINT, "")
            self._skip_pc = self.regs.read(amap_eip())
            self._pc_written = False
            self._invalidate_code()
            return self._skip_pc
        return None

    def on_fault(self, fault: GuestFault) -> None:
        """Report a fault (or budget stop) to the client before it ends the guest call."""
        if getattr(fault, "debugger_reported", False):
            return
        fault.debugger_reported = True  # type: ignore[attr-defined]
        if self._channel is None and self._incoming is not None:
            self._take_client()
        if self._channel is None:
            return
        if fault.pc:
            self.regs.write(amap_eip(), fault.pc)
        self._serve(signal_for_fault(fault.kind), "")

    # ----------------------------------------------------------------- hooks
    def _on_code(self, uc: Any, address: int, size: int, data: Any) -> None:
        if address == self._skip_pc:
            return
        self._skip_pc = None
        if self._watch_hit is not None:
            kind, where = self._watch_hit
            self._watch_hit = None
            self._stop_in_hook(address, _SIGTRAP, f"{kind}:{where:x};")
        elif self._stepping:
            self._stop_in_hook(address, _SIGTRAP, "")
        elif address in self._breakpoints:
            self._stop_in_hook(address, _SIGTRAP, "swbreak:;")
        elif self._tracer is not None and not self._watchpoints:
            self._set_tracer(False)  # it only had to carry us past a breakpoint

    def _on_access(self, uc: Any, access: int, address: int, size: int, value: int, data: Any) -> None:
        if self._watch_hit is not None:
            return
        for (kind, start, length) in self._watchpoints:
            overlaps = address < start + length and start < address + size
            if overlaps and (kind == 4 or (kind == 2) == (access == UC_MEM_WRITE)):
                self._watch_hit = (_WATCH_KINDS[kind], start)
                return

    def _stop_in_hook(self, address: int, signo: int, extra: str) -> None:
        self._serve(signo, extra)
        pc = self.regs.read(amap_eip())
        self._skip_pc = pc
        if self._pc_written:
            # Unicorn stops a run whose PC a hook wrote; the CPU restarts it there.
            self._restart = True
        elif not amap.STUB_BASE <= address < amap.RETURN_TRAP:
            self.uc.emu_stop()
            self._restart = True
        else:
            self._invalidate_code()
        self._pc_written = False

    def _set_tracer(self, wanted: bool) -> None:
        if wanted and self._tracer is None:
            self._tracer = self.uc.hook_add(UC_HOOK_CODE, self._on_code, None, 1, 0)
        elif not wanted and self._tracer is not None:
            self.uc.hook_del(self._tracer)
            self._tracer = None

    def _invalidate_code(self) -> None:
        """Drop translated blocks of all code, so hook changes apply to them."""
        for region in self.kernel.memory.regions():
            if region.perms & X:
                self.uc.ctl_remove_cache(region.start, region.end)

    # ------------------------------------------------------------- serving
    def _paused(self, wait: Any) -> Any:
        """Run ``wait()`` with the guest call's time budget stopped."""
        cpu = self.cpu
        deadline, cpu.deadline = cpu.deadline, 0.0
        began = time.thread_time()  # the budget's clock: this thread's CPU time (machine/watchdog.py)
        try:
            return wait()
        finally:
            if deadline:
                cpu.deadline = deadline + (time.thread_time() - began)

    def _serve(self, signo: int, extra: str) -> None:
        """Report a stop and answer packets until the client resumes the guest."""
        self._paused(lambda: self._serve_packets(signo, extra))

    def _serve_packets(self, signo: int, extra: str) -> None:
        channel = self._channel
        if channel is None:
            return
        self._stop_reply = f"T{signo:02x}thread:1;{extra}"
        self._fresh = False
        try:
            if self._running:
                self._running = False
                channel.send_packet(self._stop_reply)
            while True:
                packet = channel.read_packet()
                self.log.append(packet.decode("latin-1")[:80])
                if self._handle(packet):
                    break
        except ConnectionClosed:
            self._detach()
            return
        self._running = self._channel is not None

    def _handle(self, packet: bytes) -> bool:
        """Answer one packet; True when the guest should run again."""
        channel = self._channel
        assert channel is not None
        text = packet.decode("latin-1")
        head = text[:1]
        if head in ("c", "s", "C", "S"):
            self._resume(step=head in "sS", address=text[1:].split(";")[-1] if head in "cs" else "")
            return True
        if text.startswith("vCont"):
            if text == "vCont?":
                channel.send_packet("vCont;c;C;s;S")
                return False
            actions = text[6:].split(";")
            self._resume(step=any(a[:1] in ("s", "S") for a in actions), address="")
            return True
        if head == "D":
            channel.send_packet("OK")
            self._detach()
            return True
        if head == "k":
            self._detach()
            return True
        reply = self._answer(text, packet)
        if reply is not None:
            channel.send_packet(reply)
        return False

    def _resume(self, step: bool, address: str) -> None:
        if address:
            self.regs.write(amap_eip(), int(address, 16))
            self._pc_written = True
        self._stepping = step
        pc = self.regs.read(amap_eip())
        # A step, a watchpoint, or continuing from a breakpoint's own address
        # needs the hook over all code (the last only for one instruction).
        self._set_tracer(step or bool(self._watchpoints) or pc in self._breakpoints)
        self._invalidate_code()

    def _answer(self, text: str, packet: bytes) -> bytes | str | None:
        channel = self._channel
        assert channel is not None
        head = text[:1]
        if text.startswith("qSupported"):
            return ("PacketSize=4000;qXfer:libraries:read+;qXfer:features:read+;qXfer:exec-file:read+;QStartNoAckMode+;"
                    "swbreak+;hwbreak+;vContSupported+")
        if text == "QStartNoAckMode":
            channel.send_packet("OK")
            channel.ack = False
            return None
        if text == "?":
            return self._stop_reply
        if head == "H":
            return "OK"
        if text == "qfThreadInfo":
            return "m1"
        if text == "qsThreadInfo":
            return "l"
        if text == "qC":
            return "QC1"
        if text == "qAttached":
            return "1"
        if text.startswith("qSymbol"):
            return "OK"
        if head == "T":
            return "OK"
        if head == "g":
            return "".join(self.regs.read(r).to_bytes(4, "little").hex() for r in GENERAL_REGISTERS)
        if head == "G":
            raw = bytes.fromhex(text[1:])
            for i in range(len(GENERAL_REGISTERS)):
                if 4 * i + 4 <= len(raw):
                    self._write_register(i, int.from_bytes(raw[4 * i : 4 * i + 4], "little"))
            return "OK"
        if head == "p":
            number = int(text[1:], 16)
            size = register_size(number)
            if size is None:
                return "E45"
            if number < len(GENERAL_REGISTERS):
                return self.regs.read(GENERAL_REGISTERS[number]).to_bytes(4, "little").hex()
            return "xx" * size
        if head == "P":
            number_text, _, value = text[1:].partition("=")
            number = int(number_text, 16)
            if number >= len(GENERAL_REGISTERS):
                return "E45"
            self._write_register(number, int.from_bytes(bytes.fromhex(value)[:4], "little"))
            return "OK"
        if head == "m":
            where, _, length = text[1:].partition(",")
            return self._read_memory(int(where, 16), int(length, 16))
        if head in ("M", "X"):
            spec, _, data = packet[1:].partition(b":")
            where, _, length = spec.decode().partition(",")
            raw = bytes.fromhex(data.decode()) if head == "M" else unescape(data)
            return self._write_memory(int(where, 16), raw[: int(length, 16)])
        if head in ("Z", "z"):
            return self._point(head == "Z", text[1:])
        if text.startswith("qXfer:features:read:target.xml:"):
            return _chunk(TARGET_XML.encode(), text.rsplit(":", 1)[1])
        if text.startswith("qXfer:exec-file:read:"):
            return _chunk(self.kernel_file().path.encode(), text.rsplit(":", 1)[1])
        if text.startswith("qXfer:libraries:read::"):
            return _chunk(self.library_list().encode(), text.rsplit(":", 1)[1])
        if text.startswith("qRcmd,"):
            return self._monitor(bytes.fromhex(text[6:]).decode("utf-8", "replace").strip())
        return ""  # not supported: gdb falls back (vFile, qOffsets, qTStatus, ...)

    # ------------------------------------------------------------- pieces
    def _write_register(self, number: int, value: int) -> None:
        self.regs.write(GENERAL_REGISTERS[number], value)
        if number == EIP_NUMBER:
            self._pc_written = True

    def _read_memory(self, address: int, length: int) -> str:
        length = min(length, 0x4000)
        try:
            return bytes(self.uc.mem_read(address, length)).hex()
        except UcError:
            # Partly mapped: give what can be read up to the first hole.
            out = bytearray()
            for offset in range(length):
                try:
                    out += self.uc.mem_read(address + offset, 1)
                except UcError:
                    break
            return out.hex() if out else "E14"

    def _write_memory(self, address: int, data: bytes) -> str:
        try:
            self.uc.mem_write(address, data)
        except UcError:
            return "E14"
        if any(r.start <= address < r.end and r.perms & X for r in self.kernel.memory.regions()):
            self.uc.ctl_remove_cache(address, address + max(len(data), 1))
        return "OK"

    def _point(self, insert: bool, spec: str) -> str:
        kind_text, where, length = [*spec.split(";")[0].split(","), "1"][:3]
        kind, address, size = int(kind_text), int(where, 16), int(length, 16)
        if kind in (0, 1):
            if insert and address not in self._breakpoints:
                self._breakpoints[address] = self.uc.hook_add(UC_HOOK_CODE, self._on_code, None, address, address)
                self.uc.ctl_remove_cache(address, address + 1)
            elif not insert and address in self._breakpoints:
                self.uc.hook_del(self._breakpoints.pop(address))
            return "OK"
        if kind in _WATCH_KINDS:
            key = (kind, address, max(size, 1))
            if insert and key not in self._watchpoints:
                types = UC_HOOK_MEM_WRITE if kind == 2 else UC_HOOK_MEM_READ if kind == 3 else \
                    UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE
                self._watchpoints[key] = self.uc.hook_add(types, self._on_access, None, address,
                                                          address + key[2] - 1)
            elif not insert and key in self._watchpoints:
                self.uc.hook_del(self._watchpoints.pop(key))
            return "OK"
        return ""

    def _library_signature(self) -> tuple[tuple[str, int], ...]:
        return tuple((m.name, m.base) for m in self.kernel.modules)

    def kernel_file(self) -> symbols.SymbolFile:
        """The kernel's own symbol file (services, kernel code and variables), written once."""
        if self._kernel_file is None:
            path = Path(self._scratch.name) / "sandbox-kernel.elf"
            self._kernel_file = symbols.write_kernel_symbols(self.kernel, path)
        return self._kernel_file

    def module_files(self) -> list[symbols.SymbolFile]:
        """One symbol file per loaded module, with its section addresses."""
        scratch = Path(self._scratch.name)
        return [symbols.module_file(m, scratch) for m in self.kernel.modules]

    def library_list(self) -> str:
        """The qXfer:libraries:read document; remembers what the client was told."""
        self._libraries_seen = self._library_signature()
        return symbols.library_list(self.module_files())

    def _monitor(self, command: str) -> str:
        """``monitor`` commands: ``symbols`` prints add-symbol-file lines, ``modules`` the module list."""
        if command == "symbols":
            text = f"file {self.kernel_file().path}\n" + symbols.add_symbol_file_script(self.module_files())
        elif command == "modules":
            text = self.kernel.proc_modules()
        else:
            text = "monitor commands: symbols (add-symbol-file lines), modules (/proc/modules)\n"
        assert self._channel is not None
        self._channel.send_packet("O" + text.encode().hex())
        return "OK"


def amap_eip() -> int:
    """The Unicorn id of EIP (kept in one place for the server's many uses)."""
    return GENERAL_REGISTERS[EIP_NUMBER]


def _chunk(document: bytes, window: str) -> bytes:
    """One ``qXfer`` reply: ``m`` + a piece, or ``l`` + the last piece."""
    offset_text, _, length_text = window.partition(",")
    offset, length = int(offset_text, 16), int(length_text, 16)
    piece = document[offset : offset + length]
    return (b"l" if offset + length >= len(document) else b"m") + escape(piece)
