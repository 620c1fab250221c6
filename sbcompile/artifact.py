"""Output directories: written whole or not at all. Everything goes into a hidden sibling
directory first and is renamed into place at the end, so a failure leaves nothing half-written.
Every output holds `module.sbir` with `weights.safetensors` beside it, and the report."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sbcompile.ir import Module, SbirError, print_module

MODULE_FILE = "module.sbir"
WEIGHTS_FILE = "weights.safetensors"
REPORT_JSON = "report.json"
REPORT_MD = "report.md"


@contextmanager
def atomic_directory(out: Path) -> Iterator[Path]:
    """Yield a temporary directory that becomes `out` only if the block succeeds. An existing
    `out` is replaced only if it is empty or an earlier sbcompile output."""
    out = Path(out)
    if out.exists():
        if not out.is_dir():
            raise SbirError(f"{out}: exists and is not a directory")
        if any(out.iterdir()) and not (out / MODULE_FILE).exists():
            raise SbirError(f"{out}: exists and is not an sbcompile output (no {MODULE_FILE}); refusing to overwrite it")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        out.rename(old)
        tmp.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(out)
    os.chmod(out, 0o755)


def write_module(module: Module, directory: Path) -> None:
    (directory / MODULE_FILE).write_text(print_module(module))
    module.weights.save(str(directory / WEIGHTS_FILE))


def write_report(report: dict, directory: Path) -> None:
    (directory / REPORT_JSON).write_text(json.dumps(report, indent=2, sort_keys=False) + "\n")
    (directory / REPORT_MD).write_text(report_markdown(report))


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
    for key in ("target", "pipeline", "params", "spiking", "k", "layout", "codes_outside_int8"):
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
    if report.get("timings"):
        lines += ["## Timings (seconds)", ""] + _table({k: {"seconds": v} for k, v in report["timings"].items()}, "stage")
    return "\n".join(lines)
