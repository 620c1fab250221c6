"""The SpikingBrain model family in PyTorch, written from the published equations."""

from .config import SpikeOptions, SpikingBrainConfig
from .model import LEAF_MODULES, SpikingBrainForCausalLM, build_model
from .presets import PRESETS

__all__ = ["LEAF_MODULES", "PRESETS", "SpikeOptions", "SpikingBrainConfig", "SpikingBrainForCausalLM", "build_model"]
