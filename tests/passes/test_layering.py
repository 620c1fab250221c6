"""The layering DESIGN.md states: a pass never imports a target (machine descriptions arrive as data)."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_passes_loads_no_target() -> None:
    code = ("import sys, sbcompile.passes; "
            "print(sorted(m for m in sys.modules if m.startswith('sbcompile.targets')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out
