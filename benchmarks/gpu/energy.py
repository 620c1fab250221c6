"""The GPU's own energy counter (NVML's total energy since the driver loaded, in millijoules), read
around a timed region so that every throughput figure comes with joules per token."""

from __future__ import annotations

import torch


class EnergyMeter:
    """`with meter.region() as r: ...` then `r.joules`; None where NVML is missing (no pynvml, no
    NVIDIA driver) or the GPU has no energy counter (pre-Volta)."""

    def __init__(self) -> None:
        self.handle = None
        try:
            import pynvml

            pynvml.nvmlInit()
            p = torch.cuda.get_device_properties(torch.cuda.current_device())
            bus = f"{p.pci_domain_id:08X}:{p.pci_bus_id:02X}:{p.pci_device_id:02X}.0"
            self.handle = pynvml.nvmlDeviceGetHandleByPciBusId(bus)
            self._read = lambda: pynvml.nvmlDeviceGetTotalEnergyConsumption(self.handle) / 1e3
            self._read()
        except Exception as e:  # no NVML here: figures go without energy, and say so
            print(f"energy: NVML unavailable ({type(e).__name__}: {e})")
            self.handle = None

    def region(self) -> "Region":
        return Region(self)


class Region:
    def __init__(self, meter: EnergyMeter) -> None:
        self.meter, self.joules = meter, None

    def __enter__(self) -> "Region":
        torch.cuda.synchronize()
        self.start = self.meter._read() if self.meter.handle is not None else None
        return self

    def __exit__(self, *exc: object) -> None:
        torch.cuda.synchronize()
        if self.start is not None:
            self.joules = self.meter._read() - self.start


def per_token(joules: float | None, tokens: int) -> str:
    return "n/a" if joules is None else f"{joules / tokens:.4g}"
