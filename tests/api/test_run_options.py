"""`sbcompile run`'s options from issue 23: population statistics of a spiking network that add
up to its output, sampling flags, --no-echo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sbcompile.cli import main

ROOT = Path(__file__).parents[2]


def test_population_stats_add_up_to_the_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "nir"
    assert main([str(ROOT / "examples" / "nir" / "net.nir"), "-o", str(out)]) == 0
    assert main(["run", str(out), "--inputs", str(ROOT / "examples" / "nir" / "inputs.npy"), "--stats",
                 "--save-outputs", str(tmp_path / "o.npy")]) == 0
    err = capsys.readouterr().err
    assert "over 50 steps" in err and "no spike activity" not in err
    rows = {line.split()[0]: line.split() for line in err.splitlines() if line.startswith("  %")}
    # the last population is the output: its spike count is the output's sum
    assert float(rows["%5"][2]) == np.load(tmp_path / "o.npy").sum() == 76
    assert int(rows["%1"][1]) == 4 * 8 * 8 and int(rows["%5"][1]) == 5  # neurons per population


def test_sampling_flags_and_no_echo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "tiny"
    assert main([str(ROOT / "examples" / "tiny"), "--no-calib", "-o", str(out)]) == 0
    args = ["run", str(out), "--text", "def ", "--generate", "12", "--temperature", "0.9", "--top-k", "8", "--seed", "4"]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert main(args + ["--no-echo"]) == 0
    second = capsys.readouterr().out
    assert first == "def " + second and len(second) > 1  # same seed, same text; the prompt echoed once
    assert main(["run", str(out), "--text", "x", "--generate", "2", "--top-k", "-1"]) == 1
    assert "--top-k must be 0 (all tokens) or positive" in capsys.readouterr().err
