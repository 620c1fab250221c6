"""Passes: one per file, registered by name. Importing this package registers the built-ins."""

from . import (  # noqa: F401  (register the built-in passes)
    calibrate, canonicalize, cse, dce, energy, evaluate, fixed_attention, fixed_encoders, fixed_gla, fixed_neurons,
    fixed_norms, fuse_activation, fuse_encode, fuse_projections, fuse_residual, fuse_silu_mul, fuse_swiglu, partition, place, quantize,
    reorder_channels, schedule, select_coding, static_threshold,
)
from .base import Pass, PassContext, option
from .pipeline import PipelineError, format_pipeline, parse_pipeline
from .registry import PASSES, REGISTRY, register_pass

__all__ = ["PASSES", "Pass", "PassContext", "PipelineError", "REGISTRY", "format_pipeline", "option",
           "parse_pipeline", "register_pass"]
