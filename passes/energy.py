"""Energy per token: the Loihi 2 model (static chip power over the token's time plus the dynamic
energy of every placed op's work), beside the SpikingBrain report's 45 nm arithmetic and a dense
FP16 GPU count, from the module's own (calibrated) spike counts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sbcompile.ir import Module, Op
from sbcompile.ir.dialects.syn import Dense
from sbcompile.loihi2_model.costs import SCENARIOS
from sbcompile.loihi2_model.gpu_baseline import h200_measured

from .base import Pass, PassContext, option
from .calibrate import HIST_LIMIT, encoder_histogram
from .mapping import Loads, Timing, find
from .registry import register_pass
from .select_coding import events_per_count
from .report import is_network, rate_source

# 45 nm energies the SpikingBrain report takes from Yao et al., Nat. Commun. 15:4464 (2024), pJ.
E_MAC_FP16, E_MAC_INT8, E_ADD_INT8 = 1.5, 0.23, 0.03
PAPER_SPIKES_PER_CHANNEL = 1.13


def bitwise_sparsity(op: Op) -> float | None:
    """The report's sparsity of an encoder from calibration: counts sent bitwise over a window of
    max(3, bit length) steps, 1 - spikes / slots (histogram end bins taken at their value)."""
    hist = encoder_histogram(op)
    if hist is None:
        return None
    values = np.abs(np.arange(-HIST_LIMIT, HIST_LIMIT + 1))
    slots = np.maximum(3, np.array([int(v).bit_length() for v in values]))
    return float(1 - (events_per_count("bitwise", values) * hist).sum() / (slots * hist).sum())


def bitwise_spikes(op: Op) -> float | None:
    """Mean spikes per channel and token of an encoder under bitwise coding, from calibration."""
    hist = encoder_histogram(op)
    if hist is None:
        return None
    values = np.arange(-HIST_LIMIT, HIST_LIMIT + 1)
    return float((events_per_count("bitwise", values) * hist).sum() / max(hist.sum(), 1))


def paper_arithmetic(spikes_per_channel: float) -> dict:
    """The report's formula: a spiking MAC costs (spikes per channel) x E_add(int8)."""
    e = spikes_per_channel * E_ADD_INT8
    return {"spikes_per_channel": spikes_per_channel, "e_mac_spiking_pj": e,
            "saving_vs_fp16": 1 - e / E_MAC_FP16, "saving_vs_int8": 1 - e / E_MAC_INT8,
            "ratio_vs_fp16": E_MAC_FP16 / e, "ratio_vs_int8": E_MAC_INT8 / e}


def dynamic_j(loads: Loads, costs: object, scenario: str, idle_updates: float) -> dict[str, float]:
    """Joules per token of each kind of work in one scenario of the cost ranges."""
    e = {name: getattr(costs, name).at(scenario) for name in type(costs).model_fields}
    return {"synaptic ops": loads.synops * e["synop_j"],
            "neuron updates": loads.active_updates * e["neuron_update_active_j"] + idle_updates * e["neuron_update_idle_j"],
            "mesh traffic": loads.noc_bit_hops * e["noc_bit_hop_j"],
            "chip links": loads.chip_link_bits * e["chip_link_bit_j"],
            "embedded processors": loads.embedded_ops * e["embedded_op_j"],
            "host": loads.host_ops * e["host_op_j"] + loads.host_link_bits * e["host_link_bit_j"]}


def loihi2_energy(loads: Loads, timing: Timing, costs: object) -> dict:
    """Static and dynamic J/token for decode (steps one after another) and pipelined prefill
    (one step per token), each as {low, central, high}; low is the optimistic end."""
    out: dict[str, dict] = {"decode": {}, "prefill": {}}
    for mode in out:
        static, dynamic, parts = {}, {}, {}
        for k in SCENARIOS:
            est = timing.scenarios[k]
            seconds = est.decode_s if mode == "decode" else est.prefill_step_s
            steps = est.decode_steps if mode == "decode" else 1
            idle = float(loads.neurons * max(steps - 1, 0))  # every neuron, every other step
            d = dynamic_j(loads, costs, k, idle)
            static[k] = loads.chips * getattr(costs, "chip_static_w").at(k) * seconds
            dynamic[k] = sum(d.values())
            parts[k] = d
        out[mode] = {"static_j_per_token": static, "dynamic_j_per_token": dynamic,
                     "total_j_per_token": {k: static[k] + dynamic[k] for k in SCENARIOS},
                     "dynamic_central_by_kind": {n: v for n, v in parts["central"].items()}}
    return out


