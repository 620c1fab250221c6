"""Pipelines a user extends: the word `default` is the target's pipeline, a target's required
passes are added by legalization (said on stderr and in the report), and a calibration sample
reaches the calibrate pass."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import sbcompile
from sbcompile.cli import main
from sbcompile.ir import SbirError
from sbcompile.passes import PipelineError, parse_pipeline
from sbcompile.targets import TARGETS

ROOT = Path(__file__).parents[2]
TINY = ROOT / "examples" / "tiny"
LIF = ROOT / "examples" / "lif_network.sbir"
LOIHI2 = TARGETS["loihi2"].default_pipeline.split(",")


def names(passes: list) -> list[str]:
    return [p.name for p in passes]


def test_default_expands_where_it_stands() -> None:
    assert names(parse_pipeline("default,dce", "canonicalize,cse")) == ["canonicalize", "cse", "dce"]
    assert names(parse_pipeline("cse,default", "canonicalize,dce")) == ["cse", "canonicalize", "dce"]
    assert parse_pipeline("default,quantize{weight-bits=4}", "cse")[1].weight_bits == 4
    with pytest.raises(PipelineError, match="'default' names a target's pipeline"):
        parse_pipeline("default,cse")


def test_default_in_the_command_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main([str(LIF), "--passes", "cse,default", "-o", str(tmp_path / "o")]) == 0
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert report["pipeline"] == "cse,canonicalize,cse,dce"
    art = sbcompile.compile(str(LIF), target="loihi2", passes="default,reorder-channels", calib=False)
    assert art.report["pipeline"].split(",") == LOIHI2 + ["reorder-channels"] and "legalize" not in art.report


def test_legalization_adds_required_passes_in_the_targets_order() -> None:
    target = TARGETS["loihi2"]()
    assert target.required_passes == ("quantize", "partition", "place")
    got, added = target.legalize(parse_pipeline("cse,dce"))
    assert names(got) == ["cse", "dce", "quantize", "partition", "place"] and added == ["quantize", "partition", "place"]
    got, added = target.legalize(parse_pipeline("cse,schedule,energy"))
    assert names(got) == ["cse", "quantize", "partition", "place", "schedule", "energy"]
    got, added = target.legalize(parse_pipeline("quantize{weight-bits=4},partition,place"))
    assert added == [] and got[0].weight_bits == 4  # the user's own options are kept
    assert TARGETS["ref"]().legalize(parse_pipeline("cse")) == (parse_pipeline("cse"), [])


def test_loihi2_pipeline_without_mapping_is_legalized(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "o"
    assert main([str(TINY), "-t", "loihi2", "--no-calib", "--passes", "cse,dce", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "target loihi2 cannot lower without quantize, partition, place: added quantize, partition, place" in err
    report = json.loads((out / "report.json").read_text())
    assert report["pipeline"] == "cse,dce,quantize,partition,place"
    assert report["legalize"]["added"] == ["quantize", "partition", "place"]
    assert "quantize, partition, place" in (out / "report.md").read_text()
    graph = json.loads((out / "lava_graph.json").read_text())
    dense = [p for p in graph["processes"] if p["kind"] == "dense"]
    assert len(dense) == report["lava"]["by_kind"]["dense (core)"] > 0  # projections mapped onto cores


def test_calibration_sample(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shipped = sbcompile.compile(str(TINY), passes="cse,dce")
    assert shipped.report["pipeline"] == f"cse,dce,calibrate{{text={TINY / 'calib.txt'}}}"
    assert shipped.report["calibrate"]["tokens"] == 512
    assert "calibrating on" in capsys.readouterr().err
    (tmp_path / "c.txt").write_text("def f(x):\n    return x\n")
    given = sbcompile.compile(str(TINY), passes="calibrate{tokens=16},dce", calib=str(tmp_path / "c.txt"))
    assert given.report["calibrate"] == {**given.report["calibrate"], "tokens": 16, "text": str(tmp_path / "c.txt")}
    assert "calibrate" not in sbcompile.compile(str(TINY), calib=False).report
    with pytest.raises(SbirError, match="--calib nowhere.txt: no such file"):
        sbcompile.compile(str(TINY), calib="nowhere.txt")


def test_time_passes_counts_the_frontend_and_emit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(LIF), "--time-passes", "-o", str(tmp_path / "o")]) == 0
    err = capsys.readouterr().err
    rows = err[err.index("pass timing"):].splitlines()
    frontend = next(r for r in rows if "(frontend: lif_network.sbir)" in r)
    total = next(r for r in rows if r.strip().endswith("total"))
    assert float(frontend.split()[0]) <= float(total.split()[0]) and "emit (after the pipeline)" in err
