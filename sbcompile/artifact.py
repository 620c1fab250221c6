"""Output directories: written whole or not at all. Everything goes into a hidden sibling
directory first and is renamed into place at the end, so a failure leaves nothing half-written.
Every output holds `module.sbir` with `weights.safetensors` beside it, and the report."""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sbcompile.ir import Module, SbirError, print_module

MODULE_FILE = "module.sbir"
WEIGHTS_FILE = "weights.safetensors"
REPORT_JSON = "report.json"
REPORT_MD = "report.md"
TIMINGS_JSON = "timings.json"


@contextmanager
def atomic_directory(out: Path) -> Iterator[Path]:
    """Yield a temporary directory that becomes `out` only if the block succeeds. An existing
    `out` is replaced only if it is empty or an earlier sbcompile output, and in one atomic step
    (the two directories exchange names), so a kill at any moment leaves the old or the new one.
    Leftovers of killed runs beside `out` are removed first."""
    out = Path(out)
    check_output_directory(out)
    remove_leftovers(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-{os.getpid()}-", dir=out.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o755)
        if out.exists():
            exchange(tmp, out)  # tmp now holds the old output
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if tmp.exists() and not out.exists():
        tmp.rename(out)
    else:
        shutil.rmtree(tmp, ignore_errors=True)


def check_output_directory(out: Path) -> None:
    """Refuse an output that cannot be written, before any work is done."""
    if out.exists():
        if not out.is_dir():
            raise SbirError(f"{out}: exists and is not a directory")
        if any(out.iterdir()) and not (out / MODULE_FILE).exists():
            raise SbirError(f"{out}: exists and is not an sbcompile output (no {MODULE_FILE}); refusing to overwrite it")
    parent = out.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise SbirError(f"{out}: cannot create it: {parent} is a file, not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise SbirError(f"{out}: cannot create it: {parent} is not writable")


def check_folder_output(folder: Path, flag: str) -> None:
    """A folder sbcompile writes into: an existing writable folder, or one it can create."""
    if folder.exists() and not folder.is_dir():
        raise SbirError(f"{flag} {folder}: exists and is not a directory")
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise SbirError(f"{flag} {folder}: cannot create it: {existing} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise SbirError(f"{flag} {folder}: {existing} is not writable")


def check_file_output(path: Path, flag: str) -> None:
    if path.is_dir():
        raise SbirError(f"{flag} {path}: is a directory, expected a file name")
    check_folder_output(path.parent if str(path.parent) else Path("."), flag)


def remove_leftovers(out: Path) -> None:
    """`.OUT.partial-PID-*` and `.OUT.old-PID` of runs that were killed (their process is gone);
    an old output whose replacement was interrupted by an earlier sbcompile is put back first."""
    if not out.parent.is_dir():
        return
    for p in sorted(out.parent.glob(f".{glob_escape(out.name)}.*-*")):
        kind, _, rest = p.name[len(out.name) + 2:].partition("-")
        pid = rest.split("-")[0]
        if kind not in ("partial", "old") or not pid.isdigit() or _alive(int(pid)):
            continue
        if kind == "old" and not out.exists():
            p.rename(out)
        else:
            shutil.rmtree(p, ignore_errors=True)


def glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def exchange(a: Path, b: Path) -> None:
    """Swap two directories' names atomically (Linux renameat2 RENAME_EXCHANGE); elsewhere, two
    renames, where a kill between them leaves `.OUT.old-PID`, which the next run puts back."""
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = getattr(libc, "renameat2", None)
        if renameat2 is not None:
            at_fdcwd, rename_exchange = -100, 2
            if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
                return
    old = b.parent / f".{b.name}.old-{os.getpid()}"
    b.rename(old)
    a.rename(b)
    old.rename(a)


def write_module(module: Module, directory: Path) -> None:
    (directory / MODULE_FILE).write_text(print_module(module))
    module.weights.save(str(directory / WEIGHTS_FILE))


def write_report(report: dict, directory: Path) -> None:
    report = json_safe(report)
    (directory / REPORT_JSON).write_text(json.dumps(report, indent=2, sort_keys=False, allow_nan=False) + "\n")
    (directory / REPORT_MD).write_text(report_markdown(report))


def write_timings(timings: dict[str, float], directory: Path) -> None:
    """Seconds per stage, in a file of their own: report.json and report.md stay byte-identical
    from run to run, this one is the only file of an output that differs."""
    (directory / TIMINGS_JSON).write_text(json.dumps({k: round(v, 6) for k, v in timings.items()}, indent=2) + "\n")


def json_safe(value: object) -> object:
    """The report with NaN and infinities as null: report.json stays standard JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def _table(rows: dict[str, dict], first: str) -> list[str]:
    """A markdown table: one row per key, one column per field seen in any row."""
    cols: list[str] = []
    for row in rows.values():
        cols += [c for c in row if c not in cols]
    lines = [f"| {first} | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for key, row in rows.items():
        lines.append(f"| {key} | " + " | ".join(_cell(row.get(c, "")) for c in cols) + " |")
    return lines + [""]


def _cell(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def report_markdown(report: dict) -> str:
    """The report for a person: the headline numbers, then each section as a table."""
    lines = [f"# sbcompile report: {report.get('module', '?')}", ""]
    for key in ("target", "pipeline", "params", "spiking", "k"):
        if key in report:
            lines.append(f"- **{key}**: {report[key]}")
    lines.append("")
    if report.get("quality"):
        lines += ["## Quality", "", "Measured by `evaluate` at each labelled point of the pipeline.", ""]
        lines += _table(report["quality"], "stage")
    if report.get("quantize", {}).get("ops"):
        q = report["quantize"]
        lines += ["## Quantization", "", f"{q['weight_bits']}-bit codes, {q['scale_format']} scales.", ""]
        lines += _table(q["ops"], "op")
    if report.get("select_coding", {}).get("ops"):
        c = report["select_coding"]
        lines += ["## Spike coding", "", f"{c['coding']} over {c['steps']} steps, counts in {c['range']}.", ""]
        lines += _table(c["ops"], "encoder")
    fixed = {key: report[key] for key in ("fixed_neurons", "fixed_norms", "fixed_encoders") if key in report}
    if fixed:
        lines += ["## Fixed point", ""]
        if "fixed_neurons" in fixed:
            f = fixed["fixed_neurons"]
            kept = "; ".join(f"%{k}: {why}" for k, why in f["kept_float"].items())
            lines.append(f"- {len(f['converted'])} neuron populations as Loihi compartments"
                         + (f", {len(f['kept_float'])} kept float ({kept})" if kept else ""))
        for key, what in (("fixed_norms", "norms"), ("fixed_encoders", "encoders")):
            if key in fixed:
                bits = sorted(set(fixed[key]["frac_bits"].values()))
                lines.append(f"- {len(fixed[key]['frac_bits'])} {what} in 24-bit integers, fraction bits {bits}")
        lines.append("")
    if "cores_used" in report:
        lines += ["## Mapping", "", f"- {report['cores_used']:,} cores (lower bound {report['cores_lower_bound']:,}) on "
                  f"{report['chips_used']:,} chips of {report['system']}",
                  f"- {len(report.get('host_ops', []))} ops on the embedded or host processors", ""]
    if "place" in report:
        p = report["place"]
        lines += [f"- placement: {p['ours']['messages_per_token']:,.0f} messages per token, {p['ours']['avg_hops']:.2f} "
                  f"hops each ({p['ratio']:.2f}x the hop traffic of in-order placement), "
                  f"{p['ours']['cross_chip_messages_per_token']:,.0f} crossing chips", ""]
    if "schedule" in report:
        c = report["schedule"]
        lines += ["## Schedule", "",
                  f"- {c['steps_per_token']:,} time steps per token x {c['step_us']} us = {c['latency_us_per_token'] / 1000:.3g} ms "
                  f"({c['tokens_per_second']:.3g} tokens/s)",
                  f"- busiest link {c['busiest_link']}: {c['busiest_link_messages_per_token']:,.0f} messages per token "
                  f"(capacity {c['link_capacity_per_step']:,.0f} per step)",
                  f"- critical path: {len(c['critical_path'])} ops, {' -> '.join(c['critical_path'][:4])} ... "
                  f"{c['critical_path'][-1]}", ""]
    if "reorder_channels" in report:
        r = report["reorder_channels"]
        lines += ["## Channel reordering", "",
                  f"- weight blocks of {r['block']} inputs skipped per token: {r['skipped_before']:.4g} before, "
                  f"{r['skipped_after']:.4g} after reordering, of {r['blocks']:,}",
                  f"- bytes skipped per token: {r['bytes_skipped_before']:,.0f} before, {r['bytes_skipped_after']:,.0f} "
                  f"after, of {r['bytes']:,}", ""]
    if "energy" in report:
        e = report["energy"]
        lines += ["## Energy per token", "",
                  f"- {e['spikes_per_channel']:.2f} spikes per channel ({'measured' if e['spikes_measured'] else 'the report' + chr(39) + 's 1.13'})"
                  + (f"; sparsity {e['sparsity_measured']:.1%} measured beside the report's {e['sparsity_paper']:.2%}"
                     if e.get("sparsity_measured") is not None else ""),
                  f"- report's 45 nm arithmetic: {e['paper_45nm']['uj_per_token_spiking']:.3g} uJ spiking vs "
                  f"{e['paper_45nm']['uj_per_token_fp16']:.3g} uJ FP16 ({e['paper_45nm']['saving_vs_fp16']:.1%} saved per MAC)",
                  f"- Loihi-style: {e['loihi']['uj_per_token']:.3g} uJ; GPU FP16 MACs: {e['gpu_fp16']['uj_per_token']:.3g} uJ",
                  "- see docs/energy.md for what each assumes", ""]
    if "lava" in report:
        lv = report["lava"]
        if lv["emitted"]:
            kinds = ", ".join(f"{n} {k}" for k, n in lv["by_kind"].items())
            lines += ["## Lava process graph", "",
                      f"- {lv['processes']} processes ({kinds}), {lv['connections']} connections",
                      f"- a token reaches the output {lv['latency_steps']} time steps after it enters "
                      "(one per synaptic projection on its path)",
                      f"- files: {', '.join(lv['files'])}; run with `sbcompile run OUT ...` on Lava's simulator", ""]
        else:
            lines += ["## Lava process graph", "", f"- not emitted: {lv['why']}", ""]
    if report.get("pictures"):
        lines += ["## Pictures", ""] + [f"![{p}]({p})" for p in report["pictures"]] + [""]
    if report.get("ops"):
        lines += ["## Ops", ""] + _table({f"`{k}`": {"count": v} for k, v in report["ops"].items()}, "op")
    return "\n".join(lines)
