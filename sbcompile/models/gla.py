"""Gated linear attention (the 7B's even layers): S_t = diag(exp(g_t)) S_{t-1} + k_t^T v_t and
o_t = (scale q_t) S_t per head, with g the log of a per-key-channel decay (g <= 0). Three forms
compute the same function: recurrent (one token at a time, the decoding form), chunked (the
prefill form: exact within chunks of `chunk` tokens, state carried between them) and parallel
(one chunk as long as the sequence)."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from .norm import HeadRMSNorm

Mode = Literal["recurrent", "chunked", "parallel"]


def _split(x: torch.Tensor, heads: int) -> torch.Tensor:
    """[..., T, heads*d] -> [..., heads, T, d]."""
    return x.reshape(*x.shape[:-1], heads, -1).transpose(-3, -2)


def _merge(x: torch.Tensor) -> torch.Tensor:
    return x.transpose(-3, -2).reshape(*x.shape[:-3], x.shape[-2], -1)


def gla_recurrent(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, g: torch.Tensor,
                  state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-head tensors [..., H, T, D]; state [..., H, D, Dv]."""
    outs = []
    for t in range(q.shape[-2]):
        state = g[..., t, :, None].exp() * state + k[..., t, :, None] * v[..., t, None, :]
        outs.append((q[..., t, None, :] @ state).squeeze(-2))
    return torch.stack(outs, dim=-2), state


def gla_chunked(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, g: torch.Tensor, state: torch.Tensor,
                chunk: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Within a chunk, o_t = (q_t * exp(G_t)) S_0 + sum_{s<=t} [sum_d q_td k_sd exp(G_td - G_sd)] v_s,
    with G the cumulative log decay; the differences G_t - G_s (<= 0) never overflow."""
    outs = []
    for start in range(0, q.shape[-2], chunk):
        sl = slice(start, start + chunk)
        qc, kc, vc, gc = q[..., sl, :], k[..., sl, :], v[..., sl, :], g[..., sl, :]
        G = gc.cumsum(-2)
        diff = G[..., :, None, :] - G[..., None, :, :]  # [.., t, s, D]
        n = qc.shape[-2]
        causal = torch.ones(n, n, dtype=torch.bool, device=q.device).tril()
        decay = torch.where(causal[..., None], diff, torch.full_like(diff, -torch.inf)).exp()
        scores = (qc[..., :, None, :] * kc[..., None, :, :] * decay).sum(-1)
        outs.append((qc * G.exp()) @ state + scores @ vc)
        last = G[..., -1:, :]
        state = last.transpose(-1, -2).exp() * state + (kc * (last - G).exp()).transpose(-1, -2) @ vc
    return torch.cat(outs, dim=-2), state


class GLACore(nn.Module):
    """The recurrence only: q, k, v, g after their feature maps -> o. Grouped-query heads: query
    head h reads key/value head h // (heads / kv_heads)."""

    def __init__(self, heads: int, kv_heads: int, head_dim: int, scale: float | None = None,
                 mode: Mode = "chunked", chunk: int = 64) -> None:
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = heads, kv_heads, head_dim
        self.scale = head_dim ** -0.5 if scale is None else scale
        self.mode, self.chunk = mode, chunk

    def forward_with_state(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, g: torch.Tensor,
                           state: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        rep = self.heads // self.kv_heads
        qh = _split(q, self.heads).float() * self.scale
        kh, vh, gh = (_split(x, self.kv_heads).float().repeat_interleave(rep, dim=-3) for x in (k, v, g))
        if state is None:
            state = qh.new_zeros(*qh.shape[:-2], self.head_dim, vh.shape[-1])
        if self.mode == "recurrent":
            o, state = gla_recurrent(qh, kh, vh, gh, state)
        else:
            o, state = gla_chunked(qh, kh, vh, gh, state, self.chunk if self.mode == "chunked" else max(q.shape[-2], 1))
        return _merge(o).to(q.dtype), state

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        return self.forward_with_state(q, k, v, g, None)[0]


class GatedLinearAttention(nn.Module):
    """The 7B's GLA layer. q = relu(W_q x + b), k = relu(W_k x + b), v = W_v x + b,
    g = logsigmoid(W_g2 W_g1 x + b) / normalizer (low rank) or logsigmoid(W_g x + b) / normalizer
    (full rank), then the recurrence, per-head RMSNorm, and W_o (no bias, no output gate).
    `gate_inner` makes W_g2, whose input is the rank-r intermediate: the model passes one without
    a spike encoder, as the release merges the gate to full rank (W_g2 W_g1) and spike-codes
    only x."""

    def __init__(self, hidden: int, heads: int, kv_heads: int, *, gate_rank: int | None, normalizer: float,
                 eps: float, linear: "type[nn.Linear] | object", gate_inner: "object | None" = None) -> None:
        super().__init__()
        d = hidden // heads
        kv = kv_heads * d
        self.q_proj = linear(hidden, hidden, True)
        self.k_proj = linear(hidden, kv, True)
        self.v_proj = linear(hidden, kv, True)
        if gate_rank is None:
            self.gk_proj = linear(hidden, kv, True)
        else:
            self.gk_proj = nn.Sequential(linear(hidden, gate_rank, False), (gate_inner or linear)(gate_rank, kv, True))
        self.g_norm = HeadRMSNorm(d, eps)
        self.o_proj = linear(hidden, hidden, False)
        self.core = GLACore(heads, kv_heads, d)
        self.normalizer = normalizer

    def forward(self, x: torch.Tensor, state: dict | None = None) -> torch.Tensor:
        q = nn.functional.relu(self.q_proj(x))
        k = nn.functional.relu(self.k_proj(x))
        v = self.v_proj(x)
        g = nn.functional.logsigmoid(self.gk_proj(x)) / self.normalizer
        if state is None:
            o = self.core(q, k, v, g)
        else:
            o, state["S"] = self.core.forward_with_state(q, k, v, g, state.get("S"))
        return self.o_proj(self.g_norm(o))
