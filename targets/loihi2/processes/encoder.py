"""The adaptive-threshold spike encoder as a fixed-point Lava process: 24-bit inputs in, integer
spike counts (to the projections' Dense) and counts with their thresholds (to the host) out. It
computes `spike.encode` with `frac_bits` (ir/dialects/spike.py) in integers only, and holds no
state; its activity (spike statistics of the steps that carry a token) is kept in a Var."""

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

from sbcompile.ir.dialects.spike import EncodeParams, fixed_encode, saturate
from sbcompile.ir.fixed import fixed_value
from sbcompile.ir.runtime import SpikeArray

from .clock import StatsRecorder, TokenClock, stats_size
from .payload import pack


class SpikeEncoder(AbstractProcess):
    def __init__(self, *, spec: dict, **kwargs: Any) -> None:
        super().__init__(spec=spec, name=spec["name"], **kwargs)
        self.x_in = InPort(shape=(spec["in_ports"]["x_in"],))
        self.tag = InPort(shape=(spec["in_ports"]["tag"],))
        self.s_out = OutPort(shape=(spec["out_ports"]["s_out"],))
        self.packed_out = OutPort(shape=(spec["out_ports"]["packed_out"],))
        self.stats = Var(shape=(stats_size(spec),), init=0)


@implements(proc=SpikeEncoder, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PySpikeEncoderFixed(PyLoihiProcessModel):
    x_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    tag: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    packed_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    stats: np.ndarray = LavaPyType(np.ndarray, np.int64)

    def __init__(self, proc_params: dict) -> None:
        super().__init__(proc_params)
        spec = proc_params["spec"]
        self.p = EncodeParams(**spec["params"]["encode"])
        self.tokens = TokenClock(spec["latency"])
        self.recorder = StatsRecorder(spec["params"]["stats"])

    def run_spk(self) -> None:
        xq = self.x_in.recv().astype(np.int64)[None]
        carries_token = self.tokens.tick(self.tag.recv()) > 0
        counts, vth = fixed_encode(xq, self.p)
        spikes = SpikeArray(saturate(counts, self.p)[0], fixed_value(vth, self.p.frac_bits)[0])
        if carries_token:
            self.stats[:] = self.recorder.add({self.recorder.names[0]: spikes.counts})
        self.s_out.send(pack(spikes, "counts"))
        self.packed_out.send(pack(spikes, "packed"))
