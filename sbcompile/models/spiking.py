"""The spiking scheme: SpikingBrain's adaptive-threshold encoder and weight fake-quantization.

Encoder numerics (the reference interpreter and the GPU kernels reproduce them bit for bit):
V_th = float32(clamp(mean|x| / k, 1e-5, 1e4)) with the mean taken in float64 over the last
dim; s = round(float64(x) / float64(V_th)), ties to even (torch.round and numpy.rint both do);
the decoded value is float32(s) * V_th in float32."""

from __future__ import annotations

import torch
from torch import nn

VTH_MIN, VTH_MAX = 1e-5, 1e4


def spike_counts(x: torch.Tensor, k: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(integer counts as int32, per-token V_th [..., 1] as float32)."""
    vth = (x.double().abs().mean(-1, keepdim=True) / k).clamp(VTH_MIN, VTH_MAX).float()
    counts = torch.round(x.double() / vth.double()).to(torch.int32)
    return counts, vth


class SpikeEncoder(nn.Module):
    """Activations -> spike counts -> the values they stand for. A drop-in for the identity."""

    def __init__(self, k: float = 3.0) -> None:
        super().__init__()
        self.k = k

    def counts(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return spike_counts(x, self.k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s, vth = spike_counts(x, self.k)
        y = (s.float() * vth).to(x.dtype)
        if self.training:  # straight-through: round() has no gradient of its own
            return x + (y - x).detach()
        return y


def fake_quant_weight(w: torch.Tensor, bits: int = 8, group: int = 128, clamp: bool = True) -> torch.Tensor:
    """Symmetric per-row, per-group-of-`group`-inputs quantization, dequantized: scale = amax / qmax
    (qmax = 2^(bits-1) - 1), code = round(w / scale). With amax scales no code leaves the range;
    `clamp` matters for scales from elsewhere (the release's GPTQ-style scales leave ~1% outside,
    and it does not clamp)."""
    out, n_in = w.shape
    g = min(group, n_in)
    pad = (-n_in) % g
    wp = torch.nn.functional.pad(w.float(), (0, pad)).reshape(out, -1, g)
    qmax = 2 ** (bits - 1) - 1
    scale = (wp.abs().amax(-1, keepdim=True) / qmax).clamp_min(1e-12)
    codes = torch.round(wp / scale)
    if clamp:
        codes = codes.clamp(-qmax, qmax)
    return (codes * scale).reshape(out, -1)[:, :n_in].to(w.dtype)
