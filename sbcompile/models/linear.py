"""A projection whose input is spike-coded (SpikingBrain's QuantLinear, written anew)."""

from __future__ import annotations

import torch
from torch import nn

from .spiking import SpikeEncoder, fake_quant_weight


class SpikingLinear(nn.Linear):
    """nn.Linear whose input passes through a SpikeEncoder (if any) and whose weight is
    fake-quantized (if `weight_bits`). Parameter names stay `weight` and `bias`."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *, encoder: SpikeEncoder | None = None,
                 weight_bits: int | None = None, group: int = 128, clamp: bool = True) -> None:
        super().__init__(in_features, out_features, bias=bias)
        self.encoder = encoder
        self.weight_bits = weight_bits
        self.group = group
        self.clamp = clamp

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.encoder is not None:
            x = self.encoder(x)
        w = self.weight if self.weight_bits is None else fake_quant_weight(self.weight, self.weight_bits, self.group, self.clamp)
        return nn.functional.linear(x, w, self.bias)
