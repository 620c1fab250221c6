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


def report_markdown(report: dict) -> str:
    """The report for a person: what was compiled and how, a summary of the totals, the table per
    layer, then each pass's section (rendered by the pass, in the order of their `report_rank`;
    each says only what means something for the kind of network) and the target's, and the
    per-op detail folded at the end (report.json holds everything)."""
    from sbcompile.passes import PASSES
    from sbcompile.passes.report import fold, is_network, per_unit, rate_source, table
    from sbcompile.targets import TARGETS

    lines = [f"# sbcompile report: {report.get('module', '?')}", ""]
    for key in ("target", "kind", "pipeline", "params", "spiking", "k", "nir.version", "nir.reset"):
        if key in report:
            lines.append(f"- **{key}**: {report[key]}")
    if "legalize" in report:
        lines.append(f"- **legalized**: added {', '.join(report['legalize']['added'])} ({report['legalize']['why']})")
    if ("energy" in report and not is_network(report)) or "calibrate" in report:
        lines.append(f"- **rates**: {rate_source(report)}")
    lines.append("")
    lines += summary_lines(report, per_unit(report))
    if report.get("layers"):
        lines += ["## Per layer", "", "Spiking projections' work per layer; each of the schedule's time steps "
                  "is counted at the layer where it starts.", ""] + table(report["layers"], "layer")
    rendered: set[tuple[str, ...]] = set()
    for cls in sorted(PASSES.values(), key=lambda c: c.report_rank):
        section = tuple(cls.report_section(report))
        if section not in rendered:  # passes that share a section render it once
            rendered.add(section)
            lines += section
    target = TARGETS.get(report.get("target", ""))
    if target is not None:
        lines += target.report_section(report)
    if report.get("pictures"):
        lines += ["## Pictures", ""] + [f"![{p}]({p})" for p in report["pictures"]] + [""]
    lines += ["## Detail", ""]
    if report.get("ops"):
        lines += fold("Ops by kind", table({f"`{k}`": {"count": v} for k, v in report["ops"].items()}, "op"))
    if report.get("timings"):
        lines += fold("Timings (seconds)", table({k: {"seconds": v} for k, v in report["timings"].items()}, "stage"))
    return "\n".join(lines)


def summary_lines(report: dict, per: str) -> list[str]:
    """The totals, each from the section that computed it."""
    out = [f"- {sum(report.get('ops', {}).values()):,} ops, {report.get('params', 0):,} parameters"]
    if "cores_used" in report:
        chips = report.get("chips_used", report.get("chips_needed", 0))
        out.append(f"- {report['cores_used']:,} neurocores on {chips:,} chips of {report['system']}, "
                   f"{len(report.get('host_ops', []))} ops on embedded or host processors")
    lv = report.get("lava", {})
    if lv.get("emitted"):
        cores = sum(n for k, n in lv["by_kind"].items() if k.endswith("(core)"))
        out.append(f"- Lava graph: {lv['processes']} processes, {cores} of them on neurocores")
    if "schedule" in report and per == "token":
        c = report["schedule"]
        out.append(f"- decode {c['decode_ms_per_token']['central']:.3g} ms per token "
                   f"({c['decode_tokens_per_s']['central']:.3g} tokens/s), prefill "
                   f"{c['prefill_tokens_per_s']['central']:,.0f} tokens/s (central estimates)")
    if "loihi2" in report.get("energy", {}):
        total = report["energy"]["loihi2"]["decode"]["total_j_per_token"]
        out.append(f"- {total['central']:.3g} J per {per} on Loihi 2, static power included "
                   f"(range {total['low']:.3g} to {total['high']:.3g})")
    return ["## Summary", ""] + out + [""]
