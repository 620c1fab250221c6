"""The spike-traffic graph of a partitioned module: nodes are cores (tiles) and hubs (ops on
the embedded or host processors), edges carry messages per token."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sbcompile.ir import Module, Op


@dataclass
class TrafficGraph:
    """`transfer[e]` indexes `transfers`: the (producer, consumer) value names edge e carries."""

    cores: int
    nodes: int
    src: np.ndarray
    dst: np.ndarray
    weight: np.ndarray
    transfer: np.ndarray
    transfers: list[tuple[str, str]]

    def __post_init__(self) -> None:
        self.is_hub = np.zeros(self.nodes, bool)
        self.is_hub[self.cores:] = True
        both = np.concatenate([self.src, self.dst])
        other = np.concatenate([self.dst, self.src])
        w = np.concatenate([self.weight, self.weight])
        order = np.argsort(both, kind="stable")
        self._nbr, self._w = other[order], w[order]
        self._start = np.searchsorted(both[order], np.arange(self.nodes + 1))

    @property
    def hubs(self) -> range:
        return range(self.cores, self.nodes)

    def neighbours(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        s, e = self._start[i], self._start[i + 1]
        return self._nbr[s:e], self._w[s:e]

    def weight_to(self, i: int, nbrs: np.ndarray) -> np.ndarray:
        all_n, all_w = self.neighbours(i)
        return np.array([all_w[all_n == n].sum() for n in nbrs])

    def node_cost(self, i: int, pos: np.ndarray) -> float:
        nbrs, w = self.neighbours(i)
        return float((np.abs(pos[nbrs] - pos[i]).sum(axis=1) * w).sum())

    def summary(self, pos: np.ndarray, chip_of: np.ndarray) -> dict:
        hops = np.abs(pos[self.src] - pos[self.dst]).sum(axis=1)
        total = float(self.weight.sum())
        return {
            "messages_per_token": round(total, 3),
            "cross_chip_messages_per_token": round(float(self.weight[chip_of[self.src] != chip_of[self.dst]].sum()), 3),
            "hop_traffic": round(float((self.weight * hops).sum()), 3),
            "avg_hops": round(float((self.weight * hops).sum() / total), 4) if total else 0.0,
        }


def input_rates(op: Op, n_in: int, default_rate: float) -> np.ndarray:
    """Messages per input channel per token: calibrated spikes per channel where known."""
    src = op.operands[0].owner
    if src is not None and "calib.rate" in src.attrs and len(src.attrs["calib.rate"]) == n_in:
        return np.array(src.attrs["calib.rate"], np.float64)
    return np.full(n_in, default_rate)


def traffic_graph(module: Module, default_rate: float) -> TrafficGraph:
    core_ops = [op for op in module.ops if "hw.cores" in op.attrs]
    cores = sum(op.attrs["hw.cores"][1] for op in core_ops)
    hubs: dict[str, int] = {}
    edges: list[tuple[int, int, float]] = []

    def hub(op: Op) -> int:
        return hubs.setdefault(op.result.name, cores + len(hubs))

    tiles_of = {op.result.name: op for op in core_ops}
    users = module.users()
    transfers: dict[tuple[str, str], int] = {}
    tags: list[int] = []

    def edge(a: int, b: int, w: float, producer: str, consumer: str) -> None:
        edges.append((a, b, w))
        tags.append(transfers.setdefault((producer, consumer), len(transfers)))

    for op in core_ops:
        first, _ = op.attrs["hw.cores"]
        k_out, k_in = op.attrs["hw.tiles"]
        out_t, in_t = op.attrs["hw.tile"]
        n_out = op.result.type.shape[-1]
        n_in = op.operands[0].type.shape[-1] if op.name == "syn.dense" else n_out
        rates = input_rates(op, n_in, default_rate)
        src = op.operands[0].owner
        for a in range(k_out):
            out_msgs = float(min(out_t, n_out - a * out_t))
            for b in range(k_in):
                tile = first + a * k_in + b
                lo, hi = b * in_t, min((b + 1) * in_t, n_in)
                if src is not None and src.result.name in tiles_of:  # core to core: overlapping ranges
                    s_first, _ = src.attrs["hw.cores"]
                    s_kout, s_kin = src.attrs["hw.tiles"]
                    s_out_t = src.attrs["hw.tile"][0]
                    for sa in range(s_kout):
                        overlap = min(hi, (sa + 1) * s_out_t) - max(lo, sa * s_out_t)
                        if overlap > 0:
                            for sb in range(s_kin):
                                edge(s_first + sa * s_kin + sb, tile, overlap * default_rate / s_kin,
                                     src.result.name, op.result.name)
                elif src is not None:
                    edge(hub(src), tile, float(rates[lo:hi].sum()), src.result.name, op.result.name)
                for u in users[op.result.name]:
                    if u.result.name not in tiles_of:
                        edge(tile, hub(u), out_msgs, op.result.name, u.result.name)
    arr = np.array(edges, np.float64).reshape(-1, 3)
    return TrafficGraph(cores, cores + len(hubs), arr[:, 0].astype(np.int64), arr[:, 1].astype(np.int64), arr[:, 2],
                        np.array(tags, np.int64), list(transfers))
