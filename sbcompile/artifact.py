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
    """The report for a person: what was compiled and how, a summary of the totals, the table per
    layer, then each section (only those that mean something for the kind of network), and the
    per-op detail folded at the end (report.json holds everything)."""
    network = report.get("kind") == "spiking network"
    per = "time step" if network else "token"
    lines = [f"# sbcompile report: {report.get('module', '?')}", ""]
    for key in ("target", "kind", "pipeline", "params", "spiking", "k"):
        if key in report:
            lines.append(f"- **{key}**: {report[key]}")
    if "legalize" in report:
        lines.append(f"- **legalized**: added {', '.join(report['legalize']['added'])} ({report['legalize']['why']})")
    lines += [f"- **rates**: {rate_source(report)}", ""] if ("energy" in report and not network) or "calibrate" in report \
        else [""]
    lines += summary_lines(report, per)
    if report.get("layers"):
        lines += ["## Per layer", "", "Columns add up to the summary's totals; time steps are those of the "
                  "schedule's critical path.", ""] + _table(report["layers"], "layer")
    if report.get("quality"):
        lines += ["## Quality", "", "Measured by `evaluate` at each labelled point of the pipeline.", ""]
        lines += _table(report["quality"], "stage")
    if report.get("quantize", {}).get("ops"):
        q = report["quantize"]
        errors = [row["rel_error"] for row in q["ops"].values() if "rel_error" in row]
        worst = f"; relative weight error mean {sum(errors) / len(errors):.3g}, worst {max(errors):.3g}" if errors else ""
        lines += ["## Quantization", "", f"{q['weight_bits']}-bit codes, {q['scale_format']} scales, "
                  f"{len(q['ops'])} ops{worst}.", ""] + _fold("per op", _table(q["ops"], "op"))
    if report.get("select_coding", {}).get("ops"):
        c = report["select_coding"]
        lines += ["## Spike coding", "", f"{c['coding']} over {c['steps']} steps, counts in {c['range']}, "
                  f"{len(c['ops'])} encoders.", ""] + _fold("per encoder", _table(c["ops"], "encoder"))
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
        lines += [f"- placement: {p['ours']['messages_per_token']:,.0f} messages per {per}, {p['ours']['avg_hops']:.2f} "
                  f"hops each ({p['ratio']:.2f}x the hop traffic of in-order placement), "
                  f"{p['ours']['cross_chip_messages_per_token']:,.0f} crossing chips; message rates "
                  + ("calibrated" if "calibrate" in report else f"assumed ({p.get('default_rate', 1.13)} per channel)"), ""]
    if "schedule" in report:
        c = report["schedule"]
        lines += ["## Schedule", "",
                  (f"- {c['steps_per_token']:,} time steps per token x {c['step_us']} us = {c['latency_us_per_token'] / 1000:.3g} ms "
                   f"({c['tokens_per_second']:.3g} tokens/s)" if not network else
                   f"- an input takes {c['steps_per_token']:,} algorithmic time steps x {c['step_us']} us to reach the output"),
                  f"- busiest link {c['busiest_link']}: {c['busiest_link_messages_per_token']:,.0f} messages per {per} "
                  f"(capacity {c['link_capacity_per_step']:,.0f} per step)",
                  f"- critical path: {len(c['critical_path'])} ops, {' -> '.join(c['critical_path'][:4])} ... "
                  f"{c['critical_path'][-1]}", ""]
    if "reorder_channels" in report:
        r = report["reorder_channels"]
        lines += ["## Channel reordering", "",
                  f"- weight blocks of {r['block']} inputs skipped per {per}: {r['skipped_before']:.4g} before, "
                  f"{r['skipped_after']:.4g} after reordering, of {r['blocks']:,}",
                  f"- bytes skipped per {per}: {r['bytes_skipped_before']:,.0f} before, {r['bytes_skipped_after']:,.0f} "
                  f"after, of {r['bytes']:,}", ""]
    if "energy" in report:
        e = report["energy"]
        if network:
            lines += [f"## Energy per {per}", "", f"- Loihi-style: {e['loihi']['uj_per_token']:.3g} uJ per time step "
                      f"({e['loihi']['synaptic_events_per_token']:,.0f} synaptic events)",
                      "- see docs/energy.md for what it assumes", ""]
        else:
            lines += [f"## Energy per {per}", "",
                      f"- {e['spikes_per_channel']:.2f} bitwise spikes per channel: {rate_source(report)}"
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
                      f"- {'an input' if network else 'a token'} reaches the output {lv['latency_steps']} Lava time steps "
                      "after it enters (one per synaptic projection on its path)",
                      *graph_agreement_lines(report),
                      f"- files: {', '.join(lv['files'])}; run with `sbcompile run OUT ...` on Lava's simulator", ""]
        else:
            lines += ["## Lava process graph", "", f"- not emitted: {lv['why']}", ""]
    if report.get("pictures"):
        lines += ["## Pictures", ""] + [f"![{p}]({p})" for p in report["pictures"]] + [""]
    lines += ["## Detail", ""]
    if report.get("ops"):
        lines += _fold("Ops by kind", _table({f"`{k}`": {"count": v} for k, v in report["ops"].items()}, "op"))
    if report.get("timings"):
        lines += _fold("Timings (seconds)", _table({k: {"seconds": v} for k, v in report["timings"].items()}, "stage"))
    return "\n".join(lines)


