"""Pipelines as text: `canonicalize,quantize{weight-bits=8,group=128},partition`. Unknown
passes, unknown options and values of the wrong type are errors that list what is available."""

from __future__ import annotations

import types
import typing
from typing import Any, Literal, get_args, get_origin

from sbcompile.ir import SbirError

from .base import Pass
from .registry import PASSES


class PipelineError(SbirError):
    pass


def split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside braces."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth < 0:
                raise PipelineError(f"pipeline '{text}': unbalanced '}}'")
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if depth:
        raise PipelineError(f"pipeline '{text}': missing '}}'")
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


def convert(value: str, annotation: Any, where: str) -> Any:
    """A pipeline option's text as the field's type."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is typing.Union or origin is types.UnionType:
        if value.lower() == "none" and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return convert(value, inner[0], where)
    if origin is Literal:
        if value not in args:
            raise PipelineError(f"{where}: expected one of {', '.join(map(str, args))}, got '{value}'")
        return value
    if annotation is bool:
        if value.lower() in ("true", "1", "yes", "on"):
            return True
        if value.lower() in ("false", "0", "no", "off"):
            return False
        raise PipelineError(f"{where}: expected true or false, got '{value}'")
    if annotation in (int, float):
        try:
            return annotation(value)
        except ValueError:
            raise PipelineError(f"{where}: expected {'an integer' if annotation is int else 'a number'}, got '{value}'") from None
    return value


def parse_pass(text: str) -> Pass:
    name, _, rest = text.partition("{")
    name = name.strip()
    if name not in PASSES:
        raise PipelineError(f"unknown pass '{name}'; available passes: {', '.join(sorted(PASSES))}")
    cls = PASSES[name]
    hints = typing.get_type_hints(cls)
    fields = {f.name.replace("_", "-"): f for f in cls.options()}
    kwargs: dict[str, Any] = {}
    if rest:
        if not rest.endswith("}"):
            raise PipelineError(f"pass '{name}': options must end with '}}'")
        for item in split_top_level(rest[:-1]):
            key, eq, value = item.partition("=")
            key = key.strip()
            if key not in fields:
                known = ", ".join(fields) or "none"
                raise PipelineError(f"pass '{name}' has no option '{key}'; its options: {known}")
            if not eq:
                raise PipelineError(f"pass '{name}': option '{key}' needs a value ({key}=...)")
            f = fields[key]
            kwargs[f.name] = convert(value.strip(), hints[f.name], f"pass '{name}' option '{key}'")
    return cls(**kwargs)


DEFAULT_WORD = "default"


def parse_pipeline(text: str, default: str | None = None) -> list[Pass]:
    """The passes of `text`; the word `default` stands for the pipeline `default` (the target's),
    so `default,my-pass` extends it and `cse,default` runs a pass first."""
    passes: list[Pass] = []
    for item in split_top_level(text):
        if item != DEFAULT_WORD:
            passes.append(parse_pass(item))
        elif default is None:
            raise PipelineError(f"pipeline '{text}': '{DEFAULT_WORD}' names a target's pipeline, and none was given")
        else:
            passes += [parse_pass(p) for p in split_top_level(default)]
    return passes


def format_pipeline(passes: list[Pass]) -> str:
    return ",".join(p.spelling() for p in passes)
