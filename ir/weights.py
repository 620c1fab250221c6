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

    def __init__(self) -> None:
        self._entries: dict[str, WeightEntry] = {}

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
        self._entries[name] = WeightEntry(tuple(array.shape), DTYPE_OF_NUMPY[str(array.dtype)], array=array)

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
            e.array = e.loader()
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
        store = cls()
        try:
            with safe_open(path, framework="numpy") as f:
                meta = f.metadata() or {}
                shapes = {n: (tuple(f.get_slice(n).get_shape()), f.get_slice(n).get_dtype()) for n in f.keys()}
        except Exception as e:  # safetensors raises several unrelated types for a bad header
            raise SbirError(f"{path}: not a readable safetensors file ({e})") from None
        ours = json.loads(meta.get("sbcompile", "{}"))
        fake = ours.get("fake", {})
        order = ours.get("order") or sorted(set(shapes) | set(fake))
        for name in order:
            if name in fake:
                store.add_fake(name, tuple(fake[name][0]), fake[name][1])
            else:
                shape, st_dtype = shapes[name]
                store.add_lazy(name, shape, _SAFETENSORS_DTYPE.get(st_dtype, "f32"), _reader(path, name))
        return store


_SAFETENSORS_DTYPE = {"F32": "f32", "F64": "f64", "F16": "f16", "BF16": "bf16", "I8": "i8", "I16": "i16",
                      "I32": "i32", "I64": "i64", "U8": "u8", "BOOL": "bool"}


def _reader(path: str, name: str) -> Callable[[], np.ndarray]:
    def read() -> np.ndarray:
        from safetensors import safe_open

        with safe_open(path, framework="numpy") as f:
            return f.get_tensor(name)
    return read
