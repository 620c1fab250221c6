"""`loihi2`: Loihi 2 style neurocores: the machine model and the mapping onto it (partition,
place, schedule, energy), and the lowering to a Lava process graph that `sbcompile run` executes
on Lava's fixed-point simulator (Loihi2SimCfg), or on a Loihi 2 system where lava-loihi exists."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sbcompile.ir import Module, SbirError

from ..base import Target
from ..registry import register_target
from .machine import Loihi2System, load_system

GRAPH_FILE = "lava_graph.json"
LAVA_WEIGHTS_FILE = "lava_weights.safetensors"


@register_target
class Loihi2Target(Target):
    name = "loihi2"
    summary = ("Loihi 2 neurocores: fixed-point neurons, norms and encoders; partition, place, schedule on the mesh, "
               "latency and energy per token (--system, --system-set); a Lava process graph that `sbcompile run` "
               "runs on Lava's simulator")
    default_pipeline = "canonicalize,cse,dce,fixed-neurons,fixed-norms,fixed-encoders,quantize,partition,place,schedule,energy"
    options = ("system", "system_set", "hardware")

    def machine(self) -> Loihi2System:
        sets = {}
        for item in self.settings.get("system_set") or []:
            key, eq, value = item.partition("=")
            if not eq:
                raise SbirError(f"--system-set '{item}': expected KEY=VALUE, e.g. chip.cores_per_chip=152")
            sets[key.strip()] = value.strip()
        return load_system(self.settings.get("system"), sets)

    def emit(self, module: Module, out_dir: Path, report: dict | None = None) -> list[str]:
        """lava_graph.json and the Dense weights, unless the module has no real weights (then the
        mapping alone is the artifact, and the report says why)."""
        section: dict[str, Any]
        if module.weights.has_fake:
            section = {"emitted": False, "why": "the module has meta (fake) weights; compile a checkpoint to run it"}
        else:
            from safetensors.numpy import save_file

            from .lower import lower

            graph, weights = lower(module)
            (out_dir / GRAPH_FILE).write_text(graph.to_json())
            save_file(dict(sorted(weights.items())), str(out_dir / LAVA_WEIGHTS_FILE))
            section = {"emitted": True, **graph.summary(), "files": [GRAPH_FILE, LAVA_WEIGHTS_FILE]}
        if report is not None:
            report["lava"] = section
        return [GRAPH_FILE, LAVA_WEIGHTS_FILE] if section["emitted"] else []

    def open(self, artifact: Path, module: Module) -> Any:
        from .graph import ProcessGraph

        path = Path(artifact) / GRAPH_FILE
        if not path.exists():
            raise SbirError(f"{artifact}: no {GRAPH_FILE} (compiled with meta weights, or by an older sbcompile); "
                            "compile a checkpoint with -t loihi2 to run it")
        try:
            graph = ProcessGraph.from_json(path.read_text(), str(path))
        except (ValueError, KeyError, TypeError, AttributeError) as e:  # not JSON, or JSON of another shape
            raise SbirError(f"{path}: not a readable process graph ({type(e).__name__}: {e}); compile the model again") from None
        try:
            from safetensors.numpy import load_file

            from .session import LavaSession
        except ImportError as e:
            raise SbirError(f"target 'loihi2' runs on Lava (lava-nc 0.10.0, Python 3.10: pip install "
                            f"'sbcompile[loihi2]'), which is missing here: {e}") from None
        try:
            weights = load_file(str(Path(artifact) / LAVA_WEIGHTS_FILE))
        except Exception as e:  # safetensors raises its own error type, and FileNotFoundError
            raise SbirError(f"{Path(artifact) / LAVA_WEIGHTS_FILE}: cannot read the Lava weights ({e}); "
                            "compile the model again") from None
        try:
            return LavaSession(graph, weights, module, hardware=bool(self.settings.get("hardware")))
        except SbirError:
            raise
        except Exception as e:  # a graph that validates but does not build: a damaged artifact
            raise SbirError(f"{path}: cannot build the Lava processes ({type(e).__name__}: {e}); compile the model again") from None
