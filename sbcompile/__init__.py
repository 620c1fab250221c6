"""sbcompile: a compiler for spiking LLMs (SpikingBrain) onto neuromorphic cores, GPUs and a
reference interpreter."""

__version__ = "0.1.0"
