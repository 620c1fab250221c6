"""Importing this package registers every op of every dialect."""

from . import fixed_seq, io, layers, nn, neuron, seq, spike, syn  # noqa: F401
