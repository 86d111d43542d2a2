"""How the ELF layer refuses a file: one callable per image, naming the file."""

from __future__ import annotations

from typing import NoReturn, Protocol

from ..errors import LoadError


class Refuser(Protocol):
    """``refuse(check, detail)`` raises a LoadError for the current file."""

    def __call__(self, check: str, detail: str) -> NoReturn: ...


def refuser_for(name: str) -> Refuser:
    """A Refuser that names ``name`` in every LoadError."""

    def refuse(check: str, detail: str) -> NoReturn:
        raise LoadError(name, check, detail)

    return refuse
