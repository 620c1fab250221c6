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


def validation_message(e: Exception) -> str:
    """A pydantic ValidationError's first problem as `field.path: what, got VALUE` (pydantic's own
    text begins with a count of errors and spans several lines)."""
    errors = getattr(e, "errors", None)
    if not callable(errors):
        return " ".join(str(e).split())
    first = errors()[0]
    field = ".".join(map(str, first["loc"]))
    got = "" if first["type"] in ("value_error", "missing") else f", got {str(first.get('input'))[:40]}"
    more = f" (and {len(errors()) - 1} more)" if len(errors()) > 1 else ""
    return f"{field + ': ' if field else ''}{first['msg']}{got}{more}"
