"""Issue 11, benchmark 4: decode tokens/s at 128k context, batch 1, of the SpikingBrain-7B shape built
from our Triton kernels vs a Qwen2.5-7B-shaped bf16 transformer with a static KV cache, each run eagerly
(Python launches every kernel) and as a replayed CUDA graph of one decode step (layers7b.py says what
each side runs).

    python3 benchmarks/gpu/decode_7b.py [--context 131072] [--steps 128]

Why: per token, a transformer reads all its weights and a KV cache that grows with the context; ours
reads int8 weights and a fixed state (a GLA state per GLA layer, a 4096-entry window per SWA layer).
Theirs attends a ring of `context` cached positions every step (graph-capturable: fixed shapes, the
write slot is a device tensor); ours attends its 4096-entry window. The states are random, as after
a prefill of `context` tokens. Each side's decode attention is the fastest SDPA setting found on the
device for its cache length. First checks: ours' eager steps vs their graph replay on a small shape
(same tokens, same logits), and layers7b.check (ours vs sbcompile.models)."""

from __future__ import annotations

import argparse
import time
from typing import Callable

import torch
import triton
from torch.nn.attention import SDPBackend
from triton.testing import do_bench_cudagraph

from layers7b import (CHECK_SHAPE, Decoder, Model, OursDecoder, Shape, TheirDecoder, build_ours, build_theirs, check,
                      decode_sdpa, random_cache, random_states, rel)

BACKENDS = {"flash": SDPBackend.FLASH_ATTENTION, "efficient": SDPBackend.EFFICIENT_ATTENTION,
            "cudnn": SDPBackend.CUDNN_ATTENTION, "math": SDPBackend.MATH}


def pick_attention(length: int, shape: Shape) -> tuple[tuple[SDPBackend, bool], str, dict[str, float]]:
    """The fastest one-query SDPA setting over a cache of `length` positions (graph replays, one layer)."""
    gen = torch.Generator("cuda").manual_seed(0)
    rep = shape.heads // shape.kv_heads
    q = torch.randn(1, shape.kv_heads, rep, shape.head_dim, device="cuda", generator=gen, dtype=torch.bfloat16)
    k, v = (torch.randn(1, shape.kv_heads, length, shape.head_dim, device="cuda", generator=gen,
                        dtype=torch.bfloat16) for _ in range(2))
    ref = decode_sdpa(SDPBackend.MATH, False)(q.float(), k.float(), v.float())
    times, settings = {}, {}
    for name, backend in BACKENDS.items():
        for gqa in (False, True):
            key = f"{name}, {'enable_gqa' if gqa else 'query rows'}"
            fn = decode_sdpa(backend, gqa)
            try:
                if rel(fn(q, k, v).float(), ref) > 1e-2:
                    continue
                times[key] = do_bench_cudagraph(lambda: fn(q, k, v), rep=100, return_mode="median")
                settings[key] = (backend, gqa)
            except RuntimeError as e:
                print(f"  {key}: unavailable ({str(e).splitlines()[0][:80]})")
    best = min(times, key=times.get)
    return settings[best], best, times


