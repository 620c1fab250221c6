"""Passes by name (see sbcompile.plugins for how plugins add theirs)."""

from __future__ import annotations

from typing import TypeVar

from sbcompile.ir import SbirError
from sbcompile.plugins import Registry

from .base import Pass

REGISTRY: Registry[type[Pass]] = Registry("pass", "sbcompile.passes")
PASSES = REGISTRY.items

P = TypeVar("P", bound=type[Pass])


def register_pass(cls: P) -> P:
    """Class decorator: make a pass available by its kebab-case `name`."""
    if not cls.name or cls.name != cls.name.lower() or " " in cls.name or "_" in cls.name:
        raise SbirError(f"pass class {cls.__qualname__} needs a kebab-case `name`, got {cls.name!r}")
    REGISTRY.add(cls.name, cls)
    return cls
