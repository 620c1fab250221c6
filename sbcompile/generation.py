"""Running a session of a compiled artifact: the prompt as token ids, prefill then generation
(greedy or sampled, ending at a stop text), or a spiking network's inputs, and what the run
returns (`RunResult`). `Artifact.run` and `sbcompile run` both drive sessions through these."""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import numpy as np

from sbcompile.ir import Module, SbirError
from sbcompile.progress import Progress
from sbcompile.sampling import Sampler
from sbcompile.tokenizer import TextCodec


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


@contextmanager
def running(session: Any) -> Iterator[Any]:
    """The session, shut down however the block ends (Lava's processes would otherwise outlive it);
    None: nothing to shut down."""
    try:
        yield session
    finally:
        close = getattr(session, "close", None)
        if close is not None:
            close()


def encode_prompt(module: Module, codec: TextCodec | None, text: str | None,
                  tokens: Sequence[int] | np.ndarray | None) -> np.ndarray:
    """The prompt as token ids: `text` through the model's tokenizer (`codec`), or `tokens`."""
    if (text is None) == (tokens is None):
        raise SbirError("give the prompt as text or as tokens (one of them)")
    if text is not None:
        if codec is None:
            raise SbirError(f"module @{module.name} has no tokenizer; give --tokens FILE (token ids)")
        ids = np.asarray(codec.encode(text), np.int32)
        if ids.size == 0:
            raise SbirError("--text encodes to no tokens")
    else:
        ids = np.asarray(tokens).astype(np.int32).reshape(-1)
    if ids.size == 0:
        raise SbirError("the prompt is empty")
    vocab = module.attrs.get("vocab")
    if isinstance(vocab, int) and (ids.min() < 0 or ids.max() >= vocab):
        raise SbirError(f"token ids must lie in [0, {vocab}); got {ids.min()}..{ids.max()}")
    return ids


def decode_tokens(codec: TextCodec | None, ids: Sequence[int]) -> str | None:
    """Text of token ids through the model's tokenizer; None for a model without one."""
    return None if codec is None else codec.decode([int(i) for i in ids])


def stop_reached(codec: TextCodec | None, generated: list[int], stop: str | None) -> bool:
    """Whether the generated tokens end with `stop` (text for a model with a tokenizer, else token ids)."""
    if not stop:
        return False
    if codec is not None:
        return codec.decode(generated).endswith(stop)
    ids = [int(t) for t in stop.split()]
    return len(generated) >= len(ids) and generated[-len(ids):] == ids


def run_tokens(session: Any, name: str, codec: TextCodec | None, prompt: np.ndarray, generate: int, sampler: Sampler,
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
        if i + 1 == generate or stop_reached(codec, generated, stop):
            break  # the last token's own logits are not needed
        logits.append(np.asarray(session(np.array(generated[-1:], np.int32))))
    t_decode = time.perf_counter() - t1
    text = decode_tokens(codec, generated)
    if text is not None and stop and stop_reached(codec, generated, stop):
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


def in_output_layout(out: np.ndarray, module: Module, steps: int) -> np.ndarray:
    """Every target's output as the module's output type states it, with `seq` = steps: the ref
    and loihi2 targets give the same array for the same network."""
    dims = module.outputs[0].type.shape[1:]
    if all(isinstance(d, int) for d in dims):
        shape = (steps, *dims)
        if out.size != int(np.prod(shape)):
            raise SbirError(f"the target returned {list(out.shape)} for an output of type {module.outputs[0].type} "
                            f"over {steps} steps")
        return out.reshape(shape)
    return out


def run_inputs(session: Any, name: str, module: Module, x: np.ndarray) -> RunResult:
    """A module without token input (a spiking network) on inputs [time, ...]."""
    t0 = time.perf_counter()
    out = in_output_layout(np.asarray(session(x.astype(np.float32))), module, len(x)).astype(np.float32)
    took = time.perf_counter() - t0
    return RunResult(out, np.zeros(0, np.int32), None, session.activity(), outputs=out,
                     seconds={"run": took}, session=getattr(session, "summary", name))
