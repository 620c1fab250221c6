"""The accuracy / sparsity / precision pipeline on the tiny model through the command line:
every dump parses back and verifies, two runs give the same bytes, and the report's quality
table has a row per stage."""

from __future__ import annotations

import json
from pathlib import Path

from sbcompile.cli import main
from sbcompile.ir import parse_file

TINY = Path(__file__).parents[2] / "examples" / "tiny"


def pipeline() -> str:
    ev, cal = TINY / "eval.txt", TINY / "calib.txt"
    e = f"evaluate{{text={ev},tokens=1024"
    return (f"cse,dce,{e},label=float,float=true}},{e},label=spiking}},calibrate{{text={cal},tokens=512}},"
            f"quantize{{group=32}},{e},label=int8}},static-threshold,{e},label=static}},"
            f"select-coding{{coding=bitwise,steps=3}},{e},label=bitwise-3}}")


def test_quality_pipeline_is_deterministic_and_dumps_parse(tmp_path: Path) -> None:
    for run in ("a", "b"):
        assert main([str(TINY), "--passes", pipeline(), "--dump-ir", str(tmp_path / f"dump-{run}"),
                     "-o", str(tmp_path / f"out-{run}")]) == 0
    dumps = sorted((tmp_path / "dump-a").iterdir())
    assert len(dumps) == 12  # the input and one per pass
    for d in dumps:
        parse_file(d)  # verifies too
        assert d.read_bytes() == (tmp_path / "dump-b" / d.name).read_bytes()
    for f in ("module.sbir", "weights.safetensors"):
        assert (tmp_path / "out-a" / f).read_bytes() == (tmp_path / "out-b" / f).read_bytes()
    report = json.loads((tmp_path / "out-a" / "report.json").read_text())
    q = report["quality"]
    assert list(q) == ["float", "spiking", "int8", "static", "bitwise-3"]
    assert "sparsity" not in q["float"] and 0 < q["spiking"]["sparsity"] < 1
    for stage in ("spiking", "int8"):
        assert abs(q[stage]["bits_per_byte"] / q["float"]["bits_per_byte"] - 1) < 0.05
    md = (tmp_path / "out-a" / "report.md").read_text()
    assert "## Quality" in md and "| bitwise-3 |" in md and "## Quantization" in md and "## Spike coding" in md
