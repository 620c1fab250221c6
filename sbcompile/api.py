"""The Python API. `compile` takes a model — a path, a preset name, a SpikingBrain model object in
memory or a `nir.NIRGraph` — through the frontend and a pipeline into an `Artifact`: the
optimised module and its report, which can `save` itself as an output directory and `run` on its
target; `load` reads a saved one back. The command line (cli.py, run.py) is a thin layer over it.

    art = sbcompile.compile("examples/tiny", target="loihi2")
    art.save("out/tiny")
    res = art.run(text="import ", generate=16)
    print(res.text, res.stats["total"])
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from sbcompile.artifact import MODULE_FILE, REPORT_JSON, atomic_directory, write_module, write_report, write_timings
from sbcompile.generation import RunResult, encode_prompt, reference_activity, run_inputs, run_tokens, running
from sbcompile.ir import Module, SbirError, verify
from sbcompile.passes import Pass, PassContext
from sbcompile.pass_manager import Instrument, PassManager, TimePasses, Verify
from sbcompile.progress import Progress
from sbcompile.sampling import Sampler
from sbcompile.tokenizer import TextCodec, save_tokenizer, text_codec

CALIB_SAMPLE = "calib.txt"  # a checkpoint directory that ships this file is calibrated on it by default


@dataclass(frozen=True)
class CompileOptions:
    """What `compile` takes besides source, target and passes; the command line's flags."""

    spiking: bool | None = None  # spike-code activations (None: the model object's own choice, else yes)
    k: float | None = None  # adaptive threshold divisor (None: the model object's, else 3)
    config: str | None = None  # config.json for a checkpoint whose config cannot be inferred
    trust_pickle: bool = False  # allow a .pt holding pickled objects
    dt: float | None = None  # time step for continuous-time neurons (NIR)
    system: str | None = None  # loihi2: system preset or JSON file
    system_set: tuple[str, ...] = ()  # loihi2: KEY=VALUE overrides of the system
    calib: str | bool | None = None  # calibration sample (text or token ids); None: the shipped one; False: none
    verify: bool = True  # verify the module after the frontend and after every pass
    instruments: tuple[Instrument, ...] = ()  # PrintIR, DumpIR, TimePasses, ...
    reproducer_dir: Path | None = None  # where a failing pass writes its reproducer
    progress: Progress | None = None  # update(what, fraction) during the pipeline
    notes: bool = True  # say on stderr what compile added (legalized passes, calibration)
    reproducer_flags: tuple[str, ...] = ()  # the command-line flags a reproducer's command repeats
    legalize: bool = True  # add the passes the target cannot lower without (off: the IR after exactly these passes)


