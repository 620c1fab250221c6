"""The `cuda` target end to end on the handmade test model and examples/tiny: per-op differences
from the reference interpreter (each op fed the reference's inputs), logits differences over
prefill + decode, and wall-clock prefill / decode rates of the session (Python-driven, one kernel
launch per op: a correctness harness, not a throughput figure); then the same for the compiled plan
(executor.py), in float32 and bf16, with greedy tokens compared.

    python3 benchmarks/gpu/target_tiny.py [--tiny OUT]   (OUT: `sbcompile examples/tiny -t cuda -o OUT`)"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sbcompile.ir import verify  # noqa: E402
from sbcompile.ir.dialects.io import Input  # noqa: E402
from sbcompile.ir.dialects.syn import Dense  # noqa: E402
from sbcompile.ir.interpreter import Interpreter  # noqa: E402
from sbcompile.ir.runtime import SpikeArray  # noqa: E402
from sbcompile.passes import PassContext, parse_pipeline  # noqa: E402
from sbcompile.targets import TARGETS  # noqa: E402
from sbcompile.targets.cuda.executor import Executor  # noqa: E402
from sbcompile.targets.cuda.machine import CudaMachine  # noqa: E402
from sbcompile.targets.cuda.session import CudaSession  # noqa: E402
from tests.targets.handmade import tiny_lm  # noqa: E402


def feed(module, tokens) -> dict:
    return {module.inputs[0].params.name: tokens}


def rel(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def per_op(module, tokens) -> None:
    seen, values = [], {}

    def observe(op, args, outs):
        seen.append((op, args, outs))
        values[op.results[0].name] = outs[0]

    Interpreter(module, observer=observe)(**feed(module, tokens))
    s = CudaSession(module)
    worst: dict[str, float] = {}
    exact: dict[str, list[int]] = {}
    for i, (op, args, outs) in enumerate(seen):
        step = s.steps[i]
        if step.kernel == "fused" or op.isa(Input):
            continue
        (got,) = s.run_one(i, args, env=values)
        key = f"{op.name} [{step.kernel}]"
        if isinstance(outs[0], SpikeArray):
            ok = np.array_equal(got.counts, outs[0].counts) and np.array_equal(got.scale, outs[0].scale)
            exact.setdefault(key, [0, 0])[0] += ok
            exact[key][1] += 1
        elif op.isa(Dense) and op.params.scale is not None:
            exact.setdefault(key, [0, 0])[0] += bool(np.array_equal(got, outs[0]))
            exact[key][1] += 1
        else:
            worst[key] = max(worst.get(key, 0.0), rel(got, outs[0]))
    for k, (a, n) in sorted(exact.items()):
        print(f"  {k:40s} bit-exact {a}/{n}")
    for k, v in sorted(worst.items()):
        print(f"  {k:40s} max rel diff {v:.1e}")
    print("  kernel calls:", s.kernel_calls)


def end_to_end(module, tokens, decode: int) -> None:
    ref, s = Interpreter(module), CudaSession(module)
    (want,) = ref(**feed(module, tokens))
    got = s(tokens)
    diffs = [rel(got, want)]
    nxt = int(np.argmax(want[-1]))
    for _ in range(decode):
        (want,) = ref(**feed(module, np.array([nxt], np.int32)))
        got = s(np.array([nxt], np.int32))
        diffs.append(rel(got, want))
        nxt = int(np.argmax(want[-1]))
    print(f"  logits rel diff: prefill {diffs[0]:.1e}, decode max {max(diffs[1:]):.1e}")
    s.reset()
    s(tokens)  # warm (autotuning)
    s.reset()
    t0 = time.perf_counter()
    s(tokens)
    t1 = time.perf_counter()
    for _ in range(decode):
        s(np.array([nxt], np.int32))
    t2 = time.perf_counter()
    print(f"  session: prefill {len(tokens)} tokens {1e3 * (t1 - t0):.1f} ms, decode {decode / (t2 - t1):.1f} tok/s")


def plan(module, tokens, decode: int) -> None:
    """The compiled plan (executor.py) against the interpreter: float32 and bf16 activations, logits
    over prefill and decode steps fed the interpreter's greedy tokens (both sides see the same inputs),
    and how often the plan's argmax is the interpreter's; then its speed (decode: CUDA-graph replays)."""
    import torch
    for dtype in (torch.float32, torch.bfloat16):
        ref, ex = Interpreter(module), Executor(module, dtype=dtype, record_activity=False)
        (want,) = ref(**feed(module, tokens))
        got = ex(tokens)
        diffs, same = [rel(got, want)], [int(np.argmax(want[-1])) == int(np.argmax(got[-1]))]
        for _ in range(decode):
            nxt = np.array([int(np.argmax(want[-1]))], np.int32)
            (want,) = ref(**feed(module, nxt))
            got = ex(nxt)
            diffs.append(rel(got, want))
            same.append(int(np.argmax(want[-1])) == int(np.argmax(got[-1])))
        print(f"  plan {str(dtype)[6:]}: logits rel diff prefill {diffs[0]:.1e}, decode max {max(diffs[1:]):.1e}; "
              f"argmax equal {sum(same)}/{len(same)}")
    ex.reset()
    ex(tokens)
    ex.reset()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    out = ex(tokens)
    t1 = time.perf_counter()
    nxt = np.array([int(np.argmax(out[-1]))], np.int32)
    for _ in range(decode):
        nxt = np.array([int(np.argmax(ex(nxt)[-1]))], np.int32)
    t2 = time.perf_counter()
    print(f"  plan bf16: prefill {len(tokens)} tokens {1e3 * (t1 - t0):.1f} ms, decode {decode / (t2 - t1):.1f} tok/s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tiny", type=Path, help="an examples/tiny artifact compiled for cuda")
    args = ap.parse_args()
    import torch
    print("device:", torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu (interpreter)")
    m = tiny_lm(seed=1, hidden=64, heads=2, kv_heads=1, window=4)
    ctx = PassContext(target="cuda", machine=CudaMachine())
    for p in parse_pipeline(TARGETS["cuda"].default_pipeline):
        p.run(m, ctx)
        verify(m)
    rng = np.random.default_rng(0)
    print("handmade tiny_lm(hidden=64), 64 tokens:")
    per_op(m, rng.integers(0, 256, 64).astype(np.int32))
    end_to_end(m, rng.integers(0, 256, 64).astype(np.int32), 16)
    plan(m, rng.integers(0, 256, 64).astype(np.int32), 16)
    if args.tiny:
        from sbcompile.run import load_artifact
        module, _ = load_artifact(args.tiny)
        text = np.frombuffer(b"def main(argv):\n    return " * 8, np.uint8).astype(np.int32)
        print(f"examples/tiny, {len(text)} tokens:")
        per_op(module, text)
        end_to_end(module, text, 32)
        plan(module, text, 32)


if __name__ == "__main__":
    main()
