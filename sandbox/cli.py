"""Command line: ``python -m sandbox run FILE... [--irq N] [--call SYM ARG...]``.

``run`` loads the files in order (running each init), then performs the
``--irq`` and ``--call`` actions in the order given, unloads everything in
reverse order, and prints the console and the trace (``--trace
text|jsonl|chrome|none``, ``-o FILE``, filtered with ``--trace-kinds`` and
``--trace-module``), an instruction trace (``--itrace MODULE[:SYMBOL]``) and
coverage (``--coverage FILE`` writes lcov and prints a per-function summary).
A load error or guest
fault gives a short message (the fault report for a fault) and exit status 1;
there is never a Python traceback for a driver's mistake. After a fault the
remaining actions are skipped (``--on-fault stop``, the default) or carried
out (``continue``); the modules are unloaded either way, so exit runs and
leaks are listed. ``--call`` arguments and results are typed (see
:mod:`sandbox.typed_calls`). With ``--trace jsonl`` or ``chrome`` and no
``-o``, stdout carries only the trace and the human sections go to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import stat
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from .devices.device import Device
from .errors import GuestFault, SandboxError
from .kernel import Kernel
from .module import Module
from .profile import UnknownProfile, get_profile, known_profiles
from .trace.itrace import InstructionTrace
from .trace.sinks import STYLES, write_trace
from .wellknown import DeviceOperation, IrqEntry


class _Ordered(argparse.Action):
    """Collect --irq and --call into one list, keeping their order."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        actions = getattr(namespace, "actions", None) or []
        actions.append((self.dest, values))
        namespace.actions = actions


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description="Run i386 driver modules in an emulated kernel.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="load modules, raise IRQs, call functions, unload")
    run.add_argument("files", nargs="+", metavar="FILE")
    run.add_argument("--irq", type=int, action=_Ordered, dest="irq", metavar="N", help="raise IRQ line N")
    run.add_argument("--call", nargs="+", action=_Ordered, dest="call", metavar=("SYMBOL[:TYPE]", "ARG[:TYPE]"),
                     help="call SYMBOL (or MODULE:SYMBOL); ARG types u8..u64, s8..s64, ptr, str, buf=N "
                          "(an output buffer), else from DWARF, else int or string; :TYPE on SYMBOL types the result")
    run.add_argument("--on-fault", choices=("stop", "continue"), default="stop",
                     help="after a fault or error in an --irq/--call: skip the rest (stop) or go on; "
                          "modules are unloaded either way")
    run.add_argument("--device", action="append", default=[], metavar="MODULE:CLASS",
                     help="attach a Python device model (a sandbox.devices.Device), from a module or FILE.py")
    run.add_argument("--param", action="append", default=[], metavar="[MODULE.]NAME=VALUE",
                     help="set a module parameter before init (MODULE defaults to every file declaring NAME)")
    run.add_argument("--tree", metavar="DIR",
                     help="a module tree (lib/modules/<release>): FILE may then be a module name, loaded with "
                          "its dependencies as modprobe does (modules.dep, else .modinfo depends=)")
    run.add_argument("--irq-line", action="append", default=[], metavar="MODULE=N",
                     help="put MODULE's well-known IRQ handler (irqhandler) on line N instead of the table's")
    run.add_argument("--trace", choices=STYLES, default="text",
                     help="trace format: text (ltrace-like), jsonl (docs/trace-schema.md), chrome (Perfetto), none")
    run.add_argument("-o", "--output", metavar="FILE", help="write the trace to FILE instead of stdout")
    run.add_argument("--trace-kinds", metavar="KIND,...", help="only these event kinds (service,irq,port,alloc,...)")
    run.add_argument("--trace-module", action="append", default=[], metavar="NAME",
                     help="only events of module NAME (its calls, its handlers, its life cycle); repeatable")
    run.add_argument("--itrace", metavar="MODULE[:SYMBOL]",
                     help="record every instruction executed in MODULE (or one function), after loading")
    run.add_argument("--itrace-limit", type=int, default=10000, metavar="N", help="stop the instruction trace after N")
    run.add_argument("--coverage", metavar="FILE", help="collect block coverage, write an lcov tracefile to FILE")
    run.add_argument("--source-root", metavar="DIR", default=None,
                     help="name only sources under DIR in the lcov file (default: the current directory)")
    run.add_argument("--profile", default="generic", metavar="NAME|FILE.py:NAME",
                     help="kernel profile: an installed name (see `profiles`) or a Profile in a file")
    run.add_argument("--budget", type=float, default=10.0, help="CPU seconds each guest call may run")
    run.add_argument("--keep", action="store_true", help="do not unload at the end")
    run.add_argument("--gdb", metavar="[localhost]:PORT",
                     help="serve the GDB remote protocol on localhost (gdb: target remote :PORT)")
    run.add_argument("--gdb-wait", action="store_true",
                     help="with --gdb: hold the first module code (init) until gdb attaches")
    run.set_defaults(actions=[])
    info = sub.add_parser("info", help="describe a module file without running it")
    info.add_argument("files", nargs="+", metavar="FILE")
    info.add_argument("--json", action="store_true", help="machine-readable output")
    info.add_argument("--profile", default="generic", metavar="NAME|FILE.py:NAME",
                      help="kernel profile to check the module against")
    sub.add_parser("profiles", help="list the known kernel profiles")
    _add_new_parser(sub)
    corpus = sub.add_parser("corpus", help="load and unload every module under DIR (linux profile, unresolved symbols trapped)")
    corpus.add_argument("dir", metavar="DIR")
    corpus.add_argument("--json", action="store_true", help="machine-readable output")
    corpus.add_argument("--run-init", action="store_true", help="also run each module's init (and exit)")
    corpus.add_argument("--budget", type=float, default=1.0, help="CPU seconds each init may run")
    corpus.add_argument("--limit", type=int, default=None, help="only the first N files")
    corpus.add_argument("--top", type=int, default=25, help="how many most-wanted symbols to list")
    corpus.add_argument("--quiet", action="store_true", help="no progress bar")
    corpus.add_argument("--strict", action="store_true", help="unresolved symbols are load errors, not traps")
    corpus.add_argument("--deps", action="store_true",
                        help="load each module after its dependencies (modprobe), unload the chain after")
    corpus.add_argument("--jobs", type=int, default=1,
                        help="worker processes, each one long-lived kernel loading its share of the modules")
    corpus.add_argument("--ray", metavar="ADDRESS",
                        help="load on Ray actors: 'local' starts a local Ray with --jobs workers, else a cluster address")
    corpus.add_argument("--models", action="store_true",
                        help="attach the project's device models, so drivers that match one probe")
    corpus.add_argument("--figures", action="store_true",
                        help="the four reach figures (strict / traps, alone / with dependencies), each with its time")
    from .fuzz.cli import add_parsers as add_fuzz_parsers

    add_fuzz_parsers(sub)
    return parser


