"""Acceptance: recurrent NIR graphs (snnTorch RLeaky/RSynaptic exports, a hand-built recurrent
CubaLIF graph) compiled by `sbcompile NET.nir -t ref` and run with `sbcompile run --inputs` give
the spikes of the NIR spec simulated by tests/nir/nir_spec.py (one step of delay on the edge that
leaves a neuron into its cycle): 0 mismatches; RLeaky also equals snnTorch's own simulation; on
loihi2 (Lava) the spikes equal the reference's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

nir = pytest.importorskip("nir")

from sbcompile.cli import main  # noqa: E402
from sbcompile.frontend.nir_export import to_nir  # noqa: E402
from sbcompile.frontend.nir_import import from_nir  # noqa: E402

from . import nir_spec  # noqa: E402

STEPS = 60


def recurrent_cuba_graph(seed: int = 0, n: int = 8, uniform: bool = False):
    """Input(5) -> Linear -> CubaLIF(n) <-> Linear (recurrent, no bias) -> Affine -> LIF(3) <-> Affine.
    uniform: one tau, w_in and v_reset = 0 per population (what a Loihi compartment population holds)."""
    rng = np.random.default_rng(seed)
    f = np.float32

    def full(x, k=n):
        return np.full(k, x, f)

    def spread(lo, hi):
        return full((lo + hi) / 2) if uniform else rng.uniform(lo, hi, n).astype(f)

    nodes = {
        "in": nir.Input(input_type={"input": np.array([5])}),
        "w_in": nir.Linear(weight=rng.normal(0, 3, (n, 5)).astype(f)),
        "cuba": nir.CubaLIF(tau_syn=spread(4e-4, 8e-4), tau_mem=spread(1e-3, 2e-3),
                            r=full(10.0), v_leak=full(0.0), v_threshold=full(1.0), v_reset=full(0.0), w_in=spread(2, 4)),
        "cuba_rec": nir.Linear(weight=rng.normal(0, 1.5, (n, n)).astype(f)),
        "w_out": nir.Affine(weight=rng.normal(0, 2, (3, n)).astype(f), bias=full(0.1, 3)),
        "lif": nir.LIF(tau=full(1e-3, 3), r=full(10.0, 3), v_leak=full(0.0, 3), v_threshold=full(1.0, 3),
                       v_reset=full(0.0 if uniform else -0.2, 3)),
        "lif_rec": nir.Affine(weight=rng.normal(0, 1, (3, 3)).astype(f), bias=full(0.05, 3)),
        "out": nir.Output(output_type={"output": np.array([3])}),
    }
    edges = [("in", "w_in"), ("w_in", "cuba"), ("cuba", "cuba_rec"), ("cuba_rec", "cuba"), ("cuba", "w_out"),
             ("w_out", "lif"), ("lif", "lif_rec"), ("lif_rec", "lif"), ("lif", "out")]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": 1e-4}, type_check=False)


def run_ref(graph, x: np.ndarray, tmp_path: Path, target: str = "ref") -> np.ndarray:
    nir.write(str(tmp_path / "net.nir"), graph)
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / f"out-{target}"
    assert main([str(tmp_path / "net.nir"), "-t", target, "-o", str(out)]) == 0
    assert main(["run", str(out), "--inputs", str(tmp_path / "x.npy"), "--save-outputs", str(tmp_path / "y.npy")]) == 0
    return np.load(tmp_path / "y.npy").reshape(x.shape[0], -1)


def assert_no_mismatch(ours: np.ndarray, spec: np.ndarray) -> None:
    assert ours.shape == spec.shape
    assert spec.sum() > 0, "the comparison is not vacuous"
    mismatches = int((ours != spec).sum())
    assert mismatches == 0, f"{mismatches} of {spec.size} output spikes differ"


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("make", ["rleaky_net", "rsynaptic_net"])
@pytest.mark.parametrize("seed", [0, 2])
def test_snntorch_recurrent_exports_follow_the_spec(make: str, seed: int, tmp_path: Path) -> None:
    pytest.importorskip("snntorch")
    from . import snntorch_nets as S

    net, shape = getattr(S, make)(seed)
    graph = S.export(net, shape)
    assert any(type(n).__name__ in ("Linear", "Affine") and ("1.lif", k) in graph.edges for k, n in graph.nodes.items())
    x = (np.random.default_rng(seed).random((STEPS, *shape)) < 0.5).astype(np.float32)
    ours = run_ref(graph, x, tmp_path)
    spec = nir_spec.simulate(graph, {"input": x}, 1e-4)["output"]
    assert_no_mismatch(ours, spec)
    if make == "rleaky_net":
        assert_no_mismatch(ours, S.simulate(net, x).astype(np.float32))


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hand_built_recurrent_cuba_lif_follows_the_spec(seed: int, tmp_path: Path) -> None:
    graph = recurrent_cuba_graph(seed)
    x = (np.random.default_rng(seed).random((STEPS, 5)) < 0.4).astype(np.float32)
    ours = run_ref(graph, x, tmp_path)
    assert_no_mismatch(ours, nir_spec.simulate(graph, {"in": x}, 1e-4)["out"])


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("port_names", [True, False])
def test_nested_recurrent_subgraphs_are_inlined(port_names: bool) -> None:
    """The recurrent populations as subgraphs (Input -> neuron <-> projection -> Output, as
    snnTorch's RLeaky once exported and Rockpool imports them), edges naming the subgraph's ports
    ("cuba.input") or the subgraph itself ("cuba"): the same module as the flat graph."""
    flat = recurrent_cuba_graph(2)
    nodes = dict(flat.nodes)
    n = {"cuba": 8, "lif": 3}
    for pop, rec in (("cuba", "cuba_rec"), ("lif", "lif_rec")):
        nodes[pop] = nir.NIRGraph(nodes={
            "input": nir.Input(input_type={"input": np.array([n[pop]])}), pop: nodes.pop(pop), "w_rec": nodes.pop(rec),
            "output": nir.Output(output_type={"output": np.array([n[pop]])}),
        }, edges=[("input", pop), (pop, "w_rec"), ("w_rec", pop), (pop, "output")], type_check=False)

    def port(p: str, side: str) -> str:
        return f"{p}.{side}" if port_names else p

    nested = nir.NIRGraph(nodes=nodes, edges=[("in", "w_in"), ("w_in", port("cuba", "input")), (port("cuba", "output"), "w_out"),
                                              ("w_out", port("lif", "input")), (port("lif", "output"), "out")],
                          metadata={"dt": 1e-4}, type_check=False)
    m = from_nir(nested)
    assert [op.attrs["nir.node"] for op in m.ops if "nir.node" in op.attrs] == ["w_in", "cuba.cuba", "w_out", "lif.lif"]
    assert [op.attrs.get("nir.rec_node") for op in m.ops if "nir.rec_node" in op.attrs] == ["cuba.w_rec", "lif.w_rec"]
    x = (np.random.default_rng(2).random((STEPS, 5)) < 0.4).astype(np.float32)
    from sbcompile.ir.interpreter import Interpreter

    ours = Interpreter(m)(**{"in": x})[0].counts
    assert_no_mismatch(ours.astype(np.float32), nir_spec.simulate(flat, {"in": x}, 1e-4)["out"])


def test_recurrence_is_one_step_late() -> None:
    """One neuron driven once, whose recurrent weight re-excites it: the echo spike comes exactly
    one step after the spike that caused it."""
    one = np.ones(1, np.float32)
    g = nir.NIRGraph(nodes={
        "in": nir.Input(input_type={"input": np.array([1])}),
        "if": nir.IF(r=1e4 * one, v_threshold=0.5 * one, v_reset=0 * one),
        "rec": nir.Linear(weight=np.array([[1.0]], np.float32)),
        "out": nir.Output(output_type={"output": np.array([1])}),
    }, edges=[("in", "if"), ("if", "rec"), ("rec", "if"), ("if", "out")], type_check=False)
    from sbcompile.ir.interpreter import Interpreter

    x = np.zeros((5, 1), np.float32)
    x[1] = 1.0
    z = Interpreter(from_nir(g))(**{"in": x})[0].counts[:, 0]
    assert z.tolist() == [0, 1, 1, 1, 1]  # each spike (v = 1 > 0.5) re-excites the next step


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_recurrent_graph_round_trips() -> None:
    g = recurrent_cuba_graph()
    back = to_nir(from_nir(g))
    assert sorted(back.edges) == sorted(g.edges)
    assert np.array_equal(back.nodes["cuba_rec"].weight, g.nodes["cuba_rec"].weight)
    assert isinstance(back.nodes["lif_rec"], nir.Affine) and np.array_equal(back.nodes["lif_rec"].bias, g.nodes["lif_rec"].bias)


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("make, on_cores", [("cuba", 0), ("cuba_uniform", 2), ("rleaky", 2)])
def test_loihi2_maps_the_recurrent_projection_onto_cores_and_equals_ref(make: str, on_cores: int, tmp_path: Path) -> None:
    """The recurrent populations become Loihi compartments with a Dense from their spikes back to
    their input on the cores (those a compartment cannot hold, with per-neuron time constants or a
    non-zero reset, stay float on the host); Lava's spikes equal the reference interpreter's on
    the compiled module."""
    pytest.importorskip("lava")
    from sbcompile.frontend import load_sbir
    from sbcompile.targets import TARGETS
    from sbcompile.targets.loihi2.graph import ProcessGraph
    from sbcompile.targets.ref import RefSession

    if make.startswith("cuba"):
        graph = recurrent_cuba_graph(1, uniform=make == "cuba_uniform")
        x = (np.random.default_rng(1).random((30, 5)) < 0.4).astype(np.float32)
    else:
        pytest.importorskip("snntorch")
        from . import snntorch_nets as S

        net, shape = S.rleaky_net(0)
        graph, x = S.export(net, shape), (np.random.default_rng(0).random((30, *shape)) < 0.5).astype(np.float32)
    nir.write(str(tmp_path / "net.nir"), graph)
    out = tmp_path / "l2"
    assert main([str(tmp_path / "net.nir"), "-t", "loihi2", "-o", str(out)]) == 0
    lava_graph = ProcessGraph.from_json((out / "lava_graph.json").read_text())
    rec = [p for p in lava_graph.processes if p.kind == "dense" and p.name.endswith("_rec")]
    assert len(rec) == on_cores and all(p.where == "core" for p in rec)
    assert len([p for p in lava_graph.processes if p.kind == "lif"]) == on_cores
    module = load_sbir(out / "module.sbir")
    session = TARGETS["loihi2"]().open(out, module)
    try:
        spikes = session(x)
    finally:
        session.close()
    ref = RefSession(load_sbir(out / "module.sbir"))(x)
    assert np.asarray(ref).sum() > 0 and np.array_equal(spikes, ref)
