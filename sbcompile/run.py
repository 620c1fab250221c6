"""`sbcompile run OUT ...`: run a compiled artifact on the target it was compiled for: prefill
the prompt, optionally generate greedily token by token, save logits, print activity."""

from __future__ import annotations

import argparse
import json
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import numpy as np

from sbcompile.artifact import MODULE_FILE, REPORT_JSON, check_file_output
from sbcompile.failures import OneLineParser
from sbcompile.ir import Module, SbirError, Type, verify
from sbcompile.ir.types import is_int

if TYPE_CHECKING:
    from sbcompile.targets.base import Session

EXAMPLES = """\
examples:
  sbcompile run out/ --text "def main(" --generate 40
  sbcompile run out/ --tokens prompt.txt --save-logits logits.npy --stats
  sbcompile run out/ --inputs spikes.npy --save-outputs out.npy     a spiking network (e.g. from NIR)
A tokens file holds whitespace-separated integers. --text needs a byte-level model (vocab 256).
"""


def run_parser() -> argparse.ArgumentParser:
    ap = OneLineParser(prog="sbcompile run", description="Run a compiled artifact on its target.",
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EXAMPLES)
    ap.add_argument("artifact", type=Path, help="an output directory written by `sbcompile ... -o OUT`")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--text", help="prompt text (byte-level models)")
    src.add_argument("--tokens", type=Path, metavar="FILE", help="prompt as whitespace-separated token ids")
    src.add_argument("--inputs", type=Path, metavar="FILE.npy", help="the input of a non-token module (a spiking "
                     "network, e.g. from NIR): an array [time, ...] matching its one input")
    ap.add_argument("--save-outputs", type=Path, metavar="FILE.npy", help="with --inputs: save the output [time, ...] "
                    "(spikes as counts)")
    ap.add_argument("--generate", type=int, default=0, metavar="N", help="then generate N tokens greedily")
    ap.add_argument("--save-logits", type=Path, metavar="FILE.npy", help="save logits, shape [tokens, vocab]")
    ap.add_argument("--stats", action="store_true", help="print spike activity per op (sparsity, silent channels)")
    ap.add_argument("--target", help="run on this target instead of the one the artifact was compiled for")
    ap.add_argument("--hardware", action="store_true", help="loihi2: run on a Loihi 2 system (Loihi2HwCfg, needs "
                    "Intel's lava-loihi) instead of Lava's fixed-point simulator")
    return ap


def load_artifact(directory: Path) -> tuple[Module, str]:
    from sbcompile.frontend import load_sbir

    if not (directory / MODULE_FILE).exists():
        raise SbirError(f"{directory}: not an sbcompile output directory (no {MODULE_FILE})")
    module = load_sbir(directory / MODULE_FILE)
    verify(module)
    return module, compiled_target(directory)


def compiled_target(directory: Path) -> str:
    """The target named by the artifact's report.json (ref when there is none)."""
    path = directory / REPORT_JSON
    if not path.exists():
        return "ref"
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise SbirError(f"{path}: not a readable report ({e})") from None
    target = report.get("target", "ref") if isinstance(report, dict) else None
    if not isinstance(target, str):
        raise SbirError(f"{path}: expected a JSON object whose 'target' is a name, got {str(report)[:60]}")
    return target


def check_run_options(args: argparse.Namespace) -> None:
    """Option values that no artifact can make right, refused before anything is loaded."""
    if args.generate < 0:
        raise SbirError(f"--generate must be 0 or more tokens, got {args.generate}")
    if args.text == "":
        raise SbirError("--text is empty: give at least one character of prompt")
    if args.inputs is not None and (args.generate or args.save_logits):
        raise SbirError("--generate and --save-logits drive token models; with --inputs use --save-outputs")
    if args.inputs is None and args.save_outputs:
        raise SbirError("--save-outputs goes with --inputs (a token model saves --save-logits)")
    for flag, path in (("--save-logits", args.save_logits), ("--save-outputs", args.save_outputs)):
        if path is not None:
            check_file_output(path, flag)


