"""sbir: the spiking dataflow IR (core classes, types, ops, text format, verifier)."""

from . import dialects  # noqa: F401  (registers the ops)
from .builder import Builder
from .core import Module, Op, Value
from .errors import Location, ParseError, SbirError, VerifyError
from .opdef import REGISTRY, OpDef, Params, lookup, register
from .parser import parse, parse_file
from .printer import print_module, print_op
from .types import Type, spikes, tensor
from .verifier import diagnose, verify
from .weights import WeightStore

__all__ = [
    "Builder", "Location", "Module", "Op", "OpDef", "Params", "ParseError", "REGISTRY", "SbirError", "Type",
    "Value", "VerifyError", "WeightStore", "diagnose", "lookup", "parse", "parse_file", "print_module",
    "print_op", "register", "spikes", "tensor", "verify",
]
