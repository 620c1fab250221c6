"""Targets, registered by name. Importing this package registers the built-ins."""

from . import cuda, loihi2, ref  # noqa: F401  (registers the built-in targets)
from .base import Target
from .registry import REGISTRY, TARGETS, register_target

__all__ = ["REGISTRY", "TARGETS", "Target", "register_target"]