def the_input(module: Module) -> Type:
    """The type of the module's one input (what `run` feeds)."""
    inputs = module.inputs
    if len(inputs) != 1 or len(module.outputs) != 1:
        raise SbirError(f"module @{module.name}: `run` drives modules with one input and one output "
                        f"(this one has {len(inputs)} inputs, {len(module.outputs)} outputs)")
    return inputs[0].results[0].type


def prompt_tokens(args: argparse.Namespace, module: Module) -> np.ndarray:
    """The prompt's token ids, checked against the module: a token input, ids inside the vocabulary."""
    t = the_input(module)
    if t.rank != 1 or not is_int(t.dtype):
        raise SbirError(f"module @{module.name} takes {t}, not token ids: run it with --inputs FILE.npy")
    if args.text is not None:
        if module.attrs.get("tokenizer") != "bytes":
            raise SbirError(f"module @{module.name} has no byte-level tokenizer; give --tokens FILE")
        tokens = np.frombuffer(args.text.encode("utf-8"), np.uint8).astype(np.int32)
    else:
        try:
            ids = [int(t) for t in args.tokens.read_text().split()]
        except (OSError, ValueError, UnicodeDecodeError) as e:
            raise SbirError(f"{args.tokens}: cannot read token ids ({e})") from None
        if not ids:
            raise SbirError(f"{args.tokens}: no token ids in the file")
        tokens = np.array(ids, np.int64)
    vocab = module.attrs.get("vocab")
    low, high = (0, vocab) if isinstance(vocab, int) else (0, 2**31)
    if tokens.min() < low or tokens.max() >= high:
        raise SbirError(f"token ids must lie in [{low}, {high}); got {tokens.min()}..{tokens.max()}")
    return tokens.astype(np.int32)


def input_array(path: Path, module: Module) -> np.ndarray:
    """An --inputs array, checked against the module's input type: rank, static widths, finite values."""
    t = the_input(module)
    if t.rank == 1 and is_int(t.dtype):
        raise SbirError(f"module @{module.name} takes token ids ({t}): run it with --text or --tokens FILE")
    try:
        x = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise SbirError(f"{path}: cannot read a .npy array ({e})") from None
    want = "[time, " + ", ".join(map(str, t.shape[1:])) + "]"
    if x.ndim != t.rank or x.shape[0] < 1 or any(isinstance(d, int) and d != n for d, n in zip(t.shape[1:], x.shape[1:])):
        raise SbirError(f"{path}: array of shape {list(x.shape)} does not match the module's input "
                        f"{t} (expected {want}, time at least 1)")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise SbirError(f"{path}: array of {x.dtype}, expected numbers")
    x = x.astype(np.float32)
    if not np.isfinite(x).all():
        raise SbirError(f"{path}: the array holds NaN or infinite values")
    return x


def warn_past_context(module: Module, tokens: int) -> None:
    """A prompt longer than the context the model was trained on still runs, with a warning."""
    context = module.attrs.get("context")
    if isinstance(context, int) and tokens > context:
        print(f"sbcompile run: warning: {tokens} tokens exceed the {context} tokens @{module.name} was trained on; "
              "outputs past that are extrapolation", file=sys.stderr)


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


def open_session(target_name: str, args: argparse.Namespace, module: Module) -> Session:
    from sbcompile.targets import TARGETS

    if target_name not in TARGETS:
        raise SbirError(f"unknown target '{target_name}'; available targets: {', '.join(sorted(TARGETS))}")
    return TARGETS[target_name](hardware=args.hardware).open(args.artifact, module)


@contextmanager
def running(session: Session) -> Iterator[Session]:
    """The session, shut down however the block ends (Lava's processes would otherwise outlive it)."""
    try:
        yield session
    finally:
        close = getattr(session, "close", None)
        if close is not None:
            close()