def graphed(step: Callable[[], None]) -> Callable[[], None]:
    """Capture one call of `step` (warmed up on a side stream first) and return the graph's replay."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(2):
            step()
    torch.cuda.current_stream().wait_stream(side)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        step()
    return g.replay


def rate(fn: Callable[[], None], steps: int) -> float:
    """Tokens per second over `steps` calls, after three warm-up calls."""
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    torch.cuda.synchronize()
    return steps / (time.perf_counter() - t0)


def nbytes(*tensors: torch.Tensor | None) -> int:
    return sum(t.numel() * t.element_size() for t in tensors if t is not None)


def bytes_per_token(d: Decoder) -> int:
    """What one step must move at least: every weight once (embedding: one row), the states read and written
    (GLA) or read (caches)."""
    m = d.m
    w = nbytes(m.norm, m.lm_head) + m.embed[0].numel() * m.embed.element_size()
    for p in m.layers:
        for f in vars(p).values():
            w += nbytes(f.w, f.scale, f.bias) if hasattr(f, "scale") else nbytes(f)
    if isinstance(d, OursDecoder):
        return w + sum(2 * nbytes(s) if isinstance(s, torch.Tensor) else nbytes(*s) for s in d.states)
    return w + sum(nbytes(*c) for c in d.cache)


def graph_check(steps: int = 8) -> str:
    """Ours and theirs on the small shape: an eager decoder and a graph-replayed one from equal states."""
    out = []
    for name in ("ours", "theirs"):
        if name == "ours":
            m = build_ours(CHECK_SHAPE, "cuda", seed=5)
            make = lambda: OursDecoder(m, random_states(m, 256), 256, decode_sdpa(None, False))
        else:
            m = build_theirs(CHECK_SHAPE, "cuda", seed=7)
            make = lambda: TheirDecoder(m, random_cache(m, 256), 256, 256, decode_sdpa(None, False))
        eager, graph = make(), make()
        replay = graphed(graph.step)  # two warm-up steps run; the capture runs nothing
        for _ in range(2):
            eager.step()
        toks, worst = [], 0.0
        for _ in range(steps):
            eager.step()
            replay()
            toks.append(bool(torch.equal(eager.tok, graph.tok)))
            worst = max(worst, rel(graph.logits.float(), eager.logits.float()))
        out.append(f"{name}: tokens equal {all(toks)}, logits rel. diff {worst:.1e}")
    return "; ".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--context", type=int, default=131072, help="tokens already in context")
    ap.add_argument("--steps", type=int, default=128, help="timed decode steps per mode")
    ap.add_argument("--layers", type=int, default=28, help="fewer for a smoke run")
    ap.add_argument("--no-check", action="store_true", help="skip the small-shape checks")
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    print(f"device: {torch.cuda.get_device_name()}  torch {torch.__version__}  triton {triton.__version__}", flush=True)
    if not args.no_check:
        print("check, rel. diff of logits vs sbcompile.models in float32:", check("cuda", torch.bfloat16), flush=True)
        print("eager vs CUDA graph:", graph_check(), flush=True)
    shape = Shape(layers=args.layers)
    runs: dict[str, tuple[Model, Callable[[Model, Callable], Decoder], int]] = {
        "theirs (Qwen2.5-7B shape, bf16)": (build_theirs(shape, "cuda"), lambda m, a: TheirDecoder(
            m, random_cache(m, args.context), args.context, args.context, a), args.context),
        "ours (SpikingBrain-7B, Triton)": (build_ours(shape, "cuda"), lambda m, a: OursDecoder(
            m, random_states(m, args.context), args.context, a), shape.window),
    }
    rows = []
    for name, (m, make, length) in runs.items():
        setting, best, times = pick_attention(length, shape)
        print(f"{name}: decode attention over {length} positions (us per layer): "
              + ", ".join(f"{k} {1e3 * v:.1f}" for k, v in times.items()) + f" -> {best}", flush=True)
        d = make(m, decode_sdpa(*setting))
        eager = rate(d.step, args.steps)
        graph = rate(graphed(d.step), args.steps)
        rows.append((name, eager, graph, bytes_per_token(d)))
        print(f"  eager {eager:.1f} tok/s, graph {graph:.1f} tok/s", flush=True)
        del d
        torch.cuda.empty_cache()
    print(f"\ncontext {args.context} tokens, batch 1, {args.steps} greedy steps per mode\n")
    print("| model | eager tok/s | CUDA graph tok/s | graph ms/token | min bytes/token GB | GB/s at graph rate |")
    print("|---|---|---|---|---|---|")
    for name, eager, graph, b in rows:
        print(f"| {name} | {eager:.1f} | {graph:.1f} | {1e3 / graph:.2f} | {b / 1e9:.2f} | {b * graph / 1e9:.0f} |")
    (_, te, tg, _), (_, oe, og, _) = rows
    print(f"| ratio ours / theirs | {oe / te:.2f}x | {og / tg:.2f}x | | | |")


if __name__ == "__main__":
    main()
