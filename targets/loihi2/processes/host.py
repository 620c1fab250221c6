"""The host-group Process: a set of IR ops that see a token at the same time step, run with the
interpreter's own semantics on one token per step. Its ports differ per group, so each instance
gets a ProcessModel class made for it (`model_for`), handed to Lava's run config per instance."""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from typing import Any

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from sbcompile.ir import Module, Op, OpDef, SbirError
from sbcompile.ir.dialects.io import Input
from sbcompile.ir.dialects.syn import add_bias, integer_epilogue, integer_parts
from sbcompile.ir.interpreter import Interpreter

from .clock import DelayLine, StatsRecorder, TokenClock, stats_size
from .payload import pack, unpack

@dataclass
class Shared:
    """What a session hands its host groups through the fork (Lava's runtime always forks): the
    module, so the weights are shared instead of copied into every process's parameters, and
    where to report a failure. Lava's simulator hangs when a process raises, so a group puts
    its error on `errors`, signals the session's process and exits."""

    module: Module
    errors: Any  # a multiprocessing SimpleQueue
    session_pid: int


SHARED: dict[str, Shared] = {}


class HostGroup(AbstractProcess):
    def __init__(self, *, spec: dict, module_key: str, **kwargs: Any) -> None:
        super().__init__(spec=spec, module_key=module_key, name=spec["name"], **kwargs)
        for port, size in spec["in_ports"].items():
            setattr(self, port, InPort(shape=(size,)))
        for port, size in spec["out_ports"].items():
            setattr(self, port, OutPort(shape=(size,)))
        self.stats = Var(shape=(stats_size(spec),), init=0)


class GroupInterpreter(Interpreter):
    """The interpreter over one group's ops, one token per step. A dense op whose integer sums
    arrive from Loihi cores (`sums`) finishes from those sums instead of multiplying again."""

    def __init__(self, module: Module) -> None:
        super().__init__(module, record_activity=False)
        self.sums: dict[str, list[np.ndarray]] = {}

    def run_op(self, index: int, op: Op, d: OpDef, args: list[Any]) -> list[Any]:
        accs = self.sums.get(op.result.name)
        if accs is None:
            return super().run_op(index, op, d, args)
        x = args[0]
        parts = integer_parts(op.params, x, x.counts.shape[-1])
        scales = np.asarray(self.module.weights.get(op.params.scale), np.float32)
        ints = [a.astype(np.int64).reshape(1, -1) for a in accs]
        return [add_bias(op.params, integer_epilogue(op.params, x, parts, ints, scales), self.module.weights.get)]


class PyHostGroupModel(PyLoihiProcessModel):
    """Receives every port each step, delays early inputs to the group's step, and runs the ops
    only on steps that carry a token (the injector's tag, seen `latency` steps late)."""

    stats: np.ndarray = LavaPyType(np.ndarray, np.int64)

    def __init__(self, proc_params: dict) -> None:
        super().__init__(proc_params)
        self.spec = proc_params["spec"]
        self.shared = SHARED[proc_params["module_key"]]
        self.module = self.shared.module
        p = self.spec["params"]
        self.layouts = p["layouts"]
        self.interp = GroupInterpreter(self.module)
        self.tokens = TokenClock(self.spec["latency"])
        self.recorder = StatsRecorder(p["stats"])
        self.delays = {i["port"]: DelayLine(i["delay"]) for i in p["inputs"]}
        group = set(p["ops"])
        self.input_op = next((op for i, op in enumerate(self.module.ops) if i in group and op.isa(Input)), None)

    def run_spk(self) -> None:
        try:
            self.step()
        except Exception as e:  # noqa: BLE001  (any failure must reach the session, not hang it)
            e = e.__cause__ if isinstance(e, SbirError) and isinstance(e.__cause__, Exception) else e
            self.shared.errors.put(f"{self.spec['name']} (ops {', '.join('%' + o for o in self.spec['ops'][:3])}"
                                   f"{', ...' if len(self.spec['ops']) > 3 else ''}) at step {self.time_step}: "
                                   f"{type(e).__name__}: {e}")
            os.kill(self.shared.session_pid, signal.SIGUSR1)
            os._exit(1)

    def step(self) -> None:
        p = self.spec["params"]
        head = self.tag.recv()
        tag_ = self.tokens.tick(head)
        arrived = {}
        for i in p["inputs"]:
            arrived[i["value"]] = self.delays[i["port"]].push(getattr(self, i["port"]).recv())
        sums = {v: [getattr(self, port).recv() for port in ports] for v, ports in p["accumulators"].items()}
        if tag_ == 0:  # a bubble: no token here this step
            for o in p["outputs"]:
                getattr(self, o["port"]).send(np.zeros(self.spec["out_ports"][o["port"]]))
            return
        env = {v: unpack(vec, self.layouts[v]) for v, vec in arrived.items()}
        if self.input_op is not None:
            self.interp.inputs = {self.input_op.params.name: unpack(head[1:], self.layouts[self.input_op.result.name])}
        self.interp.position = tag_ - 1
        self.interp.sums = sums
        self.interp.execute(env, p["ops"])
        if self.recorder.names:
            self.stats[:] = self.recorder.add({v: env[v].counts for v in self.recorder.names})
        for o in p["outputs"]:
            getattr(self, o["port"]).send(pack(env[o["value"]], o["encoding"]))


def model_for(spec: dict) -> type:
    """A ProcessModel class with one typed port attribute per port of this group."""
    attrs: dict[str, Any] = {port: LavaPyType(PyInPort.VEC_DENSE, float) for port in spec["in_ports"]}
    for o in spec["params"]["outputs"]:
        dtype = float if o["encoding"] == "packed" else np.int32  # counts, floor and fixed are integers
        attrs[o["port"]] = LavaPyType(PyOutPort.VEC_DENSE, dtype)
    cls = type(f"PyHostGroupModel_{spec['name']}", (PyHostGroupModel,), attrs)
    return requires(CPU)(tag("floating_pt")(implements(proc=HostGroup, protocol=LoihiProtocol)(cls)))
