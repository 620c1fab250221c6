"""The weight store: lazy reads, fake entries, and byte-identical files across processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sbcompile.ir import SbirError, WeightStore


def test_save_load_keeps_arrays_fakes_and_order(tmp_path: Path) -> None:
    s = WeightStore()
    s.add("z.weight", np.arange(6, dtype=np.float32).reshape(2, 3))
    s.add_fake("a.weight", (4096, 4096), "bf16")
    s.add("m.codes", np.array([-128, 0, 127], dtype=np.int8))
    s.save(str(tmp_path / "w.safetensors"))
    back = WeightStore.load(str(tmp_path / "w.safetensors"))
    assert list(back) == ["z.weight", "a.weight", "m.codes"]
    assert back.entry("a.weight").fake and back.shape("a.weight") == (4096, 4096)
    np.testing.assert_array_equal(back.get("z.weight"), s.get("z.weight"))
    assert back.get("m.codes").dtype == np.int8
    with pytest.raises(SbirError, match="weight 'a.weight' is fake"):
        back.get("a.weight")


def test_files_are_byte_identical_across_processes(tmp_path: Path) -> None:
    code = ("import numpy as np, sys\nfrom sbcompile.ir import WeightStore\ns = WeightStore()\n"
            "for i in range(20): s.add(f'w{i}', np.full((3, i + 1), i, np.float32))\n"
            "s.add_fake('fake.a', (2, 2)); s.add_fake('fake.b', (3,), 'i8')\ns.save(sys.argv[1])\n")
    for name in ("a", "b"):
        subprocess.run([sys.executable, "-c", code, str(tmp_path / name)], check=True)
    assert (tmp_path / "a").read_bytes() == (tmp_path / "b").read_bytes()


def test_unreadable_file_is_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "bad.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(SbirError, match="bad.safetensors: not a readable safetensors file"):
        WeightStore.load(str(tmp_path / "bad.safetensors"))