def _fold(title: str, body: list[str]) -> list[str]:
    """A section folded away (HTML details, which markdown viewers render collapsed)."""
    return [f"<details><summary>{title}</summary>", ""] + body + ["</details>", ""]


def rate_source(report: dict) -> str:
    """Where the spike rates the report uses came from."""
    cal = report.get("calibrate")
    if cal:
        return f"measured by calibrate on {cal['tokens']:,} tokens of {cal['text']}"
    return "assumed: the SpikingBrain report's 1.13 bitwise spikes per channel (no calibration; give --calib FILE)"


def summary_lines(report: dict, per: str) -> list[str]:
    """The totals, each from the section that computed it."""
    out = [f"- {sum(report.get('ops', {}).values()):,} ops, {report.get('params', 0):,} parameters"]
    if "cores_used" in report:
        out.append(f"- {report['cores_used']:,} neurocores on {report['chips_used']:,} chips of {report['system']}, "
                   f"{len(report.get('host_ops', []))} ops on embedded or host processors")
    lv = report.get("lava", {})
    if lv.get("emitted"):
        cores = sum(n for k, n in lv["by_kind"].items() if k.endswith("(core)"))
        out.append(f"- Lava graph: {lv['processes']} processes, {cores} of them on neurocores")
    if "schedule" in report and per == "token":
        c = report["schedule"]
        out.append(f"- {c['latency_us_per_token'] / 1000:.3g} ms per token ({c['tokens_per_second']:.3g} tokens/s) "
                   f"at {c['step_us']} us per time step")
    if "energy" in report:
        out.append(f"- {report['energy']['loihi']['uj_per_token']:.3g} uJ per {per}, Loihi-style")
    return ["## Summary", ""] + out + [""]


def graph_agreement_lines(report: dict) -> list[str]:
    """The mapping's cores and the Lava graph's processes, reconciled: which mapped ops run on
    neurocores in the graph and which on the host."""
    lv = report["lava"]
    if "cores_in_graph" not in lv or "cores_used" not in report:
        return []
    dense = sum(n for k, n in lv["by_kind"].items() if k.endswith("(core)"))
    line = (f"- of the mapping's {report['cores_used']:,} cores, the graph's {dense} neurocore processes use "
            f"{lv['cores_in_graph']:,}")
    host = lv["mapped_ops_on_host"]
    if host:
        shown = ", ".join(f"%{n}" for n in host[:6]) + (f" and {len(host) - 6} more" if len(host) > 6 else "")
        line += (f"; {len(host)} mapped ops run in host processes instead ({shown}): "
                 "a neurocore's Dense takes integer spike counts and weight codes, and their inputs are not spikes "
                 "or their weights are float")
    return [line]
