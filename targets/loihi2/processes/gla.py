"""Gated linear attention as a fixed-point Lava process: q, k, v and the gate arrive as 24-bit
integers, the per-head state is a Var of 24-bit integers, the output leaves as integers (straight
to the fixed-point norm after it) and as their values (to the host). It computes
`seq.fixed_gla` (ir/dialects/fixed_seq.py) with the same integer functions, one token per step,
and advances its state only on steps that carry a token; inputs that reach it steps before the
last one (the gate comes through one more projection) wait in delay lines."""

from __future__ import annotations

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

from sbcompile.ir.dialects.fixed_seq import FixedGLAParams, fixed_gla
from sbcompile.ir.fixed import fixed_value

from .clock import DelayLine, TokenClock
from .payload import pack

PORTS = ("q_in", "k_in", "v_in", "g_in")


def state_size(p: FixedGLAParams) -> int:
    return p.heads * p.head_dim * p.head_dim


class FixedGLAProcess(AbstractProcess):
    def __init__(self, *, spec: dict, **kwargs: Any) -> None:
        super().__init__(spec=spec, name=spec["name"], **kwargs)
        for port in (*PORTS, "tag"):
            setattr(self, port, InPort(shape=(spec["in_ports"][port],)))
        self.q_out = OutPort(shape=(spec["out_ports"]["q_out"],))
        self.y_out = OutPort(shape=(spec["out_ports"]["y_out"],))
        self.state = Var(shape=(state_size(FixedGLAParams(**spec["params"]["gla"])),), init=0)


@implements(proc=FixedGLAProcess, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyFixedGLAModel(PyLoihiProcessModel):
    q_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    k_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    v_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    g_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    tag: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    q_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    y_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    state: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)

    def __init__(self, proc_params: dict) -> None:
        super().__init__(proc_params)
        spec = proc_params["spec"]
        self.p = FixedGLAParams(**spec["params"]["gla"])
        self.tokens = TokenClock(spec["latency"])
        self.width = spec["out_ports"]["q_out"]
        self.early = {port: DelayLine(d) for port, d in spec["params"]["delays"].items()}

    def run_spk(self) -> None:
        ints = [self.aligned(port) for port in PORTS]
        if self.tokens.tick(self.tag.recv()) == 0 or any(x is None for x in ints):
            out = np.zeros(self.width, np.int64)
        else:
            shape = (self.p.heads, self.p.head_dim, self.p.head_dim)
            s, o, _ = fixed_gla(self.state.astype(np.int64).reshape(shape), ints, self.p)
            self.state[:] = s.reshape(-1).astype(np.int32)
            out = o[0]
        self.q_out.send(out.astype(np.int32))
        self.y_out.send(pack(fixed_value(out, self.p.out_frac), "packed"))

    def aligned(self, port: str) -> np.ndarray | None:
        """This token's input on `port` as [1, width] int64 (an input that arrives early waits)."""
        x = self.early[port].push(getattr(self, port).recv().astype(np.int64))
        return None if x is None else x[None]
