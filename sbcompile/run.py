"""`sbcompile run OUT ...`: run a compiled artifact on the target it was compiled for: prefill
the prompt, generate token by token (greedy or sampled) or show the next-token prediction, save
logits, print activity. A thin layer over `sbcompile.api`'s `load` and `Artifact.run`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from sbcompile.artifact import REPORT_JSON, check_file_output
from sbcompile.failures import OneLineParser
from sbcompile.generation import running
from sbcompile.ir import Module, SbirError, Type
from sbcompile.ir.types import is_int
from sbcompile.progress import Progress

EXAMPLES = """\
examples:
  sbcompile run out/ --text "def main(" --generate 40
  sbcompile run out/ --text "def main(" --generate 80 --temperature 0.8 --top-k 20 --seed 1 --stop $'\\n\\n'
  sbcompile run out/ --tokens prompt.txt --save-logits logits.npy --stats
  sbcompile run out/ --inputs spikes.npy --save-outputs out.npy     a spiking network (e.g. from NIR)
  torchrun --nproc-per-node 4 -m sbcompile run out/ --tokens long.txt   cuda: prefill split over 4 GPUs
A tokens file holds whitespace-separated integers. --text needs a tokenizer: the checkpoint's own
(carried into the artifact as tokenizer.json) or a byte-level model's (vocab 256).
"""


def run_parser() -> argparse.ArgumentParser:
    ap = OneLineParser(prog="sbcompile run", description="Run a compiled artifact on its target.",
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EXAMPLES)
    ap.add_argument("artifact", type=Path, help="an output directory written by `sbcompile ... -o OUT`")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--text", help="prompt text (encoded with the model's tokenizer)")
    src.add_argument("--tokens", type=Path, metavar="FILE", help="prompt as whitespace-separated token ids")
    src.add_argument("--inputs", type=Path, metavar="FILE.npy", help="the input of a non-token module (a spiking "
                     "network, e.g. from NIR): an array [time, ...] matching its one input")
    ap.add_argument("--save-outputs", type=Path, metavar="FILE.npy", help="with --inputs: save the output [time, ...] "
                    "(spikes as counts)")
    ap.add_argument("--generate", type=int, default=0, metavar="N", help="then generate N tokens (greedily unless "
                    "--temperature); without it, show the next-token prediction")
    ap.add_argument("--save-logits", type=Path, metavar="FILE.npy", help="save logits, shape [tokens, vocab]")
    ap.add_argument("--stats", action="store_true", help="print spike activity per op (sparsity, silent channels)")
    add_sampling_options(ap)
    ap.add_argument("--target", help="run on this target instead of the one the artifact was compiled for")
    ap.add_argument("--hardware", action="store_true", help="loihi2: run on a Loihi 2 system (Loihi2HwCfg, needs "
                    "Intel's lava-loihi) instead of Lava's fixed-point simulator")
    return ap


def load_artifact(directory: Path) -> tuple[Module, str]:
    from sbcompile.api import load

    art = load(directory)
    return art.module, art.target


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


def check_report(directory: Path) -> None:
    """An artifact's report.json, if there is one, must be a JSON object naming its target."""
    path = directory / REPORT_JSON
    if not path.exists():
        return
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise SbirError(f"{path}: not a readable report ({e})") from None
    if not isinstance(report, dict) or not isinstance(report.get("target", "ref"), str):
        raise SbirError(f"{path}: expected a JSON object whose 'target' is a name, got {str(report)[:60]}")


def the_input(module: Module) -> Type:
    """The type of the module's one input (what `run` feeds)."""
    inputs = module.inputs
    if len(inputs) != 1 or len(module.outputs) != 1:
        raise SbirError(f"module @{module.name}: `run` drives modules with one input and one output "
                        f"(this one has {len(inputs)} inputs, {len(module.outputs)} outputs)")
    return inputs[0].results[0].type


def prompt_tokens(args: argparse.Namespace, art: Any) -> np.ndarray:
    """The prompt's token ids, checked against the module: a token input, ids inside the vocabulary."""
    from sbcompile.generation import encode_prompt

    t = the_input(art.module)
    if t.rank != 1 or not is_int(t.dtype):
        raise SbirError(f"module @{art.module.name} takes {t}, not token ids: run it with --inputs FILE.npy")
    if args.text is not None:
        return encode_prompt(art.module, art.codec, args.text, None)
    try:
        ids = [int(t) for t in args.tokens.read_text().split()]
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise SbirError(f"{args.tokens}: cannot read token ids ({e})") from None
    if not ids:
        raise SbirError(f"{args.tokens}: no token ids in the file")
    return encode_prompt(art.module, art.codec, None, ids)


