"""Sequence-parallel prefill (targets/cuda/sequence_parallel.py) on gloo CPU processes against the
single-process executor: every token's logits, the last rank's decode state (GLA states, window
rings) and the greedy tokens decoded after it, on 2 and 4 ranks; a small GLA+SWA model whose window
spans two ranks' ranges (unequal ranges) and examples/tiny (window 64: the halo spans every earlier
rank). The GLA exclusive scan is checked against the token-by-token recurrence on its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed")
pytest.importorskip("triton", reason="triton is not installed: no GPU kernels to test")
import torch.distributed as dist  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402

from sbcompile.ir import Module, verify  # noqa: E402
from sbcompile.passes import PassContext, parse_pipeline  # noqa: E402
from sbcompile.targets.cuda.executor import Executor  # noqa: E402
from sbcompile.targets.cuda.machine import CudaMachine  # noqa: E402
from sbcompile.targets.cuda.sequence_parallel import SequenceParallelExecutor, incoming_state, token_ranges  # noqa: E402
from sbcompile.targets.cuda.torch_ops import OpState, gla as gla_reference  # noqa: E402
from tests.targets.handmade import tiny_lm  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
ON_GPU = os.environ.get("TRITON_INTERPRET") != "1"
LOGITS_TOL = 5e-2 if ON_GPU else 1e-4
STATE_TOL = 5e-3 if ON_GPU else 1e-5
DECODE = 2
SINGLE: dict = {}  # (build, args, ids) -> the single-process run, shared by the world sizes


def rel(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def small_gla_swa() -> Module:
    """A GLA block and a window-6 attention block (head_dim 32: the kernels apply)."""
    m = tiny_lm(seed=2, hidden=64, heads=2, kv_heads=1, window=6)
    ctx = PassContext(target="cuda", machine=CudaMachine())
    for p in parse_pipeline("cse,quantize,fuse-silu-mul"):
        p.run(m, ctx)
        verify(m)
    return m


def tiny_example(artifact: str) -> Module:
    from sbcompile.api import load
    return load(artifact).module


def decode_state(ex: Executor) -> dict[str, np.ndarray]:
    return {f"{i}.{k}": v.float().cpu().numpy() for i, s in sorted(ex.states.items()) for k, v in sorted(s.items())}


def greedy(ex: Executor, logits: np.ndarray) -> list[int]:
    tokens = [int(np.argmax(logits[-1]))]
    for _ in range(DECODE - 1):
        tokens.append(int(np.argmax(ex(np.array(tokens[-1:], np.int64))[-1])))
    return tokens


def rank_main(rank: int, world: int, build: Callable, args: tuple, ids: np.ndarray, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{out}/rendezvous", rank=rank, world_size=world)
    try:
        ex = SequenceParallelExecutor(build(*args))
        t0 = time.perf_counter()
        logits = ex(ids)
        seconds = time.perf_counter() - t0
        if ex.last:
            state = decode_state(ex)
            tokens = greedy(ex, logits)
            np.savez(f"{out}/last.npz", logits=logits, tokens=np.array(tokens), **state)
        (Path(out) / f"rank{rank}.json").write_text(json.dumps({"seconds": seconds, **ex.traffic()}))
    finally:
        dist.destroy_process_group()


def single_run(build: Callable, args: tuple, ids: np.ndarray) -> tuple:
    """One process's logits, decode state and greedy tokens (computed once per model and prompt)."""
    key = (build.__name__, args, ids.tobytes())
    if key not in SINGLE:
        single = Executor(build(*args))
        logits = single(ids)
        SINGLE[key] = logits, decode_state(single), greedy(single, logits)
    return SINGLE[key]


def check_spread(build: Callable, args: tuple, ids: np.ndarray, world: int, tmp: Path) -> dict:
    want, want_state, want_tokens = single_run(build, args, ids)
    out = tmp / f"w{world}"
    out.mkdir()
    mp.start_processes(rank_main, args=(world, build, args, ids, str(out)), nprocs=world, start_method="spawn")
    got = np.load(out / "last.npz")
    assert got["logits"].shape == want.shape and rel(got["logits"], want) < LOGITS_TOL, rel(got["logits"], want)
    for name, value in want_state.items():  # GLA states; window rings (keys, values, -inf mask of empty slots)
        ok = np.array_equal(got[name], value) if name.endswith("mask") else rel(got[name], value) < STATE_TOL
        assert ok, (name, rel(got[name], value))
    assert got["tokens"].tolist() == want_tokens
    return {r: json.loads((out / f"rank{r}.json").read_text()) for r in range(world)}


@pytest.mark.parametrize("world", [2, 4])
def test_small_gla_swa_model(world: int, tmp_path: Path) -> None:
    ids = np.arange(3, 3 + 13 * 17, 17, dtype=np.int64) % 256  # 13 tokens: ranges 6+7 or 3+3+3+4
    ranks = check_spread(small_gla_swa, (), ids, world, tmp_path)
    m = small_gla_swa()
    gla = next(op for op in m.ops if op.opdef.name == "seq.gla")
    swa = next(op for op in m.ops if op.opdef.name == "seq.window_attention")
    p, q = gla.params, swa.params
    sent = ranks[0]["per_layer"]
    assert sent[gla.results[0].name] == 4 * p.kv_heads * (p.head_dim * p.head_dim + p.head_dim)  # S_r and D_r
    assert sent[swa.results[0].name] == 4 * 2 * (q.window - 1) * q.kv_heads * q.head_dim  # last window-1 k, v
    assert all(r["ranks"] == world and r["backend"] == "gloo" for r in ranks.values())


