"""`sbcompile run` on a loihi2 artifact: every bad input is refused before Lava starts, in one
line and well within 60 s, and a failure after Lava started still shuts it down. The ref and
loihi2 targets give the same output array for the same network."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sbcompile.cli import main

ROOT = Path(__file__).parents[2]
NIR = ROOT / "examples" / "nir"


@pytest.fixture(scope="module")
def nets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("run")
    out = {"loihi2": base / "l2", "ref": base / "ref"}
    for target, path in out.items():
        assert main([str(NIR / "net.nir"), "-t", target, "-o", str(path)]) == 0
    return out


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sbcompile", "run", *args], capture_output=True, text=True,
                          timeout=60, cwd=ROOT)


def test_bad_inputs_refused_in_one_line_without_hanging(nets: dict[str, Path], tmp_path: Path) -> None:
    np.save(tmp_path / "wide.npy", np.zeros((5, 1, 8, 7), np.float32))
    np.save(tmp_path / "nan.npy", np.full((5, 1, 8, 8), np.nan, np.float32))
    (tmp_path / "ids.txt").write_text("999999")
    (tmp_path / "report").mkdir()
    cases = {
        ("--text", "hi"): "module @net takes tensor<[seq, 1, 8, 8], f32>, not token ids: run it with --inputs FILE.npy",
        ("--tokens", str(tmp_path / "ids.txt")): "not token ids",
        ("--text", ""): "--text is empty",
        ("--inputs", str(tmp_path / "wide.npy")): "wide.npy: input 'input' of module @net is tensor<[seq, 1, 8, 8], f32>: "
                                                  "expected an array [time, 1, 8, 8], got [5, 1, 8, 7]",
        ("--inputs", str(tmp_path / "nan.npy")): "nan.npy: the array holds NaN or infinite values",
        ("--inputs", str(NIR / "inputs.npy"), "--generate", "-5"): "--generate must be 0 or more tokens, got -5",
        ("--inputs", str(NIR / "inputs.npy"), "--save-outputs", str(tmp_path / "ids.txt" / "o.npy")): "ids.txt: exists and is not a directory",
        ("--inputs", str(NIR / "inputs.npy"), "--save-outputs", str(tmp_path / "report")): "is a directory",
    }
    for args, needle in cases.items():
        r = run_cli(str(nets["loihi2"]), *args)
        assert r.returncode == 1, (args, r.stderr)
        assert r.stderr.count("\n") == 1 and needle in r.stderr, (args, r.stderr)


def test_invalid_report_json_is_named(nets: dict[str, Path], tmp_path: Path) -> None:
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(nets["ref"], bad)
    for text, needle in (("{not json", "report.json: not a readable report"),
                         ("[1, 2]", "report.json: expected a JSON object whose 'target' is a name")):
        (bad / "report.json").write_text(text)
        r = run_cli(str(bad), "--inputs", str(NIR / "inputs.npy"))
        assert r.returncode == 1 and needle in r.stderr and r.stderr.count("\n") == 1, r.stderr


def test_failure_after_lava_started_shuts_it_down(nets: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    import sbcompile.run as run

    def broken(*args: object) -> int:
        raise RuntimeError("broken after start")

    monkeypatch.setattr(run, "run_inputs", broken)
    assert main(["run", str(nets["loihi2"]), "--inputs", str(NIR / "inputs.npy")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("sbcompile: internal error: RuntimeError: broken after start at ") and err.count("\n") == 1
    assert not [p for p in multiprocessing.active_children() if p.is_alive()]


def test_ref_and_loihi2_outputs_share_one_layout(nets: dict[str, Path], tmp_path: Path) -> None:
    outs = {}
    for target, path in nets.items():
        r = run_cli(str(path), "--inputs", str(NIR / "inputs.npy"), "--save-outputs", str(tmp_path / f"{target}.npy"))
        assert r.returncode == 0, r.stderr
        outs[target] = np.load(tmp_path / f"{target}.npy")
    assert outs["ref"].shape == outs["loihi2"].shape == (50, 5)
    np.testing.assert_array_equal(outs["ref"], outs["loihi2"])


def test_prompt_past_the_trained_context_warns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sbcompile.artifact import write_module
    from tests.targets.handmade import tiny_lm

    module = tiny_lm()
    module.attrs["context"] = 4
    write_module(module, tmp_path)
    assert main(["run", str(tmp_path), "--text", "abc", "--generate", "1"]) == 0
    assert "warning" not in capsys.readouterr().err
    assert main(["run", str(tmp_path), "--text", "abc", "--generate", "2"]) == 0
    err = capsys.readouterr().err
    assert "sbcompile run: warning: 5 tokens exceed the 4 tokens @" in err and "trained on" in err


def test_damaged_loihi2_artifact_is_named(nets: dict[str, Path], tmp_path: Path) -> None:
    import json
    import shutil

    damages = {
        "graph_not_json": (lambda d: (d / "lava_graph.json").write_text('{"x":'), "lava_graph.json: not a readable process graph"),
        "graph_a_list": (lambda d: (d / "lava_graph.json").write_text("[1]"), "lava_graph.json: not a readable process graph"),
        "no_lava_weights": (lambda d: (d / "lava_weights.safetensors").unlink(), "cannot read the Lava weights"),
        "bad_lava_weights": (lambda d: (d / "lava_weights.safetensors").write_text("junk"), "cannot read the Lava weights"),
    }

    def no_params(d: Path) -> None:
        graph = json.loads((d / "lava_graph.json").read_text())
        graph["processes"][1].pop("params")
        (d / "lava_graph.json").write_text(json.dumps(graph))

    damages["process_without_params"] = (no_params, "cannot build the Lava processes")
    for name, (damage, needle) in damages.items():
        copy = tmp_path / name
        shutil.copytree(nets["loihi2"], copy)
        damage(copy)
        r = run_cli(str(copy), "--inputs", str(NIR / "inputs.npy"))
        assert r.returncode == 1 and r.stderr.count("\n") == 1 and needle in r.stderr, (name, r.stderr)
        assert "internal error" not in r.stderr
