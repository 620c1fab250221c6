"""Small snnTorch networks, their NIR export, and snnTorch's own simulation of them (shared by
the tests and examples/nir). snnTorch's Leaky is v[t] = beta v[t-1] + I[t]; its NIR export states
tau = dt / (1 - beta) and r = tau / dt with dt = 1e-4, so NIR's LIF discretised by forward Euler
with that dt is the same recurrence (up to float32 rounding of 1 - dt / tau)."""

from __future__ import annotations

import numpy as np

DT = 1e-4  # the step snnTorch's export assumes


def _leaky(shape, beta, **kw):
    import snntorch as snn
    import torch

    # Per-neuron parameter arrays, so that NIR knows the layer's shape; reset to zero, which is
    # NIR's v_reset semantics (snnTorch's default, reset by subtraction, is not what it exports).
    return snn.Leaky(beta=torch.full(shape, beta), threshold=torch.full(shape, 1.0), init_hidden=True,
                     reset_mechanism="zero", **kw)


def conv_net(seed: int = 0):
    """Conv2d(1->4, 3x3, pad 1) -> LIF -> AvgPool2d(2) -> Flatten -> Linear(64->5) -> LIF, on 8x8 frames."""
    import torch

    torch.manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1), _leaky((4, 8, 8), 0.9),
        torch.nn.AvgPool2d(2), torch.nn.Flatten(), torch.nn.Linear(4 * 4 * 4, 5),
        _leaky((5,), 0.8, output=True))
    with torch.no_grad():
        net[0].weight.mul_(3.0)
        net[4].weight.mul_(10.0)
    return net, (1, 8, 8)


def lif_net(seed: int = 0):
    """Linear(12->16) -> LIF -> Linear(16->6) -> LIF, no recurrence."""
    import torch

    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(12, 16), _leaky((16,), 0.85),
                              torch.nn.Linear(16, 6), _leaky((6,), 0.7, output=True))
    with torch.no_grad():
        net[0].weight.mul_(4.0)
        net[2].weight.mul_(6.0)
    return net, (12,)


def export(net, step_shape) -> object:
    """The network as a NIR graph, through snnTorch's own exporter."""
    import torch
    from snntorch.export_nir import export_to_nir

    return export_to_nir(net, torch.zeros(1, *step_shape), ignore_dims=[0])


def simulate(net, x: np.ndarray) -> np.ndarray:
    """snnTorch's own simulation: one forward call per time step; x [time, *step_shape] -> the
    output spikes [time, *out]."""
    import snntorch.utils
    import torch

    snntorch.utils.reset(net)
    out = []
    with torch.no_grad():
        for t in range(x.shape[0]):
            spk = net(torch.from_numpy(x[t:t + 1]))
            spk = spk[0] if isinstance(spk, tuple) else spk
            out.append(spk[0].numpy())
    return np.stack(out).astype(np.int8)


def _recurrent(cls, n: int, **kw):
    """snnTorch's recurrent layers with all-to-all recurrent weights (exported as a cycle
    neuron -> Affine -> neuron); reset to zero right after the spike (reset_delay=False), the
    NIR v_reset semantics (snnTorch's default delays the reset by a step, which NIR cannot state)."""
    return cls(linear_features=n, init_hidden=True, reset_mechanism="zero", **kw)


def _recurrent_pair(seed: int, cls, first: dict, second: dict):
    """Linear(10->12) -> cls(12) -> Linear(12->5) -> cls(5), weights scaled up so that both
    layers spike."""
    import torch

    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(10, 12), _recurrent(cls, 12, **first),
                              torch.nn.Linear(12, 5), _recurrent(cls, 5, **second, output=True))
    with torch.no_grad():
        net[0].weight.mul_(4.0)
        net[1].recurrent.weight.mul_(3.0)
        net[2].weight.mul_(6.0)
        net[3].recurrent.weight.mul_(3.0)
    return net, (10,)


def rleaky_net(seed: int = 0):
    """Linear(10->12) -> RLeaky(12) -> Linear(12->5) -> RLeaky(5)."""
    import snntorch as snn

    return _recurrent_pair(seed, snn.RLeaky, {"beta": 0.9, "reset_delay": False}, {"beta": 0.8, "reset_delay": False})


def rsynaptic_net(seed: int = 0):
    """Linear(10->12) -> RSynaptic(12) -> Linear(12->5) -> RSynaptic(5). (snnTorch 1.0.0 cannot
    simulate RSynaptic with reset_delay=False, so only its export is used.)"""
    import snntorch as snn

    return _recurrent_pair(seed, snn.RSynaptic, {"alpha": 0.7, "beta": 0.9}, {"alpha": 0.6, "beta": 0.8})
