"""The sequence mixers in fixed point as Lava processes: gated linear attention (`seq.fixed_gla`)
and sliding-window attention (`seq.fixed_window_attention`), ir/dialects/fixed_seq.py. Their
inputs arrive as 24-bit integers, their outputs leave as integers (straight to the fixed-point
norm or encoder after them) and as values (to the host). Each computes with the reference's own
integer functions, one token per step, and advances its state (the GLA's per-head state in a Var
of 24-bit integers; the window's keys and values) only on steps that carry a token; inputs that
reach it steps before the last one (the GLA's gate passes through one more projection) wait in
delay lines."""

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

from sbcompile.ir.dialects.fixed_seq import FixedGLAParams, FixedWindowAttentionParams, fixed_attention, fixed_gla
from sbcompile.ir.fixed import fixed_value

from .clock import DelayLine, TokenClock
from .payload import pack

GLA_PORTS = ("q_in", "k_in", "v_in", "g_in")
ATTENTION_PORTS = ("q_in", "k_in", "v_in")


class _FixedSeqProcess(AbstractProcess):
    ports: tuple[str, ...] = ()

    def __init__(self, *, spec: dict, **kwargs: Any) -> None:
        super().__init__(spec=spec, name=spec["name"], **kwargs)
        for port in (*self.ports, "tag"):
            setattr(self, port, InPort(shape=(spec["in_ports"][port],)))
        self.q_out = OutPort(shape=(spec["out_ports"]["q_out"],))
        self.y_out = OutPort(shape=(spec["out_ports"]["y_out"],))


class FixedGLAProcess(_FixedSeqProcess):
    ports = GLA_PORTS

    def __init__(self, *, spec: dict, **kwargs: Any) -> None:
        super().__init__(spec=spec, **kwargs)
        p = FixedGLAParams(**spec["params"]["op"])
        self.state = Var(shape=(p.heads * p.head_dim * p.head_dim,), init=0)


class FixedAttentionProcess(_FixedSeqProcess):
    ports = ATTENTION_PORTS

    def __init__(self, *, spec: dict, sinks: list[np.ndarray], **kwargs: Any) -> None:
        super().__init__(spec=spec, sinks=sinks, **kwargs)


class _FixedSeqModel(PyLoihiProcessModel):
    """What both models do each step: align the inputs, run one token where one arrives, send."""

    ports: tuple[str, ...] = ()
    op_params: type  # the op's parameters, as the spec carries them
    q_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    k_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    v_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    tag: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    q_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    y_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)

    def __init__(self, proc_params: dict) -> None:
        super().__init__(proc_params)
        spec = proc_params["spec"]
        self.p = self.op_params(**spec["params"]["op"])
        self.tokens = TokenClock(spec["latency"])
        self.width = spec["out_ports"]["q_out"]
        self.early = {port: DelayLine(d) for port, d in spec["params"]["delays"].items()}
        self.out_frac = int(spec["params"]["op"]["out_frac"])

    def run_spk(self) -> None:
        ints = [self.aligned(port) for port in self.ports]
        if self.tokens.tick(self.tag.recv()) == 0 or any(x is None for x in ints):
            out = np.zeros(self.width, np.int64)
        else:
            out = self.token(ints)
        self.q_out.send(out.astype(np.int32))
        self.y_out.send(pack(fixed_value(out, self.out_frac), "packed"))

    def aligned(self, port: str) -> np.ndarray | None:
        """This token's input on `port` as [1, width] int64 (an input that arrives early waits)."""
        x = self.early[port].push(getattr(self, port).recv().astype(np.int64))
        return None if x is None else x[None]

    def token(self, ints: list[np.ndarray]) -> np.ndarray:
        raise NotImplementedError


@implements(proc=FixedGLAProcess, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyFixedGLAModel(_FixedSeqModel):
    ports = GLA_PORTS
    op_params = FixedGLAParams
    g_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    state: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)

    def token(self, ints: list[np.ndarray]) -> np.ndarray:
        shape = (self.p.heads, self.p.head_dim, self.p.head_dim)
        s, o, _ = fixed_gla(self.state.astype(np.int64).reshape(shape), ints, self.p)
        self.state[:] = s.reshape(-1).astype(np.int32)
        return o[0]


@implements(proc=FixedAttentionProcess, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyFixedAttentionModel(_FixedSeqModel):
    ports = ATTENTION_PORTS
    op_params = FixedWindowAttentionParams

    def __init__(self, proc_params: dict) -> None:
        super().__init__(proc_params)
        self.sinks = [np.asarray(s, np.int64) for s in proc_params["sinks"]]
        self.cache: dict[str, np.ndarray] = {}

    def token(self, ints: list[np.ndarray]) -> np.ndarray:
        return fixed_attention(self.cache, ints, self.sinks, self.p)[0]
