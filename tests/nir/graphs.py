"""A hand-made NIR graph that uses every node type sbcompile imports, with fan-in (several
edges into one node), two inputs and three outputs."""

from __future__ import annotations

import numpy as np


def every_node_graph(seed: int = 0):
    import nir

    rng = np.random.default_rng(seed)

    def f32(*shape, lo=0.5, hi=1.5):
        return rng.uniform(lo, hi, shape).astype(np.float32)

    nodes = {
        "in": nir.Input(input_type={"input": np.array([2, 6, 6])}),
        "in2": nir.Input(input_type={"input": np.array([2, 10])}),
        "conv": nir.Conv2d(input_shape=(6, 6), weight=f32(3, 2, 3, 3, lo=-1), stride=1, padding=1, dilation=1,
                           groups=1, bias=f32(3, lo=-0.1, hi=0.1)),
        "scale": nir.Scale(scale=f32(3, 6, 6)),
        "if": nir.IF(r=f32(3, 6, 6, lo=900, hi=1100), v_threshold=f32(3, 6, 6), v_reset=np.zeros((3, 6, 6), np.float32)),
        "sum": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
        "avg": nir.AvgPool2d(kernel_size=2, stride=2, padding=np.array([0, 0])),
        "flat": nir.Flatten(input_type={"input": np.array([3, 3, 3])}, start_dim=0, end_dim=-1),
        "aff": nir.Affine(weight=f32(8, 27, lo=-1), bias=f32(8, lo=-0.1, hi=0.1)),
        "lif": nir.LIF(tau=f32(8, lo=1e-3, hi=3e-3), r=f32(8, lo=5, hi=10), v_leak=np.zeros(8, np.float32),
                       v_threshold=f32(8), v_reset=f32(8, lo=-0.2, hi=0.0)),
        "delay": nir.Delay(delay=rng.integers(0, 4, 8).astype(np.float32) * 1e-4),
        "lin": nir.Linear(weight=f32(8, 8, lo=-1)),
        "cuba": nir.CubaLIF(tau_syn=f32(8, lo=5e-4, hi=1e-3), tau_mem=f32(8, lo=1e-3, hi=2e-3), r=f32(8, lo=5, hi=10),
                            v_leak=np.zeros(8, np.float32), v_threshold=f32(8), v_reset=np.zeros(8, np.float32),
                            w_in=f32(8, lo=4, hi=6)),
        "c1": nir.Conv1d(input_shape=10, weight=f32(4, 2, 3, lo=-1), stride=1, padding="same", dilation=1, groups=1,
                         bias=f32(4, lo=-0.1, hi=0.1)),
        "flat1": nir.Flatten(input_type={"input": np.array([4, 10])}, start_dim=0, end_dim=-1),
        "l40": nir.Linear(weight=f32(8, 40, lo=-0.5, hi=0.5)),
        "li": nir.LI(tau=f32(8, lo=1e-3, hi=2e-3), r=f32(8), v_leak=f32(8, lo=-0.1, hi=0.1)),
        "thr": nir.Threshold(threshold=f32(8, lo=0.0, hi=0.2)),
        "integ": nir.I(r=f32(8, lo=10, hi=20)),
        "cubali": nir.CubaLI(tau_syn=f32(8, lo=5e-4, hi=1e-3), tau_mem=f32(8, lo=1e-3, hi=2e-3), r=f32(8),
                             v_leak=np.zeros(8, np.float32), w_in=f32(8)),
        "out1": nir.Output(output_type={"output": np.array([8])}),
        "out2": nir.Output(output_type={"output": np.array([8])}),
        "out3": nir.Output(output_type={"output": np.array([8])}),
    }
    edges = [("in", "conv"), ("conv", "scale"), ("scale", "if"), ("if", "sum"), ("if", "avg"), ("sum", "flat"),
             ("avg", "flat"), ("flat", "aff"), ("aff", "lif"), ("lif", "delay"), ("delay", "lin"), ("lin", "cuba"),
             ("in2", "c1"), ("c1", "flat1"), ("flat1", "l40"), ("cuba", "li"), ("lif", "li"), ("l40", "li"),
             ("li", "thr"), ("thr", "out1"), ("aff", "integ"), ("integ", "out2"), ("lin", "cubali"),
             ("cubali", "out3")]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": 1e-4}, type_check=False)