def _lines_for(kernel: Kernel, path: str, specs: list[str]) -> dict[str, IrqEntry | DeviceOperation] | None:
    """The well-known table changes --irq-line asks for the module file at ``path``."""
    if not specs:
        return None
    from .formats import open_file

    fmt, image = open_file(path)
    name = fmt.module_name(image)
    for spec in specs:
        module, sep, line = spec.partition("=")
        if not sep or not line.strip().isdigit():
            raise SandboxError(f"--irq-line {spec!r}: expected MODULE=N")
        if module == name:
            return {key: IrqEntry(int(line)) for key, meaning in kernel.well_known.items() if isinstance(meaning, IrqEntry)}
    return None


def _add_new_parser(sub: Any) -> None:
    new = sub.add_parser("new", help="create a driver, its Makefile and pytest tests that pass at once")
    new.add_argument("name", metavar="DRIVER", help="the driver's name (a C identifier)")
    new.add_argument("dir", nargs="?", metavar="DIR", help="where to write it (default: ./DRIVER)")
    new.add_argument("--irq", type=int, default=5, help="the IRQ line the sample driver listens on")


def new_driver(args: argparse.Namespace, out: TextIO) -> int:
    """Carry out ``new``: write the project, say what to run next."""
    from .template import create

    try:
        written = create(args.name, args.dir, irq=args.irq)
    except (SandboxError, OSError) as error:
        print(f"ERROR: {error}", file=out)
        return 1
    where = written[0].parent
    for path in written:
        print(f"created {path}", file=out)
    print(f"next: cd {where} && make && python3 -m pytest -q", file=out)
    return 0


