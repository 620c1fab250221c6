"""Pictures a person would rather look at than read: the chip mesh with cores coloured by layer
and links by traffic, per-layer energy, traffic, spike rate and time, and a time x neuron spike
raster of one op. PNG files, drawn headless."""

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
    ax.set_xlabel("core index mod %d" % side)
    ax.set_ylabel("core index // %d" % side)
    ax.set_title(title + " (cores in mapping order, coloured by layer)")
    ax.legend(loc="lower right")
    sm = plt.cm.ScalarMappable(cmap="viridis", norm=plt.Normalize(float(layers.min(initial=0)), float(layers.max(initial=1))))
    fig.colorbar(sm, ax=ax, label="layer (ops outside the layers, e.g. the LM head, after the last)", shrink=0.6)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)


def layers_of_cores(core_map: list[tuple[str, int]]) -> np.ndarray:
    """The layer of every core of a mapping (`(value name, cores)` in order); ops outside the
    layers come after the last layer, so the colours spread over the layers."""
    layers = np.concatenate([np.full(n, layer_of(name, -1)) for name, n in core_map]) if core_map else np.zeros(0)
    layers[layers < 0] = layers.max(initial=0) + 1
    return layers


def draw_core_map(path: Path, core_map: list[tuple[str, int]], available: int) -> str:
    """A mapping that did not fit: draw the cores each op needed (`core_map`: value name, cores);
    returns the note a failure message carries."""
    layers = layers_of_cores(core_map)
    core_map_png(path, layers, available, f"{len(layers):,} cores needed, {available:,} available")
    return f"core map: {path}"


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


def layers_png(path: Path, layers: dict[str, dict], step_us: float | None = None, title: str = "") -> list[str]:
    """Per layer, one panel each for what the report's layer table has: Loihi-style energy,
    mesh traffic, spike rate (measured or assumed, beside the SpikingBrain report's 1.13) and
    where a token's time goes along the critical path. Returns the panels drawn."""
    names = list(layers)
    x = np.arange(len(names))

    def column(key: str) -> np.ndarray | None:
        vals = [row.get(key) for row in layers.values()]
        if not any(isinstance(v, (int, float)) for v in vals):
            return None
        return np.array([v if isinstance(v, (int, float)) else np.nan for v in vals], np.float64)

    panels = [p for p, key in (("energy", "energy uJ/token"), ("traffic", "messages/token"),
                               ("spikes", "bitwise spikes/channel"), ("time", "time steps/token")) if column(key) is not None]
    if not panels:
        return []
    plt = _plt()
    fig, axes = plt.subplots(len(panels), 1, figsize=(max(9, 0.45 * len(names) + 4), 2.6 * len(panels)), dpi=110,
                             sharex=True, squeeze=False)
    for ax, panel in zip(axes[:, 0], panels):
        if panel == "energy":
            ax.bar(x, column("energy uJ/token"), color="tab:orange", label="synaptic events + neuron updates")
            ax.set_ylabel("energy (uJ / token)")
            ax.set_title("energy per layer, Loihi-style (mesh hops not included)")
        elif panel == "traffic":
            ax.bar(x - 0.2, column("messages/token"), width=0.4, color="tab:blue", label="messages received")
            hops = column("message hops/token")
            if hops is not None:
                ax.bar(x + 0.2, hops, width=0.4, color="tab:cyan", label="messages x mesh hops")
            ax.set_ylabel("messages / token")
            ax.set_title("spike traffic on the mesh per layer")
        elif panel == "spikes":
            rates = column("bitwise spikes/channel")
            measured = np.array([str(row.get("rate from", "")).startswith("measured") for row in layers.values()])
            for which, colour, label in ((measured, "tab:green", "measured by calibration"), (~measured, "0.6", "assumed")):
                if np.isfinite(rates[which]).any():
                    ax.bar(x[which], rates[which], color=colour, label=label)
            ax.axhline(1.13, color="k", linestyle="--", linewidth=1, label="SpikingBrain report, 7B (1.13)")
            ax.set_ylabel("bitwise spikes / channel")
            ax.set_title("spike rate per layer (spiking projections' inputs, MAC-weighted)")
        else:
            steps = column("time steps/token")
            ax.bar(x, steps, color="tab:purple", label="time steps on the critical path")
            unit = f" ({step_us:g} us each)" if step_us else ""
            ax.set_ylabel("time steps / token")
            ax.set_title(f"where a token's time goes{unit}: {int(np.nansum(steps))} steps in all")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
        ax.grid(axis="y", linewidth=0.3)
    axes[-1, 0].set_xticks(x, names, rotation=60 if len(names) > 6 else 0, ha="right" if len(names) > 6 else "center")
    axes[-1, 0].set_xlabel("layer")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return panels
