"""The Lava process graph of a compiled module, as plain data: which processes exist, what ports
they have, what each computes (the IR ops it holds, where it runs, which cores), and how ports
connect. It is written into the artifact as JSON and checked here, before Lava sees it, so that a
missing connection or a shape mismatch names the op instead of failing inside Lava's runtime."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from sbcompile.ir import SbirError

Kind = Literal["injector", "host", "dense", "lif", "encoder", "norm", "extractor"]


@dataclass
class ProcessSpec:
    """One Lava process. `host` groups run the reference semantics of their ops (`ops`, results
    named) on the embedded processors or the host; `dense` and `lif` are Lava's built-in
    fixed-point processes on neurocores; `encoder` and `norm` are our fixed-point spike encoder
    and RMSNorm. `latency` is the time step, counted from the token's
    injection, at which the process sees a token's data."""

    name: str
    kind: Kind
    where: str
    ops: list[str]
    latency: int
    in_ports: dict[str, int] = field(default_factory=dict)   # port -> payload length per step
    out_ports: dict[str, int] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    cores: list[int] = field(default_factory=list)

    def describe(self) -> str:
        return f"%{self.ops[0]}" if self.ops else self.name


@dataclass
class Connection:
    src: str  # "process.port"
    dst: str


FORMAT = 2  # lava_graph.json's layout; a graph of another format is refused by name


@dataclass
class ProcessGraph:
    module: str
    processes: list[ProcessSpec]
    connections: list[Connection]
    output_latency: int
    input_size: int
    output_size: int
    output_layout: dict  # a payload Layout, as a dict
    format: int = FORMAT

    def validate(self) -> None:
        """Every port exists, every connection joins ports of one payload length, and every input
        port is fed: the checks Lava would otherwise fail on at run time, far from the op."""
        by_name = {p.name: p for p in self.processes}
        if len(by_name) != len(self.processes):
            raise SbirError(f"loihi2 process graph of @{self.module}: process names are not unique")
        fed: set[str] = set()
        for c in self.connections:
            src, dst = self._end(by_name, c.src, "out"), self._end(by_name, c.dst, "in")
            if src[1] != dst[1]:
                raise SbirError(f"loihi2 lowering: {dst[0].describe()} ({c.dst}) takes {dst[1]} values per step but "
                                f"{src[0].describe()} ({c.src}) sends {src[1]}")
            fed.add(c.dst)
        for p in self.processes:
            for port in p.in_ports:
                if f"{p.name}.{port}" not in fed:
                    raise SbirError(f"loihi2 lowering: {p.describe()} (process {p.name}): input port '{port}' "
                                    "has no connection")

    def _end(self, by_name: dict[str, ProcessSpec], end: str, side: str) -> tuple[ProcessSpec, int]:
        proc_name, _, port = end.partition(".")
        if proc_name not in by_name:
            raise SbirError(f"loihi2 lowering: connection {end}: no process '{proc_name}'")
        p = by_name[proc_name]
        ports = p.out_ports if side == "out" else p.in_ports
        if port not in ports:
            raise SbirError(f"loihi2 lowering: {p.describe()} (process {p.name}) has no {side} port '{port}'")
        return p, ports[port]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str, where: str = "lava_graph.json") -> "ProcessGraph":
        d = json.loads(text)
        if d.get("format") != FORMAT:
            raise SbirError(f"{where}: process graph format {d.get('format', 'unknown')}, this sbcompile reads "
                            f"format {FORMAT}; compile the model again")
        return cls(module=d["module"], processes=[ProcessSpec(**p) for p in d["processes"]],
                   connections=[Connection(**c) for c in d["connections"]], output_latency=d["output_latency"],
                   input_size=d["input_size"], output_size=d["output_size"], output_layout=d["output_layout"])

    def summary(self) -> dict[str, Any]:
        """The report's `lava` section: processes by kind and place, the pipeline depth."""
        counts: dict[str, int] = {}
        for p in self.processes:
            key = f"{p.kind} ({p.where})"
            counts[key] = counts.get(key, 0) + 1
        return {"processes": len(self.processes), "by_kind": counts, "connections": len(self.connections),
                "latency_steps": self.output_latency}
