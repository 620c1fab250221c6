"""Pictures a person would rather look at than read: the chip mesh with cores coloured by layer
and links by traffic, and a time x neuron spike raster of one op. PNG files, drawn headless."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sbcompile.ir import Module
    from sbcompile.passes import PassContext


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def mesh_png(path: Path, pos: np.ndarray, layer: np.ndarray, grid: tuple[int, int], chip: tuple[int, int],
             link_loads: np.ndarray | None = None, title: str = "") -> None:
    """Cores (squares at `pos`) coloured by `layer`; links shaded by messages per token; chip
    borders every `chip` cores."""
    plt = _plt()
    width, height = grid
    fig, ax = plt.subplots(figsize=(min(16, 2 + width / 8), min(16, 2 + height / 8)), dpi=110)
    if link_loads is not None and link_loads.any():
        ids = np.nonzero(link_loads)[0]
        vertical, rest = np.divmod(ids, width * height)
        y, x = np.divmod(rest, width)
        shade = link_loads[ids] / link_loads.max()
        from matplotlib.collections import LineCollection

        ends = np.stack([x + (vertical == 0), y + vertical], axis=1)
        segments = np.stack([np.stack([x, y], axis=1), ends], axis=1)
        ax.add_collection(LineCollection(segments, colors=plt.cm.Reds(0.2 + 0.8 * shade),
                                         linewidths=0.5 + 2.5 * shade, zorder=1))
    sc = ax.scatter(pos[:, 0], pos[:, 1], c=layer, cmap="viridis", marker="s", s=max(2, 4000 / max(width * height, 1)),
                    zorder=2)
    for cx in range(0, width + 1, chip[0]):
        ax.axvline(cx - 0.5, color="0.8", linewidth=0.3, zorder=0)
    for cy in range(0, height + 1, chip[1]):
        ax.axhline(cy - 0.5, color="0.8", linewidth=0.3, zorder=0)
    ax.set_xlim(-0.5, width - 0.5)
    ax.set_ylim(height - 0.5, -0.5)
    ax.set_aspect("equal")
    ax.set_title(title or "cores by layer, links by messages per token")
    fig.colorbar(sc, ax=ax, label="layer (the LM head after the last)", shrink=0.6)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)


def raster_png(path: Path, counts: np.ndarray, title: str) -> None:
    """Spike counts of one op, tokens (time) x neurons; colour = count (signed)."""
    plt = _plt()
    c = counts.reshape(counts.shape[0], -1).astype(np.float64)
    lim = max(1.0, float(np.abs(c).max()))
    fig, ax = plt.subplots(figsize=(10, 4), dpi=110)
    im = ax.imshow(c.T, aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
    ax.set_xlabel("token (time)")
    ax.set_ylabel("neuron (channel)")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, label="spike count")
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)


def core_map_png(path: Path, layers: np.ndarray, limit: int, title: str) -> None:
    """A mapping that failed: every core it needed, in order on a square grid, coloured by layer;
    the cores past `limit` (what the system has) are marked."""
    n = len(layers)
    side = int(np.ceil(np.sqrt(max(n, 1))))
    idx = np.arange(n)
    pos = np.stack([idx % side, idx // side], axis=1)
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 8), dpi=110)
    ok = idx < limit
    size = max(1, 20000 / max(n, 1))
    ax.scatter(pos[ok, 0], pos[ok, 1], c=layers[ok], cmap="viridis", marker="s", s=size, label="fits the system")
    ax.scatter(pos[~ok, 0], pos[~ok, 1], c=layers[~ok], cmap="viridis", marker="s", s=size, alpha=0.3,
               label="beyond the system")
    ax.set_ylim(side, -1)
    ax.set_aspect("equal")
    ax.set_title(title + " (cores in mapping order, coloured by layer)")
    ax.legend(loc="lower right")
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)


def layer_of(name: str, fallback: int) -> int:
    """The layer number in a value name (`layers_12_attn_q_proj` -> 12), else `fallback`."""
    import re

    m = re.search(r"layers_(\d+)_", name)
    return int(m.group(1)) if m else fallback


def placed(ctx: "PassContext") -> bool:
    """Whether the compilation placed cores (a mesh to draw)."""
    from sbcompile.passes.mapping import Placement, find

    return find(ctx, Placement) is not None


def write_mesh(path: Path, module: "Module", ctx: "PassContext") -> None:
    """The placed mesh of a compilation (after `place`): cores coloured by layer, links shaded
    by the bits per token routed over them (chip links included)."""
    from sbcompile.passes.mapping import Placement, Traffic, get
    from sbcompile.passes.place import endpoints
    from sbcompile.passes.schedule import xy_links

    placement, traffic = get(ctx, Placement, "mesh picture", "place"), get(ctx, Traffic, "mesh picture", "place")
    system = ctx.machine
    width, height = placement.grid
    layer = np.full(traffic.cores, -1.0)
    for op in module.ops:
        if "hw.cores" in op.attrs:
            first, count = op.attrs["hw.cores"]
            layer[first:first + count] = layer_of(op.result.name, -1)
    layer[layer < 0] = layer.max() + 1 if len(layer) else 0  # the LM head and other ops outside the layers come last
    a, b = endpoints(traffic, system)
    links, loads = xy_links(a, b, traffic.messages * traffic.bits, width, height)
    link_loads = np.zeros(2 * width * height)
    link_loads[links] = loads
    used = placement.pos_of_core
    # draw only the chips in use (a 1,152-chip system is mostly empty)
    cw, ch = system.chip.mesh
    x1 = int((used[:, 0].max() // cw + 1) * cw) if len(used) else cw
    y1 = int((used[:, 1].max() // ch + 1) * ch) if len(used) else ch
    keep = np.nonzero(link_loads)[0]
    vertical, rest = np.divmod(keep, width * height)
    y, x = np.divmod(rest, width)
    inside = (x < x1) & (y < y1)
    clipped = np.zeros(2 * x1 * y1)
    clipped[np.where(vertical[inside], x1 * y1, 0) + y[inside] * x1 + x[inside]] = link_loads[keep[inside]]
    mesh_png(path, used, layer, (x1, y1), (cw, ch), clipped,
             f"{traffic.cores:,} cores on {placement.chips_used:,} chips of {system.name}: layer colours, links by bits per token")


def write_raster(path: Path, module: "Module", op_name: str, tokens: np.ndarray) -> None:
    """Run the module on `tokens` and draw the spike counts of value `op_name`."""
    from sbcompile.ir import SbirError
    from sbcompile.ir.interpreter import Interpreter
    from sbcompile.ir.runtime import SpikeArray

    if op_name not in {v.name for v in module.values()}:
        raise SbirError(f"--raster: no value %{op_name} in the module")
    seen: list[np.ndarray] = []

    def watch(op, args, outs) -> None:
        if op.results[0].name == op_name:
            seen.append(outs[0].counts if isinstance(outs[0], SpikeArray) else np.asarray(outs[0]))

    inputs = [op.params.name for op in module.inputs]
    Interpreter(module, observer=watch)(**{inputs[0]: tokens})
    raster_png(path, seen[0], f"%{op_name}: {len(tokens)} tokens")