class Artifact:
    """A compiled module with its report and target; `save` writes it, `run` executes it."""

    def __init__(self, module: Module, report: dict, target: str, *, context: PassContext | None = None,
                 target_options: dict | None = None, directory: Path | None = None,
                 codec: TextCodec | None = None, timings: dict[str, float] | None = None) -> None:
        self.module = module
        self.codec = codec  # text <-> token ids: the checkpoint's tokenizer, bytes, or None
        self.timings: dict[str, float] = dict(timings or {})  # seconds per stage: timings.json, not the report
        self.report = report
        self.target = target
        self.context = context  # the pipeline's results (placement, traffic) while in memory
        self.target_options = target_options or {}
        self.directory = directory
        self._scratch: tempfile.TemporaryDirectory | None = None

    def __repr__(self) -> str:
        where = f", saved in {self.directory}" if self.directory else ""
        return f"<sbcompile.Artifact @{self.module.name} for {self.target}, {len(self.module.ops)} ops{where}>"

    def save(self, directory: str | Path, emit: str = "artifact", raster: str | None = None,
             raster_text: str | None = None, nir_version: str | None = None) -> Path:
        """Write the output directory (atomically): module.sbir, weights.safetensors, the
        target's own files (`emit="artifact"`) or module.nir (`emit="nir"`; a path ending in .nir
        writes that file alone), pictures, report.json and report.md. Returns the path."""
        from sbcompile.targets import TARGETS

        out = Path(directory)
        t0 = time.perf_counter()
        if emit == "nir":
            from sbcompile.frontend.nir_export import nir_version_for, write_nir

            nir_version_for(self.module, nir_version)  # fails before anything is written if NIR cannot hold it
            if out.suffix == ".nir":
                write_nir(self.module, out, nir_version)
                return out
        sections = {k: v for k, v in self.report.items() if k not in REPORT_HEAD}
        with atomic_directory(out) as tmp:
            write_module(self.module, tmp)
            save_tokenizer(self.codec, tmp)
            if emit == "artifact":
                TARGETS[self.target](**self.target_options).emit(self.module, tmp, sections)
            elif emit == "nir":
                write_nir(self.module, tmp / "module.nir", nir_version)
            pictures = draw_pictures(self.module, self.context, tmp, raster, raster_text,
                                     self.report.get("layers")) if self.context else []
            if pictures:
                sections["pictures"] = pictures
            self.timings["emit"] = time.perf_counter() - t0
            self.report = build_report(self.module, self.target, self.report.get("pipeline", ""), sections)
            write_report(self.report, tmp)
            write_timings(self.timings, tmp)
        self.directory = out
        return out

    def files(self) -> list[str]:
        """The files of the saved output directory."""
        return sorted(p.name for p in self.directory.iterdir()) if self.directory else []

    def run(self, text: str | None = None, tokens: Sequence[int] | np.ndarray | None = None,
            inputs: np.ndarray | None = None, generate: int = 0, *, temperature: float = 0.0, top_k: int = 0,
            seed: int = 0, stop: str | None = None, target: str | None = None, hardware: bool = False,
            progress: Progress | None = None, session: Any = None) -> RunResult:
        """Run on the artifact's target (or `target`): prefill the prompt (`text` for byte-level
        models, or `tokens`), then generate `generate` tokens (greedy at temperature 0, else
        sampled with `top_k` and `seed`, ending early after `stop`); or, for a spiking network
        without token input, run `inputs` [time, ...]. Each call starts a new sequence (unless
        given a `session` from `open`; a session it opens itself is closed before it returns)."""
        opened = self.open(target, hardware) if session is None else None
        with running(opened):
            session = opened if session is None else session
            name = target or self.target
            if inputs is not None:
                res = run_inputs(session, name, self.module, np.asarray(inputs))
                if not res.stats.get("total") and name != "ref":
                    res.stats = reference_activity(self.module, np.asarray(inputs), name)
                res.stats["steps"] = len(inputs)
                return res
            prompt = encode_prompt(self.module, self.codec, text, tokens)
            return run_tokens(session, name, self.codec, prompt, generate, Sampler(temperature, top_k, seed),
                              stop, progress or (lambda what, fraction: None))

    def open(self, target: str | None = None, hardware: bool = False) -> Any:
        """A fresh session, `session(tokens) -> logits` (a new sequence, continued by each call);
        a target with files of its own runs from the saved directory (an unsaved artifact is
        saved to a temporary one first)."""
        from sbcompile.targets import TARGETS
        from sbcompile.targets.base import Target

        name = target or self.target
        if name not in TARGETS:
            raise SbirError(f"unknown target '{name}'; available targets: {', '.join(sorted(TARGETS))}")
        cls = TARGETS[name]
        directory = self.directory
        if directory is None and cls.emit is not Target.emit:
            if name != self.target:
                raise SbirError(f"save the artifact before running it on target '{name}' (it was compiled for {self.target})")
            self._scratch = tempfile.TemporaryDirectory(prefix="sbcompile-")
            directory = self.save(Path(self._scratch.name) / "artifact")
            self.directory = None  # still not saved where the user would look
        return cls(hardware=hardware).open(directory, self.module)


REPORT_HEAD = ("module", "target", "pipeline", "kind", "spiking", "k", "layout", "codes_outside_int8", "params", "ops")


def compile(source: Any, target: str = "ref", passes: str | Sequence[Pass | str] | None = None,
            **options: Any) -> Artifact:
    """Compile `source` for `target`: a path (.sbir, .nir, .pt/.pt2, a checkpoint or output
    directory), a preset name, a `SpikingBrainForCausalLM` (traced in memory, with its weights) or a
    `nir.NIRGraph`. `passes`: a pipeline string (the word `default` is the target's pipeline) or
    a list of passes; None runs the target's. `options`: the fields of `CompileOptions`."""
    from sbcompile.targets import TARGETS

    opts = compile_options(options)
    register_plugins()
    if target not in TARGETS:
        raise SbirError(f"unknown target '{target}'; available targets: {', '.join(sorted(TARGETS))}")
    target_options = {k: v for k, v in (("system", opts.system), ("system_set", list(opts.system_set))) if v}
    tgt = TARGETS[target](**target_options)
    pipeline, added = parse_passes(passes, tgt.default_pipeline), []
    if opts.legalize:
        pipeline, added = tgt.legalize(pipeline)
    for name, value in (("k", opts.k), ("dt", opts.dt)):  # checked before any tracing
        if value is not None and not (math.isfinite(value) and value > 0):
            raise SbirError(f"--{name} must be a positive finite number, got {value}")

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    try:
        module, label = load_source(source, opts)
        if opts.verify:
            verify(module)
    except SbirError as e:  # an error that names no file or place is said of the input
        if e.loc is None and isinstance(source, (str, Path)) and str(source) not in e.message:
            raise SbirError(f"{source}: {e.message}") from None
        raise
    timings["frontend"] = time.perf_counter() - t0
    sections: dict[str, Any] = {}
    if added:
        sections["legalize"] = {"added": added, "why": f"target '{target}' cannot lower without "
                                + ", ".join(tgt.required_passes)}
        note(opts, f"target {target} cannot lower without {', '.join(tgt.required_passes)}: added "
             f"{', '.join(added)} to the pipeline")
    sample = calibration_sample(source, opts, module)
    if sample:
        pipeline, how = with_calibration(pipeline, sample)
        if how:
            note(opts, how)

    instruments: list[Instrument] = ([Verify()] if opts.verify else []) + list(opts.instruments)
    for inst in instruments:
        if isinstance(inst, TimePasses):  # the frontend is part of the compile the table totals
            inst.rows.append((f"(frontend: {label})", timings["frontend"], True))
    ctx = PassContext(target=tgt.name, machine=tgt.machine())
    if opts.progress is not None:
        ctx.progress = opts.progress
    pass_times = PassManager(pipeline, instruments, opts.reproducer_dir, opts.reproducer_flags).run(module, ctx)
    timings.update({f"pass {k}": v for k, v in pass_times.items()})
    from sbcompile.layers import layer_table
    from sbcompile.passes import format_pipeline

    layers = layer_table(module, ctx.report, ctx.results)
    report = build_report(module, tgt.name, format_pipeline(pipeline),
                          {**sections, **ctx.report, **({"layers": layers} if layers else {})})
    return Artifact(module, report, tgt.name, context=ctx, target_options=target_options,
                    codec=text_codec(source_folder(source), module), timings=timings)


