"""`loihi2`: Loihi 2 style neurocores: the machine model and the mapping onto it (partition,
place, schedule, energy), and the lowering to a Lava process graph that `sbcompile run` executes
on Lava's fixed-point simulator (Loihi2SimCfg), or on a Loihi 2 system where lava-loihi exists."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sbcompile.ir import Module, SbirError
from sbcompile.passes.report import is_network

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
    required_passes = ("quantize", "partition", "place")  # integer weights, cores, mesh positions
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
            section = {"emitted": True, **graph.summary(), **mapping_in_graph(module, graph),
                       "files": [GRAPH_FILE, LAVA_WEIGHTS_FILE]}
        if report is not None:
            report["lava"] = section
        return [GRAPH_FILE, LAVA_WEIGHTS_FILE] if section["emitted"] else []

    @classmethod
    def report_section(cls, report: dict) -> list[str]:
        if "lava" not in report:
            return []
        lv = report["lava"]
        if not lv["emitted"]:
            return ["## Lava process graph", "", f"- not emitted: {lv['why']}", ""]
        kinds = ", ".join(f"{n} {k}" for k, n in lv["by_kind"].items())
        return ["## Lava process graph", "",
                f"- {lv['processes']} processes ({kinds}), {lv['connections']} connections",
                f"- {'an input' if is_network(report) else 'a token'} reaches the output {lv['latency_steps']} Lava "
                "time steps after it enters (one per synaptic projection on its path)",
                *graph_agreement_lines(report),
                f"- files: {', '.join(lv['files'])}; run with `sbcompile run OUT ...` on Lava's simulator", ""]

    def open(self, artifact: Path, module: Module) -> Any:
        from .graph import ProcessGraph

        path = Path(artifact) / GRAPH_FILE
        if not path.exists():
            raise SbirError(f"{artifact}: no {GRAPH_FILE} (compiled with meta weights, or by an older sbcompile); "
                            "compile a checkpoint with -t loihi2 to run it")
        graph = ProcessGraph.from_json(path.read_text(), str(path))
        try:
            from safetensors.numpy import load_file

            from .session import LavaSession
        except ImportError as e:
            raise SbirError(f"target 'loihi2' runs on Lava (lava-nc 0.10.0, Python 3.10: pip install "
                            f"'sbcompile[loihi2]'), which is missing here: {e}") from None
        weights = load_file(str(Path(artifact) / LAVA_WEIGHTS_FILE))
        return LavaSession(graph, weights, module, hardware=bool(self.settings.get("hardware")))


def mapping_in_graph(module: Module, graph: Any) -> dict[str, Any]:
    """How the mapping's cores (`hw.cores`) meet the Lava graph: the cores whose projections run
    as neurocore processes, and the mapped ops the graph runs on the host instead (e.g. a
    projection whose input is not spikes), so the report can say both and agree with itself."""
    on_cores = {name for p in graph.processes if p.where == "core" for name in p.ops}
    mapped = [op for op in module.ops if "hw.cores" in op.attrs]
    return {"cores_in_graph": sum(int(op.attrs["hw.cores"][1]) for op in mapped if op.result.name in on_cores),
            "mapped_ops_on_host": [op.result.name for op in mapped if op.result.name not in on_cores]}


def graph_agreement_lines(report: dict) -> list[str]:
    """The mapping's cores and the Lava graph's processes, reconciled: which mapped ops run on
    neurocores in the graph and which on the host."""
    lv = report["lava"]
    if "cores_in_graph" not in lv or "cores_used" not in report:
        return []
    dense = sum(n for k, n in lv["by_kind"].items() if k.endswith("(core)"))
    line = (f"- of the mapping's {report['cores_used']:,} cores, the graph's {dense} neurocore processes use "
            f"{lv['cores_in_graph']:,}")
    host = lv["mapped_ops_on_host"]
    if host:
        shown = ", ".join(f"%{n}" for n in host[:6]) + (f" and {len(host) - 6} more" if len(host) > 6 else "")
        line += (f"; {len(host)} mapped ops run in host processes instead ({shown}): "
                 "a neurocore's Dense takes integer spike counts and weight codes, and their inputs are not spikes "
                 "or their weights are float")
    return [line]
