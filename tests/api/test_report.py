"""The report agrees with itself and with the artifact's own files: core counts with module.sbir's
`hw.cores`, process counts with lava_graph.json, rates with the calibration in module.sbir; the
summary comes first; sections only where they mean something for the kind of network."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import sbcompile
from sbcompile.frontend import load_sbir
from sbcompile.ir.dialects.spike import Encode
from sbcompile.layers import layer_keys
from sbcompile.passes.energy import bitwise_spikes

ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "tiny"
    sbcompile.compile(str(ROOT / "examples" / "tiny"), target="loihi2", notes=False).save(out)
    return out


def test_core_and_process_counts_agree_with_the_files(tiny: Path) -> None:
    report = json.loads((tiny / "report.json").read_text())
    module = load_sbir(tiny / "module.sbir")
    graph = json.loads((tiny / "lava_graph.json").read_text())
    cores = {op.result.name: op.attrs["hw.cores"][1] for op in module.ops if "hw.cores" in op.attrs}
    assert report["cores_used"] == sum(cores.values()) == sum(r["cores"] for r in report["layers"].values())
    lava = report["lava"]
    assert lava["processes"] == len(graph["processes"]) == sum(lava["by_kind"].values())
    assert lava["connections"] == len(graph["connections"])
    on_cores = {name for p in graph["processes"] if p["where"] == "core" for name in p["ops"]}
    assert lava["cores_in_graph"] == sum(n for name, n in cores.items() if name in on_cores)
    assert sorted(lava["mapped_ops_on_host"]) == sorted(set(cores) - on_cores)
    assert lava["cores_in_graph"] + sum(cores[n] for n in lava["mapped_ops_on_host"]) == report["cores_used"]
    md = (tiny / "report.md").read_text()
    on_core_kinds = sum(n for kind, n in lava["by_kind"].items() if kind.endswith("(core)"))
    assert f"of the mapping's {report['cores_used']} cores, the graph's {on_core_kinds} neurocore " \
           f"processes use {lava['cores_in_graph']}" in md


def test_rates_agree_with_the_calibration_in_the_module(tiny: Path) -> None:
    report = json.loads((tiny / "report.json").read_text())
    module = load_sbir(tiny / "module.sbir")
    encoders = [op for op in module.ops if op.isa(Encode)]
    assert encoders and {op.attrs["calib.tokens"] for op in encoders} == {report["calibrate"]["tokens"]} == {512}
    assert report["energy"]["spikes_measured"] is True
    keys = layer_keys(module)
    for layer, row in report["layers"].items():
        dense = [op for op in module.ops if keys[op.result.name] == layer and "hw.tiles" in op.attrs
                 and op.operands[0].type.kind == "spikes"]
        if not dense:
            assert row["rate from"] == "-"
            continue
        macs = [op.operands[0].type.shape[-1] * op.result.type.shape[-1] for op in dense]
        want = sum(bitwise_spikes(op.operands[0].owner) * m for op, m in zip(dense, macs)) / sum(macs)
        assert row["bitwise spikes/channel"] == pytest.approx(want, abs=1e-4)
        assert row["rate from"] == "measured on 512 tokens"
    assert "measured by calibrate on 512 tokens" in (tiny / "report.md").read_text()


def test_layer_columns_add_up_to_the_totals(tiny: Path) -> None:
    report = json.loads((tiny / "report.json").read_text())
    rows = report["layers"].values()
    assert sum(r["time steps/token"] for r in rows) == report["schedule"]["levels"]
    # the layers' spiking projections are part of the synaptic work the energy model charges for
    synops = report["energy"]["work_per_token"]["synaptic_ops"]
    assert 0 < sum(r["synaptic events/token"] for r in rows) <= synops * (1 + 1e-9)


def test_summary_first_detail_folded(tiny: Path) -> None:
    md = (tiny / "report.md").read_text()
    order = [md.index(h) for h in ("## Summary", "## Per layer", "## Quantization", "## Mapping", "## Lava process graph",
                                   "## Detail")]
    assert order == sorted(order)
    # the per-op rows are folded under a one-line summary
    assert md.index("<details><summary>per op</summary>") < md.index("| layers_0_attn_q_proj | 8 |")


def test_a_spiking_network_report_has_no_token_figures(tmp_path: Path) -> None:
    art = sbcompile.compile(str(ROOT / "examples" / "nir" / "net.nir"), target="loihi2", notes=False)
    art.save(tmp_path / "nir")
    md = (tmp_path / "nir" / "report.md").read_text()
    assert art.report["kind"] == "spiking network" and "layers" not in art.report
    for word in ("tokens/s", "FP16", "per token", "spikes per channel"):
        assert word not in md, word
    assert "## Energy per time step" in md and "an input reaches the output" in md
    assert np.isfinite(art.report["energy"]["loihi2"]["decode"]["total_j_per_token"]["central"])


def test_per_layer_plots_are_linked(tiny: Path, tmp_path: Path) -> None:
    from sbcompile.pictures import layers_png

    assert (tiny / "layers.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "![layers.png](layers.png)" in (tiny / "report.md").read_text()
    report = json.loads((tiny / "report.json").read_text())
    assert layers_png(tmp_path / "l.png", report["layers"]) == ["energy", "traffic", "spikes", "time"]
    # a ref compile has rates but no mapping: one panel, and the picture says which rates were measured
    ref = sbcompile.compile(str(ROOT / "examples" / "tiny"), notes=False)
    assert layers_png(tmp_path / "r.png", ref.report["layers"]) == ["spikes"]