def load(directory: str | Path) -> Artifact:
    """An output directory written by `Artifact.save` (or `sbcompile ... -o DIR`), ready to run."""
    from sbcompile.frontend import load_sbir

    directory = Path(directory)
    if not (directory / MODULE_FILE).exists():
        raise SbirError(f"{directory}: not an sbcompile output directory (no {MODULE_FILE})")
    module = load_sbir(directory / MODULE_FILE)
    verify(module)
    report: dict = {}
    if (directory / REPORT_JSON).exists():
        try:
            report = json.loads((directory / REPORT_JSON).read_text())
        except json.JSONDecodeError as e:
            raise SbirError(f"{directory / REPORT_JSON}: not valid JSON ({e})") from None
    return Artifact(module, report, report.get("target", "ref"), directory=directory,
                    codec=text_codec(directory, module))


def source_folder(source: Any) -> Path:
    """Where a compiled source's tokenizer lies: the checkpoint directory, or the folder of a file."""
    if isinstance(source, (str, Path)) and Path(source).exists():
        return Path(source) if Path(source).is_dir() else Path(source).parent
    return Path(".")


def compile_options(options: dict[str, Any]) -> CompileOptions:
    known = {f.name for f in dataclasses.fields(CompileOptions)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise SbirError(f"compile() has no option {', '.join(map(repr, unknown))}; its options: {', '.join(sorted(known))}")
    if "system_set" in options:
        options = {**options, "system_set": tuple(options["system_set"] or ())}
    return CompileOptions(**options)


def register_plugins() -> None:
    """Installed plugins' passes and targets (idempotent)."""
    from sbcompile.passes import REGISTRY as PASS_REGISTRY
    from sbcompile.targets import REGISTRY as TARGET_REGISTRY

    PASS_REGISTRY.load_entry_points()
    TARGET_REGISTRY.load_entry_points()


def parse_passes(passes: str | Sequence[Pass | str] | None, default: str) -> list[Pass]:
    from sbcompile.passes import parse_pipeline

    if passes is None:
        return parse_pipeline(default)
    if isinstance(passes, str):
        return parse_pipeline(passes, default)
    out: list[Pass] = []
    for p in passes:
        out += parse_pipeline(p, default) if isinstance(p, str) else [p]
    return out


def load_source(source: Any, opts: CompileOptions) -> tuple[Module, str]:
    """The frontend for every kind of source; returns the (unverified) module and what it was."""
    from sbcompile import frontend

    if isinstance(source, (str, Path)):
        fe = frontend.FrontendOptions(True if opts.spiking is None else opts.spiking,
                                      3.0 if opts.k is None else opts.k, opts.config, opts.trust_pickle)
        module = frontend.load(str(source), fe)
        if opts.dt is not None:
            from sbcompile.frontend.nir_import import set_dt

            set_dt(module, opts.dt)
        return module, Path(str(source)).name
    if type(source).__name__ == "NIRGraph":
        from sbcompile.frontend.nir_import import from_nir

        return from_nir(source, name="nir", dt=opts.dt), "NIR graph"
    return trace_model_object(source, opts), type(source).__name__


def trace_model_object(model: Any, opts: CompileOptions) -> Module:
    """A SpikingBrain model object in memory, traced with its own weights (no copy until needed)."""
    from sbcompile.frontend.spikingbrain import trace_spikingbrain
    from sbcompile.models import SpikingBrainForCausalLM
    from sbcompile.models.loading import TensorSource

    if not isinstance(model, SpikingBrainForCausalLM):
        raise SbirError(f"compile() takes a path, a preset name, a SpikingBrainForCausalLM or a nir.NIRGraph; "
                        f"got {type(model).__name__}")
    spikes = model.spikes
    if opts.spiking is not None or opts.k is not None:
        spikes = spikes.model_copy(update={k: v for k, v in (("enabled", opts.spiking), ("k", opts.k)) if v is not None})
    state = model.state_dict()
    if any(t.is_meta for t in state.values()):
        tensors = None  # a model built on the meta device: shape-only weights, as for a preset
    else:
        tensors = {n: TensorSource(tuple(t.shape), "float32", lambda t=t: t.detach().float().cpu().numpy())
                   for n, t in state.items()}
    return trace_spikingbrain(model.config, spikes, tensors, "model")


def calibration_sample(source: Any, opts: CompileOptions, module: Module) -> str | None:
    """The calibration text: `calib` if given, else the sample a checkpoint directory ships
    (calib.txt) when the module has real weights; `calib=False` turns calibration off."""
    if opts.calib is False:
        return None
    if isinstance(opts.calib, (str, Path)):
        if not Path(opts.calib).is_file():
            raise SbirError(f"--calib {opts.calib}: no such file")
        return str(opts.calib)
    if isinstance(source, (str, Path)) and Path(source).is_dir() and (Path(source) / CALIB_SAMPLE).is_file() \
            and not module.weights.has_fake:
        return str(Path(source) / CALIB_SAMPLE)
    return None


CLEANUPS = ("canonicalize", "cse", "dce")


def with_calibration(pipeline: list[Pass], sample: str) -> tuple[list[Pass], str]:
    """Calibrate on `sample`: calibrate passes without a text get it; a pipeline without one gets
    `calibrate{text=sample}` after its leading clean-ups. Returns the pipeline and what changed."""
    calibrates = [i for i, p in enumerate(pipeline) if p.name == "calibrate"]
    if calibrates:
        blank = [i for i in calibrates if not getattr(pipeline[i], "text", "")]
        out = [dataclasses.replace(p, text=sample) if i in blank else p for i, p in enumerate(pipeline)]
        return out, f"calibrate reads {sample}" if blank else ""
    from sbcompile.passes.pipeline import parse_pass

    at = next((i for i, p in enumerate(pipeline) if p.name not in CLEANUPS), len(pipeline))
    calibrate = dataclasses.replace(parse_pass("calibrate"), text=sample)
    return pipeline[:at] + [calibrate] + pipeline[at:], f"calibrating on {sample} (--no-calib to skip)"


def note(opts: CompileOptions, text: str) -> None:
    if opts.notes:
        print(f"sbcompile: {text}", file=sys.stderr)


def build_report(module: Module, target: str, pipeline: str, extra: dict) -> dict:
    """What was compiled and what the passes found; nothing that varies from run to run (the
    timings go to timings.json)."""
    return {
        "module": module.name,
        "target": target,
        "pipeline": pipeline,
        "kind": "language model" if "vocab" in module.attrs else "spiking network",
        **{k: module.attrs[k] for k in ("spiking", "k", "layout", "codes_outside_int8", "nir.version", "nir.reset")
           if k in module.attrs},
        "params": sum(int(_numel(module.weights.shape(n))) for n in module.weights),
        "ops": dict(sorted(Counter(op.name for op in module.ops).items())),
        **extra,
    }


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def draw_pictures(module: Module, ctx: PassContext, out: Path, raster: str | None = None,
                  raster_text: str | None = None, layers: dict | None = None) -> list[str]:
    """mesh.png after placement; layers.png (energy, traffic, spike rate, time per layer) for a
    model with layers; raster.png for `raster` (a value name)."""
    from sbcompile import pictures

    drawn = []
    if pictures.placed(ctx):
        pictures.write_mesh(out / "mesh.png", module, ctx)
        drawn.append("mesh.png")
    if layers and pictures.layers_png(out / "layers.png", layers, ctx.report.get("schedule", {}).get("step_us"),
                                      f"@{module.name} on {ctx.target}, per layer"):
        drawn.append("layers.png")
    if raster:
        from sbcompile.passes.tokens import read_tokens

        text = raster_text or ctx.report.get("calibrate", {}).get("text")
        if not text:
            raise SbirError("--raster needs --raster-text FILE (or a calibrate pass whose text it reuses)")
        pictures.write_raster(out / "raster.png", module, raster, read_tokens(module, text, 256, "--raster"))
        drawn.append("raster.png")
    return drawn
