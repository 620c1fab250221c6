"""Measure the module's quality on text: bits per byte (or per token), with its spike activity."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sbcompile.ir import Module, parse, print_module
from sbcompile.ir.activity import total
from sbcompile.ir.dialects.spike import Decode, Encode
from sbcompile.ir.interpreter import Interpreter

from .base import Pass, PassContext, option
from .registry import register_pass
from .report import table
from .rounding import sig
from .tokens import read_tokens, require_real_weights


def bits_per_token(logits: np.ndarray, tokens: np.ndarray) -> float:
    """Mean -log2 p(next token) over the sequence, from float64 log-softmax."""
    z = logits[:-1].astype(np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    return float(-logp[np.arange(len(tokens) - 1), tokens[1:]].mean() / np.log(2))


def without_encoders(module: Module) -> Module:
    """A copy (sharing the weights) in which every projection reads its encoder's input directly."""
    copy = parse(print_module(module))
    copy.weights = module.weights
    users = copy.users()
    for op in [op for op in copy.ops if op.isa(Encode)]:
        for user in users[op.result.name]:
            if user.isa(Decode):  # encode then decode: the value itself
                copy.replace_uses(user.result, op.operands[0])
                copy.ops.remove(user)
        copy.replace_uses(op.result, op.operands[0])
        copy.ops.remove(op)
    return copy


@register_pass
@dataclass(frozen=True)
class Evaluate(Pass):
    """Runs the module on evaluation text and records under `label` in the report's `quality`
    section: bits per byte (byte-level models; else bits per token), sparsity, spikes per
    channel and zero counts. Put it at several places in a pipeline to see what each step costs.

    Requires: real weights. Guarantees: the module is unchanged."""

    name = "evaluate"
    text: str = option("", "evaluation text file")
    tokens: int = option(4096, "evaluate on at most this many tokens")
    label: str = option("current", "the row this measurement fills in the quality table")
    float: bool = option(False, "measure the module with every spike encoder bypassed (the float model)")

    report_rank = 10
    report_key = "quality"

    @classmethod
    def render_section(cls, quality: dict, report: dict) -> list[str]:
        return ["## Quality", "", "Measured by `evaluate` at each labelled point of the pipeline.", ""] + table(quality, "stage")

    def run(self, module: Module, ctx: PassContext) -> bool:
        require_real_weights(module, "evaluate")
        tokens = read_tokens(module, self.text, self.tokens, "evaluate")
        interp = Interpreter(without_encoders(module) if self.float else module)
        inputs = [op.params.name for op in module.inputs]
        (logits,) = interp(**{inputs[0]: tokens})
        unit = "bits_per_byte" if module.attrs.get("tokenizer") == "bytes" else "bits_per_token"
        row = {unit: sig(bits_per_token(np.asarray(logits), tokens)), "tokens": int(tokens.size)}
        row.update({k: sig(v, 4) for k, v in total(interp.activity).items()})
        saturated = sum(r.get("saturated", 0) for r in interp.records.values())
        if saturated:
            row["saturated_counts"] = saturated
        ctx.report.setdefault("quality", {})[self.label] = row
        return False
