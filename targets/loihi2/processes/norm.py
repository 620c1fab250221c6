"""RMSNorm as a fixed-point Lava process: 24-bit inputs in, the normalised integers out (straight
to the encoder after it, which takes the same fraction bits) and their values (to the host). It
computes `nn.rmsnorm` with `frac_bits` (ir/dialects/nn.py) in integers only and holds no state."""

from __future__ import annotations

from typing import Any

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from sbcompile.ir.dialects.nn import RMSNormParams, fixed_rmsnorm
from sbcompile.ir.fixed import fixed_value

from .payload import pack


class FixedNorm(AbstractProcess):
    def __init__(self, *, spec: dict, weight_codes: np.ndarray | None, **kwargs: Any) -> None:
        super().__init__(spec=spec, weight_codes=weight_codes, name=spec["name"], **kwargs)
        self.x_in = InPort(shape=(spec["in_ports"]["x_in"],))
        self.q_out = OutPort(shape=(spec["out_ports"]["q_out"],))
        self.y_out = OutPort(shape=(spec["out_ports"]["y_out"],))


@implements(proc=FixedNorm, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyFixedNormModel(PyLoihiProcessModel):
    x_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    q_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    y_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)

    def __init__(self, proc_params: dict) -> None:
        super().__init__(proc_params)
        self.p = RMSNormParams(**proc_params["spec"]["params"]["norm"])
        codes = proc_params["weight_codes"]
        self.wq = None if codes is None else np.asarray(codes, np.int64)

    def run_spk(self) -> None:
        yq = fixed_rmsnorm(self.x_in.recv().astype(np.int64)[None], self.wq, self.p)[0]
        self.q_out.send(yq.astype(np.int32))
        self.y_out.send(pack(fixed_value(yq, self.p.frac_bits), "packed"))
