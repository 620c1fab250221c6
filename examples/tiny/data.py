"""The tiny model's text: Python standard-library sources, which every machine with Python has.
Training reads sorted files from the stdlib; the held-out evaluation and calibration texts come
from files that training never reads, and are shipped beside the model."""

from __future__ import annotations

import sysconfig
from pathlib import Path

HELD_OUT = ("json/", "csv.py", "argparse.py")  # never in training


def stdlib_files() -> list[Path]:
    root = Path(sysconfig.get_paths()["stdlib"])
    skip = ("test", "idlelib", "site-packages", "lib2to3", "tkinter", "ensurepip", "turtledemo")
    return sorted(p for p in root.rglob("*.py") if not any(part in skip for part in p.relative_to(root).parts))


def is_held_out(path: Path) -> bool:
    rel = str(path.relative_to(Path(sysconfig.get_paths()["stdlib"])))
    return any(rel.startswith(h) for h in HELD_OUT)


def training_bytes(limit: int) -> bytes:
    out = bytearray()
    for p in stdlib_files():
        if not is_held_out(p):
            out += p.read_bytes() + b"\n"
            if len(out) >= limit:
                break
    return bytes(out[:limit])
