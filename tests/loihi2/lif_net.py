"""A plain three-layer LIF network in Loihi's fixed point, built in IR: integer input currents
drive the input layer; projections of unit spikes feed two more, whose biases must start only
when their first input arrives through the synaptic delays."""

from __future__ import annotations

import numpy as np

from sbcompile.ir import Builder, Module, tensor


def lif_net(seed: int = 0, sizes: tuple[int, ...] = (24, 32, 16)) -> Module:
    rng = np.random.default_rng(seed)
    m = Module("lif_net", {})
    b = Builder(m)
    x = b.input("current", tensor(["seq", sizes[0]], "i32"))
    s = b.op("neuron.loihi_lif", [x], du=4095, dv=256, vth=40, bias_mant=3, bias_exp=2, result="s0")
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]), 1):
        m.weights.add(f"fc{i}.weight", (rng.standard_normal((n_out, n_in)) * 300).astype(np.float32))
        cur = b.op("syn.dense", [s], weight=f"fc{i}.weight", out_features=n_out, result=f"i{i}")
        s = b.op("neuron.loihi_lif", [cur], du=3000, dv=400, vth=300, bias_mant=-40 * i, bias_exp=1, result=f"s{i}")
    b.output(s)
    return m


def currents(steps: int, n: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(-20, 60, size=(steps, n)).astype(np.int32)