@pytest.fixture(scope="module")
def tiny_artifact(tmp_path_factory) -> str:
    from sbcompile.api import compile
    out = tmp_path_factory.mktemp("tiny") / "out"
    return str(compile(str(ROOT / "examples/tiny"), target="cuda", calib=False, notes=False).save(out))


@pytest.mark.parametrize("world", [2, 4])
def test_tiny_example(world: int, tiny_artifact: str, tmp_path: Path) -> None:
    ids = np.array([ord(c) for c in "def f(x):"], np.int64)  # 9 tokens, all inside one window of 64
    check_spread(tiny_example, (tiny_artifact,), ids, world, tmp_path)


def test_exclusive_scan_is_the_recurrence() -> None:
    """Per-range increments and decays scanned over ranks give the state the token-by-token
    recurrence reaches (per-channel, data-dependent decay; GQA), at each range's start and end."""
    gen = torch.Generator().manual_seed(0)
    t, heads, hkv, d = 11, 4, 2, 8

    class P:
        pass
    p = P()
    p.heads, p.kv_heads, p.head_dim, p.scale = heads, hkv, d, 1.0
    q = torch.randn(t, heads * d, generator=gen)
    k, v = torch.randn(t, hkv * d, generator=gen), torch.randn(t, hkv * d, generator=gen)
    g = torch.nn.functional.logsigmoid(torch.randn(t, hkv * d, generator=gen) * 3)
    ranges = token_ranges(t, 3)
    incs, decays = [], []
    for a, b in ranges:
        ctx = OpState(lambda name: None, {}, 0)
        gla_reference(p, [q[a:b], k[a:b], v[a:b], g[a:b]], ctx)
        incs.append(ctx.state["S"][::heads // hkv])  # the per-query-head state: one per kv head
        decays.append(torch.exp(g[a:b].reshape(b - a, hkv, d).sum(0)))
    incs, decays = torch.stack(incs), torch.stack(decays)
    for r, (a, b) in enumerate(ranges):
        ctx = OpState(lambda name: None, {}, 0)
        gla_reference(p, [q[:a], k[:a], v[:a], g[:a]], ctx) if a else None
        want = ctx.state.get("S", torch.zeros(heads, d, d))[::heads // hkv]
        s_in = incoming_state(incs, decays, r)
        assert torch.allclose(s_in, want, atol=1e-5), r
    s_all = decays[-1][..., None] * incoming_state(incs, decays, 2) + incs[-1]
    ctx = OpState(lambda name: None, {}, 0)
    gla_reference(p, [q, k, v, g], ctx)
    assert torch.allclose(s_all, ctx.state["S"][::heads // hkv], atol=1e-5)
    assert token_ranges(13, 4) == [(0, 3), (3, 6), (6, 9), (9, 13)]


def test_command_line_under_torchrun(tiny_artifact: str, tmp_path: Path) -> None:
    """The documented launch (torchrun's module form): the last rank prints the summary line with
    ranks and backend and the bytes sent per layer; its saved logits and greedy tokens are the
    single-process run's; a prompt shorter than the ranks is one clear line, said before any collective."""
    ids = np.array([ord(c) for c in "def f(x):"], np.int64)
    want, _, want_tokens = single_run(tiny_example, (tiny_artifact,), ids)
    (tmp_path / "prompt.txt").write_text(" ".join(map(str, ids.tolist())))
    launch = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "-m", "sbcompile", "run", tiny_artifact]
    got = subprocess.run([*launch, "--tokens", str(tmp_path / "prompt.txt"), "--generate", str(DECODE),
                          "--save-logits", str(tmp_path / "logits.npy")], cwd=ROOT, capture_output=True, text=True)
    assert got.returncode == 0, got.stderr[-2000:]
    assert "sbcompile run: cuda on 2 ranks (gloo): prefill 9 tokens in" in got.stderr
    assert "sent per rank: 2 layers x 8,448 B (GLA state) + 2 layers x 32,256 B (window halo)" in got.stderr
    saved = np.load(tmp_path / "logits.npy")
    assert rel(saved[:len(ids)], want) < LOGITS_TOL
    assert [int(np.argmax(saved[len(ids) - 1 + i])) for i in range(DECODE)] == want_tokens
    (tmp_path / "short.txt").write_text("7")
    short = subprocess.run([*launch, "--tokens", str(tmp_path / "short.txt")], cwd=ROOT, capture_output=True, text=True)
    line = "sbcompile: error: a sequence-parallel prefill needs at least one token per rank: 1 tokens on 2 ranks\n"
    assert short.returncode != 0 and line in short.stderr  # before any collective (torchrun stops the other rank)
