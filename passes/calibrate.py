"""Calibration: run the module on real tokens and keep what later passes need to know."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sbcompile.ir import Module, Op
from sbcompile.ir.dialects.spike import Encode
from sbcompile.ir.interpreter import Interpreter

from .base import Pass, PassContext, option
from .registry import register_pass
from .rounding import sig
from .tokens import read_tokens, require_real_weights

HIST_LIMIT = 32  # count histograms have bins -32..32; the end bins hold everything beyond


@dataclass(frozen=True)
class EncoderStats:
    """What calibration saw at one spike encoder, per channel (None where not recorded)."""

    rate: np.ndarray | None      # mean |count| per token
    active: np.ndarray | None    # share of tokens in which the channel fires
    absmean: np.ndarray | None   # mean |input|
    hist: np.ndarray | None      # counts -32..32, end bins include everything beyond
    tokens: int | None


@dataclass
class Calibration:
    """Calibration statistics by value name: every float value's |max| and each encoder's
    per-channel statistics. An analysis computed from the IR's `calib.*` attributes, so a
    calibrated module read back from text gives the same."""

    absmax: dict[str, float] = field(default_factory=dict)
    encoders: dict[str, EncoderStats] = field(default_factory=dict)

    @classmethod
    def compute(cls, module: Module) -> "Calibration":
        def arr(op: Op, key: str, dtype: Any) -> np.ndarray | None:
            v = op.attrs.get(f"calib.{key}")
            return None if v is None else np.array(v, dtype)

        out = cls()
        for op in module.ops:
            name = op.results[0].name
            if "calib.absmax" in op.attrs:
                out.absmax[name] = float(op.attrs["calib.absmax"])
            if any(f"calib.{k}" in op.attrs for k in ("rate", "active", "absmean", "hist")):
                tokens = op.attrs.get("calib.tokens")
                out.encoders[name] = EncoderStats(arr(op, "rate", np.float64), arr(op, "active", np.float64),
                                                  arr(op, "absmean", np.float64), arr(op, "hist", np.int64),
                                                  None if tokens is None else int(tokens))
        return out


class _Collector:
    def __init__(self) -> None:
        self.absmax: dict[str, float] = {}
        self.absmean: dict[str, np.ndarray] = {}
        self.abs_counts: dict[str, np.ndarray] = {}
        self.active: dict[str, np.ndarray] = {}
        self.hist: dict[str, np.ndarray] = {}
        self.tokens: dict[str, int] = {}

    def __call__(self, op: Op, args: list[Any], outs: list[Any]) -> None:
        name = op.results[0].name
        value = outs[0]
        if isinstance(value, np.ndarray) and value.dtype.kind == "f":
            self.absmax[name] = max(self.absmax.get(name, 0.0), float(np.abs(value).max(initial=0.0)))
        if op.isa(Encode):
            x = np.abs(args[0].reshape(-1, args[0].shape[-1]).astype(np.float64))
            c = value.counts.reshape(-1, value.counts.shape[-1]).astype(np.int64)
            self.absmean[name] = self.absmean.get(name, 0) + x.sum(axis=0)
            self.abs_counts[name] = self.abs_counts.get(name, 0) + np.abs(c).sum(axis=0)
            self.active[name] = self.active.get(name, 0) + (c != 0).sum(axis=0)
            h = np.bincount(np.clip(c, -HIST_LIMIT, HIST_LIMIT).ravel() + HIST_LIMIT, minlength=2 * HIST_LIMIT + 1)
            self.hist[name] = self.hist.get(name, 0) + h
            self.tokens[name] = self.tokens.get(name, 0) + x.shape[0]


@register_pass
@dataclass(frozen=True)
class Calibrate(Pass):
    """Runs the reference interpreter on calibration text and annotates the IR with what it saw:
    every float value's range (`calib.absmax`), and per spike encoder the per-channel firing rate
    (`calib.rate`, mean |count| per token), the share of tokens in which each channel fires
    (`calib.active`), mean |input| per channel (`calib.absmean`), silent
    channels (`calib.silent`), and the histogram of counts from -32 to 32 (`calib.hist`, end bins
    include everything beyond).

    Requires: real weights; a byte-level module reads the text as bytes, others as token ids.
    Guarantees: ops and values unchanged; only `calib.*` annotations are added. The report gains
    a `calibrate` section."""

    name = "calibrate"
    tokens: int = option(512, "calibrate on at most this many tokens")
    text: str = option("", "calibration text file")

    def run(self, module: Module, ctx: PassContext) -> bool:
        require_real_weights(module, "calibrate")
        tokens = read_tokens(module, self.text, self.tokens, "calibrate")
        inputs = [op.params.name for op in module.inputs]
        seen = _Collector()
        ctx.progress("calibrate", 0.0)
        Interpreter(module, observer=seen)(**{inputs[0]: tokens})
        for op in module.ops:
            name = op.results[0].name
            if name in seen.absmax:
                op.attrs["calib.absmax"] = sig(seen.absmax[name])
            if name in seen.tokens:
                n = seen.tokens[name]
                rate = seen.abs_counts[name] / n
                op.attrs["calib.rate"] = tuple(sig(r, 4) for r in rate)
                op.attrs["calib.active"] = tuple(sig(a, 4) for a in seen.active[name] / n)
                op.attrs["calib.absmean"] = tuple(sig(a, 6) for a in seen.absmean[name] / n)
                op.attrs["calib.silent"] = int((seen.abs_counts[name] == 0).sum())
                op.attrs["calib.hist"] = tuple(int(h) for h in seen.hist[name])
                op.attrs["calib.tokens"] = n
        ctx.analyses.set(Calibration.compute(module))
        ctx.report["calibrate"] = {"tokens": int(tokens.size), "text": self.text,
                                   "encoders": len(seen.tokens), "silent_channels": sum(
                                       int((c == 0).sum()) for c in seen.abs_counts.values())}
        return True


def encoder_histogram(op: Op) -> np.ndarray | None:
    """The calibrated count histogram of an encoder (bins -32..32), if calibrated."""
    h = op.attrs.get("calib.hist")
    return None if h is None else np.array(h, np.int64)
