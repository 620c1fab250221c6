"""PyTorch forms of the ops the `cuda` target runs without a Triton kernel, with the semantics of
each op's numpy reference (ir/dialects/*.py), written in the same order of float32 operations.

Values: float tensors are torch tensors; spikes are `TorchSpikes` (int32 counts and the float32
threshold, [..., 1] per token, [..., C] per channel group, or [C] for static thresholds). Integer
paths (spike counts, quantized syn.dense on spikes) are exact: the counts come from float64
division with ties to even, and integer accumulations run in float64, exact below 2^53 as in the
reference. Float paths differ from numpy only by summation order and libm (see docs/gpu.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from .lower import TORCH_FORMS


@dataclass
class TorchSpikes:
    counts: torch.Tensor            # int32
    scale: torch.Tensor | None = None  # float32

    def decode(self) -> torch.Tensor:
        c = self.counts.to(torch.float32)
        return c if self.scale is None else c * self.scale


class OpState:
    """What a torch op sees: its weights (as torch tensors, cached), its state, the position."""

    def __init__(self, weights: Callable[[str], torch.Tensor], state: dict, position: int) -> None:
        self.weight = weights
        self.state = state
        self.position = position
        self.records: dict[str, int] = {}

    def record(self, key: str, value: int) -> None:
        self.records[key] = self.records.get(key, 0) + value


F32 = torch.float32


def embed(p, args, c):
    return c.weight(p.weight)[args[0].long()].to(F32)


def rmsnorm(p, args, c):
    x = args[0].to(F32)
    g = p.group or x.shape[-1]
    xs = x.reshape(*x.shape[:-1], x.shape[-1] // g, g)
    y = xs / torch.sqrt(torch.mean(xs * xs, dim=-1, keepdim=True) + torch.tensor(p.eps, dtype=F32))
    if p.weight is not None:
        y = y * c.weight(p.weight).to(F32)
    return y.reshape(x.shape)


def relu(p, args, c):
    return torch.clamp_min(args[0].to(F32), 0.0)


def silu(p, args, c):
    x = args[0].to(F32)
    return x / (1.0 + torch.exp(-x))


def sigmoid(p, args, c):
    x = args[0].to(F32)
    return 1.0 / (1.0 + torch.exp(-x))


def logsigmoid(p, args, c):
    x = args[0].to(F32)
    return -torch.logaddexp(torch.zeros_like(x), -x)


def scale(p, args, c):
    return args[0].to(F32) * torch.tensor(p.factor, dtype=F32)


def add(p, args, c):
    return (args[0] + args[1]).to(F32)


def mul(p, args, c):
    return (args[0] * args[1]).to(F32)


def route(p, args, c):
    z = args[0].to(F32)
    z = torch.exp(z - z.max(dim=-1, keepdim=True).values)
    probs = z / z.sum(dim=-1, keepdim=True)
    top = torch.argsort(-probs, dim=-1, stable=True)[..., : p.top_k]
    chosen = (top == p.expert).any(dim=-1, keepdim=True)
    return torch.where(chosen, probs[..., p.expert:p.expert + 1], torch.zeros((), dtype=F32, device=z.device))


def fake_quant(p, args, c):
    x = args[0].to(F32)
    qmax = float(2 ** (p.bits - 1) - 1)
    g = x.reshape(*x.shape[:-1], -1, p.group)
    s = torch.clamp_min(g.abs().amax(dim=-1, keepdim=True) / qmax, 1e-12)
    return (torch.clamp(torch.round(g / s), -qmax - 1, qmax) * s).reshape(x.shape)


def encode_threshold(x: torch.Tensor, p) -> torch.Tensor:
    """Per-token V_th [..., 1] float32 (per group: broadcast to [..., C]), mean in float64."""
    xd = x.to(torch.float64).abs()
    if p.group is None:
        return torch.clamp(xd.mean(dim=-1, keepdim=True) / p.k, p.vth_min, p.vth_max).to(F32)
    g = xd.reshape(*x.shape[:-1], -1, p.group)
    vth = torch.clamp(g.mean(dim=-1, keepdim=True) / p.k, p.vth_min, p.vth_max).to(F32)
    return vth.expand(g.shape).reshape(x.shape)


def count_bounds(p) -> tuple[int, int] | None:
    from sbcompile.ir.dialects.spike import count_range
    return count_range(p.coding, p.steps)


def saturate(counts: torch.Tensor, p, c) -> torch.Tensor:
    bounds = count_bounds(p)
    if bounds is None:
        return counts
    clipped = torch.clamp(counts, *bounds)
    c.record("saturated", int((clipped != counts).sum()))
    return clipped


def spike_encode(p, args, c):
    x = args[0]
    if p.static is not None:
        vth = c.weight(p.static).to(F32)
        vth = torch.repeat_interleave(vth, x.shape[-1] // vth.numel())
    else:
        vth = encode_threshold(x, p)
    counts = torch.round(x.to(torch.float64) / vth.to(torch.float64)).to(torch.int64)
    return TorchSpikes(saturate(counts, p, c).to(torch.int32), vth)


def spike_decode(p, args, c):
    return args[0].decode()


def _int_acc(counts: torch.Tensor, codes: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
    """Exact integer sum over input channels lo..hi, in float64 (all partial sums < 2^53)."""
    return counts[..., lo:hi].to(torch.float64) @ codes[:, lo:hi].T.to(torch.float64)


def residual_dense(c, p, shape) -> torch.Tensor:
    e = c.weight(p.residual).long()
    dense = torch.zeros(shape, dtype=torch.int64, device=e.device)
    dense.index_put_((e[:, 0], e[:, 1]), e[:, 2], accumulate=True)
    return dense


def dense(p, args, c):
    x = args[0]
    if p.scale is not None and isinstance(x, TorchSpikes):
        y = dense_integer(p, x, c)
    else:
        w = c.weight(p.weight).to(F32)
        if p.scale is not None:
            if p.residual is not None:
                w = w + residual_dense(c, p, tuple(w.shape)).to(F32)
            s = c.weight(p.scale).to(F32)
            g = p.group or w.shape[1]
            w = w * torch.repeat_interleave(s, g, dim=1)[:, : w.shape[1]]
        if isinstance(x, TorchSpikes):
            if x.scale is not None and (x.scale.ndim == 1 or x.scale.shape[-1] > 1):
                y = (x.counts.to(F32) * x.scale) @ w.T
            else:
                y = x.counts.to(F32) @ w.T
                if x.scale is not None:
                    y = y * x.scale
        else:
            y = x.to(F32) @ w.T
    if p.bias is not None:
        y = y + c.weight(p.bias).to(F32)
    return y.to(F32)


def dense_integer(p, x: TorchSpikes, c) -> torch.Tensor:
    """The reference's integer path, step for step (syn.Dense._integer_path)."""
    if x.scale is not None and x.scale.ndim > 1 and x.scale.shape[-1] > 1:
        from sbcompile.ir import SbirError
        raise SbirError("syn.dense: spikes with per-token thresholds per channel group cannot take the integer path")
    codes = c.weight(p.weight).to(torch.int64)
    if p.residual is not None:
        codes = codes + residual_dense(c, p, tuple(codes.shape))
    scales = c.weight(p.scale).to(F32)
    n_in = codes.shape[1]
    g = p.group or n_in
    y = torch.zeros((*x.counts.shape[:-1], p.out_features), dtype=F32, device=x.counts.device)
    if x.scale is not None and x.scale.ndim == 1:
        s = x.scale.cpu().numpy()
        cuts = set(range(0, n_in, g)) | {0, n_in} | {int(i) + 1 for i in np.nonzero(np.diff(s))[0]}
        bounds = sorted(cuts)
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            factor = scales[:, lo // g] * x.scale[lo]
            y = y + _int_acc(x.counts, codes, lo, hi).to(F32) * factor
        return y
    for j in range(scales.shape[1]):
        acc = _int_acc(x.counts, codes, j * g, min((j + 1) * g, n_in))
        y = y + acc.to(F32) * scales[:, j]
    return y * x.scale if x.scale is not None else y


def _heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    return x.reshape(x.shape[0], heads, -1).transpose(0, 1)


def rope(p, args, c):
    x = _heads(args[0].to(F32), p.heads)
    # the angle tables in numpy, exactly as the reference computes them
    pos = np.arange(c.position, c.position + x.shape[1], dtype=np.float32)
    inv_freq = (1.0 / (p.theta ** (np.arange(0, p.head_dim, 2, dtype=np.int64).astype(np.float32) / p.head_dim))).astype(np.float32)
    emb = np.concatenate([np.outer(pos, inv_freq)] * 2, axis=-1)
    cos = torch.from_numpy(np.cos(emb)).to(x.device)
    sin = torch.from_numpy(np.sin(emb)).to(x.device)
    half = p.head_dim // 2
    rot = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    y = x * cos + rot * sin
    return y.transpose(0, 1).reshape(x.shape[1], -1)


def gla(p, args, c):
    """Token by token, state per query head [H, D, D] float32 (the reference's form)."""
    q, k, v, g = (a.to(F32) for a in args)
    rep = p.heads // p.kv_heads
    q = _heads(q, p.heads) * torch.tensor(p.scale, dtype=F32)
    k, v, g = (torch.repeat_interleave(_heads(a, p.kv_heads), rep, dim=0) for a in (k, v, g))
    s = c.state.get("S")
    if s is None:
        s = torch.zeros((p.heads, p.head_dim, p.head_dim), dtype=F32, device=q.device)
    decay = torch.exp(g)
    out = torch.empty_like(q)
    for t in range(q.shape[1]):
        s = decay[:, t, :, None] * s + k[:, t, :, None] * v[:, t, None, :]
        out[:, t] = (q[:, t, None, :] @ s)[:, 0]
    c.state["S"] = s
    return out.transpose(0, 1).reshape(q.shape[1], -1)


def window_cache(p, k: torch.Tensor, v: torch.Tensor, c) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Append k, v to the op's cache; keep the last window - 1 rows. -> (all keys, all values, past)."""
    past_k = c.state.get("k", k[:0])
    past_v = c.state.get("v", v[:0])
    k_all, v_all = torch.cat([past_k, k]), torch.cat([past_v, v])
    keep = k_all.shape[0] if p.window is None else min(k_all.shape[0], p.window - 1)
    c.state["k"], c.state["v"] = k_all[k_all.shape[0] - keep:], v_all[v_all.shape[0] - keep:]
    return k_all, v_all, past_k.shape[0]


def window_attention(p, args, c):
    q, k, v = (a.to(F32) for a in args)
    k_all, v_all, n_past = window_cache(p, k, v, c)
    rep = p.heads // p.kv_heads
    qh = _heads(q, p.heads)
    kh = torch.repeat_interleave(_heads(k_all, p.kv_heads), rep, dim=0)
    vh = torch.repeat_interleave(_heads(v_all, p.kv_heads), rep, dim=0)
    i = torch.arange(q.shape[0], device=q.device)[:, None] + n_past
    j = torch.arange(k_all.shape[0], device=q.device)[None, :]
    visible = j <= i
    if p.window is not None:
        visible &= j > i - p.window
    if p.sink_k is not None:
        sk, sv = (c.weight(w).to(F32) for w in (p.sink_k, p.sink_v))
        kh = torch.cat([torch.repeat_interleave(_heads(sk, p.kv_heads), rep, dim=0), kh], dim=1)
        vh = torch.cat([torch.repeat_interleave(_heads(sv, p.kv_heads), rep, dim=0), vh], dim=1)
        visible = torch.cat([torch.ones((visible.shape[0], sk.shape[0]), dtype=torch.bool, device=q.device), visible], dim=1)
    scores = (qh @ kh.transpose(1, 2)) * torch.tensor(p.scale, dtype=F32)
    scores = torch.where(visible[None], scores, torch.tensor(float("-inf"), dtype=F32, device=q.device))
    scores = scores - scores.amax(dim=-1, keepdim=True)
    w = torch.exp(scores)
    w = w / w.sum(dim=-1, keepdim=True)
    return (w @ vh).transpose(0, 1).reshape(q.shape[0], -1)


# op class -> its PyTorch form, from lower.TORCH_FORMS (the table that names them, torch-free)
TORCH_OPS: dict[type, Callable[[Any, list, OpState], Any]] = {cls: globals()[fn] for cls, fn in TORCH_FORMS.items()}
