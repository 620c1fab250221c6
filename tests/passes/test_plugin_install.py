"""The example plugin package installs into the venv and its pass runs through the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_install_and_run_example_plugin() -> None:
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                          "-e", str(ROOT / "examples" / "custom_pass")], capture_output=True, text=True)
    assert pip.returncode == 0, pip.stderr
    # Make the editable install importable in this process too, as it is in every new one.
    import site
    import sysconfig

    site.addsitedir(sysconfig.get_paths()["purelib"])
    listing = subprocess.run([sys.executable, "-m", "sbcompile", "--list-passes"], capture_output=True, text=True)
    assert "annotate-fanout  [plugin 'sbcompile-example-pass'" in listing.stdout
    assert "option min=0  (int) annotate only ops read at least this many times" in listing.stdout
    out = subprocess.run([sys.executable, "-m", "sbcompile", str(ROOT / "examples" / "lif_network.sbir"),
                          "--passes", "annotate-fanout{min=1}"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert '%s0 = neuron.lif(%x) {leak = 0.1, example.fanout = 1}' in out.stdout
    assert "%s1 = neuron.lif(%i1) {leak = 0.05, v_th = 0.5, reset = \"subtract\"} :" in out.stdout
