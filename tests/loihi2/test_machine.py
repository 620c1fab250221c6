"""The Loihi 2 machine model: presets, JSON files and overrides, with clear errors; every
constant has a source (here and in docs/loihi2.md) and a consistent range."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sbcompile.ir import SbirError
from sbcompile.loihi2_model.costs import Loihi2Costs, Range
from sbcompile.targets.loihi2.machine import SOURCES, SYSTEMS, Loihi2Chip, Loihi2System, load_system

DOC = Path(__file__).parents[2] / "docs" / "loihi2.md"


def test_presets() -> None:
    assert load_system(None).cores == 128
    assert SYSTEMS["kapoho-point"].cores == 8 * 128
    assert SYSTEMS["hala-point"].cores == 140_544  # Hala Point's published core count
    assert load_system("hala-point").formats.weight_bits == 8
    chip = load_system(None).chip
    assert chip.core_memory_bits == 192 * 1024 * 8 and chip.embedded_processors == 3
    assert chip.message_bits("spike") == 40 and chip.message_bits("value") == 64


def test_every_constant_has_a_source_here_and_in_the_docs() -> None:
    fields = list(Loihi2Chip.model_fields) + list(Loihi2Costs.model_fields)
    assert sorted(SOURCES) == sorted(fields)
    assert all(len(SOURCES[f]) > 20 for f in fields)
    doc = DOC.read_text()
    missing = [f for f in fields if f"`{f}`" not in doc]
    assert not missing, f"docs/loihi2.md has no row for {missing}"


def test_ranges_are_ordered_and_scenarios_pick_the_right_end() -> None:
    costs = Loihi2Costs()
    for name in Loihi2Costs.model_fields:
        r = getattr(costs, name)
        assert r.low <= r.central <= r.high, name
    rate = Range(low=1, central=2, high=4, better="high")
    cost = Range(low=1, central=2, high=4)
    assert (rate.at("low"), rate.at("central"), rate.at("high")) == (4, 2, 1)  # optimistic end first
    assert (cost.at("low"), cost.at("central"), cost.at("high")) == (1, 2, 4)
    # Hala Point's all-in bound: 2,600 W over 380T synaptic ops/s
    assert costs.synop_j.high == pytest.approx(2600 / 380e12, rel=0.01)
    assert costs.chip_static_w.high == pytest.approx(2600 / 1152)


def test_json_file_and_overrides(tmp_path: Path) -> None:
    path = tmp_path / "sys.json"
    path.write_text(json.dumps({"name": "two", "chips": 2, "chip_mesh": [2, 1]}))
    s = load_system(str(path), {"chip.cores_per_chip": "152", "costs.barrier_s.central": "3e-6"})
    assert isinstance(s, Loihi2System) and s.cores == 304 and s.costs.barrier_s.central == 3e-6
    with pytest.raises(SbirError, match="--system option 'chip.cores': no such field"):
        load_system("loihi2-chip", {"chip.cores": "1"})
    with pytest.raises(SbirError, match="unknown system 'nope'; presets: loihi2-chip, kapoho-point, hala-point"):
        load_system("nope")
    path.write_text("{\"chips\": 2}")
    with pytest.raises(SbirError, match="not a valid Loihi 2 system description"):
        load_system(str(path))