@register_pass
@dataclass(frozen=True)
class Energy(Pass):
    """Estimates energy per token. Loihi 2 (after schedule): static power of every chip in use
    over the token's time (decode: its steps one after another; prefill: one pipelined step),
    plus dynamic energy for every placed op, spiking or not: synaptic ops, neuron updates in
    every step they are clocked (active or idle), bits times mesh hops, chip-link bits, embedded
    and host work and host-link bits, each a range from the machine's cost figures. Beside it,
    the SpikingBrain report's 45 nm arithmetic (a spiking MAC costs spikes per channel x
    0.03 pJ, against 1.5 pJ FP16), and a dense FP16 count of every MAC (memory traffic not counted).

    Requires: nothing (schedule adds the Loihi 2 figures; calibration sharpens the spike counts).
    Guarantees: the module is unchanged; the report gains an `energy` section with
    `static_j_per_token` and `dynamic_j_per_token` (decode) as {low, central, high}."""

    name = "energy"
    default_spikes: float = option(PAPER_SPIKES_PER_CHANNEL, "bitwise spikes per channel where no calibration says")

    report_rank = 90
    report_key = "energy"

    @classmethod
    def render_section(cls, e: dict, report: dict) -> list[str]:
        if is_network(report) and "loihi2" in e:
            dec = e["loihi2"]["decode"]
            return ["## Energy per time step", "",
                    f"- Loihi 2: static {_rng(dec['static_j_per_token'])} J + dynamic {_rng(dec['dynamic_j_per_token'])} J "
                    "per time step (low / central / high)", "- see docs/energy.md for what it assumes", ""]
        return markdown(report)

    def run(self, module: Module, ctx: PassContext) -> bool:
        macs = spiking_macs = events = 0.0
        measured: list[tuple[float, int]] = []
        sparsity: list[tuple[float, int]] = []
        for op in module.ops:
            if not op.isa(Dense):
                continue
            n_out, n_in = op.result.type.shape[-1], op.operands[0].type.shape[-1]
            macs += n_in * n_out
            src = op.operands[0].owner
            if op.operands[0].type.kind != "spikes" or src is None:
                continue
            s = bitwise_spikes(src)
            if s is not None:
                measured.append((s, n_in * n_out))
                sparsity.append((bitwise_sparsity(src), n_in * n_out))
            spiking_macs += n_in * n_out
            events += (s if s is not None else self.default_spikes) * n_in * n_out
        mean_spikes = (sum(s * w for s, w in measured) / sum(w for _, w in measured)) if measured else self.default_spikes
        dense = macs - spiking_macs
        section = {
            "macs_per_token": macs, "spiking_macs_per_token": spiking_macs,
            "spikes_per_channel": mean_spikes, "spikes_measured": bool(measured),
            "sparsity_measured": (sum(s * w for s, w in sparsity) / sum(w for _, w in sparsity)) if sparsity else None,
            "sparsity_paper": 0.6915,
            "paper_45nm": {**paper_arithmetic(mean_spikes),
                           "uj_per_token_spiking": (events * E_ADD_INT8 + dense * E_MAC_FP16) * 1e-6,
                           "uj_per_token_fp16": macs * E_MAC_FP16 * 1e-6},
            "gpu_fp16": {"uj_per_token": macs * E_MAC_FP16 * 1e-6, "note": "MACs x 1.5 pJ; memory traffic not counted"},
        }
        timing, loads = find(ctx, Timing), find(ctx, Loads)
        if timing is not None and loads is not None:
            loihi = loihi2_energy(loads, timing, ctx.machine.costs)
            gpu = h200_measured()
            section.update({"static_j_per_token": loihi["decode"]["static_j_per_token"],
                            "dynamic_j_per_token": loihi["decode"]["dynamic_j_per_token"],
                            "loihi2": loihi,
                            # the GPU figures sit beside the model they were measured for, and no other
                            "h200_measured": {**gpu, "model": module.name} if module.name in gpu["models"] else None,
                            "work_per_token": {"synaptic_ops": loads.synops, "neurons": loads.neurons,
                                               "chip_link_bits": loads.chip_link_bits, "embedded_ops": loads.embedded_ops,
                                               "host_ops": loads.host_ops, "host_link_bits": loads.host_link_bits,
                                               "chips": loads.chips}})
        ctx.report["energy"] = section
        return False


