"""A projection whose input is spike-coded (SpikingBrain's QuantLinear, written anew)."""

from __future__ import annotations

import torch
from torch import nn

from .spiking import SpikeEncoder, StoredScales, fake_quant_weight


class SpikingLinear(nn.Linear):
    """nn.Linear whose input passes through a SpikeEncoder (if any) and whose weight is quantized
    with its stored scales (`weight_quantizer`, the W8ASpike layout) or fake-quantized (if
    `weight_bits`). Parameter names stay the official ones. `use_stored=False` keeps the stored
    scales (the checkpoint holds them) but computes with the float weight, as the release does
    for down_proj."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *, encoder: SpikeEncoder | None = None,
                 weight_bits: int | None = None, group: int = 128, clamp: bool = True,
                 stored_group: int | None = None, use_stored: bool = True) -> None:
        super().__init__(in_features, out_features, bias=bias)
        self.encoder = encoder
        self.weight_bits = weight_bits
        self.group = group
        self.clamp = clamp
        self.weight_quantizer = StoredScales(out_features, in_features, stored_group) if stored_group else None
        self.use_stored = use_stored

    @property
    def stored_scales(self) -> bool:
        """Whether the effective weight is the one the stored scales define."""
        return self.weight_quantizer is not None and self.use_stored

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.encoder is not None:
            x = self.encoder(x)
        if self.stored_scales:
            w = self.weight_quantizer(self.weight)
        elif self.weight_bits is not None:
            w = fake_quant_weight(self.weight, self.weight_bits, self.group, self.clamp)
        else:
            w = self.weight
        return nn.functional.linear(x, w, self.bias)
