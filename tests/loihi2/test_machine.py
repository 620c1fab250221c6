"""The Loihi 2 machine model: presets, JSON files and overrides, with clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sbcompile.ir import SbirError
from sbcompile.targets.loihi2.machine import SYSTEMS, Loihi2System, load_system


def test_presets() -> None:
    assert load_system(None).cores == 128
    assert SYSTEMS["kapoho-point"].cores == 8 * 128
    assert SYSTEMS["hala-point"].cores == 140_544  # Hala Point's published core count
    assert load_system("hala-point").formats.weight_bits == 8


def test_json_file_and_overrides(tmp_path: Path) -> None:
    path = tmp_path / "sys.json"
    path.write_text(json.dumps({"name": "two", "chips": 2, "chip_mesh": [2, 1]}))
    s = load_system(str(path), {"chip.cores_per_chip": "152"})
    assert isinstance(s, Loihi2System) and s.cores == 304
    with pytest.raises(SbirError, match="--system option 'chip.cores': no such field"):
        load_system("loihi2-chip", {"chip.cores": "1"})
    with pytest.raises(SbirError, match="unknown system 'nope'; presets: loihi2-chip, kapoho-point, hala-point"):
        load_system("nope")
    path.write_text("{\"chips\": 2}")
    with pytest.raises(SbirError, match="not a valid Loihi 2 system description"):
        load_system(str(path))
