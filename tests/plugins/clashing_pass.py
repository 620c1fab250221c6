"""A test plugin that defines a pass name the compiler already has."""

from __future__ import annotations

from dataclasses import dataclass

from sbcompile.passes import Pass, register_pass


@register_pass
@dataclass(frozen=True)
class MyCSE(Pass):
    """A second `cse`."""

    name = "cse"
