"""`nn`: the non-spiking rest of a language model (embedding, norms, activations, arithmetic)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..fixed import FIXED_LIMIT, divide_round_even, fixed_input, fixed_value, isqrt
from ..opdef import EvalContext, NoParams, OpDef, Params, expect, expect_kind, last_dim, register
from ..types import Type, is_float, is_int, tensor


class EmbedParams(Params):
    weight: str
    vocab: int
    dim: int


@register
class Embed(OpDef):
    """Token ids -> rows of the embedding table."""

    name = "nn.embed"
    params = EmbedParams
    operands = ("tokens",)

    def result_types(self, p: EmbedParams, ts: list[Type]) -> list[Type]:
        expect_kind(ts[0], "tensor", "tokens")
        expect(is_int(ts[0].dtype), f"tokens must be integers, got {ts[0]}")
        return [tensor((*ts[0].shape, p.dim), "f32")]

    def weight_shapes(self, p: EmbedParams, ts: list[Type]) -> dict[str, tuple]:
        return {"weight": (p.vocab, p.dim)}

    def evaluate(self, p: EmbedParams, args: list[Any], ctx: EvalContext) -> list[Any]:
        return [ctx.weight(p.weight)[args[0]].astype(np.float32)]


def _same_float_tensor(ts: list[Type], what: str = "input") -> list[Type]:
    expect_kind(ts[0], "tensor", what)
    expect(is_float(ts[0].dtype), f"{what} must be floating point, got {ts[0]}")
    return [ts[0]]


class RMSNormParams(Params):
    weight: str | None = None
    eps: float = 1e-6
    group: int | None = None  # normalise each group of this many channels (per attention head)
    frac_bits: int | None = None  # compute in 24-bit fixed point with this many fraction bits


NORM_WEIGHT_BITS = 12  # fraction bits of a fixed-point norm's weights


def fixed_rmsnorm(xq: np.ndarray, wq: np.ndarray | None, p: RMSNormParams) -> np.ndarray:
    """The integer RMSNorm: xq and the result are 24-bit with `frac_bits` fraction bits, wq the
    weights with NORM_WEIGHT_BITS. d = isqrt(sum xq^2 // n + e) is the rms in input units (e: eps
    in them, at least 1); z = (xq << f) / d and y = z wq / 2^12, each rounded half to even."""
    f = p.frac_bits or 0
    g = p.group or xq.shape[-1]
    xs = xq.reshape(*xq.shape[:-1], xq.shape[-1] // g, g)
    d = isqrt((xs * xs).sum(axis=-1, keepdims=True) // g + max(1, int(round(p.eps * 4.0 ** f))))
    z = divide_round_even(xs << f, d)
    if wq is not None:
        z = divide_round_even(z * wq, np.int64(2 ** NORM_WEIGHT_BITS))
    return np.clip(z, -FIXED_LIMIT, FIXED_LIMIT).reshape(xq.shape)


def norm_weight_codes(w: np.ndarray) -> np.ndarray:
    return np.rint(np.asarray(w, np.float64) * 2 ** NORM_WEIGHT_BITS).astype(np.int64)


@register
class RMSNorm(OpDef):
    """x / sqrt(mean(x^2) + eps) * weight, over the last dim or over groups of it; with
    `frac_bits`, in integers (fixed_rmsnorm)."""

    name = "nn.rmsnorm"
    params = RMSNormParams
    operands = ("x",)

    def result_types(self, p: RMSNormParams, ts: list[Type]) -> list[Type]:
        out = _same_float_tensor(ts)
        n = last_dim(ts[0])
        if p.group is not None and isinstance(n, int):
            expect(p.group > 0 and n % p.group == 0, f"group {p.group} does not divide the last dim {n}")
        expect(p.frac_bits is None or 0 <= p.frac_bits <= 20, f"frac_bits must lie in [0, 20], got {p.frac_bits}")
        return out

    def weight_shapes(self, p: RMSNormParams, ts: list[Type]) -> dict[str, tuple]:
        return {"weight": (p.group or last_dim(ts[0]),)}

    def evaluate(self, p: RMSNormParams, args: list[Any], ctx: EvalContext) -> list[Any]:
        if p.frac_bits is not None:
            wq = None if p.weight is None else norm_weight_codes(ctx.weight(p.weight))
            yq = fixed_rmsnorm(fixed_input(args[0], p.frac_bits), wq, p)
            return [fixed_value(yq, p.frac_bits)]
        x = args[0].astype(np.float32)
        g = p.group or x.shape[-1]
        xs = x.reshape(*x.shape[:-1], x.shape[-1] // g, g)
        y = xs / np.sqrt(np.mean(xs * xs, axis=-1, keepdims=True) + np.float32(p.eps))
        if p.weight is not None:
            y = y * np.asarray(ctx.weight(p.weight), np.float32)
        return [y.reshape(x.shape).astype(np.float32)]


class _Unary(OpDef):
    operands = ("x",)

    def result_types(self, p: NoParams, ts: list[Type]) -> list[Type]:
        return _same_float_tensor(ts)

    def evaluate(self, p: Any, args: list[Any], ctx: EvalContext) -> list[Any]:
        return [self.apply(p, args[0].astype(np.float32)).astype(np.float32)]

    def apply(self, p: Any, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError


@register
class ReLU(_Unary):
    """max(x, 0)."""

    name = "nn.relu"

    def apply(self, p: NoParams, x: np.ndarray) -> np.ndarray:
        return np.maximum(x, np.float32(0))


@register
class SiLU(_Unary):
    """x * sigmoid(x)."""

    name = "nn.silu"

    def apply(self, p: NoParams, x: np.ndarray) -> np.ndarray:
        return x / (np.float32(1) + np.exp(-x))


@register
class Sigmoid(_Unary):
    """1 / (1 + exp(-x))."""

    name = "nn.sigmoid"

    def apply(self, p: NoParams, x: np.ndarray) -> np.ndarray:
        return np.float32(1) / (np.float32(1) + np.exp(-x))


@register
class LogSigmoid(_Unary):
    """log(sigmoid(x)), computed stably as -log(1 + exp(-x))."""

    name = "nn.logsigmoid"

    def apply(self, p: NoParams, x: np.ndarray) -> np.ndarray:
        return -np.logaddexp(np.float32(0), -x)


class ScaleParams(Params):
    factor: float


@register
class Scale(_Unary):
    """x * factor (a constant)."""

    name = "nn.scale"
    params = ScaleParams

    def apply(self, p: ScaleParams, x: np.ndarray) -> np.ndarray:
        return x * np.float32(p.factor)


class _Binary(OpDef):
    operands = ("lhs", "rhs")

    def result_types(self, p: NoParams, ts: list[Type]) -> list[Type]:
        _same_float_tensor(ts[:1], "lhs")
        _same_float_tensor(ts[1:], "rhs")
        expect(ts[0] == ts[1], f"operand types differ: {ts[0]} vs {ts[1]}")
        return [ts[0]]


class _Broadcast(_Binary):
    """Also accepts a rhs whose last dim is 1 (one factor per token)."""

    def result_types(self, p: NoParams, ts: list[Type]) -> list[Type]:
        if ts[1].kind == "tensor" and ts[1].shape[-1:] == (1,) and ts[0].shape[:-1] == ts[1].shape[:-1]:
            _same_float_tensor(ts[:1], "lhs")
            return [ts[0]]
        return super().result_types(p, ts)


@register
class Add(_Binary):
    """Elementwise sum (residual connections)."""

    name = "nn.add"

    def evaluate(self, p: NoParams, args: list[Any], ctx: EvalContext) -> list[Any]:
        return [(args[0] + args[1]).astype(np.float32)]


@register
class Mul(_Broadcast):
    """Elementwise product (gating), or each token scaled by one factor."""

    name = "nn.mul"

    def evaluate(self, p: NoParams, args: list[Any], ctx: EvalContext) -> list[Any]:
        return [(args[0] * args[1]).astype(np.float32)]


class RouteParams(Params):
    experts: int
    top_k: int = 1
    expert: int


@register
class Route(OpDef):
    """Mixture-of-experts routing weight of one expert: softmax(logits) at `expert` if it is among
    the `top_k` largest, else 0 (per token, shape [..., 1]). Ties go to the lower expert index."""

    name = "nn.route"
    params = RouteParams
    operands = ("logits",)

    def result_types(self, p: RouteParams, ts: list[Type]) -> list[Type]:
        _same_float_tensor(ts)
        n = last_dim(ts[0])
        expect(not isinstance(n, int) or n == p.experts, f"logits have {n} experts, expected {p.experts}")
        expect(0 <= p.expert < p.experts and 1 <= p.top_k <= p.experts, f"expert {p.expert} / top_k {p.top_k} out of range")
        return [tensor((*ts[0].shape[:-1], 1), "f32")]

    def evaluate(self, p: RouteParams, args: list[Any], ctx: EvalContext) -> list[Any]:
        z = args[0].astype(np.float32)
        z = np.exp(z - z.max(axis=-1, keepdims=True))
        probs = z / z.sum(axis=-1, keepdims=True)
        top = np.argsort(-probs, axis=-1, kind="stable")[..., : p.top_k]
        chosen = (top == p.expert).any(axis=-1, keepdims=True)
        return [np.where(chosen, probs[..., p.expert:p.expert + 1], np.float32(0)).astype(np.float32)]


class FakeQuantParams(Params):
    bits: int = 8
    group: int


@register
class FakeQuant(_Unary):
    """Symmetric per-vector rounding: for each group of channels, scale = amax / qmax (float32),
    round(x / scale) clamped to [-(qmax + 1), qmax], times scale (the release's int8 SWA K/V)."""

    name = "nn.fake_quant"
    params = FakeQuantParams

    def result_types(self, p: FakeQuantParams, ts: list[Type]) -> list[Type]:
        n = last_dim(ts[0])
        expect(2 <= p.bits <= 16, f"bits must lie in [2, 16], got {p.bits}")
        expect(p.group > 0 and (not isinstance(n, int) or n % p.group == 0), f"group {p.group} does not divide {n}")
        return _same_float_tensor(ts)

    def apply(self, p: FakeQuantParams, x: np.ndarray) -> np.ndarray:
        qmax = np.float32(2 ** (p.bits - 1) - 1)
        g = x.reshape(*x.shape[:-1], -1, p.group)
        scale = np.maximum(np.abs(g).max(axis=-1, keepdims=True) / qmax, np.float32(1e-12))
        return (np.clip(np.rint(g / scale), -qmax - 1, qmax) * scale).reshape(x.shape)
