"""Runs a loihi2 artifact on Lava: builds the process graph (lava_graph.json) from Lava's built-in
Dense and LIF and the host groups, and streams tokens through it on `Loihi2SimCfg` with the
`fixed_pt` models. Each call injects its tokens one per time step, then enough empty steps for
the last token to reach the output, so a call returns every token's output."""

from __future__ import annotations

import atexit
from pathlib import Path
from typing import Any

import numpy as np
from lava.magma.core.run_conditions import RunSteps
from lava.magma.core.run_configs import Loihi2HwCfg, Loihi2SimCfg
from lava.proc.dense.process import Dense
from lava.proc.io.extractor import Extractor, PyLoihiExtractorModel
from lava.proc.io.injector import Injector, PyLoihiInjectorModel
from lava.proc.lif.process import LIF
from lava.utils import loihi

from sbcompile.ir import Module, SbirError

from .graph import ProcessGraph
from .lower import probe
from .processes.host import MODULES, HostGroup, model_for, unpack

CHUNK = 256  # tokens per Lava run; the I/O buffers hold a chunk and the pipeline's drain


class LavaSession:
    def __init__(self, graph: ProcessGraph, weights: dict[str, np.ndarray], module: Module, *,
                 hardware: bool = False) -> None:
        graph.validate()
        self.graph, self.module = graph, module
        if hardware and not loihi.is_installed():
            raise SbirError("loihi2: running on a Loihi 2 system needs Intel's lava-loihi extension "
                            "(not installed here); without --hardware the artifact runs on Lava's simulator")
        key = f"{module.name}:{id(self)}"
        MODULES[key] = module
        self.layouts = {v: vars(lay) for v, lay in probe(module)[0].items()}
        self.out_layout = self.layouts[module.outputs[0].name]
        buffer = CHUNK + graph.output_latency
        self.procs: dict[str, Any] = {}
        models: dict[Any, type] = {}
        for spec in graph.processes:
            if spec.kind == "injector":
                proc = Injector(shape=(spec.out_ports["out_port"],), buffer_size=buffer)
                models[proc] = PyLoihiInjectorModel
            elif spec.kind == "extractor":
                proc = Extractor(shape=(spec.in_ports["in_port"],), buffer_size=buffer)
                models[proc] = PyLoihiExtractorModel
            elif spec.kind == "dense":
                p = spec.params
                proc = Dense(weights=weights[p["weights"]], weight_exp=p["weight_exp"],
                             num_message_bits=p["num_message_bits"], name=spec.name)
            elif spec.kind == "lif":
                p = spec.params
                proc = LIF(shape=(spec.in_ports["a_in"],), du=p["du"], dv=p["dv"], vth=p["vth"],
                           bias_mant=p["bias_mant"], bias_exp=p["bias_exp"], name=spec.name)
            else:
                proc = HostGroup(spec=vars(spec), module_key=key, layouts=self.layouts)
                models[proc] = model_for(vars(spec))
            self.procs[spec.name] = proc
        for c in graph.connections:
            (sp, so), (dp, di) = c.src.split("."), c.dst.split(".")
            getattr(self.procs[sp], so).connect(getattr(self.procs[dp], di))
        self.injector, self.extractor = self.procs["injector"], self.procs["extractor"]
        cfg = Loihi2HwCfg if hardware else Loihi2SimCfg
        self.run_cfg = cfg(select_tag="fixed_pt", exception_proc_model_map=models)
        self.injector.create_runtime(run_cfg=self.run_cfg)
        self.position = 0
        self.steps = 0
        self.calls = 0
        self.has_neurons = any(s.kind == "lif" for s in graph.processes)
        atexit.register(self.close)

    def __call__(self, inputs: np.ndarray) -> np.ndarray:
        if self.has_neurons and self.calls:
            raise SbirError("loihi2: a graph with built-in neurons runs one sequence per session (their state "
                            "keeps evolving over the steps that drain the pipeline)")
        self.calls += 1
        x = np.asarray(inputs)
        outs = [self._chunk(x[i:i + CHUNK]) for i in range(0, len(x), CHUNK)]
        return np.concatenate(outs)

    def _chunk(self, x: np.ndarray) -> np.ndarray:
        lat = self.graph.output_latency
        width = self.graph.input_size
        for row in x:
            self.position += 1
            self.injector.send(np.concatenate([[self.position], np.asarray(row, np.float64).reshape(-1)]))
        for _ in range(lat):
            self.injector.send(np.zeros(width + 1))
        steps = len(x) + lat
        self.injector.run(condition=RunSteps(num_steps=steps), run_cfg=self.run_cfg)
        self.steps += steps
        got = [self.extractor.receive() for _ in range(steps)][lat:]
        vals = [unpack(g, self.out_layout) for g in got]
        return np.concatenate([v.decode() if hasattr(v, "decode") else v for v in vals])

    def activity(self) -> dict[str, Any]:
        raise SbirError("loihi2: spike statistics are gathered by the reference interpreter; "
                        "run the same artifact with --target ref --stats")

    def close(self) -> None:
        if self.injector.runtime is not None and not getattr(self, "_closed", False):
            self._closed = True
            self.injector.stop()
