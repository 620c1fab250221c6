"""The reference interpreter: runs a module op by op through each op's own reference semantics.
The same call serves prefill (many tokens) and decoding (one token at a time): stateful ops
keep their state between calls and positions continue from where the last call ended.

This is the one op-by-op loop of the compiler. A target that runs some ops its own way (a GPU
kernel, a Lava host group's integer accumulators) subclasses `Interpreter` and overrides
`run_op`, as torch.fx.Interpreter.run_node allows, falling back to the reference semantics."""

from __future__ import annotations

from typing import Any, Callable, Iterable

import numpy as np

from .activity import SpikeStats
from .core import Module, Op
from .errors import SbirError
from .opdef import OpDef, lookup
from .runtime import SpikeArray


class OpContext:
    """The `EvalContext` an op sees while it runs: the module's weights, the op's own state slot,
    the module's inputs, the position of this call's first token, and the interpreter's records."""

    def __init__(self, interp: "Interpreter", index: int) -> None:
        self.interp = interp
        self.index = index
        self.position = interp.position

    def weight(self, name: str) -> np.ndarray:
        return self.interp.module.weights.get(name)

    def state(self) -> dict[str, Any]:
        return self.interp.states.setdefault(self.index, {})

    def input(self, name: str) -> Any:
        try:
            return self.interp.inputs[name]
        except KeyError:
            raise SbirError(f"input '{name}' was not given (inputs given: {', '.join(self.interp.inputs) or 'none'})") from None

    def record(self, key: str, value: Any) -> None:
        """Keep a fact about this op's run (summed over calls): `records[result][key]`."""
        name = self.interp.module.ops[self.index].results[0].name
        facts = self.interp.records.setdefault(name, {})
        facts[key] = facts.get(key, 0) + value


Observer = Callable[[Op, list[Any], list[Any]], None]


class Interpreter:
    def __init__(self, module: Module, *, record_activity: bool = True, observer: Observer | None = None) -> None:
        """`observer(op, args, results)` sees every op's values as they are computed (calibration)."""
        self.module = module
        self.record_activity = record_activity
        self.observer = observer
        self.defs: list[OpDef] = []
        for op in module.ops:
            d = lookup(op.name)
            if d is None:
                raise SbirError(f"unknown op '{op.name}'", op.where())
            self.defs.append(d)
        self.reset()

    def reset(self) -> None:
        """Forget all state: the next call starts a new sequence at position 0."""
        self.states: dict[int, dict[str, Any]] = {}
        self.position = 0
        self.activity: dict[str, SpikeStats] = {}
        self.records: dict[str, dict[str, Any]] = {}
        self.inputs: dict[str, Any] = {}

    def __call__(self, **inputs: Any) -> list[Any]:
        """Run the module on the next chunk of the sequence; returns the outputs in order."""
        self.inputs = inputs
        env = self.execute({})
        first = self.module.inputs[0].result.name if self.module.inputs else None
        if first is not None:
            self.position += np.shape(env[first])[0] if np.ndim(env[first]) else 1
        return [env[v.name] for v in self.module.outputs]

    def execute(self, env: dict[str, Any], indices: Iterable[int] | None = None) -> dict[str, Any]:
        """Run the ops at `indices` (default: all, in order) at the current position, reading
        operands from and writing results into `env` (value name -> value); returns `env`."""
        for index in range(len(self.module.ops)) if indices is None else indices:
            op, d = self.module.ops[index], self.defs[index]
            args = [env[v.name] for v in op.operands]
            try:
                outs = self.run_op(index, op, d, args)
            except SbirError:
                raise
            except Exception as e:  # name the op a numerical failure happened in
                raise SbirError(f"{op.name} (%{op.results[0].name}) failed: {type(e).__name__}: {e}", op.where()) from e
            if self.observer is not None:
                self.observer(op, args, outs)
            for r, value in zip(op.results, outs):
                env[r.name] = value
                if self.record_activity and isinstance(value, SpikeArray):
                    stats = self.activity.get(r.name)
                    if stats is None:
                        stats = self.activity[r.name] = SpikeStats(value.counts.shape[-1])
                    stats.add(value.counts)
        return env

    def run_op(self, index: int, op: Op, d: OpDef, args: list[Any]) -> list[Any]:
        """Compute one op's results; targets override this to run an op their own way (as
        torch.fx.Interpreter.run_node allows) and fall back to the reference semantics here."""
        return d.evaluate(op.params, args, OpContext(self, index))
