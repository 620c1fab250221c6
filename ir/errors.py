"""Errors that reach users as one line: `file:line:col: message`, never a traceback."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Location:
    """Where something came from: a `.sbir` text position or a Python source line."""

    file: str
    line: int
    col: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}" if self.col else f"{self.file}:{self.line}"


class SbirError(Exception):
    """Any error the compiler reports to a user; its text is the whole message."""

    def __init__(self, message: str, loc: Location | None = None) -> None:
        self.message = message
        self.loc = loc
        super().__init__(f"{loc}: {message}" if loc else message)


class ParseError(SbirError):
    """Malformed `.sbir` text."""


class VerifyError(SbirError):
    """A module that breaks a structural, parameter or type rule."""
