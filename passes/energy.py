"""Energy per token under three cost models, from the module's own (calibrated) spike counts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sbcompile.ir import Module, Op

from .base import Pass, PassContext, option
from .calibrate import HIST_LIMIT, encoder_histogram
from .registry import register_pass
from .select_coding import events_per_count
from .report import is_network, rate_source

# 45 nm energies the SpikingBrain report takes from Yao et al., Nat. Commun. 15:4464 (2024), pJ.
E_MAC_FP16, E_MAC_INT8, E_ADD_INT8 = 1.5, 0.23, 0.03
# Loihi (Davies et al., IEEE Micro 38(1), 2018, Table 1), pJ: Loihi 2's per-op energies are unpublished.
E_SYNOP, E_NEURON_UPDATE, E_HOP = 23.6, 52.0, 3.5
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


@register_pass
@dataclass(frozen=True)
class Energy(Pass):
    """Estimates energy per token three ways and says what each assumes. (1) The SpikingBrain
    report's 45 nm arithmetic: every multiply-accumulate of a spiking projection costs (spikes
    per channel) x 0.03 pJ against 1.5 pJ (FP16) or 0.23 pJ (INT8), with spikes per channel
    measured by calibration under bitwise coding (else the report's 1.13). (2) Loihi-style:
    23.6 pJ per synaptic event (a spike reaching a synapse), 52 pJ per neuron update, 3.5 pJ per
    mesh hop of a message (from `place`, when it ran). (3) A dense FP16 GPU baseline at 1.5 pJ
    per MAC, memory traffic not counted. All ignore memory hierarchy and routing overheads the
    report also leaves out.

    Requires: nothing (calibration and placement sharpen it). Guarantees: the module is unchanged;
    the report gains an `energy` section."""

    name = "energy"
    default_spikes: float = option(PAPER_SPIKES_PER_CHANNEL, "bitwise spikes per channel where no calibration says")

    report_rank = 90
    report_key = "energy"

    @classmethod
    def render_section(cls, e: dict, report: dict) -> list[str]:
        if is_network(report):
            return ["## Energy per time step", "", f"- Loihi-style: {e['loihi']['uj_per_token']:.3g} uJ per time step "
                    f"({e['loihi']['synaptic_events_per_token']:,.0f} synaptic events)",
                    "- see docs/energy.md for what it assumes", ""]
        return ["## Energy per token", "",
                f"- {e['spikes_per_channel']:.2f} bitwise spikes per channel: {rate_source(report)}"
                + (f"; sparsity {e['sparsity_measured']:.1%} measured beside the report's {e['sparsity_paper']:.2%}"
                   if e.get("sparsity_measured") is not None else ""),
                f"- report's 45 nm arithmetic: {e['paper_45nm']['uj_per_token_spiking']:.3g} uJ spiking vs "
                f"{e['paper_45nm']['uj_per_token_fp16']:.3g} uJ FP16 ({e['paper_45nm']['saving_vs_fp16']:.1%} saved per MAC)",
                f"- Loihi-style: {e['loihi']['uj_per_token']:.3g} uJ; GPU FP16 MACs: {e['gpu_fp16']['uj_per_token']:.3g} uJ",
                "- see docs/energy.md for what each assumes", ""]

    def run(self, module: Module, ctx: PassContext) -> bool:
        macs = spiking_macs = events = neurons = 0.0
        measured: list[tuple[float, int]] = []
        sparsity: list[tuple[float, int]] = []
        for op in module.ops:
            if op.name != "syn.dense":
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
            spikes = s if s is not None else self.default_spikes
            spiking_macs += n_in * n_out
            events += spikes * n_in * n_out
            neurons += n_out
        mean_spikes = (sum(s * w for s, w in measured) / sum(w for _, w in measured)) if measured else self.default_spikes
        hops = ctx.report.get("place", {}).get("ours", {}).get("hop_traffic", 0.0)
        dense = macs - spiking_macs
        ctx.report["energy"] = {
            "macs_per_token": macs, "spiking_macs_per_token": spiking_macs,
            "spikes_per_channel": mean_spikes, "spikes_measured": bool(measured),
            "sparsity_measured": (sum(s * w for s, w in sparsity) / sum(w for _, w in sparsity)) if sparsity else None,
            "sparsity_paper": 0.6915,
            "paper_45nm": {**paper_arithmetic(mean_spikes),
                           "uj_per_token_spiking": (events * E_ADD_INT8 + dense * E_MAC_FP16) * 1e-6,
                           "uj_per_token_fp16": macs * E_MAC_FP16 * 1e-6},
            "loihi": {"synaptic_events_per_token": events, "hop_traffic": hops,
                      "uj_per_token": (events * E_SYNOP + neurons * E_NEURON_UPDATE + hops * E_HOP) * 1e-6,
                      "note": "Loihi 1 per-op energies (Davies 2018) as the anchor; non-spiking ops not counted"},
            "gpu_fp16": {"uj_per_token": macs * E_MAC_FP16 * 1e-6, "note": "MACs x 1.5 pJ; memory traffic not counted"},
        }
        return False
