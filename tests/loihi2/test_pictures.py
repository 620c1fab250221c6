"""Pictures: the placed mesh and a spike raster are written and linked from report.md; a mapping
that does not fit still draws the cores it needed and names the file in the error."""

from __future__ import annotations

from pathlib import Path

import pytest

from sbcompile.cli import main

TINY = Path(__file__).parents[2] / "examples" / "tiny"
PNG = b"\x89PNG\r\n\x1a\n"


def test_mesh_and_raster(tmp_path: Path) -> None:
    out = tmp_path / "o"
    passes = f"cse,dce,calibrate{{text={TINY / 'calib.txt'},tokens=128}},partition,place,schedule,energy"
    assert main([str(TINY), "-t", "loihi2", "--passes", passes, "--raster", "layers_0_attn_q_proj_spikes", "-o", str(out)]) == 0
    for name in ("mesh.png", "raster.png"):
        assert (out / name).read_bytes()[:8] == PNG
        assert f"![{name}]({name})" in (out / "report.md").read_text()


def test_failed_mapping_draws_its_core_map(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["spikingbrain-7b", "-t", "loihi2", "--passes", "cse,partition", "--reproducer-dir", str(tmp_path),
               "-o", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 1 and f"core map: {tmp_path / 'partition-cores.png'}" in err
    assert (tmp_path / "partition-cores.png").read_bytes()[:8] == PNG and not (tmp_path / "o").exists()


def test_raster_needs_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(TINY), "--no-calib", "--raster", "lm_head", "-o", str(tmp_path / "o")]) == 1
    assert "--raster needs --raster-text FILE" in capsys.readouterr().err