def _params_for(path: str, specs: list[str]) -> dict[str, object]:
    """The --param values that apply to the module file at ``path``."""
    from .formats import open_file

    name = None
    values: dict[str, object] = {}
    for spec in specs:
        key, sep, text = spec.partition("=")
        if not key:
            raise SandboxError(f"--param {spec!r}: expected NAME=VALUE (or a bare NAME, as insmod takes for a bool)")
        value: object = text if sep else None
        module, dot, param = key.rpartition(".")
        if dot:
            if name is None:
                fmt, image = open_file(path)
                name = fmt.module_name(image)
            if module != name:
                continue
        values[param] = value
    return values


def _find_function(kernel: Kernel, spec: str) -> tuple[Module, str]:
    if ":" in spec:
        module_name, symbol = spec.split(":", 1)
        return kernel.module(module_name), symbol
    for module in reversed(kernel.modules):
        if spec in module.symbols:
            return module, spec
    raise SandboxError(f"no loaded module defines {spec!r}")


def _print_trace(kernel: Kernel, args: argparse.Namespace, out: TextIO, heading: bool = True) -> None:
    if args.trace == "none":
        return
    kinds = [k for k in args.trace_kinds.split(",") if k] if args.trace_kinds else None
    events = kernel.trace.filter(kinds=kinds, modules=args.trace_module or None, symbolizer=kernel.symbolizer)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            write_trace(events, args.trace, handle, kernel.symbolizer, kernel.trace.t0)
        return
    if heading:
        print("== trace ==", file=out)
    write_trace(events, args.trace, out, kernel.symbolizer, kernel.trace.t0)


def _start_itrace(kernel: Kernel, spec: str, limit: int) -> InstructionTrace:
    module, _, symbol = spec.partition(":")
    return kernel.trace_instructions(module, symbol=symbol or None, limit=limit)


def _print_coverage(kernel: Kernel, path: str, out: TextIO, source_root: str | None = None) -> None:
    print("== coverage ==", file=out)
    for report in kernel.coverage.reports():
        print(report.format(), file=out)
    dropped = kernel.coverage.write_lcov(path, source_root=source_root)
    print(f"lcov tracefile written to {path}", file=out)
    if dropped:
        print(f"left out of it: {len(dropped)} source file(s) outside the source root, e.g. {dropped[0]}", file=out)


def _print_console(kernel: Kernel, out: TextIO) -> None:
    print("== console ==", file=out)
    text = kernel.console
    out.write(text if text.endswith("\n") or not text else text + "\n")


