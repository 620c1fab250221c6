"""The `sbcompile` command: compile an input for a target, or run a compiled artifact."""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path
from typing import Iterable

from sbcompile import __version__
from sbcompile.artifact import check_file_output, check_folder_output, check_output_directory
from sbcompile.failures import OneLineParser, guarded
from sbcompile.ir import SbirError, print_module
from sbcompile.pass_manager import DumpIR, Instrument, PrintIR, TimePasses
from sbcompile.plugins import load_plugin_module
from sbcompile.progress import progress_bar

EXAMPLES = """\
examples:
  sbcompile examples/lif_network.sbir                      print the optimised IR
  sbcompile model.sbir --passes 'cse,dce' --print-ir-after-all
  sbcompile ckpt/ -t loihi2 --passes 'default,reorder-channels' --calib calib.txt -o out/
  sbcompile model.sbir -t ref -o out/                      write an artifact directory
  sbcompile out/module.sbir -t ref --dump-ir dumps/        re-optimise an artifact's IR
  sbcompile --list-passes                                  every pass with its options
  sbcompile run out/ --text "def f(" --generate 32         run an artifact (any target)

Every output directory holds module.sbir, weights.safetensors, report.json, report.md and timings.json;
`sbcompile OUT/module.sbir ...` reads an artifact back. Errors are one line,
file:line:col: error: message, with exit status 1. From Python: sbcompile.compile(...) (docs/api.md).
"""


def compile_parser() -> argparse.ArgumentParser:
    ap = OneLineParser(
        prog="sbcompile", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EXAMPLES,
        description="Compile a spiking network (a SpikingBrain model or any SNN) to a target.\n"
                    "`sbcompile run OUT ...` runs a compiled artifact; see `sbcompile run --help`.")
    ap.add_argument("input", nargs="?", help="a .sbir file, an sbcompile output directory, a checkpoint directory "
                    "(HF layout), a .pt or .pt2 file, or a preset: spikingbrain-7b, spikingbrain-76b, spikingbrain-tiny")
    ap.add_argument("-t", "--target", default="ref", help="target to compile for (default: ref; see --list-targets)")
    ap.add_argument("-o", "--output", type=Path, help="output directory (written atomically)")
    ap.add_argument("--passes", help="pipeline, e.g. 'canonicalize,cse,dce' (default: the target's); the word "
                    "`default` is the target's pipeline: 'default,my-pass', 'cse,default'")
    ap.add_argument("--emit", choices=["ir", "artifact", "nir"], help="what to write: the IR (stdout without -o), the "
                    "target's artifact (the default with -o), or NIR (OUT/module.nir, or -o FILE.nir)")
    ap.add_argument("--nir-version", metavar="X.Y.Z", help="--emit nir: write for this NIR version's readers "
                    "(e.g. 1.0.4; default: the oldest that keeps the graph's meaning)")
    ap.add_argument("--dt", type=float, metavar="SECONDS", help="time step that discretises continuous-time "
                    "neurons (NIR inputs; default: the graph's metadata dt, else 1e-4)")
    fe = ap.add_argument_group("models")
    fe.add_argument("--spiking", action=argparse.BooleanOptionalAction, default=True,
                    help="spike-code activations as the W8ASpike release does (default), or trace the float model")
    fe.add_argument("--k", type=float, default=3.0, help="adaptive threshold divisor: V_th = mean|x| / k (default 3)")
    fe.add_argument("--config", metavar="FILE", help="config.json for a checkpoint whose config cannot be inferred")
    fe.add_argument("--trust-pickle", action="store_true",
                    help="allow a .pt holding pickled objects (can run code: only for files you trust)")
    hw = ap.add_argument_group("machine")
    hw.add_argument("--system", metavar="NAME|FILE", help="loihi2: a system preset (loihi2-chip, kapoho-point, "
                    "hala-point) or a JSON description (default: loihi2-chip)")
    hw.add_argument("--system-set", action="append", metavar="KEY=VALUE",
                    help="loihi2: override one field of the system, e.g. chip.cores_per_chip=152 (repeatable)")
    add_calibration_options(ap)
    pic = ap.add_argument_group("pictures")
    pic.add_argument("--raster", metavar="VALUE", help="draw raster.png: the spike counts of %%VALUE over time "
                     "(runs the module on --raster-text, by default the calibration text)")
    pic.add_argument("--raster-text", metavar="FILE", help="text (or token ids) for --raster")
    dbg = ap.add_argument_group("pipeline instruments")
    dbg.add_argument("--no-verify", action="store_true", help="do not verify the module after each pass")
    dbg.add_argument("--print-ir-after-all", action="store_true", help="print the IR after every pass (stderr)")
    dbg.add_argument("--print-ir-after", metavar="NAME[,NAME]", help="print the IR after these passes")
    dbg.add_argument("--print-ir-before", metavar="NAME[,NAME]", help="print the IR before these passes")
    dbg.add_argument("--dump-ir", metavar="DIR", type=Path, help="write NN-name.sbir after each pass into DIR")
    dbg.add_argument("--time-passes", action="store_true", help="print seconds per pass (stderr)")
    dbg.add_argument("--reproducer-dir", metavar="DIR", type=Path,
                     help="where a failing pass writes its reproducer (default: a temporary directory)")
    ext = ap.add_argument_group("plugins and listings")
    ext.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                     help="import MODULE so that its passes and targets register (repeatable)")
    ext.add_argument("--list-passes", action="store_true", help="list passes with their options and exit")
    ext.add_argument("--list-targets", action="store_true", help="list targets and exit")
    ap.add_argument("--version", action="version", version=f"sbcompile {__version__}")
    return ap


