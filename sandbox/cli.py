"""Command line: ``python -m sandbox run FILE... [--irq N] [--call SYM ARG...]``.

``run`` loads the files in order (running each init), then performs the
``--irq`` and ``--call`` actions in the order given, unloads everything in
reverse order, and prints the console and the trace (``--trace
text|jsonl|chrome|none``, ``-o FILE``, filtered with ``--trace-kinds`` and
``--trace-module``), an instruction trace (``--itrace MODULE[:SYMBOL]``) and
coverage (``--coverage FILE`` writes lcov and prints a per-function summary).
Any load error or guest
fault ends the run with a short message (the fault report for a fault) and
exit status 1; there is never a Python traceback for a driver's mistake.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from .errors import GuestFault, SandboxError
from .kernel import Kernel
from .module import Module
from .trace.itrace import InstructionTrace
from .trace.sinks import STYLES, write_trace


class _Ordered(argparse.Action):
    """Collect --irq and --call into one list, keeping their order."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        actions = getattr(namespace, "actions", None) or []
        actions.append((self.dest, values))
        namespace.actions = actions


def parse_argument(text: str) -> int | str:
    """``12``, ``-3``, ``0x10`` become ints, ``u64:N``/``s64:N`` 64-bit arguments; anything else is a string."""
    from .values import parse_typed

    try:
        return parse_typed(text)
    except ValueError as error:
        raise SandboxError(f"--call argument {error}") from None


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description="Run i386 driver modules in an emulated kernel.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="load modules, raise IRQs, call functions, unload")
    run.add_argument("files", nargs="+", metavar="FILE")
    run.add_argument("--irq", type=int, action=_Ordered, dest="irq", metavar="N", help="raise IRQ line N")
    run.add_argument("--call", nargs="+", action=_Ordered, dest="call", metavar=("SYMBOL", "ARG"),
                     help="call SYMBOL (or MODULE:SYMBOL) with int/string arguments (u64:N, s64:N for 64-bit ones)")
    run.add_argument("--param", action="append", default=[], metavar="[MODULE.]NAME=VALUE",
                     help="set a module parameter before init (MODULE defaults to every file declaring NAME)")
    run.add_argument("--tree", metavar="DIR",
                     help="a module tree (lib/modules/<release>): FILE may then be a module name, loaded with "
                          "its dependencies as modprobe does (modules.dep, else .modinfo depends=)")
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
    run.add_argument("--profile", default="generic")
    run.add_argument("--budget", type=float, default=10.0, help="seconds each guest call may run")
    run.add_argument("--keep", action="store_true", help="do not unload at the end")
    run.set_defaults(actions=[])
    info = sub.add_parser("info", help="describe a module file without running it")
    info.add_argument("files", nargs="+", metavar="FILE")
    info.add_argument("--json", action="store_true", help="machine-readable output")
    info.add_argument("--profile", default="generic")
    corpus = sub.add_parser("corpus", help="load and unload every module under DIR (linux profile, unresolved symbols trapped)")
    corpus.add_argument("dir", metavar="DIR")
    corpus.add_argument("--json", action="store_true", help="machine-readable output")
    corpus.add_argument("--run-init", action="store_true", help="also run each module's init (and exit)")
    corpus.add_argument("--budget", type=float, default=1.0, help="seconds each init may run")
    corpus.add_argument("--limit", type=int, default=None, help="only the first N files")
    corpus.add_argument("--top", type=int, default=25, help="how many most-wanted symbols to list")
    corpus.add_argument("--quiet", action="store_true", help="no progress bar")
    corpus.add_argument("--strict", action="store_true", help="unresolved symbols are load errors, not traps")
    corpus.add_argument("--deps", action="store_true",
                        help="load each module after its dependencies (modprobe), unload the chain after")
    corpus.add_argument("--figures", action="store_true",
                        help="the four reach figures (strict / traps, alone / with dependencies), each with its time")
    return parser


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


def _print_trace(kernel: Kernel, args: argparse.Namespace, out: TextIO) -> None:
    if args.trace == "none":
        return
    kinds = [k for k in args.trace_kinds.split(",") if k] if args.trace_kinds else None
    events = kernel.trace.filter(kinds=kinds, modules=args.trace_module or None, symbolizer=kernel.symbolizer)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            write_trace(events, args.trace, handle, kernel.symbolizer, kernel.trace.t0)
        return
    print("== trace ==", file=out)
    write_trace(events, args.trace, out, kernel.symbolizer, kernel.trace.t0)


def _start_itrace(kernel: Kernel, spec: str, limit: int) -> InstructionTrace:
    module, _, symbol = spec.partition(":")
    return kernel.trace_instructions(module, symbol=symbol or None, limit=limit)


def _print_coverage(kernel: Kernel, path: str, out: TextIO) -> None:
    print("== coverage ==", file=out)
    for report in kernel.coverage.reports():
        print(report.format(), file=out)
    kernel.coverage.write_lcov(path)
    print(f"lcov tracefile written to {path}", file=out)


def _print_console(kernel: Kernel, out: TextIO) -> None:
    print("== console ==", file=out)
    text = kernel.console
    out.write(text if text.endswith("\n") or not text else text + "\n")


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Carry out ``run``; returns the exit status."""
    kernel = Kernel(args.profile, budget_seconds=args.budget, coverage=bool(args.coverage))
    results: list[str] = []
    status = 0
    try:
        if args.tree:
            from .depends import ModuleTree

            for name in args.files:
                if Path(name).is_file():
                    kernel.load(name, params=_params_for(name, args.param))
                else:
                    path = str(ModuleTree.of(args.tree).path(name))
                    kernel.modprobe(name, args.tree, params=_params_for(path, args.param))
        elif len(args.files) == 1:
            kernel.load(args.files[0], params=_params_for(args.files[0], args.param))
        else:
            # Several files: load them in dependency order, as modprobe would.
            from .depends import load_order

            for candidate in load_order(args.files, kernel):
                kernel.load(candidate.path, params=_params_for(candidate.path, args.param))
        if args.itrace:
            _start_itrace(kernel, args.itrace, args.itrace_limit)
        for kind, value in args.actions:
            if kind == "irq":
                handled = kernel.raise_irq(value)
                shown = ", ".join(f"{r.handler}={r.result}" for r in handled) or "no handler"
                results.append(f"irq {value}: {shown}")
            else:
                module, symbol = _find_function(kernel, value[0])
                call_args = [parse_argument(a) for a in value[1:]]
                result = module.call(symbol, *call_args)
                results.append(f"{module.name}:{symbol}({', '.join(map(repr, call_args))}) = {result}")
        if not args.keep:
            for module in reversed(kernel.modules):
                report = kernel.unload(module)
                results.extend(f"leak in {module.name}: {leak}" for leak in report.leaks)
    except GuestFault as fault:
        status = 1
        results.append(f"FAULT: {fault.report}")
    except SandboxError as error:
        status = 1
        results.append(f"ERROR: {error}")
    _print_console(kernel, out)
    if results:
        print("== results ==", file=out)
        for line in results:
            print(line, file=out)
    _print_trace(kernel, args, out)
    if args.coverage:
        _print_coverage(kernel, args.coverage, out)
    return status


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Entry point of ``python -m sandbox``."""
    args = _build_parser().parse_args(argv)
    out = out or sys.stdout
    if args.command == "run":
        return run(args, out)
    if args.command == "info":
        return info(args, out)
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
            described = describe_file(path, args.profile)
        except SandboxError as error:
            print(f"ERROR: {error}", file=out)
            status = 1
            continue
        print(json.dumps(described) if args.json else format_description(described), file=out)
    return status
