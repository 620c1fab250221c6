"""Markdown for the report sections passes render (`Pass.report_section`): a table of rows, and
the one "Fixed point" section the three fixed-* passes share."""

from __future__ import annotations

from typing import Any


def table(rows: dict[str, dict], first: str) -> list[str]:
    """A markdown table: one row per key, one column per field seen in any row."""
    cols: list[str] = []
    for row in rows.values():
        cols += [c for c in row if c not in cols]
    lines = [f"| {first} | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for key, row in rows.items():
        lines.append(f"| {key} | " + " | ".join(cell(row.get(c, "")) for c in cols) + " |")
    return lines + [""]


def fold(title: str, body: list[str]) -> list[str]:
    """A section folded away (HTML details, which markdown viewers render collapsed)."""
    return [f"<details><summary>{title}</summary>", ""] + body + ["</details>", ""]


def is_network(report: dict) -> bool:
    """A spiking network (NIR, .sbir LIF nets) rather than a language model: no tokens."""
    return report.get("kind") == "spiking network"


def per_unit(report: dict) -> str:
    """What the report's rates are counted per: a token of a language model, a time step of a network."""
    return "time step" if is_network(report) else "token"


def rate_source(report: dict) -> str:
    """Where the spike rates the report uses came from."""
    cal = report.get("calibrate")
    if cal:
        return f"measured by calibrate on {cal['tokens']:,} tokens of {cal['text']}"
    return "assumed: the SpikingBrain report's 1.13 bitwise spikes per channel (no calibration; give --calib FILE)"


def cell(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def fixed_point_section(report: dict) -> list[str]:
    """What fixed-neurons, fixed-norms and fixed-encoders converted, under one heading."""
    fixed = {key: report[key] for key in ("fixed_neurons", "fixed_norms", "fixed_encoders") if key in report}
    if not fixed:
        return []
    lines = ["## Fixed point", ""]
    if "fixed_neurons" in fixed:
        f = fixed["fixed_neurons"]
        kept = "; ".join(f"%{k}: {why}" for k, why in f["kept_float"].items())
        lines.append(f"- {len(f['converted'])} neuron populations as Loihi compartments"
                     + (f", {len(f['kept_float'])} kept float ({kept})" if kept else ""))
    for key, what in (("fixed_norms", "norms"), ("fixed_encoders", "encoders")):
        if key in fixed:
            bits = sorted(set(fixed[key]["frac_bits"].values()))
            lines.append(f"- {len(fixed[key]['frac_bits'])} {what} in 24-bit integers, fraction bits {bits}")
    return lines + [""]