def input_array(path: Path, module: Module) -> np.ndarray:
    """An --inputs array, checked against the module's input type (frontend/inputs.py)."""
    from sbcompile.frontend.inputs import check_inputs

    t = the_input(module)
    if t.rank == 1 and is_int(t.dtype):
        raise SbirError(f"module @{module.name} takes token ids ({t}): run it with --text or --tokens FILE")
    try:
        x = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise SbirError(f"{path}: cannot read a .npy array ({e})") from None
    return check_inputs(module, x, str(path)).astype(np.float32)


def warn_past_context(module: Module, tokens: int) -> None:
    """A prompt longer than the context the model was trained on still runs, with a warning."""
    context = module.attrs.get("context")
    if isinstance(context, int) and tokens > context:
        print(f"sbcompile run: warning: {tokens} tokens exceed the {context} tokens @{module.name} was trained on; "
              "outputs past that are extrapolation", file=sys.stderr)


def run_main(argv: list[str]) -> int:
    from sbcompile.api import load

    args = run_parser().parse_args(argv)
    check_run_options(args)
    check_report(args.artifact)
    art = load(args.artifact)
    if args.inputs is not None:
        x = input_array(args.inputs, art.module)
        with running(art.open(args.target, args.hardware)) as session:
            return run_inputs(args, art, session, x)
    tokens = prompt_tokens(args, art)
    warn_past_context(art.module, len(tokens) + args.generate)
    if launched_world() > 1:
        from sbcompile.run_ranks import run_on_ranks
        return run_on_ranks(args, art, tokens)
    with running(art.open(args.target, args.hardware)) as session, \
            delayed_progress(f"sbcompile run {args.artifact.name}") as progress:
        res = art.run(tokens=tokens, generate=args.generate, target=args.target, progress=progress,
                      session=session, **sampling_options(args))
    return print_result(args, art, res)


