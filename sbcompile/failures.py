"""The one place where a failure becomes what the user reads: a single line on stderr and a
non-zero exit status, never a traceback. The project's own errors (`SbirError`) already say
what went wrong and where; anything else is a bug or an unforeseen input, reported as one line
that names the exception and the innermost line of sbcompile code it passed through."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import traceback
import warnings
from pathlib import Path
from typing import Callable, NoReturn

from sbcompile.ir import SbirError
from sbcompile.ir.errors import validation_message

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143
_PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # sbcompile/, ir/, passes/, targets/ live here


def error_line(e: BaseException) -> str:
    """The one line that reports `e`."""
    if isinstance(e, SbirError):
        return (f"{e.loc}: error: " if e.loc else "sbcompile: error: ") + e.message.replace("\n", "; ")
    if isinstance(e, RecursionError):
        return f"sbcompile: error: input nested too deeply to process (Python recursion limit){_where(e)}"
    if type(e).__name__ == "ValidationError":  # pydantic: a value that entered unchecked
        return f"sbcompile: error: invalid value: {validation_message(e)}{_where(e)}"
    if isinstance(e, OSError) and e.strerror:  # a file the command could not read or write
        name = f"{e.filename}: " if e.filename else ""
        return f"sbcompile: error: {name}{e.strerror}"
    if isinstance(e, MemoryError):
        return f"sbcompile: error: out of memory{_where(e)}"
    text = " ".join(str(e).split()) or "-"
    if len(text) > 300:
        text = text[:297] + "..."
    return f"sbcompile: internal error: {type(e).__name__}: {text}{_where(e)} (please report this)"


def _where(e: BaseException) -> str:
    """` at FILE:LINE in FUNCTION`: the innermost frame of this project's code, else the innermost."""
    frames = traceback.extract_tb(e.__traceback__)
    if not frames:
        return ""
    ours = [f for f in frames if _is_ours(f.filename)]
    f = (ours or frames)[-1]
    path = Path(f.filename)
    try:
        shown = path.resolve().relative_to(_PACKAGE_ROOT)
    except ValueError:
        shown = path.name
    return f" at {shown}:{f.lineno} in {f.name}"


def _is_ours(filename: str) -> bool:
    try:
        Path(filename).resolve().relative_to(_PACKAGE_ROOT)
    except ValueError:
        return False
    return ".venv" not in filename and "site-packages" not in filename


def one_line_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                     line: str | None = None) -> str:
    """Python warnings (a library's notes included) as one line each, not two with source."""
    return f"sbcompile: warning: {category.__name__}: {' '.join(str(message).split())[:300]}\n"


class Terminated(BaseException):
    """SIGTERM, raised as an exception so that cleanups run (partial outputs removed, a Lava
    session shut down) before the process ends."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


def guarded(entry: Callable[[], int]) -> int:
    """Run a command's entry point; every failure ends as one line and an exit status."""
    warnings.formatwarning = one_line_warning
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if main_thread else None
    try:
        return entry()
    except KeyboardInterrupt:
        print("sbcompile: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Terminated:
        print("sbcompile: terminated", file=sys.stderr)
        return EXIT_TERMINATED
    except SystemExit:
        raise
    except BaseException as e:  # noqa: BLE001  the last line of defence: no traceback reaches a user
        print(error_line(e), file=sys.stderr)
        return EXIT_ERROR
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)


class OneLineParser(argparse.ArgumentParser):
    """argparse whose usage errors are one line too (exit status 2, as argparse's)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")