class _Run:
    """One ``run``: the kernel, the lines for ``== results ==``, and the exit status."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.kernel = Kernel(args.profile_value, budget_seconds=args.budget, coverage=bool(args.coverage),
                             gdb=args.gdb, gdb_wait=args.gdb_wait)
        self.results: list[str] = []
        self.status = 0
        self._prototypes: dict[str, dict[str, object]] = {}

    def fail(self, error: SandboxError) -> None:
        """Record a fault (its report) or an error (one line); the run exits 1."""
        self.status = 1
        if isinstance(error, GuestFault):
            self.results.append(f"FAULT: {error.report}")
        else:
            self.results.append(f"ERROR: {error}")

    def load(self) -> bool:
        """Load the files (several: in dependency order, as modprobe would)."""
        args, kernel = self.args, self.kernel
        try:
            for device in args.device:
                try:
                    kernel.devices.add(make_device(device))
                except ValueError as error:  # a name or a port range already taken
                    raise SandboxError(f"--device {device!r}: {error}") from None
            if args.tree:
                from .depends import ModuleTree

                for name in args.files:
                    if Path(name).is_file():
                        kernel.load(name, params=_params_for(name, args.param))
                    else:
                        path = str(ModuleTree.of(args.tree).path(name))
                        kernel.modprobe(name, args.tree, params=_params_for(path, args.param))
            elif len(args.files) == 1:
                kernel.load(args.files[0], params=_params_for(args.files[0], args.param),
                            well_known=_lines_for(kernel, args.files[0], args.irq_line))
            else:
                from .depends import load_order

                for candidate in load_order(args.files, kernel):
                    kernel.load(candidate.path, params=_params_for(candidate.path, args.param),
                                well_known=_lines_for(kernel, candidate.path, args.irq_line))
            if args.itrace:
                _start_itrace(kernel, args.itrace, args.itrace_limit)
        except SandboxError as error:
            self.fail(error)
            return False
        return True

    def perform(self) -> None:
        """``--irq`` and ``--call`` in order; after a fault, stop or go on as ``--on-fault`` says."""
        actions = self.args.actions
        for done, (kind, value) in enumerate(actions, 1):
            try:
                self.results.append(self._irq(value) if kind == "irq" else self._call(value))
            except SandboxError as error:
                self.fail(error)
                if self.args.on_fault == "stop":
                    skipped = len(actions) - done
                    if skipped:
                        self.results.append(f"({skipped} later action(s) skipped: --on-fault stop)")
                    return

    def _irq(self, line: int) -> str:
        handled = self.kernel.raise_irq(line)
        shown = ", ".join(f"{r.handler}={r.result}" for r in handled) or "no handler"
        return f"irq {line}: {shown}"

    def _prototype(self, module: Module, symbol: str) -> object:
        if module.path not in self._prototypes:
            from .dwarf_prototypes import read_prototypes

            self._prototypes[module.path] = read_prototypes(module.path)  # type: ignore[assignment]
        return self._prototypes[module.path].get(symbol)

    def _call(self, words: list[str]) -> str:
        from .typed_calls import call_values, format_buffers, format_result, parse_call, returns_for

        found: list[tuple[Module, str]] = []

        def prototype(target: str) -> object:
            found.append(_find_function(self.kernel, target))
            return self._prototype(*found[0])

        call = parse_call(words, prototype)
        module, symbol = found[0]
        values = call_values(call.arguments, self.kernel.convention)
        result = module.call(symbol, *values, returns=returns_for(call.result))
        shown = ", ".join(a.shown() for a in call.arguments)
        return f"{module.name}:{symbol}({shown}){format_result(result, call.result)}{format_buffers(call.arguments)}"

    def unload(self) -> None:
        """Unload every module, last loaded first, so exit runs and leaks are shown even after a fault."""
        for module in reversed(self.kernel.modules):
            try:
                report = self.kernel.unload(module)
            except SandboxError as error:
                self.fail(error)
                continue
            self.results.extend(f"leak in {module.name}: {leak}" for leak in report.leaks)


def make_device(spec: str) -> Device:
    """``--device MODULE:FACTORY`` or ``FILE.py:FACTORY``: a Device instance to attach."""
    import importlib
    import importlib.util

    where, sep, factory = spec.rpartition(":")
    if not sep or not where or not factory:
        raise SandboxError(f"--device {spec!r}: expected MODULE:CLASS or FILE.py:CLASS")
    try:
        if where.endswith(".py"):
            loaded = importlib.util.spec_from_file_location(f"sandbox_device_{abs(hash(where))}", where)
            if loaded is None or loaded.loader is None:
                raise SandboxError(f"--device {spec!r}: cannot import {where}")
            namespace = importlib.util.module_from_spec(loaded)
            loaded.loader.exec_module(namespace)
        else:
            namespace = importlib.import_module(where)
    except (ImportError, OSError, SyntaxError) as error:
        raise SandboxError(f"--device {spec!r}: cannot import {where}: {error}") from None
    make = getattr(namespace, factory, None)
    if make is None:
        raise SandboxError(f"--device {spec!r}: {where} has no {factory}")
    device = make()
    if not isinstance(device, Device):
        raise SandboxError(f"--device {spec!r}: {factory}() made a {type(device).__name__}, not a sandbox Device")
    return device


def _human_stream(args: argparse.Namespace, out: TextIO, err: TextIO) -> TextIO:
    """Where the console, results and coverage summary go: stdout, unless stdout carries a
    machine-readable trace (jsonl, chrome), which must be only that format."""
    return err if args.trace in ("jsonl", "chrome") and not args.output else out


def run(args: argparse.Namespace, out: TextIO, err: TextIO | None = None) -> int:
    """Carry out ``run``; returns the exit status."""
    human = _human_stream(args, out, err or sys.stderr)
    if args.gdb_wait and not args.gdb:
        print("ERROR: --gdb-wait needs --gdb PORT", file=out)
        return 2
    try:
        session = _Run(args)
    except (ValueError, OSError) as error:
        print(f"ERROR: --gdb {args.gdb}: {error}", file=out)
        return 2
    kernel = session.kernel
    if kernel.gdb is not None:
        print(f"gdb: serving localhost:{kernel.gdb.port} (gdb -ex 'target remote :{kernel.gdb.port}')",
              file=err or sys.stderr, flush=True)
    try:
        if session.load():
            session.perform()
        if not args.keep:
            session.unload()
    finally:
        if kernel.gdb is not None:
            kernel.gdb.close()
    _print_console(kernel, human)
    if session.results:
        print("== results ==", file=human)
        for line in session.results:
            print(line, file=human)
    _print_trace(kernel, args, out, heading=human is out)
    if args.coverage:
        _print_coverage(kernel, args.coverage, human, args.source_root)
    return session.status


def _argument_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with the output paths, checked before anything runs (one line), or None.

    (An unknown profile is answered before this, by the profile registry.)
    """
    for option in ("output", "coverage"):
        path = getattr(args, option, None)
        if path:
            problem = _output_problem(path)
            if problem:
                return f"{'-o' if option == 'output' else '--coverage'} {path}: {problem}"
    return None


