"""The command line: listings, help, instruments, output directories, failing passes, plugins."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sbcompile.cli import main
from sbcompile.ir import parse_file

ROOT = Path(__file__).parents[2]
LIF = ROOT / "examples" / "lif_network.sbir"
DUPS = ROOT / "tests" / "golden" / "cse_shared_encoder.sbir"


def test_help_teaches(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for needle in ("--passes", "--print-ir-after-all", "--dump-ir", "--plugin", "examples:", "sbcompile run"):
        assert needle in out


def test_list_passes_shows_options_and_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--list-passes", "--plugin", "tests.plugins.broken_pass"]) == 0
    out = capsys.readouterr().out
    assert "canonicalize\n    Folds ops" in out and "\ndce\n" in out and "Requires:" in out
    assert "break-uses  [--plugin tests.plugins.broken_pass]" in out


def test_list_targets(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--list-targets"]) == 0
    assert "\nref " in "\n" + capsys.readouterr().out


def test_dump_ir_files_all_parse(tmp_path: Path) -> None:
    assert main([str(DUPS), "--passes", "canonicalize,cse,dce", "--dump-ir", str(tmp_path / "d")]) == 0
    files = sorted(p.name for p in (tmp_path / "d").iterdir())
    assert files == ["00-input.sbir", "01-canonicalize.sbir", "02-cse.sbir", "03-dce.sbir"]
    sizes = [len(parse_file(tmp_path / "d" / f).ops) for f in files]
    assert sizes == [11, 11, 10, 9]


def test_print_ir_after_named_pass(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(DUPS), "--passes", "cse,dce", "--print-ir-after=cse", "--print-ir-before=dce"]) == 0
    err = capsys.readouterr().err
    assert err.count("// -----// IR Dump After cse //----- //") == 1
    assert err.count("// -----// IR Dump Before dce //----- //") == 1
    assert "IR Dump After dce" not in err


def test_time_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(LIF), "--time-passes"]) == 0
    err = capsys.readouterr().err
    assert "pass timing" in err and "total" in err


def test_broken_pass_is_caught_by_the_verifier(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    rc = main([str(LIF), "--plugin", "tests.plugins.broken_pass", "--passes", "cse,break-uses,dce", "-o", str(out),
               "--reproducer-dir", str(tmp_path / "repro")])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and len(err.splitlines()) == 1
    assert "pass 'break-uses' left an invalid module" in err and "used before it is defined" in err
    (folder,) = (tmp_path / "repro").iterdir()  # a folder of its own per failure
    assert folder.name.startswith("break-uses-") and f"(reproducer: {folder}, run: " in err
    repro = folder / "module.sbir"
    command = (folder / "command.sh").read_text().split()
    assert command == ["sbcompile", str(repro), "--passes", "break-uses,dce", "-t", "ref", "--plugin",
                       "tests.plugins.broken_pass", "--reproducer-dir", str(tmp_path / "repro")]
    assert f"// run: {' '.join(command)}" in repro.read_text()
    assert parse_file(repro) == parse_file(LIF)
    assert not out.exists() and list(tmp_path.iterdir()) == [tmp_path / "repro"]
    assert main(command[1:]) == 1  # the reproducer reproduces the same error
    again = capsys.readouterr().err
    assert again.split(" (reproducer:")[0].replace(str(repro), str(LIF)) == err.split(" (reproducer:")[0]


def test_crashing_pass_names_the_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main([str(LIF), "--plugin", "tests.plugins.broken_pass", "--passes", "crash",
               "--reproducer-dir", str(tmp_path)])
    assert rc == 1
    assert "pass 'crash' crashed: ZeroDivisionError: division by zero" in capsys.readouterr().err


def test_plugin_name_clash_names_both(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(LIF), "--plugin", "tests.plugins.clashing_pass"]) == 1
    assert "pass 'cse' is defined twice: by sbcompile and by --plugin tests.plugins.clashing_pass" in capsys.readouterr().err


def test_output_directory_round_trips(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main([str(DUPS), "-o", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["module.sbir", "report.json", "report.md", "timings.json",
                                                     "weights.safetensors"]
    again = tmp_path / "again"
    assert main([str(out / "module.sbir"), "-o", str(again)]) == 0
    assert (again / "module.sbir").read_bytes() == (out / "module.sbir").read_bytes()
    assert (again / "weights.safetensors").read_bytes() == (out / "weights.safetensors").read_bytes()
    twice = tmp_path / "twice"
    assert main([str(DUPS), "-o", str(twice)]) == 0
    for name in ("module.sbir", "weights.safetensors", "report.json", "report.md"):  # all but timings.json
        assert (twice / name).read_bytes() == (out / name).read_bytes(), name


def test_refuses_to_overwrite_a_foreign_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    assert main([str(LIF), "-o", str(tmp_path)]) == 1
    assert "is not an sbcompile output" in capsys.readouterr().err
    assert (tmp_path / "precious.txt").read_text() == "keep me"


def test_console_script_and_module_agree(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "sbcompile"
    a = subprocess.run([str(exe), str(LIF)], capture_output=True, text=True)
    b = subprocess.run([sys.executable, "-m", "sbcompile", str(LIF)], capture_output=True, text=True)
    assert a.returncode == b.returncode == 0 and a.stdout == b.stdout and "module @lif_network" in a.stdout
