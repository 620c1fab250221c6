"""Feed-forward blocks: SwiGLU, and the 76B-style mixture of experts (top-k routed experts plus
a shared expert, all SwiGLU)."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

LinearFactory = Callable[[int, int, bool], nn.Linear]


class SwiGLU(nn.Module):
    """down(silu(gate(x)) * up(x)); no biases."""

    def __init__(self, hidden: int, intermediate: int, linear: LinearFactory, down_linear: LinearFactory) -> None:
        super().__init__()
        self.gate_proj = linear(hidden, intermediate, False)
        self.up_proj = linear(hidden, intermediate, False)
        self.down_proj = down_linear(intermediate, hidden, False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(nn.functional.silu(self.gate_proj(x)) * self.up_proj(x))


class MoEFeedForward(nn.Module):
    """softmax router over `experts`, the top-k experts weighted by their router probability,
    plus an always-on shared expert. (Names are ours: `gate` for the router, `experts.E`,
    `shared_expert`; the 76B checkpoint is not public.)"""

    def __init__(self, hidden: int, intermediate: int, experts: int, top_k: int, shared: bool,
                 linear: LinearFactory, down_linear: LinearFactory) -> None:
        super().__init__()
        self.top_k = top_k
        self.gate = nn.Linear(hidden, experts, bias=False)
        self.experts = nn.ModuleList(SwiGLU(hidden, intermediate, linear, down_linear) for _ in range(experts))
        self.shared_expert = SwiGLU(hidden, intermediate, linear, down_linear) if shared else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        probs = torch.softmax(self.gate(x).float(), dim=-1)
        top_p, top_e = probs.topk(self.top_k, dim=-1)
        out = torch.zeros_like(x)
        for e, expert in enumerate(self.experts):
            weight = (top_p * (top_e == e)).sum(-1, keepdim=True)
            routed = weight.squeeze(-1) > 0
            if bool(routed.any()):
                out[routed] += (weight[routed] * expert(x[routed]).float()).to(x.dtype)
        if self.shared_expert is not None:
            out = out + self.shared_expert(x)
        return out
