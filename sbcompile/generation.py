"""Running a session of a compiled artifact: the prompt as token ids, prefill then generation
(greedy or sampled, ending at a stop text), or a spiking network's inputs, and what the run
returns (`RunResult`). `Artifact.run` and `sbcompile run` both drive sessions through these."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from sbcompile.ir import Module, SbirError
from sbcompile.progress import Progress
from sbcompile.sampling import Sampler


@dataclass
class RunResult:
    """What `Artifact.run` returns. `logits`: one row per token fed ([prompt + generated - 1,
    vocab]), or for a module without token input its output per time step (as `outputs`).
    `tokens`/`text`: the generated tokens and their text (byte-level models; the prompt is not
    included); `stats`: the spike activity the run recorded (`total` and per op)."""

    logits: np.ndarray
    tokens: np.ndarray
    text: str | None
    stats: dict[str, Any]
    prompt: np.ndarray | None = None
    outputs: np.ndarray | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    session: str = ""  # what ran it (the session's summary)


def encode_prompt(module: Module, text: str | None, tokens: Sequence[int] | np.ndarray | None) -> np.ndarray:
    """The prompt as token ids: `text` as UTF-8 bytes (byte-level models), or `tokens`."""
    if (text is None) == (tokens is None):
        raise SbirError("give the prompt as text or as tokens (one of them)")
    if text is not None:
        if module.attrs.get("tokenizer") != "bytes":
            raise SbirError(f"module @{module.name} has no byte-level tokenizer; give token ids")
        ids = np.frombuffer(text.encode("utf-8"), np.uint8).astype(np.int32)
    else:
        ids = np.asarray(tokens).astype(np.int32).reshape(-1)
    if ids.size == 0:
        raise SbirError("the prompt is empty")
    vocab = module.attrs.get("vocab")
    if isinstance(vocab, int) and (ids.min() < 0 or ids.max() >= vocab):
        raise SbirError(f"token ids must lie in [0, {vocab}); got {ids.min()}..{ids.max()}")
    return ids


def decode_tokens(module: Module, ids: Sequence[int]) -> str | None:
    """Text of byte-level token ids (invalid UTF-8 replaced); None for other tokenizers."""
    if module.attrs.get("tokenizer") != "bytes":
        return None
    return bytes(int(i) for i in ids).decode("utf-8", errors="replace")


def stop_reached(module: Module, generated: list[int], stop: str | None) -> bool:
    """Whether the generated tokens end with `stop` (text for byte-level models, else token ids)."""
    if not stop:
        return False
    if module.attrs.get("tokenizer") == "bytes":
        return bytes(generated).endswith(stop.encode("utf-8"))
    ids = [int(t) for t in stop.split()]
    return len(generated) >= len(ids) and generated[-len(ids):] == ids


def run_tokens(session: Any, name: str, module: Module, prompt: np.ndarray, generate: int, sampler: Sampler,
               stop: str | None, progress: Progress) -> RunResult:
    """Prefill, then generate up to `generate` tokens; `progress(what, fraction)` after each call."""
    steps = 1 + max(generate - 1, 0)
    progress(f"prefill {len(prompt)} tokens", 0.0)
    t0 = time.perf_counter()
    logits = [np.asarray(session(prompt))]
    t_prefill = time.perf_counter() - t0
    generated: list[int] = []
    t1 = time.perf_counter()
    for i in range(generate):
        generated.append(sampler(logits[-1][-1]))
        progress(f"generated {i + 1} of {generate}", (i + 1) / steps)
        if i + 1 == generate or stop_reached(module, generated, stop):
            break  # the last token's own logits are not needed
        logits.append(np.asarray(session(np.array(generated[-1:], np.int32))))
    t_decode = time.perf_counter() - t1
    text = decode_tokens(module, generated)
    if text is not None and stop and stop_reached(module, generated, stop):
        text = text[: len(text) - len(stop)] if text.endswith(stop) else text
    return RunResult(np.concatenate(logits).astype(np.float32), np.array(generated, np.int32), text,
                     session.activity(), prompt=prompt,
                     seconds={"prefill": t_prefill, "decode": t_decode if generated else 0.0},
                     session=getattr(session, "summary", name))


def reference_activity(module: Module, x: np.ndarray, target: str) -> dict[str, Any]:
    """Spike activity of a run whose target records none (Lava's built-in LIF neurons keep their
    spikes to themselves): the interpreter's on the same inputs, which its outputs equal."""
    from sbcompile.targets.ref import RefSession

    ref = RefSession(module)
    ref(x.astype(np.float32))
    return {**ref.activity(), "source": f"the reference interpreter on the same inputs; {target} equals it exactly"}


def run_inputs(session: Any, name: str, x: np.ndarray) -> RunResult:
    """A module without token input (a spiking network) on inputs [time, ...]."""
    t0 = time.perf_counter()
    out = np.asarray(session(x.astype(np.float32))).astype(np.float32)
    took = time.perf_counter() - t0
    return RunResult(out, np.zeros(0, np.int32), None, session.activity(), outputs=out,
                     seconds={"run": took}, session=getattr(session, "summary", name))
