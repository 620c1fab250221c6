"""Runs a loihi2 artifact on Lava: builds the process graph (lava_graph.json) from Lava's built-in
Dense and LIF, our fixed-point encoders and norms, and the host groups, and streams tokens through
it on `Loihi2SimCfg` with the `fixed_pt` models. Each call injects its tokens one per time step,
then enough empty steps for the last token to reach the output, so a call returns every token's
output."""

from __future__ import annotations

import atexit
import multiprocessing
import os
import signal
from contextlib import contextmanager
from typing import Any, Iterator

import numpy as np
from lava.magma.core.run_conditions import RunSteps
from lava.magma.core.run_configs import Loihi2HwCfg, Loihi2SimCfg
from lava.proc.dense.process import Dense
from lava.proc.io.extractor import Extractor, PyLoihiExtractorModel
from lava.proc.io.injector import Injector, PyLoihiInjectorModel
from lava.proc.lif.process import LIF
from lava.utils import loihi

from sbcompile.ir import Module, SbirError
from sbcompile.ir.activity import SpikeStats, total

from .graph import ProcessGraph, ProcessSpec
from .processes.clock import read_stats
from .processes.encoder import PySpikeEncoderFixed, SpikeEncoder
from .processes.fixed_seq import FixedAttentionProcess, FixedGLAProcess, PyFixedAttentionModel, PyFixedGLAModel
from .processes.host import SHARED, HostGroup, Shared, model_for
from .processes.payload import unpack
from .processes.norm import FixedNorm, PyFixedNormModel

CHUNK = 256  # steps per Lava run: the injector's and extractor's buffers hold one run's data


