"""`loihi2`: Loihi 2 style neurocores — the machine model and the mapping onto it."""

from __future__ import annotations

from ..base import Target
from ..registry import register_target
from .machine import Loihi2System, load_system


@register_target
class Loihi2Target(Target):
    name = "loihi2"
    summary = "Loihi 2 neurocores: partition, place, schedule on the mesh; latency and energy per token (--system, --system-set)"
    default_pipeline = "canonicalize,cse,dce,partition,place,schedule,energy"
    options = ("system", "system_set")

    def machine(self) -> Loihi2System:
        sets = {}
        for item in self.settings.get("system_set") or []:
            key, eq, value = item.partition("=")
            if not eq:
                from sbcompile.ir import SbirError

                raise SbirError(f"--system-set '{item}': expected KEY=VALUE, e.g. chip.cores_per_chip=152")
            sets[key.strip()] = value.strip()
        return load_system(self.settings.get("system"), sets)
