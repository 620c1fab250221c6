"""`sbcompile run OUT ...`: run a compiled artifact on the target it was compiled for: prefill
the prompt, optionally generate greedily token by token, save logits, print activity."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from sbcompile.artifact import MODULE_FILE, REPORT_JSON
from sbcompile.ir import Module, SbirError, verify

EXAMPLES = """\
examples:
  sbcompile run out/ --text "def main(" --generate 40
  sbcompile run out/ --tokens prompt.txt --save-logits logits.npy --stats
  sbcompile run out/ --inputs spikes.npy --save-outputs out.npy     a spiking network (e.g. from NIR)
A tokens file holds whitespace-separated integers. --text needs a byte-level model (vocab 256).
"""


def run_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="sbcompile run", description="Run a compiled artifact on its target.",
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
    target = "ref"
    if (directory / REPORT_JSON).exists():
        target = json.loads((directory / REPORT_JSON).read_text()).get("target", "ref")
    return module, target


def prompt_tokens(args: argparse.Namespace, module: Module) -> np.ndarray:
    if args.text is not None:
        if module.attrs.get("tokenizer") != "bytes":
            raise SbirError(f"module @{module.name} has no byte-level tokenizer; give --tokens FILE")
        return np.frombuffer(args.text.encode("utf-8"), np.uint8).astype(np.int32)
    try:
        ids = [int(t) for t in args.tokens.read_text().split()]
    except (OSError, ValueError) as e:
        raise SbirError(f"{args.tokens}: cannot read token ids ({e})") from None
    if not ids:
        raise SbirError(f"{args.tokens}: no token ids in the file")
    return np.array(ids, np.int32)


def run_main(argv: list[str]) -> int:
    from sbcompile.targets import TARGETS

    args = run_parser().parse_args(argv)
    module, target_name = load_artifact(args.artifact)
    target_name = args.target or target_name
    if target_name not in TARGETS:
        raise SbirError(f"unknown target '{target_name}'; available targets: {', '.join(sorted(TARGETS))}")
    target = TARGETS[target_name](hardware=args.hardware)
    session = target.open(args.artifact, module)
    if args.inputs is not None:
        return run_inputs(args, session, target_name, module)
    tokens = prompt_tokens(args, module)
    vocab = module.attrs.get("vocab")
    if isinstance(vocab, int) and (tokens.min() < 0 or tokens.max() >= vocab):
        raise SbirError(f"token ids must lie in [0, {vocab}); got {tokens.min()}..{tokens.max()}")
    t0 = time.perf_counter()
    logits = [session(tokens)]
    t_prefill = time.perf_counter() - t0
    generated: list[int] = []
    t1 = time.perf_counter()
    for i in range(args.generate):
        generated.append(int(np.argmax(logits[-1][-1])))
        if i + 1 < args.generate:  # the last token's own logits are not needed
            logits.append(session(np.array(generated[-1:], np.int32)))
    t_decode = time.perf_counter() - t1
    if args.save_logits:
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


def run_inputs(args: argparse.Namespace, session, target_name: str, module: Module) -> int:
    """Run a non-token module (a spiking network) on an array of inputs, time first."""
    from sbcompile.frontend.inputs import check_inputs

    try:
        x = np.load(args.inputs, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise SbirError(f"{args.inputs}: cannot read a .npy array ({e})") from None
    x = check_inputs(module, x, str(args.inputs))
    t0 = time.perf_counter()
    out = np.asarray(session(x.astype(np.float32)))
    took = time.perf_counter() - t0
    if args.save_outputs:
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