class LavaSession:
    def __init__(self, graph: ProcessGraph, weights: dict[str, np.ndarray], module: Module, *,
                 hardware: bool = False) -> None:
        graph.validate()
        self.graph, self.module = graph, module
        if hardware and not loihi.is_installed():
            raise SbirError("loihi2: running on a Loihi 2 system needs Intel's lava-loihi extension "
                            "(not installed here); without --hardware the artifact runs on Lava's simulator")
        key = f"{module.name}:{id(self)}"
        self.errors = multiprocessing.SimpleQueue()
        SHARED[key] = Shared(module, self.errors, os.getpid())
        self.procs: dict[str, Any] = {}
        self.pending_bias: list[tuple[int, Any, int]] = []  # (steps to run first, LIF, bias mantissa)
        models: dict[Any, type] = {}
        for spec in graph.processes:
            proc, model = self._build(spec, weights, key)
            self.procs[spec.name] = proc
            if model is not None:
                models[proc] = model
        for c in graph.connections:
            (sp, so), (dp, di) = c.src.split("."), c.dst.split(".")
            getattr(self.procs[sp], so).connect(getattr(self.procs[dp], di))
        self.injector, self.extractor = self.procs["injector"], self.procs["extractor"]
        cfg = Loihi2HwCfg if hardware else Loihi2SimCfg
        self.summary = f"loihi2 on Lava ({cfg.__name__}, fixed_pt; {len(graph.processes)} processes)"
        self.run_cfg = cfg(select_tag="fixed_pt", exception_proc_model_map=models)
        self.injector.create_runtime(run_cfg=self.run_cfg)
        self.position = 0
        self.calls = 0
        self.closed = False
        self.has_neurons = any(s.kind == "lif" for s in graph.processes)
        atexit.register(self.close)

    def _build(self, spec: ProcessSpec, weights: dict[str, np.ndarray], key: str) -> tuple[Any, type | None]:
        """The Lava process of one spec, and the model to run it with (None: Lava's own choice
        under select_tag="fixed_pt")."""
        p = spec.params
        if spec.kind == "injector":
            return Injector(shape=(spec.out_ports["out_port"],), buffer_size=CHUNK), PyLoihiInjectorModel
        if spec.kind == "extractor":
            return Extractor(shape=(spec.in_ports["in_port"],), buffer_size=CHUNK), PyLoihiExtractorModel
        if spec.kind == "dense":
            return Dense(weights=weights[p["weights"]], weight_exp=p["weight_exp"],
                         num_message_bits=p["num_message_bits"], name=spec.name), None
        if spec.kind == "lif":
            late = spec.latency > 0 and p["bias_mant"] != 0
            proc = LIF(shape=(spec.in_ports["a_in"],), du=p["du"], dv=p["dv"], vth=p["vth"],
                       bias_mant=0 if late else p["bias_mant"], bias_exp=p["bias_exp"], name=spec.name)
            if late:
                self.pending_bias.append((spec.latency, proc, p["bias_mant"]))
            return proc, None
        if spec.kind == "encoder":
            return SpikeEncoder(spec=vars(spec)), PySpikeEncoderFixed
        if spec.kind == "norm":
            codes = None if p["weights"] is None else weights[p["weights"]]
            return FixedNorm(spec=vars(spec), weight_codes=codes), PyFixedNormModel
        if spec.kind == "gla":
            return FixedGLAProcess(spec=vars(spec)), PyFixedGLAModel
        if spec.kind == "attention":
            return FixedAttentionProcess(spec=vars(spec), sinks=[weights[w] for w in p["sinks"]]), PyFixedAttentionModel
        return HostGroup(spec=vars(spec), module_key=key), model_for(vars(spec))

    def __call__(self, inputs: np.ndarray) -> np.ndarray:
        """Inject one input per step, then `output_latency` empty steps so the last one reaches
        the output; run in segments that the I/O buffers hold, with no gaps between them."""
        if self.has_neurons and self.calls:
            raise SbirError("loihi2: a graph with built-in neurons runs one sequence per session (their state "
                            "keeps evolving over the steps that drain the pipeline)")
        self.calls += 1
        x = np.asarray(inputs)
        lat, width = self.graph.output_latency, self.graph.input_size
        steps = len(x) + lat
        got: list[np.ndarray] = []
        done = 0
        while done < steps:
            stop = min(steps, done + CHUNK, *[s for s, _, _ in self.pending_bias if s > done])
            for i in range(done, stop):
                if i < len(x):
                    self.position += 1
                    row = np.concatenate([[self.position], np.asarray(x[i], np.float64).reshape(-1)])
                else:
                    row = np.zeros(width + 1)
                self.injector.send(row)
            with self.failures_raised():
                self.injector.run(condition=RunSteps(num_steps=stop - done), run_cfg=self.run_cfg)
                got += [self.extractor.receive() for _ in range(stop - done)]
            done = stop
            self._switch_biases(done)
        vals = [unpack(g, self.graph.output_layout) for g in got[lat:]]
        return np.concatenate([v.decode() if hasattr(v, "decode") else v for v in vals])

    def _switch_biases(self, steps_run: int) -> None:
        """A LIF behind synaptic delays gets its bias from the step its first input arrives:
        before that the reference has not started it, so it must not integrate anything."""
        for item in [b for b in self.pending_bias if b[0] == steps_run]:
            _, proc, mant = item
            proc.bias_mant.set(np.full(proc.bias_mant.shape, mant))
            self.pending_bias.remove(item)

    def activity(self) -> dict[str, Any]:
        """Spike statistics as the encoders and host groups recorded them on Lava (the built-in
        neurons' spikes are not counted), in module order."""
        stats: dict[str, SpikeStats] = {}
        for spec in self.graph.processes:
            if spec.kind in ("host", "encoder") and spec.params["stats"]:
                stats.update(read_stats(self.procs[spec.name].stats.get(), spec.params["stats"]))
        order = [r.name for op in self.module.ops for r in op.results if r.name in stats]
        return {"total": total(stats), "ops": {name: stats[name].summary() for name in order}}

    @contextmanager
    def failures_raised(self) -> Iterator[None]:
        """A host group that fails signals this process: stop waiting on Lava, end its processes
        (they would wait for the failed one forever) and raise the group's error."""
        def failed(signum: int, frame: Any) -> None:
            raise _GroupFailed

        try:
            previous = signal.signal(signal.SIGUSR1, failed)
        except ValueError:  # not the main thread: no handler can be installed
            yield
            return
        try:
            yield
        except _GroupFailed:
            self._end_processes()
            raise SbirError(f"loihi2: Lava run failed in {self.errors.get()}") from None
        finally:
            signal.signal(signal.SIGUSR1, previous)

    def close(self) -> None:
        """Stop Lava's processes; a second call does nothing. Lava's own stop waits on every
        process, so it is used only when all of them run; otherwise they are ended directly."""
        runtime = self.injector.runtime
        if runtime is None or self.closed:
            return
        actors = runtime._messaging_infrastructure.actors
        if runtime._is_started and all(actor.is_alive() for actor in actors):
            self.closed = True
            atexit.unregister(self.close)
            self.injector.stop()
            return
        self._end_processes()

    def _end_processes(self) -> None:
        """End this session's processes (not other sessions') and free their shared memory:
        after a failure, or before any run (Lava's stop would wait on them forever)."""
        self.closed = True
        atexit.unregister(self.close)
        runtime = self.injector.runtime
        messaging = runtime._messaging_infrastructure
        for actor in messaging.actors:
            actor.kill()
            actor.join()  # killed: returns at once (Lava's join takes no timeout)
        messaging.stop()
        runtime._watchdog_manager.stop()


class _GroupFailed(Exception):
    pass
