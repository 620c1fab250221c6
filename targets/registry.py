"""Targets by name (see sbcompile.plugins for how plugins add theirs)."""

from __future__ import annotations

from typing import TypeVar

from sbcompile.plugins import Registry

from .base import Target

REGISTRY: Registry[type[Target]] = Registry("target", "sbcompile.targets")
TARGETS = REGISTRY.items

T = TypeVar("T", bound=type[Target])


def register_target(cls: T) -> T:
    REGISTRY.add(cls.name, cls)
    return cls
