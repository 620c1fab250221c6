"""Softmax attention over a sliding window (the 7B's odd layers) or over everything (the
76B-style full-attention layers), with rotary position embedding.

Window semantics, pinned: query i sees the `window` most recent keys including its own,
i - window < j <= i (the paper's eq. 2 with w = 4096). The upstream code differs by path:
flash-attn prefill with window_size=(4096, 0) sees 4097 keys, the HF decode cache 4096
(itself + 4095), vLLM 4097; set `sliding_window` to 4097 in the config to follow flash-attn."""

from __future__ import annotations

import torch
from torch import nn

from .gla import _merge, _split
from .spiking import SpikeEncoder, VectorQuant


class RotaryEmbedding(nn.Module):
    """Rotate-half RoPE over each head's full width, at absolute positions offset.. offset+T-1."""

    def __init__(self, head_dim: int, theta: float) -> None:
        super().__init__()
        self.head_dim, self.theta = head_dim, theta

    def forward(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        h = _split(x, x.shape[-1] // self.head_dim)
        inv_freq = 1.0 / (self.theta ** (torch.arange(0, self.head_dim, 2, device=x.device).float() / self.head_dim))
        pos = torch.arange(offset, offset + h.shape[-2], device=x.device).float()
        freqs = torch.outer(pos, inv_freq)
        emb = torch.cat([freqs, freqs], dim=-1)
        half = self.head_dim // 2
        rot = torch.cat([-h[..., half:], h[..., :half]], dim=-1)
        return _merge(h * emb.cos() + rot * emb.sin()).to(x.dtype)


class WindowAttentionCore(nn.Module):
    """Causal softmax attention, GQA inside; `window` None means full attention. `sinks` learned
    key/value pairs (the 76B's sink tokens, as we model them) precede the sequence and every
    query sees them, whatever the window."""

    def __init__(self, heads: int, kv_heads: int, head_dim: int, window: int | None, sinks: int = 0) -> None:
        super().__init__()
        self.heads, self.kv_heads, self.head_dim, self.window = heads, kv_heads, head_dim, window
        self.scale = head_dim ** -0.5
        self.sinks = sinks
        if sinks:
            self.sink_k = nn.Parameter(torch.randn(sinks, kv_heads * head_dim) * 0.02)
            self.sink_v = nn.Parameter(torch.randn(sinks, kv_heads * head_dim) * 0.02)

    def forward_with_state(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                           cache: dict | None) -> torch.Tensor:
        past = 0
        if cache is not None:
            if "k" in cache:
                past = cache["k"].shape[-2]
                k, v = torch.cat([cache["k"], k], dim=-2), torch.cat([cache["v"], v], dim=-2)
            keep = k.shape[-2] if self.window is None else min(k.shape[-2], self.window - 1)
            cache["k"], cache["v"] = k[..., k.shape[-2] - keep:, :], v[..., v.shape[-2] - keep:, :]
        rep = self.heads // self.kv_heads
        qh = _split(q, self.heads).float()
        kh, vh = (_split(x, self.kv_heads).float().repeat_interleave(rep, dim=-3) for x in (k, v))
        i = torch.arange(q.shape[-2], device=q.device)[:, None] + past
        j = torch.arange(k.shape[-2], device=q.device)[None, :]
        visible = j <= i
        if self.window is not None:
            visible = visible & (j > i - self.window)
        if self.sinks:
            kh = torch.cat([_split(self.sink_k, self.kv_heads).float().repeat_interleave(rep, dim=-3).expand(
                *kh.shape[:-2], -1, -1), kh], dim=-2)
            vh = torch.cat([_split(self.sink_v, self.kv_heads).float().repeat_interleave(rep, dim=-3).expand(
                *vh.shape[:-2], -1, -1), vh], dim=-2)
            visible = torch.cat([visible.new_ones(visible.shape[0], self.sinks), visible], dim=-1)
        scores = (qh @ kh.transpose(-1, -2)) * self.scale
        scores = scores.masked_fill(~visible, float("-inf"))
        return _merge(torch.softmax(scores, dim=-1) @ vh).to(q.dtype)

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return self.forward_with_state(q, k, v, None)


class SlidingWindowAttention(nn.Module):
    """q, k, v projections with bias, RoPE on q and k, windowed attention, o without bias. As the
    W8ASpike release does (when given): the post-RoPE query spike-coded per head (`query_spikes`)
    and keys and values rounded per vector (`kv_quant`)."""

    def __init__(self, hidden: int, heads: int, kv_heads: int, *, window: int | None, theta: float,
                 linear: object, query_spikes: SpikeEncoder | None = None, kv_quant: VectorQuant | None = None) -> None:
        super().__init__()
        d = hidden // heads
        self.q_proj = linear(hidden, hidden, True)
        self.k_proj = linear(hidden, kv_heads * d, True)
        self.v_proj = linear(hidden, kv_heads * d, True)
        self.o_proj = linear(hidden, hidden, False)
        self.rotary = RotaryEmbedding(d, theta)
        self.core = WindowAttentionCore(heads, kv_heads, d, window)
        self.query_spikes = query_spikes
        self.kv_quant = kv_quant

    def forward(self, x: torch.Tensor, state: dict | None = None) -> torch.Tensor:
        q, k, v = self.q_proj(x), self.k_proj(x), self.v_proj(x)
        pos = 0 if state is None else state.get("pos", 0)
        q, k = (self.rotary(q), self.rotary(k)) if state is None else (self.rotary(q, pos), self.rotary(k, pos))
        if self.query_spikes is not None:
            q = self.query_spikes(q)
        if self.kv_quant is not None:
            k, v = self.kv_quant(k), self.kv_quant(v)
        if state is None:
            o = self.core(q, k, v)
        else:
            o = self.core.forward_with_state(q, k, v, state)
            state["pos"] = pos + x.shape[-2]
        return self.o_proj(o)
