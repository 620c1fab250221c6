"""The spiking scheme: SpikingBrain's adaptive-threshold encoder and weight fake-quantization.

Encoder numerics (the reference interpreter and the GPU kernels reproduce them bit for bit):
V_th = float32(clamp(mean|x| / k, 1e-5, 1e4)) with the mean taken in float64 over the last
dim; s = round(float64(x) / float64(V_th)), ties to even (torch.round and numpy.rint both do);
the decoded value is float32(s) * V_th in float32."""

from __future__ import annotations

import torch
from torch import nn

VTH_MIN, VTH_MAX = 1e-5, 1e4


def spike_counts(x: torch.Tensor, k: float, group: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(integer counts as int32, V_th as float32): one threshold per token, shape [..., 1], or with
    `group` one per token and group of channels (per head), broadcast to [..., channels]."""
    xd = x.double()
    if group is None:
        vth = (xd.abs().mean(-1, keepdim=True) / k).clamp(VTH_MIN, VTH_MAX).float()
    else:
        g = xd.reshape(*x.shape[:-1], -1, group)
        vth = (g.abs().mean(-1, keepdim=True) / k).clamp(VTH_MIN, VTH_MAX).float().expand(g.shape).reshape(x.shape)
    counts = torch.round(xd / vth.double()).to(torch.int32)
    return counts, vth


class SpikeEncoder(nn.Module):
    """Activations -> spike counts -> the values they stand for. A drop-in for the identity.
    `group`: one threshold per group of channels (the release spikes the SWA query per head)."""

    def __init__(self, k: float = 3.0, group: int | None = None) -> None:
        super().__init__()
        self.k = k
        self.group = group

    def counts(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return spike_counts(x, self.k, self.group)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s, vth = spike_counts(x, self.k, self.group)
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


def scale_codes(w: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    """Weight codes under stored scales (the W8ASpike release's): round(w / scale) per row and
    group of in/groups inputs, divided in float32 as the release divides its float32 weights,
    ties to even, never clamped. `scales` is [out, groups] or [out, groups, 1]; codes come back
    as float32 integers of w's shape."""
    out = w.shape[0]
    s = scales.float().reshape(out, -1, 1)
    return torch.round(w.float().reshape(out, s.shape[1], -1) / s).reshape(w.shape)


class StoredScales(nn.Module):
    """A projection's stored weight scales (`weight_quantizer.scales`, [out, in/group, 1], as the
    W8ASpike checkpoint holds them): the effective weight is round(W / scale) * scale."""

    def __init__(self, out_features: int, in_features: int, group: int) -> None:
        super().__init__()
        self.register_buffer("scales", torch.ones(out_features, in_features // group, 1))

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        out = w.shape[0]
        codes = scale_codes(w, self.scales).reshape(out, self.scales.shape[1], -1)
        return (codes * self.scales.float()).reshape(w.shape).to(w.dtype)


class VectorQuant(nn.Module):
    """Symmetric per-vector fake quantization (the release's int8 K/V in SWA): for each group of
    `group` channels, scale = amax / qmax in float32, code = round(x / scale) clamped to
    [-(qmax + 1), qmax], value = code * scale."""

    def __init__(self, bits: int = 8, group: int = 128) -> None:
        super().__init__()
        self.bits, self.group = bits, group

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        qmax = 2 ** (self.bits - 1) - 1
        g = x.float().reshape(*x.shape[:-1], -1, self.group)
        scale = (g.abs().amax(-1, keepdim=True) / qmax).clamp_min(1e-12)
        return (torch.round(g / scale).clamp(-qmax - 1, qmax) * scale).reshape(x.shape).to(x.dtype)
