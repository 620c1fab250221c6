"""fixed-neurons: float LIF populations become Loihi compartments whose spikes follow the float
model's closely; what a Loihi LIF cannot do stays float, with the reason reported. The shipped
LIF network runs on Lava with the reference's spikes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sbcompile.ir import Builder, Module, tensor
from sbcompile.ir.interpreter import Interpreter
from sbcompile.passes import PassContext, parse_pipeline

ROOT = Path(__file__).parents[2]


def lif_chain(reset: str = "zero", bias: float = 0.0) -> Module:
    rng = np.random.default_rng(3)
    m = Module("chain")
    b = Builder(m)
    x = b.input("current", tensor(["seq", 12], "f32"))
    s = b.op("neuron.lif", [x], leak=0.1, v_th=0.8, bias=bias, result="s0")
    m.weights.add("w", (rng.standard_normal((6, 12)) * 0.5).astype(np.float32))
    i = b.op("syn.dense", [s], weight="w", out_features=6, result="i1")
    b.output(b.op("neuron.lif", [i], leak=0.2, v_th=0.6, reset=reset, result="s1"))
    return m


def run(m: Module, x: np.ndarray) -> np.ndarray:
    (out,) = Interpreter(m)(current=x)
    return out.counts


def convert(m: Module) -> PassContext:
    ctx = PassContext(target="loihi2")
    for p in parse_pipeline("fixed-neurons"):
        p.run(m, ctx)
    return ctx


def test_converted_spikes_follow_the_float_model() -> None:
    x = np.random.default_rng(4).uniform(0, 0.4, (300, 12)).astype(np.float32)
    float_spikes = run(lif_chain(bias=0.05), x)
    m = lif_chain(bias=0.05)
    ctx = convert(m)
    conv = ctx.report["fixed_neurons"]["converted"]
    assert [op.name for op in m.ops if op.name.startswith("neuron")] == ["neuron.loihi_lif"] * 2
    # 0.05 x 2^12 x 64 + 32 (half a current unit) = 13139 ~ 3285 << 2
    assert conv["s0"] == {"scale_exp": 12, "vth": 3277, "du": 4095, "dv": 410, "bias": [3285, 2],
                          "current_scaled_by": "nn.scale"}
    assert conv["s1"]["current_scaled_by"] == "weights" and conv["s1"]["vth"] == 2458
    fixed_spikes = run(m, x)
    assert float_spikes.sum() > 100
    assert (fixed_spikes == float_spikes).mean() > 0.98


def test_reset_by_subtraction_stays_float() -> None:
    m = lif_chain(reset="subtract")
    ctx = convert(m)
    assert [op.name for op in m.ops if op.name.startswith("neuron")] == ["neuron.loihi_lif", "neuron.lif"]
    assert "subtraction" in ctx.report["fixed_neurons"]["kept_float"]["s1"]


def test_shipped_lif_network_on_lava_equals_reference(tmp_path: Path) -> None:
    pytest.importorskip("lava")
    out = tmp_path / "lif"
    cmd = [sys.executable, "-m", "sbcompile"]
    subprocess.run([*cmd, str(ROOT / "examples" / "lif_network.sbir"), "-t", "loihi2", "-o", str(out)], check=True,
                   capture_output=True, timeout=300)
    inputs = ROOT / "examples" / "lif_network_current.npy"
    for target in ("loihi2", "ref"):
        subprocess.run([*cmd, "run", str(out), "--target", target, "--inputs", str(inputs), "--save-outputs",
                        str(tmp_path / f"{target}.npy")], check=True, capture_output=True, timeout=300)
    lava, ref = np.load(tmp_path / "loihi2.npy"), np.load(tmp_path / "ref.npy")
    assert lava.shape == (200, 8) and lava.sum() > 20
    assert np.array_equal(lava, ref)
