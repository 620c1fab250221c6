"""lava-dl netx HDF5 (`sbcompile NET.net`): networks written by lava-dl's own writer (SLAYER CUBA
dense and conv blocks, sigma-delta dense blocks with a sigma output; tests/nir/data/make_netx.py)
give, on ref, exactly the output lava-dl's netx.hdf5.Network gives on Lava's fixed-point simulator (which adds one step of latency per
synaptic layer); on loihi2 the same as ref; files built to the documented layout map field by
field; what is not imported is named in one error."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from sbcompile.cli import main
from sbcompile.frontend.netx_import import load_netx
from sbcompile.ir import SbirError, verify
from sbcompile.ir.interpreter import Interpreter

DATA = Path(__file__).parent / "data"
LAYERS = {"dense": 2, "conv": 2, "sdnn": 3}  # synaptic layers: Lava's latency in steps


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_lava_dl_networks_equal_netx_on_lava(name: str, tmp_path: Path) -> None:
    x = np.load(DATA / f"{name}_x.npy")
    assert main([str(DATA / f"{name}.net"), "-t", "ref", "-o", str(tmp_path / "out")]) == 0
    assert main(["run", str(tmp_path / "out"), "--inputs", str(DATA / f"{name}_x.npy"),
                 "--save-outputs", str(tmp_path / "y.npy")]) == 0
    ours = np.load(tmp_path / "y.npy").reshape(len(x), -1)
    lava = np.load(DATA / f"{name}_lava.npy")
    lag = LAYERS[name]
    assert np.abs(lava[lag:]).sum() > 10  # not vacuous
    assert int((ours[:len(x) - lag] != lava[lag:]).sum()) == 0 and not lava[:lag].any()


def test_loihi2_equals_ref_on_a_netx_network(tmp_path: Path) -> None:
    pytest.importorskip("lava")
    x = DATA / "conv_x.npy"
    out = {}
    for target in ("ref", "loihi2"):
        assert main([str(DATA / "conv.net"), "-t", target, "-o", str(tmp_path / target)]) == 0
        assert main(["run", str(tmp_path / target), "--inputs", str(x), "--save-outputs", str(tmp_path / f"{target}.npy")]) == 0
        out[target] = np.load(tmp_path / f"{target}.npy")
    assert out["ref"].sum() > 0 and np.array_equal(out["loihi2"].reshape(out["ref"].shape), out["ref"])


def _layer(g: h5py.Group, kind: str, **fields) -> None:
    g.create_dataset("type", (1,), "S10", [kind.encode()])
    for k, v in fields.items():
        if isinstance(v, dict):
            _layer(g.create_group(k), v.pop("type"), **v)
        else:
            g.create_dataset(k, data=v)


def test_documented_layout_maps_field_by_field(tmp_path: Path) -> None:
    path = tmp_path / "hand.net"
    w = np.arange(-12, 12).reshape(4, 6)
    with h5py.File(path, "w") as f:
        layers = f.create_group("layer")
        _layer(layers.create_group("0"), "dense", shape=np.array([4]), weight=w, bias=np.full(4, 3),
               neuron={"type": "CUBA", "iDecay": 1024, "vDecay": 128, "vThMant": 90, "refDelay": 1, "gradedSpike": False})
    m = load_netx(path)
    verify(m)
    dense, lif = m.ops[1], m.ops[2]
    assert np.array_equal(m.weights.get(dense.params.weight), w.astype(np.float32))
    p = lif.params
    assert (lif.name, p.du, p.dv, p.vth, p.bias_mant, p.bias_exp) == ("neuron.loihi_lif", 1023, 128, 90, 3, 6)
    x = (np.random.default_rng(0).random((30, 6)) < 0.5).astype(np.float32)
    z = Interpreter(m)(input=x)[0].counts
    u = v = np.zeros(4, np.int64)  # Lava's LIF (fixed_pt), written out
    want = []
    for t in range(30):
        u = _decay(u, 1024) + ((w @ x[t]).astype(np.int64) << 6)
        v = _decay(v, 128) + u + (3 << 6)
        s = v > (90 << 6)
        v[s] = 0
        want.append(s)
    assert z.sum() > 0 and np.array_equal(z, np.array(want, np.int8))


def _decay(x: np.ndarray, d: int) -> np.ndarray:
    y = x * (4096 - d)
    return np.sign(y) * (np.abs(y) >> 12)


def test_delta_encoder_follows_lava(tmp_path: Path) -> None:
    """An SDNN input layer is Lava's Delta: sends the change of its input (scaled by 2^12) where it
    reaches vth << 12, keeps the rest as residue, and sends it >> 6."""
    path = tmp_path / "delta.net"
    with h5py.File(path, "w") as f:
        layers = f.create_group("layer")
        _layer(layers.create_group("0"), "input", shape=np.array([3]), neuron={"type": "SDNN", "vThMant": 4})
        _layer(layers.create_group("1"), "dense", shape=np.array([3]), weight=np.eye(3, dtype=np.int64),
               neuron={"type": "SDNN", "vThMant": 0, "sigma_output": True})
    m = load_netx(path)
    x = np.array([[0, 10, 2], [3, 10, 5], [6, 13, 5], [6, 13, 0]], np.float32)
    s = Interpreter(m)(input=x)[0]
    act, res, want = np.zeros(3, np.int64), np.zeros(3, np.int64), []
    for t in range(4):
        d = (x[t].astype(np.int64) << 12) - act + res
        out = np.where(np.abs(d) >= 4 << 12, d, 0)
        res, act = d - out, x[t].astype(np.int64) << 12
        want.append(out >> 6)
    assert np.array_equal(s, np.cumsum(want, axis=0)) and np.abs(s).sum() > 0


def test_what_is_not_imported_is_named(tmp_path: Path) -> None:
    path = tmp_path / "sdnn.net"
    with h5py.File(path, "w") as f:
        layers = f.create_group("layer")
        _layer(layers.create_group("0"), "dense", shape=np.array([4]), weight=np.ones((4, 6)),
               neuron={"type": "RF", "vThMant": 10})
        _layer(layers.create_group("1"), "dense", shape=np.array([4]), weight=np.ones((4, 4)), delay=np.ones(4),
               neuron={"type": "CUBA", "iDecay": 4096, "vDecay": 0, "vThMant": 10})
        _layer(layers.create_group("2"), "pool", shape=np.array([4]))
    with pytest.raises(SbirError) as e:
        load_netx(path)
    msg = e.value.message
    assert "cannot import 3 netx layer(s)" in msg
    for what in ("layer 0 (dense): neuron type RF", "layer 1 (dense): synaptic delays", "layer 2 (pool)"):
        assert what in msg
    (tmp_path / "bad.net").write_text("not hdf5")
    with pytest.raises(SbirError, match="not a readable netx HDF5 file"):
        load_netx(tmp_path / "bad.net")
