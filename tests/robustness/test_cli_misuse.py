"""Misused options and paths: one line naming the option, checked before the frontend traces
anything; outputs replaced atomically, leftovers of killed runs cleaned."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sbcompile.artifact import atomic_directory
from sbcompile.cli import main
from tests.robustness.helpers import fails_with

ROOT = Path(__file__).parents[2]
LIF = ROOT / "examples" / "lif_network.sbir"


def test_output_paths(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "file").write_text("x")
    fails_with(capsys, [str(LIF), "-o", str(tmp_path / "file" / "out")], "/file is a file, not a directory")
    fails_with(capsys, [str(LIF), "-o", str(tmp_path / "file")], "file: exists and is not a directory")
    fails_with(capsys, [str(LIF), "--dump-ir", str(tmp_path / "file")], "--dump-ir")
    fails_with(capsys, [str(LIF), "--reproducer-dir", str(tmp_path / "file" / "r")], "--reproducer-dir")
    fails_with(capsys, [str(LIF), "--emit", "nir", "-o", str(tmp_path / "file" / "x.nir")], "file: exists and is not a directory")
    assert (tmp_path / "file").read_text() == "x"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_unwritable_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    fails_with(capsys, [str(LIF), "-o", str(locked / "out")], "is not writable")


def test_system_oserror_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    fails_with(capsys, [str(LIF), "-o", "/proc/sbcompile-out"], "/proc")


@pytest.mark.parametrize("argv, needle", [
    (["--k", "inf"], "--k must be a positive finite number, got inf"),
    (["--k", "nan"], "--k must be a positive finite number, got nan"),
    (["--k", "0"], "--k must be a positive finite number, got 0.0"),
    (["--dt", "inf"], "--dt must be a positive finite number, got inf"),
    (["--print-ir-after", "nosuchpass"], "--print-ir-after: unknown pass 'nosuchpass'"),
    (["--print-ir-after", "canonicalise"], "unknown pass 'canonicalise' (did you mean 'canonicalize'?)"),
    (["--print-ir-before", "quantize"], "--print-ir-before: pass 'quantize' is not in the pipeline (canonicalize, cse, dce)"),
    (["--passes", "calibrate{tokens=-5}"], "pass 'calibrate' option 'tokens': expected at least 1, got -5"),
    (["--passes", "calibrate{text=/nonexistent.txt}"], "pass 'calibrate' option text=/nonexistent.txt: no such file"),
    (["-t", "lohi2"], "unknown target 'lohi2' (did you mean 'loihi2'?)"),
    (["--config", "/nonexistent.json"], "--config /nonexistent.json: no such file"),
    (["-t", "loihi2", "--system", "/nonexistent.json"], "unknown system '/nonexistent.json'"),
    (["-t", "loihi2", "--system-set", "chip.cores_per_chip=0"], "--system-set: chip.cores_per_chip: Input should be greater than 0"),
    (["-t", "loihi2", "--system-set", "chip.cores_per_chip=-1"], "--system-set: chip.cores_per_chip: Input should be greater than 0"),
    (["--nosuchflag"], "unrecognized arguments: --nosuchflag"),
])
def test_bad_options(capsys: pytest.CaptureFixture[str], argv: list[str], needle: str) -> None:
    rc = main([str(LIF), *argv]) if argv[0] != "--nosuchflag" else None
    if rc is None:
        with pytest.raises(SystemExit) as e:
            main([str(LIF), *argv])
        assert e.value.code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and needle in err
        return
    err = capsys.readouterr().err
    assert rc == 1 and err.count("\n") == 1 and needle in err and "internal error" not in err, err


def test_options_are_checked_before_tracing(capsys: pytest.CaptureFixture[str]) -> None:
    t0 = time.perf_counter()
    fails_with(capsys, ["spikingbrain-7b", "-t", "loihi2", "--system", "/nonexistent.json"], "unknown system")
    fails_with(capsys, ["spikingbrain-7b", "--passes", "calibrate{text=/missing.txt}"], "no such file")
    assert time.perf_counter() - t0 < 3  # tracing the 7B model alone takes several seconds


def test_a_users_mistake_in_a_pass_is_not_a_crash(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = fails_with(capsys, [str(LIF), "--passes", "calibrate", "--reproducer-dir", str(tmp_path)], "pass 'calibrate': ")
    assert "crashed" not in line and "reproducer" not in line and not list(tmp_path.iterdir())


def test_replacing_an_output_is_one_atomic_step(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main([str(LIF), "-o", str(out)]) == 0
    first = (out / "module.sbir").stat().st_ino
    assert main([str(LIF), "--passes", "cse", "-o", str(out)]) == 0
    assert (out / "module.sbir").stat().st_ino != first and json.loads((out / "report.json").read_text())["pipeline"] == "cse"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # nothing left beside it


def test_leftovers_of_killed_runs_are_cleaned(tmp_path: Path) -> None:
    out = tmp_path / "out"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    (tmp_path / f".out.partial-{pid}-abc").mkdir()
    (tmp_path / f".out.old-{pid}").mkdir()
    ((tmp_path / f".out.old-{pid}") / "module.sbir").write_text("old")
    alive = tmp_path / f".out.partial-{os.getpid()}-mine"
    alive.mkdir()
    with atomic_directory(out) as d:
        assert (out / "module.sbir").read_text() == "old"  # an interrupted replacement is undone first
        (d / "module.sbir").write_text("new")
    assert (out / "module.sbir").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == [alive.name, "out"]


def test_sigkill_mid_write_keeps_the_old_output(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main([str(LIF), "-o", str(out)]) == 0
    before = (out / "module.sbir").read_bytes()
    code = ("import sys, time\nfrom pathlib import Path\nfrom sbcompile.artifact import atomic_directory\n"
            f"with atomic_directory(Path({str(out)!r})) as d:\n"
            "    (d / 'module.sbir').write_text('half')\n    print('ready', flush=True)\n    time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (out / "module.sbir").read_bytes() == before
    assert main([str(LIF), "-o", str(out)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_report_json_never_holds_bare_nan(tmp_path: Path) -> None:
    from sbcompile.artifact import write_report

    write_report({"module": "m", "quality": {"x": {"bpb": float("nan"), "ok": 1.5}}, "r": [float("inf")]}, tmp_path)
    text = (tmp_path / "report.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"module": "m", "quality": {"x": {"bpb": None, "ok": 1.5}}, "r": [None]}


def test_sigterm_mid_compile_leaves_no_partial_output(tmp_path: Path) -> None:
    """SIGTERM runs the cleanups: no `.out.partial-*` is left and the command says so in one line."""
    code = ("import time, sbcompile.artifact as a\n"
            "real = a.write_module\n"
            "def slow(m, d):\n    real(m, d)\n    print('writing', flush=True)\n    time.sleep(60)\n"
            "a.write_module = slow\nimport sbcompile.cli as c\nc.write_module = slow\n"
            f"raise SystemExit(c.main([{str(LIF)!r}, '-o', {str(tmp_path / 'out')!r}]))\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143 and err == "sbcompile: terminated\n"
    assert list(tmp_path.iterdir()) == []