def _output_problem(path: str) -> str | None:
    """Why ``path`` cannot take an output file (a FIFO would block, a directory cannot), or None."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        parent = os.path.dirname(path) or "."
        if not os.path.isdir(parent):
            return f"directory {parent} does not exist"
        return None if os.access(parent, os.W_OK) else f"directory {parent} is not writable"
    except OSError as error:
        return error.strerror or str(error)
    if not stat.S_ISREG(mode):
        return "not a regular file"
    return None if os.access(path, os.W_OK) else "not writable"


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Entry point of ``python -m sandbox``."""
    args = _build_parser().parse_args(argv)
    out = out or sys.stdout
    if args.command == "profiles":
        return list_profiles(out)
    if hasattr(args, "profile"):
        try:
            args.profile_value = get_profile(args.profile)
        except UnknownProfile as error:
            # One line, no traceback: the user typed a name or path wrong.
            print(f"python -m sandbox: error: {error}", file=sys.stderr)
            return 2
    problem = _argument_problem(args)
    if problem:
        print(f"sandbox {args.command}: error: {problem}", file=err or sys.stderr)
        return 2
    if args.command == "run":
        return run(args, out, err or sys.stderr)
    if args.command == "info":
        return info(args, out)
    if args.command == "new":
        return new_driver(args, out)
    if args.command in ("fuzz", "replay"):
        from .fuzz.cli import run_fuzz, run_replay

        return run_fuzz(args, out) if args.command == "fuzz" else run_replay(args, out)
    if args.command == "corpus":
        from .corpus import main as corpus_main

        return corpus_main(args, out)
    return 2


def info(args: argparse.Namespace, out: TextIO) -> int:
    """Carry out ``info``; returns the exit status."""
    from .inspect import describe_file, format_description

    status = 0
    for path in args.files:
        try:
            described = describe_file(path, args.profile_value)
        except SandboxError as error:
            print(f"ERROR: {error}", file=out)
            status = 1
            continue
        print(json.dumps(described) if args.json else format_description(described), file=out)
    return status


def list_profiles(out: TextIO) -> int:
    """Carry out ``profiles``: each known profile with its convention and description."""
    for name in known_profiles():
        try:
            profile = get_profile(name)
        except UnknownProfile as error:
            print(f"{name}: cannot be loaded: {error}", file=out)
            continue
        print(f"{name}: {profile.convention}{', ' + profile.description if profile.description else ''}", file=out)
    return 0
