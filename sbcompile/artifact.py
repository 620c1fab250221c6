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
    parent = nearest_existing(out.parent)
    if not parent.is_dir():
        raise SbirError(f"{out}: cannot create it: {parent} is a file, not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise SbirError(f"{out}: cannot create it: {parent} is not writable")


def nearest_existing(path: Path) -> Path:
    """`path` itself if it exists, else its closest existing ancestor (where creating it starts)."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_folder_output(folder: Path, flag: str) -> None:
    """A folder sbcompile writes into: an existing writable folder, or one it can create."""
    if folder.exists() and not folder.is_dir():
        raise SbirError(f"{flag} {folder}: exists and is not a directory")
    existing = nearest_existing(folder)
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


def report_markdown(report: dict) -> str:
    """The report for a person: what was compiled and how, a summary of the totals, the table per
    layer, then each pass's section (rendered by the pass, in the order of their `report_rank`;
    each says only what means something for the kind of network) and the target's, and the
    per-op detail folded at the end (report.json holds everything)."""
    from sbcompile.passes import PASSES
    from sbcompile.passes.report import fold, is_network, per_unit, rate_source, table
    from sbcompile.targets import TARGETS

    lines = [f"# sbcompile report: {report.get('module', '?')}", ""]
    for key in ("target", "kind", "pipeline", "params", "spiking", "k", "layout", "codes_outside_int8", "nir.version",
                "nir.reset"):
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
    return "\n".join(lines)


def summary_lines(report: dict, per: str) -> list[str]:
    """The totals, each from the section that computed it."""
    out = [f"- {sum(report.get('ops', {}).values()):,} ops, {report.get('params', 0):,} parameters"]
    if "cores_used" in report:
        chips = report.get("chips_used", report.get("chips_needed", 0))
        out.append(f"- {report['cores_used']:,} neurocores on {chips:,} chip{'s' if chips != 1 else ''} of {report['system']}, "
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
