"""The compiled plan (targets/cuda/plan.py, executor.py) against the reference interpreter: logits
over prefill, chunked prefill and decode (eager and, on a GPU, CUDA-graph replays), the plan generated
from the fusion passes' marks, seeded random weights, and rule coverage of every op class.

The executor runs float32 here (bf16 is its GPU default) so the comparison is the kernels' own:
1e-4 in Triton's interpreter, 5e-2 on a GPU (tf32 dots in GLA and attention can move a spike count
by one upstream)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed")
pytest.importorskip("triton", reason="triton is not installed: no GPU kernels to test")

from sbcompile import frontend  # noqa: E402
from sbcompile.ir import SbirError, verify  # noqa: E402
from sbcompile.ir.interpreter import Interpreter  # noqa: E402
from sbcompile.ir.dialects.nn import FakeQuant  # noqa: E402
from sbcompile.ir.dialects.spike import Encode  # noqa: E402
from sbcompile.ir.opdef import REGISTRY  # noqa: E402
from sbcompile.passes import PassContext, parse_pipeline  # noqa: E402
from sbcompile.targets import TARGETS  # noqa: E402
from sbcompile.targets.cuda import plan  # noqa: E402
from sbcompile.targets.cuda.executor import Executor  # noqa: E402
from sbcompile.targets.cuda.machine import CudaMachine  # noqa: E402
from tests.targets.handmade import tiny_lm  # noqa: E402

ON_GPU = os.environ.get("TRITON_INTERPRET") != "1"
LOGITS_TOL = 5e-2 if ON_GPU else 1e-4
TOKENS = np.array([3, 65, 7, 200, 9, 11, 104, 32], np.int32)
PIPELINE = TARGETS["cuda"].default_pipeline


def rel(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def compiled(pipeline: str = PIPELINE, module=None):
    m = module if module is not None else tiny_lm(seed=1, hidden=64, heads=2, kv_heads=1, window=4)
    ctx = PassContext(target="cuda", machine=CudaMachine())
    for p in parse_pipeline(pipeline):
        p.run(m, ctx)
        verify(m)
    return m


def test_every_op_class_has_a_rule_or_runs_in_the_session() -> None:
    classes = {type(d) for d in REGISTRY.values()}
    missing = {c.__name__ for c in classes if c not in plan.RULES and c not in plan.SESSION_ONLY}
    assert not missing, f"op classes with neither a cuda plan rule nor a SESSION_ONLY entry: {sorted(missing)}"
    assert not set(plan.RULES) & set(plan.SESSION_ONLY)


def test_plan_follows_the_fusion_passes(tmp_path: Path) -> None:
    m = compiled()
    segments = plan.build(m)
    assert [s.mixer for s in segments][:4] == [False, True, False, True]  # GLA, then window attention
    groups = {op.attrs["fuse.gemm"] for op in m.ops if "fuse.gemm" in op.attrs}
    assert groups == {"l0_q", "l1_q", "l1_gate"}  # GLA q/k/v/g, SWA q/k/v, the MLP gate/up
    assert [op.attrs["fuse.swiglu"] for op in m.ops if "fuse.swiglu" in op.attrs] == ["l1_gate"]
    assert sum("fuse.into" in op.attrs for op in m.ops) == sum("fuse.silu_operand" in op.attrs for op in m.ops) >= 1
    producers = {op.attrs["fuse.producer"] for op in m.ops if "fuse.producer" in op.attrs}
    assert len(producers) >= 3 and producers == Executor(m, dtype=torch.float32).encoded  # norms and silu·mul
    assert sum("fuse.residual" in op.attrs for op in m.ops) == sum("fuse.epilogue_of" in op.attrs for op in m.ops) >= 2
    bare = plan.build(compiled("cse,quantize"))
    assert not any("fuse." in k for s in bare for n in s.nodes for k in n.op.attrs)
    files = TARGETS["cuda"]().emit(m, tmp_path / "a")
    assert "plan.json" in files and files == TARGETS["cuda"]().emit(m, tmp_path / "b")
    data = (tmp_path / "a" / "plan.json").read_bytes()
    assert data == (tmp_path / "b" / "plan.json").read_bytes()
    desc = json.loads(data)
    assert desc["rules"]["fused"] >= 1 and desc["segments"][1]["kind"] == "mixer"
    TARGETS["metax"]().emit(m, tmp_path / "m")
    assert json.loads((tmp_path / "m" / "plan.json").read_text())["flavour"] == "metax"


@pytest.mark.parametrize("pipeline", [PIPELINE, "cse,quantize"])
def test_plan_logits_follow_the_interpreter(pipeline: str) -> None:
    m = compiled(pipeline)
    ref = Interpreter(m)
    ex = Executor(m, dtype=torch.float32, chunk=4, graphs=False)  # two chunks for the 6-token prefill; every
    # step eager, so that every token's spikes are counted (graph replays are not)
    for chunk in (TOKENS[:6], TOKENS[6:7], TOKENS[7:8], TOKENS[:1], TOKENS[:3]):  # decode steps, a later prefill
        (want,) = ref(tokens=chunk)
        got = ex(chunk)
        assert got.shape == want.shape and rel(got, want) < LOGITS_TOL, (len(chunk), rel(got, want))
    act = ex.activity()
    assert act["total"] and set(act["ops"]) == {op.results[0].name for op in m.ops if op.isa(Encode)}
    assert act["ops"][next(iter(act["ops"]))]["tokens"] == 6 + 1 + 1 + 1 + 3


def test_swiglu_in_the_epilogue_changes_no_value() -> None:
    """fuse-swiglu (interleaved gate/up weights, h and its |h| sums from the GEMM) against the same
    plan without it, over a prefill and single-token steps (the GEMV reads every other column)."""
    runs = []
    for pipeline in (PIPELINE, PIPELINE.replace("fuse-swiglu,", "")):
        ex = Executor(compiled(pipeline), dtype=torch.float32, chunk=4, graphs=False)
        runs.append([ex(chunk) for chunk in (TOKENS[:6], TOKENS[6:7], TOKENS[7:8])])
    for fused, unfused in zip(*runs):
        assert np.array_equal(fused, unfused)


def test_last_only_prefill_and_chunks_agree() -> None:
    m = compiled()
    whole = Executor(m, dtype=torch.float32, chunk=64).prefill(torch.as_tensor(TOKENS.astype(np.int64)))
    ex = Executor(m, dtype=torch.float32, chunk=3)
    last = ex.prefill(torch.as_tensor(TOKENS.astype(np.int64), device=ex.device), last_only=True)
    assert last.shape[0] == 1 and rel(last.cpu().numpy(), whole[-1:].cpu().numpy()) < 1e-5


@pytest.mark.skipif(not ON_GPU, reason="CUDA graphs need a GPU")
def test_graph_decode_equals_eager() -> None:
    m = compiled()
    eager, graphed = Executor(m, graphs=False), Executor(m, graphs=True)
    for ex in (eager, graphed):
        ex(TOKENS[:6])
    for t in [7, 9, 11, 13, 15]:
        a, b = eager(np.array([t], np.int32)), graphed(np.array([t], np.int32))
        assert np.array_equal(a, b)
    assert graphed._graph is not None


def test_seeded_random_weights(tmp_path: Path) -> None:
    m = frontend.load("random:spikingbrain-tiny:7")
    assert m.attrs["weights_seed"] == 7 and m.weights.has_fake
    m = compiled(PIPELINE, m)
    a = Executor(m, dtype=torch.float32).raw("model.layers.0.attn.q_proj.weight.q8")
    b = Executor(m, dtype=torch.float32).raw("model.layers.0.attn.q_proj.weight.q8")
    assert torch.equal(a, b) and int(a.abs().max()) <= 127 and a.float().std() > 50
    m.attrs["weights_seed"] = 8
    assert not torch.equal(a, Executor(m, dtype=torch.float32).raw("model.layers.0.attn.q_proj.weight.q8"))
    del m.attrs["weights_seed"]
    with pytest.raises(SbirError, match="random:PRESET"):
        Executor(m, dtype=torch.float32).raw("model.layers.0.attn.q_proj.weight.q8")
    with pytest.raises(SbirError, match="SEED a non-negative integer"):
        frontend.load("random:spikingbrain-tiny:x")
    paper = frontend.load("random:spikingbrain-tiny:0:paper")
    assert not any(op.isa(FakeQuant) for op in paper.ops) and any(op.isa(FakeQuant) for op in m.ops)
