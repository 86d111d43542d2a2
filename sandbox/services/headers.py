"""Find the functions a profile's C headers declare.

The headers are the contract drivers compile against. A function declared
there that no Python implements still links, to a stub that, when called,
names the function, where it is declared and who called it, instead of the
whole load failing on an unresolved symbol.

Any ordinary declaration style counts: plain prototypes, ``extern``, a macro
in front (``KAPI``, ``EXPORT``, ``asmlinkage``), ``__attribute__`` and
attribute macros, declarations over several lines, function-pointer
parameters. Not counted: ``static``/``inline`` functions and anything with
a body, ``typedef``s, pointers to functions (data), what is commented out
or inside ``#if 0`` (or ``#ifdef __cplusplus``).

The scanner is our own small tokenizer rather than the compiler or a C
parser: it needs no preprocessing, no compiler at run time and no include
paths, and takes a few milliseconds for a whole include directory (measured
against ``gcc -aux-info`` in docs/architecture.md; the tests use gcc's
output as the oracle).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..errors import ServiceError
from .prototype import Prototype, PrototypeError, parse_prototype

__all__ = ["Declaration", "declared_functions", "missing_service", "scan_header"]


@dataclass(frozen=True, slots=True)
class Declaration:
    """A function a header declares: its prototype and where."""

    prototype: Prototype
    path: str  # relative to the include directory, "/"-separated
    line: int
    include_dir: str = ""

    @property
    def where(self) -> str:
        """``path:line``, e.g. ``myos/log.h:12``."""
        return f"{self.path}:{self.line}"

    def __iter__(self) -> Iterator[Any]:
        # Code written when this was a (prototype, header path) pair keeps working.
        return iter((self.prototype, self.path))


# Storage classes, qualifiers and calling-convention words that may come
# before or around a declarator; none of them can be a function's name.
_KEYWORDS = frozenset({
    "_Alignas", "_Atomic", "_Bool", "_Complex", "_Noreturn", "_Thread_local", "__cdecl", "__const",
    "__const__", "__extension__", "__fastcall", "__inline", "__inline__", "__restrict", "__restrict__",
    "__signed__", "__stdcall", "__thiscall", "__volatile__", "auto", "break", "case", "char", "const",
    "continue", "default", "do", "double", "else", "enum", "extern", "float", "for", "goto", "if", "inline",
    "int", "long", "register", "restrict", "return", "short", "signed", "sizeof", "static", "struct",
    "switch", "typedef", "union", "unsigned", "void", "volatile", "while",
})
# Words whose parenthesised argument is an attribute, not a parameter list.
_ATTRIBUTE_CALLS = frozenset(
    ["__attribute__", "__attribute", "__declspec", "__asm__", "__asm", "asm", "_Alignas", "__typeof__", "typeof", "__typeof"]
)
# Comments are gone by the time this runs (see _strip_comments).
_ATTRIBUTE_WORDS = tuple(_ATTRIBUTE_CALLS)
_TOKEN = re.compile(r"""
    "(?:\\.|[^"\\])*" | '(?:\\.|[^'\\])*'   # strings and characters
  | [A-Za-z_]\w*                               # identifiers and keywords
  | \.\.\.                                     # the ellipsis
  | \.?\d[\w.]*                                # numbers
  | \S                                         # any other punctuator, one character
""", re.X)
_DIRECTIVE = re.compile(r"^[ \t]*#[ \t]*(?P<word>\w*)(?P<rest>.*)$")


_COMMENT_OR_STRING = re.compile(r"""/\*.*?\*/|//[^\n]*|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'""", re.S)


def _strip_comments(text: str) -> str:
    """Comments become spaces (their newlines kept); strings are left alone."""
    def blank(match: re.Match[str]) -> str:
        found = match.group()
        if found[0] in "\"'":
            return found
        return " " if "\n" not in found else "\n" * found.count("\n")

    return _COMMENT_OR_STRING.sub(blank, text)