def run_main(argv: list[str]) -> int:
    args = run_parser().parse_args(argv)
    check_run_options(args)
    module, target_name = load_artifact(args.artifact)
    target_name = args.target or target_name
    if args.inputs is not None:
        x = input_array(args.inputs, module)
        with running(open_session(target_name, args, module)) as session:
            return run_inputs(args, session, target_name, x, module)
    tokens = prompt_tokens(args, module)
    warn_past_context(module, len(tokens) + args.generate)
    with running(open_session(target_name, args, module)) as session:
        return run_tokens(args, session, target_name, tokens, module)


def run_tokens(args: argparse.Namespace, session: Session, target_name: str, tokens: np.ndarray, module: Module) -> int:
    """Prefill the prompt, then generate greedily token by token."""
    t0 = time.perf_counter()
    logits = [in_output_layout(np.asarray(session(tokens)), module, len(tokens))]
    t_prefill = time.perf_counter() - t0
    generated: list[int] = []
    t1 = time.perf_counter()
    for i in range(args.generate):
        generated.append(int(np.argmax(logits[-1][-1])))
        if i + 1 < args.generate:  # the last token's own logits are not needed
            logits.append(in_output_layout(np.asarray(session(np.array(generated[-1:], np.int32))), module, 1))
    t_decode = time.perf_counter() - t1
    if args.save_logits:
        args.save_logits.parent.mkdir(parents=True, exist_ok=True)
        np.save(args.save_logits, np.concatenate(logits).astype(np.float32))
    if generated:
        if module.attrs.get("tokenizer") == "bytes":
            sys.stdout.write(bytes(generated).decode("utf-8", errors="replace") + "\n")
        else:
            sys.stdout.write(" ".join(map(str, generated)) + "\n")
    rate = f", decode {len(generated) / t_decode:.1f} tok/s" if generated else ""
    print(f"sbcompile run: {getattr(session, 'summary', target_name)}: prefill {len(tokens)} tokens in {t_prefill:.3f} s{rate}",
          file=sys.stderr)
    if args.stats:
        print(format_activity(session.activity()), file=sys.stderr)
    return 0


def run_inputs(args: argparse.Namespace, session: Session, target_name: str, x: np.ndarray, module: Module) -> int:
    """Run a non-token module (a spiking network) on an array of inputs, time first."""
    t0 = time.perf_counter()
    out = in_output_layout(np.asarray(session(x)), module, x.shape[0])
    took = time.perf_counter() - t0
    if args.save_outputs:
        args.save_outputs.parent.mkdir(parents=True, exist_ok=True)
        np.save(args.save_outputs, out.astype(np.float32))
    print(f"sbcompile run: {getattr(session, 'summary', target_name)}: {x.shape[0]} steps in {took:.3f} s; output {list(out.shape)}, "
          f"sum {float(out.sum()):g}", file=sys.stderr)
    if args.stats:
        print(format_activity(session.activity()), file=sys.stderr)
    return 0


def format_activity(act: dict) -> str:
    t = act.get("total") or {}
    if not t:
        return "no spiking ops ran"
    lines = [f"spike activity: sparsity {t['sparsity']:.1%} (bitwise, 3-step window; the paper reports 69.15% for 7B), "
             f"{t['bitwise_spikes_per_channel']:.2f} bitwise spikes/channel (paper: 1.13), zero counts "
             f"{t['zero_fraction']:.1%}, silent channels {t['silent_channel_fraction']:.1%}"]
    width = max(len(n) for n in act["ops"]) + 2
    lines.append(f"  {'op':<{width}} {'sparsity':>8} {'zeros':>7} {'|s|/ch':>7} {'bits/ch':>7} {'<=7':>7} {'silent':>7} {'max':>5}")
    for name, s in act["ops"].items():
        lines.append(f"  {'%' + name:<{width}} {s['sparsity']:8.1%} {s['zero_fraction']:7.1%} {s['spikes_per_channel']:7.2f} "
                     f"{s['bitwise_spikes_per_channel']:7.2f} {s['share_le_7']:7.1%} {s['silent_channels']:7d} {s['max_count']:5d}")
    return "\n".join(lines)
