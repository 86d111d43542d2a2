"""What one fuzz case runs: an entry point of a loaded driver, fed from the input bytes.

Every target is a small dataclass with a JSON form (:meth:`spec`), so a
saved crash can be replayed by a fresh process (``python -m sandbox replay
CASE``). A target may also have ``prepare(kernel)``: called once before the
campaign's snapshot, it returns the per-case ``run(data)`` (set-up that takes
no input, such as opening the file, then happens once instead of per case).

- :class:`IoctlTarget` — open a /dev node, one ioctl, close. The first
  input byte picks the command from ``commands`` (or, with none given, the
  first four bytes are the command); the next ``size`` bytes (zero padded)
  are the argument buffer the driver's ``arg`` points to. Prepared: the file
  is open and the buffer mapped in the snapshot, a case is ioctl + close.
- :class:`WriteTarget` — open, write the input, close.
- :class:`CallTarget` — call a module function with (pointer to a copy of
  the input, its length).
- :class:`IrqTarget` — hand the input to a device model through
  ``feed(kernel, data)`` (a function named ``module:function`` importable by
  the replayer), then raise its IRQ line.
"""

from __future__ import annotations

import importlib
import struct
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import DeviceError, SandboxError

if TYPE_CHECKING:
    from ..kernel import Kernel


@dataclass
class IoctlTarget:
    """ioctl on a /dev node: input = command selector, then the argument buffer."""

    path: str
    commands: list[int] = field(default_factory=list)
    size: int = 64
    kind: str = "ioctl"

    def split(self, data: bytes) -> tuple[int, bytes]:
        """(command, argument bytes) for an input."""
        if self.commands:
            command = self.commands[data[0] % len(self.commands)] if data else self.commands[0]
            rest = data[1:]
        else:
            command = struct.unpack("<I", data[:4].ljust(4, b"\0"))[0]
            rest = data[4:]
        return command, rest[: self.size].ljust(self.size, b"\0")

    def run(self, kernel: Kernel, data: bytes) -> None:
        """One case: open, ioctl, close."""
        command, argument = self.split(data)
        handle = kernel.open(self.path)
        handle.ioctl(command, bytearray(argument))
        handle.close()

    def prepare(self, kernel: Kernel) -> Callable[[bytes], None]:
        """The per-case run for a kernel about to be snapshotted: the file is opened and the
        argument buffer mapped now, so a case is the ioctl (written in place) and the close.

        The restore before each case puts the open file back (its session is
        guest memory); open takes no input, so nothing is left unfuzzed. A
        driver that refuses the open gets the plain :meth:`run`.
        """
        try:
            handle = kernel.open(self.path)
        except DeviceError:
            return lambda data: self.run(kernel, data)
        ioctl = handle.prepare_ioctl(self.size)
        split, close = self.split, handle.close

        def run(data: bytes) -> None:
            command, argument = split(data)
            ioctl(command, argument)
            close()

        return run

    def spec(self) -> dict[str, Any]:
        """The JSON form."""
        return asdict(self)


@dataclass
class WriteTarget:
    """write(2) of the whole input on a /dev node."""

    path: str
    kind: str = "write"

    def run(self, kernel: Kernel, data: bytes) -> None:
        """One case: open, write, close."""
        handle = kernel.open(self.path)
        handle.write(data)
        handle.close()

    def spec(self) -> dict[str, Any]:
        """The JSON form."""
        return asdict(self)


@dataclass
class CallTarget:
    """A module function taking (buffer, length)."""

    module: str
    symbol: str
    kind: str = "call"

    def run(self, kernel: Kernel, data: bytes) -> None:
        """One case: call with a copy of the input and its length."""
        kernel.module(self.module).call(self.symbol, bytearray(data), len(data))

    def spec(self) -> dict[str, Any]:
        """The JSON form."""
        return asdict(self)


@dataclass
class IrqTarget:
    """A device model fed from the input, then its interrupt line raised."""

    line: int
    feed: str  # "package.module:function", called as function(kernel, data)
    kind: str = "irq"

    def run(self, kernel: Kernel, data: bytes) -> None:
        """One case: feed the device, deliver the interrupt."""
        module_name, _, function = self.feed.partition(":")
        getattr(importlib.import_module(module_name), function)(kernel, data)
        kernel.raise_irq(self.line)

    def spec(self) -> dict[str, Any]:
        """The JSON form."""
        return asdict(self)


Target = IoctlTarget | WriteTarget | CallTarget | IrqTarget
_KINDS: dict[str, type] = {"ioctl": IoctlTarget, "write": WriteTarget, "call": CallTarget, "irq": IrqTarget}


def target_from_spec(spec: dict[str, Any]) -> Target:
    """Rebuild a target from its JSON form."""
    cls = _KINDS.get(spec.get("kind", ""))
    if cls is None:
        raise SandboxError(f"unknown fuzz target kind {spec.get('kind')!r} (one of {', '.join(_KINDS)})")
    return cls(**spec)  # type: ignore[no-any-return]


def parse_target(text: str) -> Target:
    """The command line's target: ``ioctl:/dev/x[:CMD,CMD...][@SIZE]``, ``write:/dev/x``,
    ``call:MODULE:SYMBOL``, ``irq:LINE:package.module:function``."""
    kind, _, rest = text.partition(":")
    if kind == "ioctl":
        rest, _, size = rest.partition("@")
        path, _, commands = rest.partition(":")
        return IoctlTarget(path, [int(c, 0) for c in commands.split(",") if c], int(size, 0) if size else 64)
    if kind == "write":
        return WriteTarget(rest)
    if kind == "call":
        module, _, symbol = rest.partition(":")
        if not symbol:
            raise SandboxError(f"fuzz target {text!r}: expected call:MODULE:SYMBOL")
        return CallTarget(module, symbol)
    if kind == "irq":
        line, _, feed = rest.partition(":")
        return IrqTarget(int(line, 0), feed)
    raise SandboxError(f"fuzz target {text!r}: expected ioctl:, write:, call: or irq:")
