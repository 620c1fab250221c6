"""The GPU figures a Loihi 2 prediction is printed beside: measured on an H200 (NVML energy
counter), kept as data in h200_measured.json with their source, so newer measurements replace
the file and nothing else."""

from __future__ import annotations

import json
from pathlib import Path

MEASURED = Path(__file__).with_name("h200_measured.json")


def h200_measured() -> dict:
    return json.loads(MEASURED.read_text())
