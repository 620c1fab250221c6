"""The reference semantics of the NIR ops against direct transcriptions of NIR's equations
(forward Euler with the module's dt)."""

from __future__ import annotations

import numpy as np

from sbcompile.ir import Builder, Module, Type, verify
from sbcompile.ir.interpreter import Interpreter


def run_one(op: str, x: np.ndarray, arrays: dict[str, np.ndarray], **params):
    m = Module("t", {"dt": params.get("dt", 1e-3)})
    b = Builder(m)
    v = b.input("x", Type("tensor", ("seq", *x.shape[1:]), "f32"))
    for k, a in arrays.items():
        m.weights.add(k, a)
    b.output(b.op(op, [v], **{k: k for k in arrays}, **params))
    verify(m)
    interp = Interpreter(m)
    first = interp(x=x[:3])[0]
    rest = interp(x=x[3:])[0]  # state carries over between calls
    cat = np.concatenate([getattr(first, "counts", first), getattr(rest, "counts", rest)])
    return cat


def test_lif_ct_is_euler() -> None:
    rng = np.random.default_rng(0)
    n, dt = 5, 1e-3
    w = {"tau": rng.uniform(2e-3, 5e-3, n).astype(np.float32), "r": rng.uniform(1, 3, n).astype(np.float32),
         "v_leak": rng.uniform(-0.1, 0.1, n).astype(np.float32), "v_threshold": np.full(n, 0.5, np.float32),
         "v_reset": np.full(n, -0.1, np.float32)}
    x = rng.uniform(0, 1, (20, n)).astype(np.float32)
    got = run_one("neuron.lif_ct", x, w, dt=dt)
    v, want = np.zeros(n, np.float32), []
    for t in range(20):
        v = v + (np.float32(dt) / w["tau"]) * ((w["v_leak"] - v) + w["r"] * x[t])
        z = v > w["v_threshold"]
        v = np.where(z, w["v_reset"], v)
        want.append(z)
    assert np.array_equal(got, np.array(want, np.int8)) and got.sum() > 0


def test_cuba_lif_synapse_then_membrane() -> None:
    n, dt = 3, 1e-3
    one = np.ones(n, np.float32)
    w = {"tau_syn": 2e-3 * one, "tau_mem": 4e-3 * one, "r": 2 * one, "v_leak": 0 * one, "v_threshold": 0.3 * one,
         "v_reset": 0 * one, "w_in": one}
    x = np.ones((8, n), np.float32)
    got = run_one("neuron.cuba_lif", x, w, dt=dt)
    i = v = 0.0
    want = []
    for _ in range(8):
        i = i + 0.5 * (1 - i)
        v = v + 0.25 * (-v + 2 * i)
        want.append(v > 0.3)
        v = 0.0 if v > 0.3 else v
    assert np.array_equal(got[:, 0], np.array(want, np.int8))


def test_integrator_if_and_threshold() -> None:
    x = np.full((6, 2), 100.0, np.float32)
    r = np.array([1.0, 2.0], np.float32)
    v = run_one("neuron.integrator", x, {"r": r}, dt=1e-3)
    assert np.allclose(v[:, 1], 0.2 * np.arange(1, 7))
    s = run_one("neuron.if", x, {"r": r, "v_threshold": np.array([0.25, 0.25], np.float32),
                                  "v_reset": np.zeros(2, np.float32)}, dt=1e-3)
    assert s[:, 0].tolist() == [0, 0, 1, 0, 0, 1] and s[:, 1].tolist() == [0, 1, 0, 1, 0, 1]
    z = run_one("neuron.threshold", np.array([[0.1, 0.2]] * 4, np.float32), {"threshold": np.array([0.1, 0.1], np.float32)})
    assert z.tolist() == [[0, 1]] * 4  # strictly above the threshold


def test_delay_shifts_by_rounded_steps_across_calls() -> None:
    x = np.arange(1, 9, dtype=np.float32)[:, None].repeat(3, axis=1)
    y = run_one("syn.delay", x, {"delay": np.array([0.0, 1e-3, 2.6e-3], np.float32)}, dt=1e-3)
    assert y[:, 0].tolist() == list(range(1, 9))
    assert y[:, 1].tolist() == [0] + list(range(1, 8))
    assert y[:, 2].tolist() == [0, 0, 0] + list(range(1, 6))


def test_flatten_excludes_time() -> None:
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    m = Module("f")
    b = Builder(m)
    v = b.input("x", Type("tensor", ("seq", 3, 4, 5), "f32"))
    f = b.op("nn.flatten", [v], start_dim=1)
    assert f.type == Type("tensor", ("seq", 3, 20), "f32")
    b.output(f)
    assert np.array_equal(Interpreter(m)(x=x)[0], x.reshape(2, 3, 20))