def add_calibration_options(ap: argparse.ArgumentParser) -> None:
    cal = ap.add_argument_group("calibration")
    cal.add_argument("--calib", metavar="FILE", help="calibrate on FILE (text, or token ids for a model without a "
                     "byte tokenizer): a calibrate pass is added where the pipeline has none (default: the "
                     "calib.txt a checkpoint directory ships, if any)")
    cal.add_argument("--no-calib", action="store_true", help="do not calibrate on a checkpoint's calib.txt by default")


def _names(text: str | None) -> set[str] | None:
    return None if text is None else {n.strip() for n in text.split(",") if n.strip()}


def list_passes() -> str:
    import dataclasses
    import typing

    from sbcompile.passes import PASSES, REGISTRY

    out = []
    for name in sorted(PASSES):
        cls = PASSES[name]
        origin = "" if REGISTRY.origin[name] == "sbcompile" else f"  [{REGISTRY.origin[name]}]"
        out.append(f"{name}{origin}")
        out += [f"    {p}" for p in cls.paragraphs()]
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            t = hints[f.name]
            tname = getattr(t, "__name__", str(t).replace("typing.", ""))
            default = "true" if f.default is True else "false" if f.default is False else f.default
            out.append(f"    option {f.name.replace('_', '-')}={default}  ({tname}) {f.metadata.get('help', '')}".rstrip())
        out.append("")
    return "\n".join(out)


def list_targets() -> str:
    from sbcompile.targets import REGISTRY, TARGETS

    return "".join(f"{name:8} {TARGETS[name].summary}  (passes: {TARGETS[name].default_pipeline}"
                   f"{'; requires ' + ', '.join(TARGETS[name].required_passes) if TARGETS[name].required_passes else ''})"
                   f"{'' if REGISTRY.origin[name] == 'sbcompile' else '  [' + REGISTRY.origin[name] + ']'}\n"
                   for name in sorted(TARGETS))


def compile_main(args: argparse.Namespace) -> int:
    from sbcompile import api
    from sbcompile.passes import REGISTRY as PASS_REGISTRY
    from sbcompile.targets import REGISTRY as TARGET_REGISTRY, TARGETS

    PASS_REGISTRY.load_entry_points()
    TARGET_REGISTRY.load_entry_points()
    for module_name in args.plugin:
        load_plugin_module(module_name)
    if args.list_passes:
        sys.stdout.write(list_passes())
        return 0
    if args.list_targets:
        sys.stdout.write(list_targets())
        return 0
    if args.input is None:
        raise SbirError("no input given (try `sbcompile --help`)")
    if args.target not in TARGETS:
        raise SbirError(f"unknown target '{args.target}'{did_you_mean(args.target, TARGETS)}; "
                        f"available targets: {', '.join(sorted(TARGETS))}")
    target = TARGETS[args.target](system=args.system, system_set=args.system_set)
    passes = api.parse_passes(args.passes, target.default_pipeline)
    emit = args.emit or ("artifact" if args.output else "ir")
    if emit in ("artifact", "nir") and not args.output:
        raise SbirError(f"--emit {emit} needs an output (-o OUT{' or -o FILE.nir' if emit == 'nir' else ''})")
    check_compile_options(args, passes, emit, target.required_passes)
    target.machine()  # a bad --system or --system-set is found before any tracing

    with progress_bar(f"sbcompile {Path(args.input).name}") as progress:
        # Legalization serves lowering: printing the IR shows exactly the pipeline asked for.
        art = api.compile(args.input, args.target, args.passes, progress=progress, legalize=emit != "ir",
                          reproducer_flags=reproducer_flags(args), **compile_options(args))
    if emit == "ir" and not args.output:
        sys.stdout.write(print_module(art.module))
        return 0
    art.save(args.output, emit=emit, raster=args.raster, raster_text=args.raster_text, nir_version=args.nir_version)
    if args.time_passes:
        print(f"  {art.timings.get('emit', 0.0):8.4f}  emit (after the pipeline)", file=sys.stderr)
    files = f"/ ({', '.join(art.files())})" if art.files() else ""
    print(f"sbcompile: wrote {args.output}{files}", file=sys.stderr)
    return 0


