"""Schedule: when each op runs within a token, and which messages cross which mesh links in
which time step, under link capacities."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sbcompile.ir import Module, SbirError

from .base import Pass, PassContext, option
from .registry import register_pass
from .traffic import TrafficGraph
from .report import is_network, per_unit

HOP_NS = 4.1  # Loihi tile-to-tile spike latency per hop (Davies et al., IEEE Micro 2018, Table 1)


def xy_links(src: np.ndarray, dst: np.ndarray, weight: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Dimension-order (x then y) routes of messages, as (link ids, messages per link), summed per
    link. Link ids: horizontal (x, y)->(x+1, y) is y * width + x; vertical (x, y)->(x, y+1) is
    width * height + y * width + x."""
    ids, loads = [], []
    x0, y0, x1, y1 = src[:, 0], src[:, 1], dst[:, 0], dst[:, 1]
    for lo, n, fixed, horizontal in ((np.minimum(x0, x1), np.abs(x1 - x0), y0, True),
                                     (np.minimum(y0, y1), np.abs(y1 - y0), x1, False)):
        if n.sum() == 0:
            continue
        starts = np.repeat(lo, n)
        offsets = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
        along, across = starts + offsets, np.repeat(fixed, n)
        ids.append(across * width + along if horizontal else width * height + along * width + across)
        loads.append(np.repeat(weight, n))
    if not ids:
        return np.zeros(0, np.int64), np.zeros(0)
    uniq, inv = np.unique(np.concatenate(ids), return_inverse=True)
    return uniq, np.bincount(inv, weights=np.concatenate(loads))


@dataclass
class Window:
    """A transfer's messages spread evenly over steps [start, start + steps) on its links."""

    start: int
    steps: int
    links: np.ndarray  # sorted link ids
    per_step: np.ndarray  # messages per step on each link

    @property
    def end(self) -> int:
        return self.start + self.steps

    def on(self, links: np.ndarray) -> np.ndarray:
        """Messages per step this window puts on each of `links` (0 where it does not pass)."""
        if len(self.links) == 0 or len(links) == 0:
            return np.zeros(len(links))
        at = np.minimum(np.searchsorted(self.links, links), len(self.links) - 1)
        return np.where(self.links[at] == links, self.per_step[at], 0.0)


def fit(windows: list[Window], t0: int, links: np.ndarray, loads: np.ndarray, cap: float, least: int) -> Window:
    """The earliest, then shortest, window from t0 on in which this transfer and every window
    already placed stay within `cap` messages per link per step."""
    start = t0
    k = max(least, int(np.ceil(loads.max() / cap)) if len(loads) else 1)
    while True:
        live = [w for w in windows if w.start < start + k and start < w.end]
        cuts = sorted({start} | {w.start for w in live if start < w.start < start + k})
        busy = np.zeros(len(links))
        for c in cuts:  # the load on each link is constant between window boundaries
            busy = np.maximum(busy, sum((w.on(links) for w in live if w.start <= c < w.end), np.zeros(len(links))))
        room = cap - busy
        if (room < 0.1 * cap).any():  # a link is (nearly) full in the window: start after what fills it
            full = links[room < 0.1 * cap]
            start = min(w.end for w in live if (w.on(full) > 0).any())
            continue
        need = max(least, int(np.ceil((loads / room).max() * (1 - 1e-12))) if len(loads) else 1)
        if need <= k:
            return Window(start, k, links, loads / k)
        k = need


