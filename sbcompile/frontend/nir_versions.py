"""What each NIR version's files mean and hold, for reading old files and writing for old readers.

The reset: NIR's IF, LIF and CubaLIF reset by subtracting the threshold (`v - v_threshold` in
their docstrings and the paper) until `v_reset` was added (neuromorphs/NIR PR #129, first released
in nir 1.0.6, May 2025); since then they reset to `v_reset`. nir >= 1.0.6 reads a file without
`v_reset` as reset-to-zero, so the file's own version must decide: before 1.0.6, no `v_reset`
means subtract. Writing: nir 1.0.4 (which Sinabs, Norse and Rockpool pin) builds every node with
`cls(**datasets)`, so a dataset it does not know (`v_reset`) or a node type it does not know
(`CubaLI`, serialisable from 1.0.5; `AvgPool2d`, from 1.0.2) makes the file unreadable there.

A graph's meaning decides the versions that can hold it: a neuron that resets to `v_reset` needs
>= 1.0.6, one that subtracts needs < 1.0.6. `writable_versions` says which, and `for_version`
rewrites a graph's node dicts into the chosen version's form (write_nir writes them)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sbcompile.ir import SbirError

Version = tuple[int, int, int]

V_RESET_SINCE: Version = (1, 0, 6)
RESET_NODES = ("IF", "LIF", "CubaLIF")  # the NIR neurons that fire and reset
SINCE: dict[str, Version] = {"CubaLI": (1, 0, 5), "AvgPool2d": (1, 0, 2)}  # node types younger than 1.0.0
OLDEST_WRITTEN: Version = (1, 0, 0)  # 0.x files differ in more than these fields (no SumPool2d, CubaLIF w_in)
CURRENT_FORM: Version = (1, 0, 8)  # the nir this code was written against


def parse_version(text: str) -> Version | None:
    """'1.0.4' -> (1, 0, 4); pre-release and local suffixes are ignored; None if not a version."""
    parts = []
    for piece in str(text).strip().lstrip("v").split(".")[:3]:
        digits = ""
        for c in piece:
            if not c.isdigit():
                break
            digits += c
        if not digits:
            return None
        parts.append(int(digits))
    while len(parts) < 3:
        parts.append(0)
    return (parts[0], parts[1], parts[2]) if parts else None


def show(v: Version) -> str:
    return ".".join(map(str, v))


@dataclass(frozen=True)
class FileFacts:
    """What the file says beyond what `nir.read` returns: its version string (None if it has
    none) and its IF/LIF/CubaLIF nodes that have no `v_reset` dataset (nir fills in zeros)."""

    version: str | None
    without_v_reset: tuple[str, ...]


def file_facts(path: str | Path) -> FileFacts:
    import h5py

    missing: list[str] = []

    def visit(group: Any, prefix: str) -> None:
        for name, node in group.get("nodes", {}).items():
            kind = node["type"][()] if "type" in node else b""
            kind = kind.decode() if isinstance(kind, bytes) else str(kind)
            if kind == "NIRGraph":
                visit(node, f"{prefix}{name}.")
            elif kind in RESET_NODES and "v_reset" not in node:
                missing.append(prefix + name)

    with h5py.File(str(path), "r") as f:
        raw = f["version"][()] if "version" in f else None
        version = raw.decode() if isinstance(raw, bytes) else (str(raw) if raw is not None else None)
        if "node" in f:
            visit(f["node"], "")
    return FileFacts(version, tuple(missing))


def subtract_reset_nodes(facts: FileFacts, source: str) -> frozenset[str]:
    """The nodes that reset by subtraction: those without `v_reset` in a file older than 1.0.6.
    A file with no readable version and such nodes is refused: its reset cannot be known."""
    if not facts.without_v_reset:
        return frozenset()
    v = parse_version(facts.version) if facts.version is not None else None
    if v is None:
        raise SbirError(f"{source}: NIR version {facts.version!r} unknown, and {len(facts.without_v_reset)} neuron(s) "
                        f"without v_reset ({', '.join(facts.without_v_reset[:5])}): the reset semantics (subtract "
                        f"the threshold before NIR {show(V_RESET_SINCE)}, reset to zero since) cannot be decided")
    return frozenset(facts.without_v_reset) if v < V_RESET_SINCE else frozenset()


def needs(kind: str, resets_by: str | None) -> tuple[Version, Version | None]:
    """The versions [lo, hi) whose files can hold a node of this kind (hi None: no upper bound)."""
    lo = SINCE.get(kind, OLDEST_WRITTEN)
    if kind not in RESET_NODES:
        return lo, None
    if resets_by == "subtract":
        return lo, V_RESET_SINCE
    return max(lo, V_RESET_SINCE), None


def choose_version(kinds: dict[str, tuple[str, str | None]], asked: str | None, source: str) -> Version:
    """The version to write: `asked` if every node fits it, else none given: the oldest that
    keeps every node's meaning. `kinds` maps node name -> (NIR type, "value"/"subtract"/None).
    SbirError naming the nodes that no single version (or the asked one) can hold."""
    lo, hi = OLDEST_WRITTEN, None
    for name, (kind, reset) in kinds.items():
        a, b = needs(kind, reset)
        lo = max(lo, a)
        hi = b if hi is None or (b is not None and b < hi) else hi
    if asked is not None:
        v = parse_version(asked)
        if v is None or v < OLDEST_WRITTEN:
            raise SbirError(f"--nir-version {asked}: give a NIR version >= {show(OLDEST_WRITTEN)} (e.g. 1.0.4 or "
                            f"{show(CURRENT_FORM)})")
        blocked = []
        for name, (kind, reset) in kinds.items():
            a, b = needs(kind, reset)
            if v < a or (b is not None and v >= b):
                blocked.append(f"'{name}' ({kind}{_reset_words(kind, reset)}: NIR {_range(a, b)})")
        if blocked:
            raise SbirError(f"{source}: NIR {asked} cannot hold {len(blocked)} node(s) with their meaning: "
                            + "; ".join(blocked))
        return v
    if hi is not None and lo >= hi:
        value = [n for n, (k, r) in kinds.items() if k in RESET_NODES and r != "subtract"]
        sub = [n for n, (k, r) in kinds.items() if k in RESET_NODES and r == "subtract"]
        young = [n for n, (k, _) in kinds.items() if SINCE.get(k, OLDEST_WRITTEN) >= V_RESET_SINCE]
        raise SbirError(f"{source}: no NIR version holds this graph's meaning: neurons that reset to v_reset "
                        f"({', '.join(value[:5]) or '-'}) need NIR >= {show(V_RESET_SINCE)}, neurons that reset by "
                        f"subtraction ({', '.join(sub[:5])}) need NIR < {show(V_RESET_SINCE)}"
                        + (f"; {', '.join(young)} need newer" if young else ""))
    return lo


def _reset_words(kind: str, reset: str | None) -> str:
    if kind not in RESET_NODES:
        return ""
    return ", resets by subtracting the threshold" if reset == "subtract" else ", resets to v_reset"


def _range(a: Version, b: Version | None) -> str:
    return f">= {show(a)}" + (f" and < {show(b)}" if b is not None else "")


def for_version(node: dict[str, Any], v: Version) -> dict[str, Any]:
    """A node dict (nir's to_dict, nested for graphs) in version v's form: before 1.0.6, no
    `v_reset` (the nodes reset by subtraction, checked by choose_version)."""
    out = dict(node)
    if out.get("type") == "NIRGraph":
        out["nodes"] = {k: for_version(n, v) for k, n in out["nodes"].items()}
    elif out.get("type") in RESET_NODES and v < V_RESET_SINCE:
        out.pop("v_reset", None)
    return out


def write_file(path: str | Path, graph: dict[str, Any], version: str) -> None:
    """A graph's node dict as a NIR HDF5 file (the layout of nir.write) stamped with `version`."""
    import h5py
    import numpy as np

    def put(group: Any, node: dict[str, Any]) -> None:
        for k, v in node.items():
            if k == "metadata":
                if v:
                    put(group.create_group(k), v)
            elif isinstance(v, str):
                group.create_dataset(k, data=v, dtype=h5py.string_dtype())
            elif isinstance(v, np.ndarray):
                group.create_dataset(k, data=v, dtype=v.dtype, compression="gzip")
            elif isinstance(v, dict):
                put(group.create_group(str(k)), v)
            else:
                group.create_dataset(k, data=v)

    with h5py.File(str(path), "w") as f:
        f.create_dataset("version", data=version, dtype=h5py.string_dtype())
        put(f.create_group("node"), graph)