def launched_world() -> int:
    """The number of ranks torchrun (or another env:// launcher) started this process among; 1 outside one."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def print_result(args: argparse.Namespace, art: Any, res: Any) -> int:
    """Save the logits, print the generated text (or the next-token prediction) and the summary line."""
    if args.save_logits:
        args.save_logits.parent.mkdir(parents=True, exist_ok=True)
        np.save(args.save_logits, res.logits)
    sys.stdout.write(generated_output(args, art.codec, res) if args.generate else next_token_summary(art.codec, res))
    rate = f", decode {len(res.tokens) / res.seconds['decode']:.1f} tok/s" if len(res.tokens) else ""
    print(f"sbcompile run: {res.session}: prefill {len(res.prompt)} tokens in {res.seconds['prefill']:.3f} s{rate}",
          file=sys.stderr)
    if args.stats:
        print(format_activity(res.stats, language_model=True), file=sys.stderr)
    return 0


def run_inputs(args: argparse.Namespace, art: Any, session: Any, x: np.ndarray) -> int:
    """Run a non-token module (a spiking network) on an array of inputs, time first."""
    with delayed_progress(f"sbcompile run {args.artifact.name}") as progress:
        progress(f"{x.shape[0]} steps", 0.0)
        res = art.run(inputs=x, target=args.target, session=session)
    out = res.outputs
    if args.save_outputs:
        args.save_outputs.parent.mkdir(parents=True, exist_ok=True)
        np.save(args.save_outputs, out)
    print(f"sbcompile run: {res.session}: {x.shape[0]} steps in {res.seconds['run']:.3f} s; output {list(out.shape)}, "
          f"sum {float(out.sum()):g}", file=sys.stderr)
    if args.stats:
        print(format_activity(res.stats, language_model=False), file=sys.stderr)
    return 0


def format_activity(act: dict, language_model: bool = True) -> str:
    t = act.get("total") or {}
    if not t:
        return "no spike activity was recorded"
    if not language_model:
        return format_population_activity(act)
    lines = [f"spike activity: sparsity {t['sparsity']:.1%} (bitwise, 3-step window; the paper reports 69.15% for 7B), "
             f"{t['bitwise_spikes_per_channel']:.2f} bitwise spikes/channel (paper: 1.13), zero counts "
             f"{t['zero_fraction']:.1%}, silent channels {t['silent_channel_fraction']:.1%}"]
    width = max(len(n) for n in act["ops"]) + 2
    lines.append(f"  {'op':<{width}} {'sparsity':>8} {'zeros':>7} {'|s|/ch':>7} {'bits/ch':>7} {'<=7':>7} {'silent':>7} {'max':>5}")
    for name, s in act["ops"].items():
        lines.append(f"  {'%' + name:<{width}} {s['sparsity']:8.1%} {s['zero_fraction']:7.1%} {s['spikes_per_channel']:7.2f} "
                     f"{s['bitwise_spikes_per_channel']:7.2f} {s['share_le_7']:7.1%} {s['silent_channels']:7d} {s['max_count']:5d}")
    return "\n".join(lines)


def format_population_activity(act: dict) -> str:
    """Activity of spiking populations (a NIR or LIF network): spikes per time step and the share
    of neuron-steps that spiked."""
    t = act["total"]
    steps = max(int(act.get("steps", 1)), 1)
    source = f" ({act['source']})" if act.get("source") else ""
    lines = [f"spike activity{source}: over {steps} steps, {1 - t['zero_fraction']:.1%} of neuron-steps spiked, "
             f"{t['spikes_per_channel']:.3f} spikes per neuron and step"]
    width = max([len(n) + 1 for n in act["ops"]] + [len("population")])
    lines.append(f"  {'population':<{width}} {'neurons':>7} {'spikes':>7} {'per step':>8} {'rate':>6} {'silent ch':>9}")
    for name, s in act["ops"].items():
        spikes = s["spikes_per_channel"] * s["channels"] * s["tokens"]
        neurons = s["channels"] * s["tokens"] // steps
        lines.append(f"  {'%' + name:<{width}} {neurons:7d} {spikes:7.0f} {spikes / steps:8.2f} "
                     f"{1 - s['zero_fraction']:6.1%} {s['silent_channels']:9d}")
    return "\n".join(lines)


def add_sampling_options(ap: argparse.ArgumentParser) -> None:
    gen = ap.add_argument_group("generation")
    gen.add_argument("--temperature", type=float, default=0.0, metavar="T",
                     help="sample from softmax(logits / T) (default 0: greedy)")
    gen.add_argument("--top-k", type=int, default=0, metavar="K", help="sample among the K likeliest tokens only")
    gen.add_argument("--seed", type=int, default=0, help="random seed for sampling (default 0)")
    gen.add_argument("--stop", metavar="TEXT", help="stop generating after TEXT (token ids for a model without a "
                     "byte tokenizer); TEXT itself is not printed")
    gen.add_argument("--no-echo", action="store_true", help="print only the generated text, not the prompt before it")


def sampling_options(args: argparse.Namespace) -> dict:
    return {"temperature": args.temperature, "top_k": args.top_k, "seed": args.seed, "stop": args.stop}


def generated_output(args: argparse.Namespace, codec: Any, res) -> str:
    """The prompt (unless --no-echo) and what was generated; token ids for a model without a tokenizer."""
    from sbcompile.generation import decode_tokens

    if res.text is not None:
        return ("" if args.no_echo else decode_tokens(codec, res.prompt)) + res.text + "\n"
    prompt = "" if args.no_echo else " ".join(map(str, res.prompt.tolist())) + " | "
    return prompt + " ".join(map(str, res.tokens.tolist())) + "\n"


def next_token_summary(codec: Any, res, top: int = 5) -> str:
    """Without --generate: the likeliest next tokens after the prompt, with probabilities."""
    from sbcompile.generation import decode_tokens

    z = res.logits[-1].astype(np.float64)
    p = np.exp(z - z.max())
    p /= p.sum()
    best = np.argsort(-p, kind="stable")[:top]

    def show(i: int) -> str:
        text = decode_tokens(codec, [i])
        return repr(text) if text is not None else str(i)

    ranked = ", ".join(f"{show(int(i))} {p[i]:.3f}" for i in best)
    return f"next token after {len(res.prompt)} prompt tokens: {ranked} (use --generate N to continue)\n"


@contextmanager
def delayed_progress(title: str, delay: float = 2.0) -> Iterator[Progress]:
    """A progress bar on stderr (a terminal) that appears only once the run has taken `delay`
    seconds, so short runs stay quiet; it shows the elapsed time while a long call blocks."""
    if not sys.stderr.isatty():
        yield lambda what, fraction: None
        return
    import threading

    from rich.console import Console
    from rich.progress import BarColumn, Progress as RichProgress, TextColumn, TimeElapsedColumn

    with RichProgress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[what]}"),
                      TimeElapsedColumn(), transient=True, console=Console(stderr=True)) as bar:
        task = bar.add_task(title, total=1.0, what="", visible=False)
        timer = threading.Timer(delay, lambda: bar.update(task, visible=True))
        timer.daemon = True
        timer.start()
        try:
            yield lambda what, fraction: bar.update(task, completed=fraction, what=what)
        finally:
            timer.cancel()
