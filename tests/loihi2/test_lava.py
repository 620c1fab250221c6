"""The loihi2 target on Lava: the tiny model's logits (its norms, encoders, GLA and window
attention in fixed point)
and a plain LIF network's spikes equal the reference interpreter's bit for bit on Lava's
fixed-point simulator; the process graph is
checked at lowering, the artifact is deterministic, and missing pieces are named."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sbcompile.cli import main
from sbcompile.frontend import load_sbir
from sbcompile.ir import SbirError, print_module
from sbcompile.targets import TARGETS
from sbcompile.targets.loihi2.graph import ProcessGraph
from sbcompile.targets.loihi2.lower import lower
from sbcompile.targets.ref import RefSession

from .lif_net import currents, lif_net

ROOT = Path(__file__).parents[2]
PROMPT = b"def main(argv):"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("lava") / "tiny"
    assert main([str(ROOT / "examples" / "tiny"), "-t", "loihi2", "-o", str(out)]) == 0
    return out


def reference_stream(module_path: Path, tokens: np.ndarray) -> tuple[np.ndarray, dict]:
    """The reference interpreter fed one token per call, as the Lava graph streams them: its
    logits and its spike activity."""
    ref = RefSession(load_sbir(module_path))
    return np.concatenate([ref(tokens[i:i + 1]) for i in range(len(tokens))]), ref.activity()


def test_tiny_logits_equal_reference_bit_for_bit(tiny: Path, tmp_path: Path) -> None:
    pytest.importorskip("lava")
    # the acceptance's reference: the artifact's own module compiled for ref
    assert main([str(tiny / "module.sbir"), "-t", "ref", "-o", str(tmp_path / "ref")]) == 0
    module = load_sbir(tiny / "module.sbir")
    session = TARGETS["loihi2"]().open(tiny, module)
    try:
        tokens = np.frombuffer(PROMPT, np.uint8).astype(np.int32)
        prefill = session(tokens)
        decode = [session(np.array([t], np.int32)) for t in (65, 10, 32)]
        activity = session.activity()
    finally:
        session.close()
    expect, ref_activity = reference_stream(tmp_path / "ref" / "module.sbir",
                                            np.concatenate([tokens, [65, 10, 32]]).astype(np.int32))
    assert activity == ref_activity and activity["ops"] and 0.3 < activity["total"]["sparsity"] < 0.9
    got = np.concatenate([prefill, *decode])
    assert got.shape == (len(PROMPT) + 3, 256)
    assert np.array_equal(got, expect), f"max |diff| {np.abs(got - expect).max()}"
    assert np.isfinite(got).all() and got.std() > 0.1


def test_tiny_graph_maps_projections_to_dense_cores(tiny: Path) -> None:
    graph = ProcessGraph.from_json((tiny / "lava_graph.json").read_text())
    module = load_sbir(tiny / "module.sbir")
    projections = [op for op in module.ops if op.name == "syn.dense" and op.operands[0].type.kind == "spikes"]
    dense = [p for p in graph.processes if p.kind == "dense"]
    assert {p.ops[0] for p in dense} == {op.result.name for op in projections}
    assert all(p.where == "core" and p.cores and p.params["weight_exp"] == -1 for p in dense)
    encoders = [p for p in graph.processes if p.kind == "encoder"]
    assert {p.ops[0] for p in encoders} == {op.result.name for op in module.ops if op.name == "spike.encode"}
    assert all(p.params["encode"]["frac_bits"] is not None for p in encoders)
    norms = [p for p in graph.processes if p.kind == "norm"]
    assert {p.ops[0] for p in norms} == {op.result.name for op in module.ops if op.name == "nn.rmsnorm"}
    glas = [p for p in graph.processes if p.kind == "gla"]  # the GLA state in fixed point, not on the host
    assert {p.ops[0] for p in glas} == {op.result.name for op in module.ops if op.name == "seq.fixed_gla"} != set()
    assert not any(op.name == "seq.gla" for op in module.ops)
    # inputs that arrive early wait in delay lines until the latest one arrives
    assert all(min(p.params["delays"].values()) == 0 <= max(p.params["delays"].values()) for p in glas)
    attention = [p for p in graph.processes if p.kind == "attention"]
    assert [p.ops[0] for p in attention] == [op.result.name for op in module.ops if op.name == "seq.fixed_window_attention"]
    assert len(attention) == 2 and not any(op.name == "seq.window_attention" for op in module.ops)
    report = json.loads((tiny / "report.json").read_text())
    assert report["lava"]["processes"] == len(graph.processes) and report["lava"]["latency_steps"] == graph.output_latency


def test_lif_network_spikes_equal_reference(tmp_path: Path) -> None:
    pytest.importorskip("lava")
    m = lif_net()
    (tmp_path / "net.sbir").write_text(print_module(m))
    m.weights.save(str(tmp_path / "net.safetensors"))
    out = tmp_path / "out"
    assert main([str(tmp_path / "net.sbir"), "-t", "loihi2", "-o", str(out)]) == 0
    graph = ProcessGraph.from_json((out / "lava_graph.json").read_text())
    kinds = sorted(p.kind for p in graph.processes)
    assert kinds.count("lif") == 3 and "dense" in kinds
    # the projections feed the LIFs directly (scales as weight exponents), no host in between
    hosts = [p for p in graph.processes if p.kind == "host"]
    assert len(hosts) == 1 and hosts[0].ops == ["current"]
    x = currents(300, 24)  # longer than one Lava run (CHUNK steps): runs join without gaps
    module = load_sbir(out / "module.sbir")
    session = TARGETS["loihi2"]().open(out, module)
    try:
        spikes = session(x)
        with pytest.raises(SbirError, match="one sequence per session"):
            session(x[:1])
    finally:
        session.close()
    expect = RefSession(load_sbir(out / "module.sbir"))(x)
    assert spikes.shape == (300, 16) and spikes.sum() > 50
    assert np.array_equal(spikes, expect)


def test_missing_connection_is_named_at_lowering(tiny: Path) -> None:
    graph, _ = lower(load_sbir(tiny / "module.sbir"))
    dense = next(p for p in graph.processes if p.kind == "dense")
    broken = dataclasses.replace(graph, connections=[c for c in graph.connections if c.dst != f"{dense.name}.s_in"])
    with pytest.raises(SbirError, match=rf"%{dense.ops[0]} \(process {dense.name}\): input port 's_in' has no connection"):
        broken.validate()


def test_fixed_point_mismatch_is_named_at_lowering(tiny: Path) -> None:
    module = load_sbir(tiny / "module.sbir")
    norm = next(op for op in module.ops if op.name == "nn.rmsnorm" and op.operands[0].owner.name == "seq.fixed_gla")
    norm.params = norm.params.model_copy(update={"frac_bits": 10})
    with pytest.raises(SbirError, match=r"seq.fixed_gla %layers_0_attn_core \(out_frac \d+\) cannot feed a consumer "
                                        r"that takes fixed:10"):
        lower(module)


def test_shape_mismatch_is_named_at_lowering(tiny: Path) -> None:
    graph, _ = lower(load_sbir(tiny / "module.sbir"))
    dense = next(p for p in graph.processes if p.kind == "dense")
    dense.in_ports["s_in"] += 1
    with pytest.raises(SbirError, match=rf"%{dense.ops[0]} \({dense.name}.s_in\) takes 129 values per step but"):
        graph.validate()


def test_artifact_is_deterministic(tiny: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    assert main([str(ROOT / "examples" / "tiny"), "-t", "loihi2", "-o", str(again)]) == 0
    for name in ("lava_graph.json", "lava_weights.safetensors", "module.sbir"):
        assert (again / name).read_bytes() == (tiny / name).read_bytes(), name


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sbcompile", *args], capture_output=True, text=True, timeout=300)


def test_meta_weights_map_but_do_not_run(tmp_path: Path) -> None:
    out = tmp_path / "meta"
    assert main(["spikingbrain-7b", "-t", "loihi2", "--system", "hala-point", "-o", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["lava"]["emitted"] is False and "meta" in report["lava"]["why"]
    (tmp_path / "ids.txt").write_text("1 2 3")  # a valid prompt: the input is checked before the target opens
    r = run_cli("run", str(out), "--tokens", str(tmp_path / "ids.txt"))
    assert r.returncode == 1 and "no lava_graph.json" in r.stderr and "Traceback" not in r.stderr


def test_hardware_run_says_what_is_missing(tiny: Path) -> None:
    pytest.importorskip("lava")
    r = run_cli("run", str(tiny), "--text", "x", "--hardware")
    assert r.returncode == 1 and "lava-loihi" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("run", str(tiny), "--text", "x", "--hardware", "--target", "ref")
    assert r.returncode == 1 and "--hardware does not apply to target 'ref'" in r.stderr


def test_failure_inside_lava_is_raised_not_hung(tiny: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("lava")
    from sbcompile.ir.opdef import lookup

    embed = type(lookup("nn.embed"))
    original = embed.evaluate

    def fails_from_position_3(self, p, args, ctx):  # type: ignore[no-untyped-def]
        if ctx.position >= 3:
            raise FloatingPointError("injected")
        return original(self, p, args, ctx)

    monkeypatch.setattr(embed, "evaluate", fails_from_position_3)  # the Lava processes fork with it
    session = TARGETS["loihi2"]().open(tiny, load_sbir(tiny / "module.sbir"))
    try:
        with pytest.raises(SbirError, match=r"Lava run failed in host_0_0 \(ops %.*\) at step 4: FloatingPointError: injected"):
            session(np.arange(40, 46, dtype=np.int32))
    finally:
        session.close()


def test_snntorch_network_runs_on_lava_lifs(tmp_path: Path) -> None:
    pytest.importorskip("lava")
    out = tmp_path / "nir"
    assert main([str(ROOT / "examples" / "nir" / "net.nir"), "-t", "loihi2", "-o", str(out)]) == 0
    graph = ProcessGraph.from_json((out / "lava_graph.json").read_text())
    assert sorted(p.ops[0] for p in graph.processes if p.kind == "lif") == ["1", "5"]
    x = np.load(ROOT / "examples" / "nir" / "inputs.npy").astype(np.float32)
    session = TARGETS["loihi2"]().open(out, load_sbir(out / "module.sbir"))
    try:
        spikes = session(x)
    finally:
        session.close()
    assert np.array_equal(spikes, RefSession(load_sbir(out / "module.sbir"))(x))
    snntorch = np.load(ROOT / "examples" / "nir" / "snntorch_out.npy").reshape(spikes.shape)
    assert spikes.sum() == snntorch.sum() == 76 and (spikes == snntorch).mean() > 0.99


def test_without_lava_compiling_works_and_run_names_what_is_missing(tmp_path: Path) -> None:
    out = tmp_path / "nolava"
    code = ("import sys; sys.modules['lava'] = None; from sbcompile.cli import main; "
            f"rc = main([{str(ROOT / 'examples' / 'tiny')!r}, '-t', 'loihi2', '-o', {str(out)!r}]); "
            f"sys.exit(rc or main(['run', {str(out)!r}, '--text', 'x']))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert (out / "lava_graph.json").exists() and (out / "report.md").exists()
    assert r.returncode == 1 and "runs on Lava (lava-nc 0.10.0, Python 3.10" in r.stderr and "Traceback" not in r.stderr