@register_pass
@dataclass(frozen=True)
class Schedule(Pass):
    """Orders each token's work in algorithmic time steps: an op runs one step after everything
    it reads has arrived (a message sent in step t is integrated in step t + 1, as on Loihi).
    Messages follow x-then-y routes between the placed cores and processors; a link carries at
    most `link-capacity` messages per step (default: the step time over Loihi's 4.1 ns per hop),
    so a heavy transfer spreads over several steps, and a spike train of T virtual steps takes at
    least T. The report gives steps and latency per token, tokens per second, the critical path,
    and link and router loads with the most congested link and router.

    Requires: place. Guarantees: the module is unchanged; `ctx.results["schedule"]` holds each
    op's start and finish and each transfer's window and link loads (for checking)."""

    name = "schedule"
    step_us: float = option(10.0, "duration of one algorithmic time step in microseconds (an assumption)")
    link_capacity: float = option(0.0, "messages per link per step; 0 derives it from step-us and 4.1 ns per hop")

    report_rank = 70
    report_key = "schedule"

    @classmethod
    def render_section(cls, c: dict, report: dict) -> list[str]:
        return ["## Schedule", "",
                f"- an input takes {c['steps_per_token']:,} algorithmic time steps x {c['step_us']} us to reach the output"
                if is_network(report) else
                f"- {c['steps_per_token']:,} time steps per token x {c['step_us']} us = {c['latency_us_per_token'] / 1000:.3g} ms "
                f"({c['tokens_per_second']:.3g} tokens/s)",
                f"- busiest link {c['busiest_link']}: {c['busiest_link_messages_per_token']:,.0f} messages per {per_unit(report)} "
                f"(capacity {c['link_capacity_per_step']:,.0f} per step)",
                f"- critical path: {len(c['critical_path'])} ops, {' -> '.join(c['critical_path'][:4])} ... "
                f"{c['critical_path'][-1]}", ""]

    def run(self, module: Module, ctx: PassContext) -> bool:
        g: TrafficGraph | None = ctx.results.get("traffic")
        pos = ctx.results.get("placement")
        if g is None or pos is None:
            raise SbirError("schedule: run place first")
        system = ctx.machine
        width = system.chip_mesh[0] * system.chip.mesh[0]
        height = system.chip_mesh[1] * system.chip.mesh[1]
        cap = self.link_capacity or self.step_us * 1000 / HOP_NS
        by_transfer: dict[tuple[str, str], np.ndarray] = {}
        for t, key in enumerate(g.transfers):
            by_transfer[key] = np.nonzero(g.transfer == t)[0]
        placed: list[Window] = []
        finish: dict[str, int] = {}
        start: dict[str, int] = {}
        via: dict[str, str | None] = {}
        windows: list[dict[str, Any]] = []
        for op in module.ops:
            name = op.result.name
            ready, parent = 0, None
            for v in op.operands:
                arrive = finish[v.name]
                edges = by_transfer.get((v.name, name))
                if edges is not None and len(edges):
                    links, loads = xy_links(pos[g.src[edges]], pos[g.dst[edges]], g.weight[edges], width, height)
                    steps = getattr(v.owner.params, "steps", None) if v.owner is not None else None
                    w = fit(placed, finish[v.name], links, loads, cap, steps or 1)
                    placed.append(w)
                    windows.append({"from": v.name, "to": name, "window": w})
                    arrive = w.end
                if arrive > ready or parent is None:
                    ready, parent = max(ready, arrive), v.name if arrive >= ready else parent
            start[name], finish[name], via[name] = ready, ready + 1, parent
        steps_per_token = max(finish.values(), default=0)
        path, node = [], max(finish, key=finish.get) if finish else None
        while node is not None:
            path.append(node)
            node = via.get(node)
        total_links = np.zeros(2 * width * height)
        for w in placed:
            np.add.at(total_links, w.links, w.per_step * w.steps)
        peak = max((float(w.per_step.max()) for w in placed if len(w.per_step)), default=0.0)
        busiest = int(total_links.argmax()) if total_links.any() else -1
        routers = router_loads(total_links, width, height)
        latency_us = steps_per_token * self.step_us
        ctx.results["schedule"] = {"start": start, "finish": finish, "windows": windows, "capacity": cap}
        ctx.report["schedule"] = {
            "steps_per_token": steps_per_token, "step_us": self.step_us, "latency_us_per_token": latency_us,
            "tokens_per_second": 1e6 / latency_us if latency_us else 0.0, "link_capacity_per_step": round(cap, 1),
            "largest_transfer_load_per_step": round(peak, 1), "critical_path": path[::-1],
            "busiest_link": _describe_link(busiest, width, height) if busiest >= 0 else None,
            "busiest_link_messages_per_token": round(float(total_links.max()), 1),
            "links_used": int((total_links > 0).sum()), "transfers": len(windows),
            "busiest_router": f"({int(routers.argmax()) % width},{int(routers.argmax()) // width})",
            "busiest_router_messages_per_token": round(float(routers.max()), 1),
        }
        return False


def router_loads(link_loads: np.ndarray, width: int, height: int) -> np.ndarray:
    """Messages per token through each router (x, y) -> index y * width + x: every link's load
    counts at both of its ends."""
    n = width * height
    out = np.zeros(n)
    h, v = link_loads[:n], link_loads[n:]
    idx = np.arange(n)
    out += h
    np.add.at(out, np.minimum(idx + 1, n - 1), np.where(idx % width < width - 1, h, 0))
    out += v
    np.add.at(out, np.minimum(idx + width, n - 1), np.where(idx + width < n, v, 0))
    return out


def _describe_link(link: int, width: int, height: int) -> str:
    vertical, rest = divmod(link, width * height)
    y, x = divmod(rest, width)
    return f"({x},{y})->({x},{y + 1})" if vertical else f"({x},{y})->({x + 1},{y})"
