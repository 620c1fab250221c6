"""Module -> `.sbir` text, deterministically: parameters in their declared order with defaults
left out, namespaced attributes sorted, floats in their shortest round-trip form."""

from __future__ import annotations

import json
import math
from typing import Any

from pydantic import BaseModel

from .core import Module, Op


def format_value(v: Any) -> str:
    if v is None:
        return "none"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (tuple, list)):
        return "[" + ", ".join(format_value(x) for x in v) + "]"
    raise TypeError(f"cannot print attribute value {v!r} of type {type(v).__name__}")


def format_attrs(items: list[tuple[str, Any]]) -> str:
    if not items:
        return ""
    return " {" + ", ".join(f"{k} = {format_value(v)}" for k, v in items) + "}"


def param_items(p: BaseModel) -> list[tuple[str, Any]]:
    """Parameters worth printing: required ones and those that differ from their default."""
    out = []
    for name, field in type(p).model_fields.items():
        value = getattr(p, name)
        if field.is_required() or value != field.default or type(value) is not type(field.default):
            out.append((name, value))
    return out


def print_op(op: Op) -> str:
    res = ", ".join("%" + r.name for r in op.results)
    args = ", ".join("%" + v.name for v in op.operands)
    attrs = format_attrs(param_items(op.params) + sorted(op.attrs.items()))
    types = ", ".join(str(r.type) for r in op.results)
    loc = f" loc({json.dumps(op.loc.file)}:{op.loc.line}:{op.loc.col})" if op.loc else ""
    return f"{res} = {op.name}({args}){attrs} : {types}{loc}"


def print_module(m: Module) -> str:
    lines = [f"module @{m.name}{format_attrs(sorted(m.attrs.items()))} {{"]
    lines.extend("  " + print_op(op) for op in m.ops)
    outs = ", ".join("%" + v.name for v in m.outputs)
    lines.append(f"  output {outs}".rstrip())
    lines.append("}")
    return "\n".join(lines) + "\n"
