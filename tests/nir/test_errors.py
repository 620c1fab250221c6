"""Unsupported NIR nodes are listed together in one error; so are the ops NIR cannot express."""

from __future__ import annotations

import numpy as np
import pytest

nir = pytest.importorskip("nir")

from sbcompile.frontend.nir_export import to_nir  # noqa: E402
from sbcompile.frontend.nir_import import from_nir, load_nir  # noqa: E402
from sbcompile.ir import Builder, Module, SbirError, Type  # noqa: E402


def test_every_unsupported_node_is_named() -> None:
    n = 4
    inner = nir.NIRGraph(nodes={"i": nir.Input(input_type={"input": np.array([n])}), "o": nir.Output(output_type={"output": np.array([n])})},
                         edges=[("i", "o")], type_check=False)
    lif = dict(tau=np.ones(n), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.ones(n))
    g = nir.NIRGraph(nodes={
        "in": nir.Input(input_type={"input": np.array([n])}),
        "lif": nir.LIF(**lif),
        "w_rec": nir.Linear(weight=np.eye(n)),
        "lif2": nir.LIF(**lif),
        "sub": inner,
        "out": nir.Output(output_type={"output": np.array([n])}),
    }, edges=[("in", "lif"), ("lif", "w_rec"), ("w_rec", "lif2"), ("lif2", "lif"), ("lif", "sub.i"), ("lif", "ghost"),
              ("lif", "out")],
        type_check=False)
    with pytest.raises(SbirError) as e:
        from_nir(g, source="net.nir")
    msg = e.value.message
    assert msg.startswith("net.nir: cannot import")
    for what in ("cycle through 'lif' (LIF), 'w_rec' (Linear), 'lif2' (LIF)", "edge lif -> ghost names a node"):
        assert what in msg


def test_missing_and_foreign_files(tmp_path) -> None:
    with pytest.raises(SbirError, match="no such file"):
        load_nir(tmp_path / "none.nir")
    bad = tmp_path / "bad.nir"
    bad.write_text("not hdf5")
    with pytest.raises(SbirError, match="not a readable NIR file"):
        load_nir(bad)


def test_export_names_every_inexpressible_op() -> None:
    m = Module("mixed", {"dt": 1e-3})
    b = Builder(m)
    x = b.input("x", Type("tensor", (7, 8), "f32"))
    s = b.op("spike.encode", [x], result="enc")
    q = b.op("syn.dense", [s], weight="wq", out_features=8, result="q")
    a = b.op("seq.window_attention", [q, q, q], heads=2, kv_heads=2, head_dim=4, scale=0.5, result="attn")
    lif = b.op("neuron.lif", [a], leak=0.1, reset="subtract", result="lif")
    b.output(lif)
    with pytest.raises(SbirError) as e:
        to_nir(m)
    msg = e.value.message
    assert "NIR cannot express 2 op(s)" in msg
    assert "%enc (spike.encode: adaptive thresholds" in msg
    assert "%attn (seq.window_attention: attention" in msg  # (reset by subtraction is NIR before 1.0.6)


def test_discrete_lif_exports_through_dt() -> None:
    m = Module("d", {"dt": 1e-3})
    b = Builder(m)
    x = b.input("x", Type("tensor", (5, 3), "f32"))
    b.output(b.op("neuron.lif", [x], leak=0.25, gain=0.5, bias=0.125, v_th=1.0, result="lif"))
    g = to_nir(m)
    lif = g.nodes["lif"]
    assert isinstance(lif, nir.LIF)
    assert np.allclose(lif.tau, 4e-3) and np.allclose(lif.r, 2.0) and np.allclose(lif.v_leak, 0.5)