def _preprocess(text: str) -> tuple[str, dict[str, str]]:
    """Blank out preprocessor lines and dead branches, keeping line numbers.

    Branches known dead in C are ``#if 0`` and ``#ifdef __cplusplus`` (and the
    ``#else`` of ``#if 1`` / ``#ifndef __cplusplus``); every other condition
    keeps both branches, since the scanner cannot know the configuration.
    Returns the text and the object-like macros defined with an empty body
    or one made only of keywords and attributes (``#define KAPI extern``,
    ``#define WINAPI __attribute__((stdcall))``), with their bodies: words
    that decorate a declaration, expanded in the prototype text so that an
    attribute they stand for (a calling convention) is seen.
    """
    lines = _strip_comments(text).split("\n")
    out: list[str] = []
    decorations: dict[str, str] = {}
    # One entry per open conditional: is its current branch live?
    # None: unknown (both branches kept).
    stack: list[bool | None] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        match = _DIRECTIVE.match(line)
        if match is None:
            out.append(line if all(s is not False for s in stack) else "")
            i += 1
            continue
        # A directive, with its backslash continuations.
        logical = line
        span = 1
        while logical.endswith("\\") and i + span < len(lines):
            logical = logical[:-1] + " " + lines[i + span]
            span += 1
        out.extend([""] * span)
        i += span
        word, rest = match["word"], _DIRECTIVE.match(logical)["rest"].strip()  # type: ignore[index]
        if word in ("if", "ifdef", "ifndef"):
            known: bool | None = None
            if word == "if" and rest in ("0", "1"):
                known = rest == "1"
            elif rest == "__cplusplus" and word in ("ifdef", "ifndef"):
                known = word == "ifndef"
            elif word == "if" and re.fullmatch(r"defined\s*\(?\s*__cplusplus\s*\)?", rest):
                known = False
            stack.append(known)
        elif word in ("else", "elif") and stack:
            top = stack[-1]
            stack[-1] = None if top is None or (word == "elif" and top is False) else not top
        elif word == "endif" and stack:
            stack.pop()
        elif word == "define" and all(s is not False for s in stack):
            defined = re.match(r"(\w+)\b(?!\()\s*(.*)$", rest)
            if defined is not None:
                body = re.sub(r"__attribute__\s*\(\(.*\)\)|__declspec\s*\(.*\)", "", defined[2]).strip()
                if all(word in _KEYWORDS for word in body.split()):
                    decorations[defined[1]] = defined[2].strip()
    return "\n".join(out), decorations


def _tokens(text: str) -> list[tuple[str, str, int]]:
    """(kind, text, line) for every token: kind is ``ident``, ``string`` or ``punct``."""
    found: list[tuple[str, str, int]] = []
    append = found.append
    findall = _TOKEN.findall
    for number, line in enumerate(text.split("\n"), 1):
        if not line or line.isspace():
            continue
        for token in findall(line):
            first = token[0]
            kind = "ident" if first.isalpha() or first == "_" else "string" if first in "\"'" else "punct"
            append((kind, token, number))
    return found


def _statements(tokens: list[tuple[str, str, int]]) -> Iterator[list[tuple[str, str, int]]]:
    """Top-level declarations (the tokens before each ``;``), bodies and
    aggregates skipped; ``extern "C" { ... }`` is transparent."""
    current: list[tuple[str, str, int]] = []
    i = 0
    count = len(tokens)
    while i < count:
        value = tokens[i][1]
        if value == "extern" and i + 2 < count and tokens[i + 1][0] == "string" and tokens[i + 2][1] == "{":
            i += 3  # extern "C" {: its contents are top level; its } is skipped below
            continue
        if value == "}" and not current:
            i += 1
            continue
        if value == ";":
            if current:
                yield current
            current = []
            i += 1
            continue
        if value == "{":
            # A body or an aggregate: skip to the matching brace.
            depth = 0
            while i < count:
                depth += {"{": 1, "}": -1}.get(tokens[i][1], 0)
                i += 1
                if depth == 0:
                    break
            if (current and current[-1][1] == ")") or any(t[1] == "=" for t in current):
                current = []  # a function definition (or an initialiser): nothing declared
            else:
                current.append(("body", "{}", 0))  # struct x {...} var; stays one statement
            continue
        if value == "(":
            # Keep a parenthesised group whole (a parameter list may hold ';'-free braces only in macros).
            depth = 0
            while i < count:
                token = tokens[i]
                depth += {"(": 1, ")": -1}.get(token[1], 0)
                current.append(token)
                i += 1
                if depth == 0:
                    break
            continue
        current.append(tokens[i])
        i += 1


def _group_end(statement: list[tuple[str, str, int]], start: int) -> int:
    """Index just past the parenthesised group opening at ``start``."""
    depth = 0
    for j in range(start, len(statement)):
        depth += {"(": 1, ")": -1}.get(statement[j][1], 0)
        if depth == 0:
            return j + 1
    return len(statement)


def _join(tokens: list[tuple[str, str, int]]) -> str:
    """C text of ``tokens``, spaced as a person would write it."""
    text = ""
    for _kind, value, _line in tokens:
        tight = (text[-1:] in ("(", "[", "*") or value in (",", ")", "[", "]")
                 or (value == "(" and (text[-1:] == ")" or text.endswith(_ATTRIBUTE_WORDS))))
        if text and not tight:
            text += " "
        text += value
    return text


