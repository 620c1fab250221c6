"""NIR's layer ops, over the leading time (`seq`) axis: convolutions and delays as synaptic
projections (`syn.conv1d`, `syn.conv2d`, `syn.delay`), and the shape and elementwise ops
(`nn.flatten`, `nn.sum_pool2d`, `nn.avg_pool2d`, `nn.scale_by`). Each applies to every time step
alike: a value `tensor<[seq, C, H, W], f32>` is `seq` frames of a [C, H, W] image.

Parameters keep NIR's own spelling (an int or one int per spatial dim; conv padding may be
"same" or "valid"), so that a NIR graph reads in and writes back unchanged. Convolutions and
pooling follow PyTorch: output size floor((N + 2 pad - dilation (k - 1) - 1) / stride) + 1;
"same" pads dilation (k - 1) in total, the smaller half first; average pooling divides by the
whole kernel area (padding counted). Spikes in count as their decoded value."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..opdef import EvalContext, OpDef, Params, expect, register
from ..runtime import SpikeArray
from ..types import Type, is_float, tensor

IntOrTuple = int | tuple[int, ...]


def _as_float(x: Any) -> np.ndarray:
    return (x.decode() if isinstance(x, SpikeArray) else np.asarray(x)).astype(np.float32)


def _per_dim(v: IntOrTuple, n: int, what: str) -> tuple[int, ...]:
    if isinstance(v, int):
        return (v,) * n
    expect(len(v) in (1, n), f"{what} has {len(v)} entries, expected {n}")
    return tuple(v) * n if len(v) == 1 else tuple(v)


def _padding(padding: IntOrTuple | str, n: int, kernel: tuple[int, ...],
             dilation: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(low, high) padding per spatial dim."""
    if padding == "valid":
        return (0,) * n, (0,) * n
    if padding == "same":
        total = [d * (k - 1) for d, k in zip(dilation, kernel)]
        return tuple(t // 2 for t in total), tuple(t - t // 2 for t in total)
    expect(not isinstance(padding, str), f"padding must be an int, a tuple, 'same' or 'valid', got {padding!r}")
    pads = _per_dim(padding, n, "padding")
    return pads, pads


def _out_size(size: int | str, lo: int, hi: int, k: int, stride: int, dilation: int) -> int | str:
    if not isinstance(size, int):
        return size
    return (size + lo + hi - dilation * (k - 1) - 1) // stride + 1


def _windows(x: np.ndarray, kernel: tuple[int, ...], stride: tuple[int, ...], dilation: tuple[int, ...],
             lo: tuple[int, ...], hi: tuple[int, ...], fill: float = 0.0) -> np.ndarray:
    """x [T, C, *S] -> [T, C, *out, *kernel]: every (strided, dilated) kernel window."""
    n = len(kernel)
    x = np.pad(x, [(0, 0), (0, 0)] + list(zip(lo, hi)), constant_values=fill)
    extent = tuple(d * (k - 1) + 1 for d, k in zip(dilation, kernel))
    win = sliding_window_view(x, extent, axis=tuple(range(2, 2 + n)))
    return win[(slice(None), slice(None)) + tuple(slice(None, None, s) for s in stride)
               + tuple(slice(None, None, d) for d in dilation)]


def _spatial_input(t: Type, n: int, what: str) -> None:
    expect(t.kind in ("tensor", "spikes"), f"{what} must be a tensor or spikes, got {t}")
    expect(t.kind == "spikes" or is_float(t.dtype), f"{what} must be floating point, got {t}")
    expect(t.rank == n + 2, f"{what} must be [time, channels, {n} spatial dims], got {t}")


class ConvParams(Params):
    weight: str
    bias: str | None = None
    out_channels: int
    kernel: tuple[int, ...]
    stride: IntOrTuple = 1
    padding: IntOrTuple | str = 0
    dilation: IntOrTuple = 1
    groups: int = 1
    input_shape: IntOrTuple | None = None  # NIR's spatial input shape, kept as written


class _Conv(OpDef):
    params = ConvParams
    operands = ("x",)
    ndim: ClassVar[int]

    def _geometry(self, p: ConvParams) -> tuple:
        n = self.ndim
        expect(len(p.kernel) == n and all(k > 0 for k in p.kernel), f"kernel must be {n} positive sizes, got {p.kernel}")
        stride, dilation = _per_dim(p.stride, n, "stride"), _per_dim(p.dilation, n, "dilation")
        expect(all(s > 0 for s in stride) and all(d > 0 for d in dilation), "stride and dilation must be positive")
        lo, hi = _padding(p.padding, n, p.kernel, dilation)
        return stride, dilation, lo, hi

    def result_types(self, p: ConvParams, ts: list[Type]) -> list[Type]:
        _spatial_input(ts[0], self.ndim, "x")
        expect(p.out_channels > 0 and p.groups > 0 and p.out_channels % p.groups == 0,
               f"out_channels {p.out_channels} must be a positive multiple of groups {p.groups}")
        c = ts[0].shape[1]
        expect(not isinstance(c, int) or c % p.groups == 0, f"{c} input channels do not split into {p.groups} groups")
        stride, dilation, lo, hi = self._geometry(p)
        spatial = tuple(_out_size(s, lo[i], hi[i], p.kernel[i], stride[i], dilation[i]) for i, s in enumerate(ts[0].shape[2:]))
        expect(all(not isinstance(s, int) or s > 0 for s in spatial), f"the kernel does not fit the input {ts[0]}")
        return [tensor((ts[0].shape[0], p.out_channels, *spatial), "f32")]

    def weight_shapes(self, p: ConvParams, ts: list[Type]) -> dict[str, tuple]:
        c = ts[0].shape[1]
        cin = c // p.groups if isinstance(c, int) else "cin"
        return {"weight": (p.out_channels, cin, *p.kernel), "bias": (p.out_channels,)}

    def evaluate(self, p: ConvParams, args: list[Any], ctx: EvalContext) -> list[Any]:
        x = _as_float(args[0])
        w = np.asarray(ctx.weight(p.weight), np.float32)
        stride, dilation, lo, hi = self._geometry(p)
        win = _windows(x, p.kernel, stride, dilation, lo, hi)  # [T, C, *out, *k]
        cin, cout = x.shape[1] // p.groups, p.out_channels // p.groups
        spec = {1: "tcxk,ock->tox", 2: "tcxyhw,ochw->toxy"}[self.ndim]
        parts = [np.einsum(spec, win[:, g * cin:(g + 1) * cin], w[g * cout:(g + 1) * cout], optimize=True)
                 for g in range(p.groups)]
        y = np.concatenate(parts, axis=1)
        if p.bias is not None:
            y = y + np.asarray(ctx.weight(p.bias), np.float32).reshape((1, -1) + (1,) * self.ndim)
        return [y.astype(np.float32)]


@register
class Conv1d(_Conv):
    """1-d convolution per time step (NIR Conv1d): x [time, C, L] -> [time, out_channels, L']."""

    name = "syn.conv1d"
    ndim = 1


@register
class Conv2d(_Conv):
    """2-d convolution per time step (NIR Conv2d): x [time, C, H, W] -> [time, out_channels, H', W']."""

    name = "syn.conv2d"
    ndim = 2


class DelayParams(Params):
    delay: str  # per-element delays in seconds (a weight-store entry)
    dt: float


@register
class Delay(OpDef):
    """y[t] = x[t - round(delay / dt)] per element (NIR Delay), zero before the first step."""

    name = "syn.delay"
    params = DelayParams
    operands = ("x",)

    @classmethod
    def weight_fields(cls) -> tuple[str, ...]:
        return ("delay",)

    def result_types(self, p: DelayParams, ts: list[Type]) -> list[Type]:
        expect(ts[0].kind in ("tensor", "spikes"), f"x must be a tensor or spikes, got {ts[0]}")
        expect(ts[0].rank >= 1, f"x needs a leading time dim, got {ts[0]}")
        expect(p.dt > 0, f"dt must be positive, got {p.dt}")
        return [ts[0]]

    def evaluate(self, p: DelayParams, args: list[Any], ctx: EvalContext) -> list[Any]:
        x = args[0]
        spiking = isinstance(x, SpikeArray)
        if spiking and x.scale is not None:
            raise ValueError("syn.delay delays unit spikes only (these carry a per-token scale)")
        data = x.counts if spiking else np.asarray(x, np.float32)
        steps = np.rint(np.broadcast_to(np.asarray(ctx.weight(p.delay), np.float64), data.shape[1:]) / p.dt).astype(np.int64)
        if (steps < 0).any():
            raise ValueError("delays must not be negative")
        st = ctx.state()
        depth = int(steps.max(initial=0))
        history = st.get("history", np.zeros((depth, *data.shape[1:]), data.dtype))
        full = np.concatenate([history, data])  # the last `depth` steps before this call, then this call
        t = np.arange(data.shape[0]).reshape((-1,) + (1,) * (data.ndim - 1)) + depth - steps
        y = np.take_along_axis(full, t, axis=0)
        st["history"] = full[full.shape[0] - depth:] if depth else history
        return [SpikeArray(y) if spiking else y]


class FlattenParams(Params):
    start_dim: int = 0  # dims of one time step (the time axis is not counted), as NIR counts them
    end_dim: int = -1


@register
class Flatten(OpDef):
    """Merge dims start_dim..end_dim of each time step into one (NIR Flatten; dims exclude time)."""

    name = "nn.flatten"
    params = FlattenParams
    operands = ("x",)

    @staticmethod
    def _range(p: FlattenParams, rank: int) -> tuple[int, int]:
        a = p.start_dim + rank if p.start_dim < 0 else p.start_dim
        b = p.end_dim + rank if p.end_dim < 0 else p.end_dim
        expect(0 <= a <= b < rank, f"cannot flatten dims {p.start_dim}..{p.end_dim} of a step of rank {rank}")
        return a, b

    def result_types(self, p: FlattenParams, ts: list[Type]) -> list[Type]:
        t = ts[0]
        expect(t.kind in ("tensor", "spikes"), f"x must be a tensor or spikes, got {t}")
        expect(t.rank >= 2, f"x must be [time, ...] with at least one dim per step, got {t}")
        step = t.shape[1:]
        a, b = self._range(p, len(step))
        merged = step[a:b + 1]
        expect(all(isinstance(d, int) for d in merged), f"cannot flatten symbolic dims of {t}")
        return [t.with_shape((t.shape[0], *step[:a], int(np.prod(merged)), *step[b + 1:]))]

    def evaluate(self, p: FlattenParams, args: list[Any], ctx: EvalContext) -> list[Any]:
        x = args[0]
        data = x.counts if isinstance(x, SpikeArray) else x
        a, b = self._range(p, data.ndim - 1)
        shape = (*data.shape[:a + 1], -1, *data.shape[b + 2:])
        if isinstance(x, SpikeArray):
            return [SpikeArray(data.reshape(shape), x.scale)]
        return [data.reshape(shape)]


class PoolParams(Params):
    kernel_size: IntOrTuple
    stride: IntOrTuple | None = None  # none: the kernel size
    padding: IntOrTuple = 0


class _Pool(OpDef):
    params = PoolParams
    operands = ("x",)
    average: ClassVar[bool]

    @staticmethod
    def _geometry(p: PoolParams) -> tuple:
        k = _per_dim(p.kernel_size, 2, "kernel_size")
        s = k if p.stride is None else _per_dim(p.stride, 2, "stride")
        pad = _per_dim(p.padding, 2, "padding")
        expect(all(v > 0 for v in k + s) and all(v >= 0 for v in pad), "kernel and stride must be positive, padding not negative")
        return k, s, pad

    def result_types(self, p: PoolParams, ts: list[Type]) -> list[Type]:
        _spatial_input(ts[0], 2, "x")
        k, s, pad = self._geometry(p)
        spatial = tuple(_out_size(n, pad[i], pad[i], k[i], s[i], 1) for i, n in enumerate(ts[0].shape[2:]))
        expect(all(not isinstance(n, int) or n > 0 for n in spatial), f"the pooling window does not fit the input {ts[0]}")
        return [tensor((*ts[0].shape[:2], *spatial), "f32")]

    def evaluate(self, p: PoolParams, args: list[Any], ctx: EvalContext) -> list[Any]:
        x = _as_float(args[0])
        k, s, pad = self._geometry(p)
        y = _windows(x, k, s, (1, 1), pad, pad).sum(axis=(-2, -1), dtype=np.float32)
        if self.average:
            y = y / np.float32(k[0] * k[1])
        return [y.astype(np.float32)]


@register
class SumPool2d(_Pool):
    """Sum over each 2-d window per time step (NIR SumPool2d)."""

    name = "nn.sum_pool2d"
    average = False


@register
class AvgPool2d(_Pool):
    """Mean over each 2-d window per time step, padding counted (NIR AvgPool2d)."""

    name = "nn.avg_pool2d"
    average = True


class ScaleByParams(Params):
    weight: str  # factors, broadcast against one time step


@register
class ScaleBy(OpDef):
    """x * s with constant factors s per element, broadcast over time (NIR Scale)."""

    name = "nn.scale_by"
    params = ScaleByParams
    operands = ("x",)

    def result_types(self, p: ScaleByParams, ts: list[Type]) -> list[Type]:
        expect(ts[0].kind in ("tensor", "spikes"), f"x must be a tensor or spikes, got {ts[0]}")
        expect(ts[0].kind == "spikes" or is_float(ts[0].dtype), f"x must be floating point, got {ts[0]}")
        expect(ts[0].rank >= 1, f"x needs a leading time dim, got {ts[0]}")
        return [tensor(ts[0].shape, "f32")]

    def evaluate(self, p: ScaleByParams, args: list[Any], ctx: EvalContext) -> list[Any]:
        x = _as_float(args[0])
        return [(x * np.asarray(ctx.weight(p.weight), np.float32)).astype(np.float32)]