def compile_options(args: argparse.Namespace) -> dict:
    """The compile flags as `sbcompile.compile` options (instruments included)."""
    instruments: list[Instrument] = []
    if args.print_ir_after_all or args.print_ir_after or args.print_ir_before:
        instruments.append(PrintIR(_names(args.print_ir_before),
                                   set() if args.print_ir_after_all else _names(args.print_ir_after)))
    if args.dump_ir:
        instruments.append(DumpIR(args.dump_ir))
    if args.time_passes:
        instruments.append(TimePasses())
    return dict(spiking=args.spiking, k=args.k, config=args.config, trust_pickle=args.trust_pickle, dt=args.dt,
                system=args.system, system_set=args.system_set, calib=calib_option(args),
                verify=not args.no_verify, instruments=tuple(instruments), reproducer_dir=args.reproducer_dir)


def calib_option(args: argparse.Namespace) -> str | bool | None:
    """--calib FILE, --no-calib, or neither (the sample a checkpoint ships, if any)."""
    return False if args.no_calib else args.calib


def check_compile_options(args: argparse.Namespace, passes: list, emit: str, required: tuple[str, ...] = ()) -> None:
    """Every option and path checked before the (possibly long) frontend runs."""
    from sbcompile.passes import PASSES

    known = {p.name for p in passes} | set(required) | {"calibrate"}  # legalization and calibration may add these
    for flag in ("print_ir_after", "print_ir_before"):
        for name in sorted(_names(getattr(args, flag)) or ()):
            if name not in PASSES:
                raise SbirError(f"--{flag.replace('_', '-')}: unknown pass '{name}'{did_you_mean(name, PASSES)}")
            if name not in known:
                raise SbirError(f"--{flag.replace('_', '-')}: pass '{name}' is not in the pipeline "
                                f"({', '.join(p.name for p in passes)})")
    if args.output is not None:
        if emit == "nir" and args.output.suffix == ".nir":
            check_file_output(args.output, "-o")
        else:
            check_output_directory(args.output)
    for flag, folder in (("--dump-ir", args.dump_ir), ("--reproducer-dir", args.reproducer_dir)):
        if folder is not None:
            check_folder_output(folder, flag)
    for flag, path in (("--config", args.config), ("--raster-text", args.raster_text)):
        if path is not None and not Path(path).is_file():
            raise SbirError(f"{flag} {path}: no such file")
    for p in passes:  # pass options that name input files (calibrate{text=...}, evaluate{text=...})
        text = getattr(p, "text", "")
        if text and not Path(text).is_file():
            raise SbirError(f"pass '{p.name}' option text={text}: no such file")


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def reproducer_flags(args: argparse.Namespace) -> tuple[str, ...]:
    """The options a reproducer's command repeats so that the failing pass sees what it saw."""
    flags = ["-t", args.target]
    if args.system:
        flags += ["--system", args.system]
    for item in args.system_set or []:
        flags += ["--system-set", item]
    for module_name in args.plugin:
        flags += ["--plugin", module_name]
    if args.no_verify:
        flags.append("--no-verify")
    if args.reproducer_dir:
        flags += ["--reproducer-dir", str(args.reproducer_dir)]
    return tuple(flags)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv

    def entry() -> int:
        if argv and argv[0] == "run":
            from sbcompile.run import run_main

            return run_main(argv[1:])
        return compile_main(compile_parser().parse_args(argv))
    return guarded(entry)
