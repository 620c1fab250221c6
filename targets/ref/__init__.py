"""`ref`: the reference interpreter, whose results define what every op means."""

from __future__ import annotations

from ..base import Target
from ..registry import register_target


@register_target
class RefTarget(Target):
    name = "ref"
    summary = "numpy reference interpreter: the semantics every other target is held to"