def _expand(tokens: list[tuple[str, str, int]], decorations: dict[str, str]) -> str:
    """C text of ``tokens`` with ``extern`` dropped and decoration macros replaced by their bodies."""
    out: list[tuple[str, str, int]] = []
    for token in tokens:
        value = token[1]
        if value == "extern":
            continue
        if value in decorations:
            body = " ".join(w for w in decorations[value].split() if w != "extern")
            if body:
                out.append(("punct", body, token[2]))
            continue
        out.append(token)
    return _join(out)


def _declaration(statement: list[tuple[str, str, int]], decorations: dict[str, str]) -> tuple[str, int] | None:
    """``"ret name(params) attributes"`` and the name's line, if the statement declares a function."""
    words = {t[1] for t in statement if t[0] == "ident"}
    if "typedef" in words or "static" in words or any(t[0] == "body" for t in statement):
        return None
    # Attribute groups stay in the text (they may name a calling convention)
    # but are never where the function's name is looked for.
    count = len(statement)
    hidden: set[int] = set()
    i = 0
    while i < count:
        if statement[i][1] in _ATTRIBUTE_CALLS and i + 1 < count and statement[i + 1][1] == "(":
            end = _group_end(statement, i + 1)
            hidden.update(range(i, end))
            i = end
        else:
            i += 1
    for i, (kind, value, line) in enumerate(statement):
        if i in hidden or kind != "ident" or value in _KEYWORDS or value in decorations:
            continue
        if i + 1 >= count or statement[i + 1][1] != "(":
            continue
        before = [t for j, t in enumerate(statement[:i])
                  if j not in hidden and t[1] not in decorations and t[1] != "extern"]
        if not before or before[-1][1] == "(":
            continue  # a macro invocation statement, or a name inside a declarator group
        end = _group_end(statement, i + 1)
        # What follows the parameter list may only be attributes (__printf(1, 2)).
        rest = [t for j, t in enumerate(statement[end:], end) if j not in hidden]
        if rest and (rest[0][1] in ("(", "[") or rest[0][0] != "ident"):
            continue  # a function pointer, an array, ...
        returns = _expand(statement[:i], decorations)
        suffix = _expand(statement[end:], decorations)
        text = f"{returns}{'' if returns.endswith('*') else ' '}{value}{_expand(statement[i + 1:end], decorations)}"
        return (f"{text} {suffix}" if suffix else text), line
    return None


def scan_header(text: str, decorations: dict[str, str] | None = None,
                preprocessed: tuple[str, dict[str, str]] | None = None) -> list[tuple[str, int]]:
    """Every function declaration in header ``text``: (``"ret name(params)"``, line).

    ``decorations`` are extra words to ignore in front of a declaration (macros
    defined in other headers); macros defined in this one are found here.
    """
    cleaned, defined = preprocessed or _preprocess(text)
    words = {**(decorations or {}), **defined}
    found = []
    for statement in _statements(_tokens(cleaned)):
        declared = _declaration(statement, words)
        if declared is not None:
            found.append(declared)
    return found


@lru_cache(maxsize=16)
def declared_functions(include_dir: str) -> dict[str, Declaration]:
    """Map name -> :class:`Declaration` for every function the headers under
    ``include_dir`` declare (the first declaration of a name wins)."""
    root = Path(include_dir)
    headers = sorted(root.rglob("*.h")) if root.is_dir() else []
    texts = {header: header.read_text(errors="replace") for header in headers}
    # Macros one header defines decorate declarations in the others (KAPI in compiler.h).
    preprocessed = {header: _preprocess(text) for header, text in texts.items()}
    decorations: dict[str, str] = {}
    for _cleaned, defined in preprocessed.values():
        decorations.update(defined)
    found: dict[str, Declaration] = {}
    for header, text in texts.items():
        relative = header.relative_to(root).as_posix()
        for declaration, line in scan_header(text, decorations, preprocessed[header]):
            try:
                proto = parse_prototype(declaration)
            except PrototypeError:
                continue
            if proto.name not in found:
                found[proto.name] = Declaration(proto, relative, line, str(root))
    return found


def missing_service(declaration: Declaration, profile: str) -> Callable[..., Any]:
    """The service bound to a declared function no Python implements: it
    raises ServiceError naming the function, its declaration and the caller."""
    name = declaration.prototype.name

    def not_implemented(ctx: Any, *args: Any) -> None:
        raise ServiceError(
            f"kernel service {name} is declared in {declaration.where} but not implemented by the "
            f"{profile} profile (called from {ctx.call_site()})"
        )

    not_implemented.__qualname__ = f"not_implemented[{name}]"
    return not_implemented
