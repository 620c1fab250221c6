"""Per-layer figures of a compiled language model, for the report's layer table and the per-layer
plots: ops, projections, cores, the spike rate (measured by calibration, or assumed from the
SpikingBrain report) and where it came from, synaptic events (one per graded spike and synapse:
a channel sends one in each token its count is not zero) and Loihi-style energy per token,
host traffic, and the time steps a token spends in the layer along the schedule's critical path.
Every column adds up to the report's own total (energy: the Loihi-style figure less its hops)."""

from __future__ import annotations

from typing import Any

from sbcompile.ir import Module
from sbcompile.ir.dialects.syn import Dense
from sbcompile.pictures import layer_of

INPUT, OUTPUT = "input", "output"


def layer_keys(module: Module) -> dict[str, str]:
    """Each value's layer: `layer N` from its name, else `input` before the first layer's ops and
    `output` after them."""
    keys: dict[str, str] = {}
    seen_layer = False
    for op in module.ops:
        n = layer_of(op.result.name, -1)
        seen_layer |= n >= 0
        keys[op.result.name] = f"layer {n}" if n >= 0 else (OUTPUT if seen_layer else INPUT)
    return keys


def layer_table(module: Module, report: dict[str, Any], results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """One row per layer (empty for modules without layers, e.g. NIR networks); columns only for
    what the pipeline computed."""
    from sbcompile.passes.energy import PAPER_SPIKES_PER_CHANNEL, bitwise_spikes
    from sbcompile.loihi2_model.costs import Loihi2Costs

    costs = Loihi2Costs()
    e_synop, e_update = costs.synop_j.central * 1e12, costs.neuron_update_active_j.central * 1e12  # pJ

    keys = layer_keys(module)
    if not any(k.startswith("layer ") for k in keys.values()):
        return {}
    rows: dict[str, dict[str, Any]] = {}
    mapped = any("hw.cores" in op.attrs for op in module.ops)
    for op in module.ops:
        row = rows.setdefault(keys[op.result.name], {"ops": 0, "projections": 0, "cores": 0, "measured": 0,
                                                     "assumed": 0, "spikes": 0.0, "events": 0.0, "neurons": 0,
                                                     "macs": 0.0})
        row["ops"] += 1
        if mapped and "hw.cores" in op.attrs:
            row["cores"] += int(op.attrs["hw.cores"][1])
        if not op.isa(Dense):
            continue
        row["projections"] += 1
        src = op.operands[0].owner
        if op.operands[0].type.kind != "spikes" or src is None:
            continue
        n_in, n_out = op.operands[0].type.shape[-1], op.result.type.shape[-1]
        spikes = bitwise_spikes(src)
        row["measured" if spikes is not None else "assumed"] += 1
        rate = spikes if spikes is not None else PAPER_SPIKES_PER_CHANNEL
        row["spikes"] += rate * n_in * n_out
        row["events"] += active_share(src, report) * n_in * n_out
        row["macs"] += n_in * n_out
        row["neurons"] += n_out
    host = {h["value"]: h for h in report.get("host_ops", [])}
    steps = critical_path_steps(report, results)
    traffic = mesh_traffic(results)
    calib_tokens = report.get("calibrate", {}).get("tokens")
    out: dict[str, dict[str, Any]] = {}
    for key, row in rows.items():
        line: dict[str, Any] = {"ops": row["ops"], "projections": row["projections"]}
        if mapped:
            line["cores"] = row["cores"]
        line["bitwise spikes/channel"] = round(row["spikes"] / row["macs"], 4) if row["macs"] else "-"
        line["rate from"] = ("-" if not row["macs"] else f"measured on {calib_tokens} tokens" if not row["assumed"] else
                             "assumed (the report's 1.13)" if not row["measured"] else
                             f"{row['measured']} measured, {row['assumed']} assumed")
        if "energy" in report:
            line["synaptic events/token"] = round(row["events"])
            line["energy uJ/token"] = round((row["events"] * e_synop + row["neurons"] * e_update) * 1e-6, 6)
        if host:
            line["host bytes/token"] = sum(h["bytes_per_token_in"] + h["bytes_per_token_out"]
                                           for v, h in host.items() if keys.get(v) == key)
        if traffic:
            line["messages/token"] = round(sum(m for v, (m, _) in traffic.items() if keys.get(v) == key), 3)
            line["message hops/token"] = round(sum(h for v, (_, h) in traffic.items() if keys.get(v) == key), 3)
        if steps:
            line["time steps/token"] = sum(s for v, s in steps.items() if keys.get(v) == key)
        out[key] = line
    return out


def active_share(encoder: Any, report: dict[str, Any]) -> float:
    """The share of tokens in which the encoder's channels send a graded spike, as placement
    counts messages: calibrated, else the placement's assumption."""
    from sbcompile.passes.traffic import PAPER_ACTIVE_SHARE, channel_rates

    default = float(report.get("place", {}).get("default_active", PAPER_ACTIVE_SHARE))
    return float(channel_rates(encoder, encoder.result.type.shape[-1], default).mean())


def critical_path_steps(report: dict[str, Any], results: dict[str, Any]) -> dict[str, int]:
    """Where a token's time goes: each time step of the schedule (an op's level: one past its
    latest operand's) counted once, at the first op in module order that runs in it; they sum
    to the schedule's `levels`."""
    from sbcompile.passes.mapping import Timing

    timing = results.get(Timing.__name__)
    if not isinstance(timing, Timing) or not timing.level:
        return {}
    steps, seen = {}, set()
    for name, level in timing.level.items():
        if level not in seen:
            seen.add(level)
            steps[name] = steps.get(name, 0) + 1
    return steps


def mesh_traffic(results: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """Messages per token into each consuming value over the placed mesh, and those messages times
    their mesh hops (the traffic's edges, attributed to the op that receives them)."""
    import numpy as np

    from sbcompile.passes.mapping import Traffic

    t = results.get(Traffic.__name__)
    if not isinstance(t, Traffic) or not len(t.src):
        return {}
    hops = np.abs(t.node_pos[t.src] - t.node_pos[t.dst]).sum(axis=1)
    n = len(t.transfers)
    messages = np.bincount(t.transfer, weights=t.messages, minlength=n)
    hop_messages = np.bincount(t.transfer, weights=t.messages * hops, minlength=n)
    out: dict[str, tuple[float, float]] = {}
    for i, (_, consumer) in enumerate(t.transfers):
        m, h = out.get(consumer, (0.0, 0.0))
        out[consumer] = (m + float(messages[i]), h + float(hop_messages[i]))
    return out