def _rng(r: dict, fmt: str = ".3g") -> str:
    return f"{r['low']:{fmt}} / {r['central']:{fmt}} / {r['high']:{fmt}}"


def markdown(report: dict) -> list[str]:
    """The report's energy section, with the Loihi 2 prediction beside the H200's measurements."""
    if "energy" not in report:
        return []
    e = report["energy"]
    lines = ["## Energy per token", ""]
    if "loihi2" in e:
        lo, s = e["loihi2"], report.get("schedule", {})
        dec, pre = lo["decode"], lo["prefill"]
        chips = e["work_per_token"]["chips"]
        lines += [f"Loihi 2 ({chips:,} chip{'s' if chips != 1 else ''}; low / central / high, low = the optimistic end):", "",
                  f"- decode: static {_rng(dec['static_j_per_token'])} J + dynamic {_rng(dec['dynamic_j_per_token'])} J "
                  f"= {_rng(dec['total_j_per_token'])} J per token",
                  f"- prefill (pipelined): static {_rng(pre['static_j_per_token'])} J + dynamic "
                  f"{_rng(pre['dynamic_j_per_token'])} J per token",
                  "- dynamic, central, by kind: " + ", ".join(f"{k} {v:.3g} J" for k, v in dec["dynamic_central_by_kind"].items()),
                  ""]
        gpu = e.get("h200_measured")
        ours = gpu["models"][gpu["model"]] if gpu else None
        if s and ours:
            d_tps, p_tps, d_ms = s["decode_tokens_per_s"], s["prefill_tokens_per_s"], s["decode_ms_per_token"]
            gp, gd = ours["prefill"], ours["decode"]
            lines += [f"Beside the {gpu['device']}'s measured figures for {gpu['model']} ({gpu['source']}):", "",
                      "| | Loihi 2 (low / central / high) | H200 measured |", "|---|---|---|",
                      f"| prefill tokens/s | {_rng(p_tps, ',.0f')} | {gp['tokens_per_s']:,} (at {gp['context_tokens']:,} tokens) |",
                      f"| prefill J/token | {_rng(pre['total_j_per_token'])} | {gp['j_per_token']} |",
                      f"| decode tokens/s | {_rng(d_tps)} | {gd['tokens_per_s']} (at {gd['context_tokens']:,} context) |",
                      f"| decode ms/token | {_rng(d_ms)} | {1e3 / gd['tokens_per_s']:.3g} |",
                      f"| decode J/token | {_rng(dec['total_j_per_token'])} | {gd['j_per_token']} |", ""]
            lines += [f"- {verdict('prefill', pre['total_j_per_token'], gp['j_per_token'], p_tps, gp['tokens_per_s'])}",
                      f"- {verdict('decode', dec['total_j_per_token'], gd['j_per_token'], d_tps, gd['tokens_per_s'])}", ""]
    lines += [f"- {e['spikes_per_channel']:.2f} bitwise spikes per channel: {rate_source(report)}"
              + (f"; sparsity {e['sparsity_measured']:.1%} measured beside the report's {e['sparsity_paper']:.2%}"
                 if e.get("sparsity_measured") is not None else ""),
              f"- report's 45 nm arithmetic: {e['paper_45nm']['uj_per_token_spiking']:.3g} uJ spiking vs "
              f"{e['paper_45nm']['uj_per_token_fp16']:.3g} uJ FP16 ({e['paper_45nm']['saving_vs_fp16']:.1%} saved per MAC)",
              "- see docs/energy.md for what each assumes", ""]
    return lines


def verdict(mode: str, joules: dict, gpu_j: float, tps: dict, gpu_tps: float) -> str:
    """Who wins, said plainly: Loihi 2 only where even its pessimistic end beats the GPU."""
    def side(ours_best: float, ours_worst: float, theirs: float, lower_better: bool) -> str:
        if (ours_worst < theirs) if lower_better else (ours_worst > theirs):
            return "Loihi 2 wins"
        if (ours_best > theirs) if lower_better else (ours_best < theirs):
            return "the H200 wins"
        return "undecided within the range"
    return (f"{mode}: energy per token: {side(joules['low'], joules['high'], gpu_j, True)}; "
            f"speed: {side(tps['high'], tps['low'], gpu_tps, False)}")
