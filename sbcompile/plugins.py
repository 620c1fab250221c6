"""Named registries that plugins extend: built-ins register on import; other packages through
an entry-point group; `--plugin some.module` by importing a module. A name registered twice
is an error naming both places."""

from __future__ import annotations

import importlib
import sys
from contextlib import contextmanager
from importlib.metadata import entry_points
from typing import Generic, Iterator, TypeVar

from sbcompile.ir import SbirError

T = TypeVar("T")

_origins = ["sbcompile"]


@contextmanager
def origin(name: str) -> Iterator[None]:
    """Attribute whatever registers inside this block to `name` (for clash messages)."""
    _origins.append(name)
    try:
        yield
    finally:
        _origins.pop()


class Registry(Generic[T]):
    def __init__(self, kind: str, group: str) -> None:
        self.kind = kind
        self.group = group
        self.items: dict[str, T] = {}
        self.origin: dict[str, str] = {}

    def add(self, name: str, item: T) -> None:
        where = _origins[-1]
        if name in self.items and self.items[name] is not item:
            raise SbirError(f"{self.kind} '{name}' is defined twice: by {self.origin[name]} and by {where}")
        self.items[name] = item
        self.origin[name] = where

    def load_entry_points(self) -> None:
        """Load installed plugins; an entry point names an item or a module that registers some.
        A plugin that fails to import is reported as a warning and skipped, so one broken
        package does not stop every compilation; a name clash stays an error."""
        for ep in sorted(entry_points(group=self.group), key=lambda e: (e.dist.name if e.dist else "", e.name)):
            where = f"plugin '{ep.dist.name if ep.dist else ep.name}' (entry point {ep.value})"
            with origin(where):
                try:
                    obj = ep.load()
                except Exception as e:  # a broken plugin must say so, not take the compiler down
                    print(f"sbcompile: warning: {where}: failed to load, skipped: {type(e).__name__}: {e}",
                          file=sys.stderr)
                    continue
                name = getattr(obj, "name", None)
                if isinstance(name, str) and name and not isinstance(obj, type(importlib)):
                    self.add(name, obj)


def load_plugin_module(module: str) -> None:
    """`--plugin some.module`: import it so that its passes and targets register."""
    with origin(f"--plugin {module}"):
        try:
            importlib.import_module(module)
        except ImportError as e:
            raise SbirError(f"--plugin {module}: cannot import it ({e})") from None
