"""The weight store: IR text names weights, the store holds them. Entries can be arrays, lazy
(read from a checkpoint on first use) or fake (shape and dtype only, for models traced on the
meta device), so a 76B model compiles without its 300 GB of weights."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from .errors import SbirError

DTYPE_OF_NUMPY = {
    "bool": "bool", "int8": "i8", "int16": "i16", "int32": "i32", "int64": "i64", "uint8": "u8",
    "float16": "f16", "float32": "f32", "float64": "f64",
}
DTYPE_NAMES = set(DTYPE_OF_NUMPY.values()) | {"bf16"}


@dataclass
class WeightEntry:
    shape: tuple[int, ...]
    dtype: str  # an IR dtype name
    loader: Callable[[], np.ndarray] | None = None  # None: fake (no data)
    array: np.ndarray | None = None

    @property
    def fake(self) -> bool:
        return self.array is None and self.loader is None


class WeightStore:
    """Name -> weight, in insertion order."""

    def __init__(self, source: str | None = None) -> None:
        self._entries: dict[str, WeightEntry] = {}
        self.source = source  # the file the store was read from, named in its errors

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def entry(self, name: str) -> WeightEntry:
        try:
            return self._entries[name]
        except KeyError:
            raise SbirError(f"weight '{name}' is not in the weight store") from None

    def shape(self, name: str) -> tuple[int, ...]:
        return self.entry(name).shape

    @property
    def has_fake(self) -> bool:
        return any(e.fake for e in self._entries.values())

    def add(self, name: str, array: np.ndarray) -> None:
        array = np.ascontiguousarray(array)
        entry = WeightEntry(tuple(array.shape), DTYPE_OF_NUMPY[str(array.dtype)])
        entry.array = _checked(name, entry, array)
        self._entries[name] = entry

    def add_lazy(self, name: str, shape: tuple[int, ...], dtype: str, loader: Callable[[], np.ndarray]) -> None:
        self._entries[name] = WeightEntry(tuple(shape), dtype, loader=loader)

    def add_fake(self, name: str, shape: tuple[int, ...], dtype: str = "f32") -> None:
        self._entries[name] = WeightEntry(tuple(shape), dtype)

    def get(self, name: str) -> np.ndarray:
        """The array, loaded on first use; fake weights are an error naming the weight."""
        e = self.entry(name)
        if e.array is None:
            if e.loader is None:
                raise SbirError(f"weight '{name}' is fake (shape only): this module was traced without weights")
            try:
                e.array = _checked(name, e, _loaded(name, e.loader))
            except SbirError as err:
                if self.source is None or self.source in err.message:
                    raise
                raise SbirError(f"{self.source}: {err.message}") from None
        return e.array

    def remove(self, name: str) -> None:
        self._entries.pop(name, None)

    def save(self, path: str) -> None:
        """Write real weights as safetensors; fake ones are listed in the header metadata so
        that reading back restores them as fake."""
        from safetensors.numpy import save_file

        real = {n: self.get(n) for n, e in self._entries.items() if not e.fake}
        fake = {n: [list(e.shape), e.dtype] for n, e in self._entries.items() if e.fake}
        # One metadata key: safetensors writes its metadata map in no fixed order.
        meta = json.dumps({"fake": fake, "order": list(self._entries)}, sort_keys=True)
        save_file(real, path, metadata={"sbcompile": meta})

    @classmethod
    def load(cls, path: str) -> "WeightStore":
        """Read lazily: shapes now, data on first use."""
        from safetensors import safe_open

        if not os.path.exists(path):
            raise SbirError(f"{path}: no such weights file")
        store = cls(source=path)
        try:
            with safe_open(path, framework="numpy") as f:
                meta = f.metadata() or {}
                shapes = {n: (tuple(f.get_slice(n).get_shape()), f.get_slice(n).get_dtype()) for n in f.keys()}
        except Exception as e:  # safetensors raises several unrelated types for a bad header
            raise SbirError(f"{path}: not a readable safetensors file ({e})") from None
        fake, order = _metadata(path, meta, shapes)
        for name in order:
            if name in fake:
                store.add_fake(name, *fake[name])
            else:
                shape, st_dtype = shapes[name]
                store.add_lazy(name, shape, _SAFETENSORS_DTYPE.get(st_dtype, "f32"), _reader(path, name))
        return store


def _metadata(path: str, meta: dict, shapes: dict) -> tuple[dict[str, tuple[tuple[int, ...], str]], list[str]]:
    """Our header metadata (fake weights, insertion order), checked: every name it lists exists,
    fake shapes are lists of non-negative integers with a known dtype."""
    try:
        ours = json.loads(meta.get("sbcompile", "{}"))
    except ValueError as e:
        raise SbirError(f"{path}: its 'sbcompile' metadata is not JSON ({e})") from None
    fake_in = ours.get("fake", {}) if isinstance(ours, dict) else None
    order = ours.get("order") if isinstance(ours, dict) else None
    if not isinstance(fake_in, dict) or not (order is None or isinstance(order, list)):
        raise SbirError(f"{path}: its 'sbcompile' metadata must be an object with 'fake' (an object) and 'order' (a list)")
    fake: dict[str, tuple[tuple[int, ...], str]] = {}
    for name, entry in fake_in.items():
        ok = (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], list) and entry[1] in DTYPE_NAMES
              and all(isinstance(d, int) and 0 <= d < 2**40 for d in entry[0]))
        if not ok:
            raise SbirError(f"{path}: fake weight '{name}' must be [shape, dtype], got {str(entry)[:60]}")
        fake[name] = (tuple(entry[0]), entry[1])
    order = order or sorted(set(shapes) | set(fake))
    for name in order:
        if not isinstance(name, str) or (name not in fake and name not in shapes):
            raise SbirError(f"{path}: metadata 'order' names '{name}', which the file does not hold")
    return fake, order


def _loaded(name: str, loader: Callable[[], np.ndarray]) -> np.ndarray:
    try:
        return loader()
    except SbirError:
        raise
    except Exception as e:  # safetensors' own error for a truncated or corrupt body
        raise SbirError(f"weight '{name}' cannot be read ({type(e).__name__}: {' '.join(str(e).split())[:160]})") from None


def _checked(name: str, entry: WeightEntry, array: np.ndarray) -> np.ndarray:
    """Data read from a file, refused when its shape differs from the header's or a float
    holds NaN or infinity (they would turn into extreme integer codes without a word)."""
    array = np.asarray(array)
    if tuple(array.shape) != tuple(entry.shape):
        raise SbirError(f"weight '{name}' has shape {list(array.shape)} in its file, expected {list(entry.shape)}")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise SbirError(f"weight '{name}' holds {int(array.size - np.isfinite(array).sum())} NaN or infinite values")
    return array


_SAFETENSORS_DTYPE = {"F32": "f32", "F64": "f64", "F16": "f16", "BF16": "bf16", "I8": "i8", "I16": "i16",
                      "I32": "i32", "I64": "i64", "U8": "u8", "BOOL": "bool"}


def _reader(path: str, name: str) -> Callable[[], np.ndarray]:
    def read() -> np.ndarray:
        from safetensors import safe_open

        with safe_open(path, framework="numpy") as f:
            return f.get_tensor(name)
    return read
