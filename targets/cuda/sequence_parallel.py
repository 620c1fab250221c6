"""Sequence-parallel prefill over torch.distributed ranks (NCCL on GPUs, gloo on CPU processes).

Each rank runs one contiguous token range of the prompt through the compiled plan (the executor's
own segments and kernels): position-wise segments need nothing from other ranks (RoPE reads the
range's absolute start). The two sequence mixers exchange small things:
  GLA: the range's state increment S_r (the kernel's final state from a zero start) and its decay
    product D_r = exp(sum of the range's log gates), per kv head and key channel. One all-gather of
    (S_r, D_r), then an exclusive scan over ranks, S_in(r) = D_{r-1} * S_in(r-1) + S_{r-1}, gives
    the rank's incoming state, and its outputs gain (q_t * exp(G_t)) S_in * scale, with G_t the
    cumulative log gate from the range start. The state after the range is D_r * S_in + S_r.
  Window attention: the last window - 1 keys and values of every rank (one all-gather; a short
    range takes its halo from several earlier ranks), prepended to the rank's own before the kernel.
The GLA exchange is in flight while the rank scales its queries by exp(G). The last rank ends with
the decode state (GLA states, window rings) at position T and decodes on its own.

Launch: `torchrun --nproc-per-node N -m sbcompile run OUT --tokens FILE` (docs/gpu.md)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from sbcompile.ir import Module, SbirError

from .executor import F32, Executor
from .kernels.gla_chunked import gla_chunked
from .kernels.gla_recurrent import gla_recurrent
from .kernels.window_attention import window_attention


def token_ranges(total: int, world: int) -> list[tuple[int, int]]:
    """Contiguous ranges [a, b) of `total` tokens, one per rank, sizes differing by at most one."""
    if total < world:
        raise SbirError(f"a sequence-parallel prefill needs at least one token per rank: {total} tokens on {world} ranks")
    return [(r * total // world, (r + 1) * total // world) for r in range(world)]


def incoming_state(increments: torch.Tensor, decays: torch.Tensor, rank: int) -> torch.Tensor:
    """The GLA state entering `rank`'s range: the exclusive scan S <- D_j * S + S_j over ranks j <
    rank. increments [ranks, Hkv, K, V], decays [ranks, Hkv, K] (decay acts on the key channel)."""
    state = torch.zeros_like(increments[0])
    for j in range(rank):
        state = decays[j][..., None] * state + increments[j]
    return state


def init_ranks(device: str | None = None) -> tuple[str, torch.device]:
    """Join the launcher's process group (if not joined yet): NCCL when CUDA runs the kernels, else
    gloo (SBCOMPILE_DIST_BACKEND overrides). -> (backend, this rank's device)."""
    if device is None:
        cuda = torch.cuda.is_available() and os.environ.get("TRITON_INTERPRET") != "1"
    else:
        cuda = device.startswith("cuda")
    if cuda:
        where = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(where)
    else:
        where = torch.device("cpu")
    if not dist.is_initialized():
        dist.init_process_group(os.environ.get("SBCOMPILE_DIST_BACKEND") or ("nccl" if cuda else "gloo"))
    return dist.get_backend(), where


class SequenceParallelExecutor(Executor):
    """The plan on one rank of a joined process group: the first call prefills the prompt split over
    the ranks (every rank passes the whole prompt), later calls decode on the last rank.
    `all_logits`: gather every token's logits on the last rank (else it returns the last token's)."""

    def __init__(self, module: Module, *, all_logits: bool = True, **options: Any) -> None:
        if not dist.is_initialized():
            raise SbirError("the sequence-parallel executor runs inside a joined torch.distributed process group")
        super().__init__(module, **options)
        self.rank, self.world, self.backend = dist.get_rank(), dist.get_world_size(), dist.get_backend()
        self.all_logits = all_logits
        self.ranges: list[tuple[int, int]] = []  # every rank's token range of the last prefill
        self.summary = f"{self.flavour} on {self.world} ranks ({self.backend})"
        self.sent: dict[str, int] = {}  # bytes this rank sent per exchange (mixer result, or "logits")
        self.kinds: dict[str, str] = {}  # mixer result -> what it exchanged
        self._spread = False

    @property
    def last(self) -> bool:
        return self.rank == self.world - 1

    def __call__(self, tokens: np.ndarray | None = None, **inputs: Any) -> np.ndarray:
        ids = np.asarray(tokens if tokens is not None else inputs[self.input_name])
        if self.position == 0:
            return self.prefill_spread(torch.as_tensor(ids.astype(np.int64), device=self.device)).float().cpu().numpy()
        if not self.last:
            raise SbirError(f"rank {self.rank} holds no decode state: only the last rank decodes after the prefill")
        return super().__call__(ids)

    def prefill_spread(self, ids: torch.Tensor) -> torch.Tensor:
        """Prefill this rank's range of the whole prompt `ids`; -> on the last rank every token's
        logits (or the last token's), on the others their range's (or its last token's)."""
        self.reset()
        self.ranges = token_ranges(ids.shape[0], self.world)
        a, b = self.ranges[self.rank]
        self.position = a
        self.pos.fill_(a)
        self._spread = True
        try:
            out = self.prefill(ids[a:b], last_only=not self.all_logits)
        finally:
            self._spread = False
        return self._gather_logits(out) if self.all_logits else out

    def _gather_logits(self, local: torch.Tensor) -> torch.Tensor:
        longest = max(b - a for a, b in self.ranges)
        padded = local.new_zeros((longest, *local.shape[1:]))
        padded[:local.shape[0]] = local
        parts = [torch.empty_like(padded) for _ in range(self.world)] if self.last else None
        dist.gather(padded, parts, dst=self.world - 1)
        self.sent["logits"] = 0 if self.last else padded.numel() * padded.element_size()
        if not self.last:
            return local
        return torch.cat([part[:b - a] for part, (a, b) in zip(parts, self.ranges)])

    def _all_gather(self, name: str, kind: str, mine: torch.Tensor,
                    async_op: bool = False) -> tuple[list[torch.Tensor], Any]:
        parts = [torch.empty_like(mine) for _ in range(self.world)]
        work = dist.all_gather(parts, mine.contiguous(), async_op=async_op)
        self.sent[name], self.kinds[name] = mine.numel() * mine.element_size(), kind
        return parts, work

    # ------------------------------------------------------------------ mixers across ranks
    def gla(self, n, args, a):
        if not self._spread:
            return super().gla(n, args, a)
        p = n.op.params
        q, k, v, g = args
        t, hkv, d = q.shape[0], p.kv_heads, p.head_dim
        rep = p.heads // hkv
        gates = g.to(F32).reshape(t, hkv, d)
        if t == 1:
            zero = torch.zeros((1, hkv, d, d), dtype=F32, device=self.device)
            o, inc = gla_recurrent(q.reshape(1, p.heads, d), k.reshape(1, hkv, d), v.reshape(1, hkv, d),
                                   gates.reshape(1, hkv, d), zero, p.scale, inplace=True, flavour=self.flavour)
        else:
            o, inc = gla_chunked(q.reshape(1, t, p.heads, d), k.reshape(1, t, hkv, d), v.reshape(1, t, hkv, d),
                                 gates.reshape(1, t, hkv, d), p.scale, None, flavour=self.flavour)
        cum = torch.cumsum(gates, 0)  # G_t, per kv head and key channel
        mine = torch.cat([inc.reshape(-1), cum[-1].reshape(-1)])
        parts, work = self._all_gather(n.result, "GLA state", mine, async_op=True)
        scaled_q = q.reshape(t, hkv, rep, d).to(F32) * torch.exp(cum)[:, :, None, :]  # while the states travel
        work.wait()
        everyone = torch.stack(parts)
        increments = everyone[:, :hkv * d * d].reshape(self.world, hkv, d, d)
        decays = torch.exp(everyone[:, hkv * d * d:].reshape(self.world, hkv, d))
        s_in = incoming_state(increments, decays, self.rank)
        carried = torch.einsum("tkrd,kde->tkre", scaled_q, s_in) * p.scale
        out = (o.reshape(t, hkv, rep, d).to(F32) + carried).to(o.dtype).reshape(t, -1)
        self.states.setdefault(n.index, {})["S"] = (decays[self.rank][..., None] * s_in + inc[0])[None].contiguous()
        return out

    def window_attention(self, n, args, a):
        if not self._spread:
            return super().window_attention(n, args, a)
        p = n.op.params
        q, k, v = args
        t, tail, width = q.shape[0], p.window - 1, p.kv_heads * p.head_dim
        st = self._window_cache(n)
        keep = min(t, tail)
        mine = k.new_zeros((tail, 2 * width))
        if keep:
            mine[tail - keep:] = torch.cat([k[t - keep:], v[t - keep:]], dim=1)
        parts, work = self._all_gather(n.result, "window halo", mine, async_op=True)
        out = self._attend(p, q, k, v)  # while the tails travel: exact from the range's row window - 1 on
        work.wait()
        start = self.ranges[self.rank][0]
        earlier = [part[tail - min(b - a, tail):] for part, (a, b) in zip(parts[:self.rank], self.ranges)]
        halo = torch.cat(earlier)[-min(start, tail):] if earlier and tail else mine[:0]
        h, halo_k, halo_v = halo.shape[0], halo[:, :width], halo[:, width:]
        if h:  # the first window - 1 queries again, with the halo's keys before their own
            head = self._attend(p, torch.cat([q.new_zeros((h, q.shape[1])), q[:keep]]),
                                torch.cat([halo_k, k[:keep]]), torch.cat([halo_v, v[:keep]]))
            out[:keep] = head[h:]
        self._keep_window(p, st, torch.cat([halo_k, k[t - keep:]]), torch.cat([halo_v, v[t - keep:]]), start + t)
        return out

    def _attend(self, p, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        rows = q.shape[0]
        o = window_attention(q.reshape(1, rows, p.heads, p.head_dim), k.reshape(1, rows, p.kv_heads, p.head_dim),
                             v.reshape(1, rows, p.kv_heads, p.head_dim), p.window, p.scale, flavour=self.flavour)
        return o.reshape(rows, -1)

    def traffic(self) -> dict[str, Any]:
        """Bytes this rank sent in the last prefill: per mixer layer (an all-gather: it receives
        ranks - 1 times as much), and its share of the gathered logits."""
        layers = {k: v for k, v in self.sent.items() if k != "logits"}
        return {"ranks": self.world, "backend": self.backend, "per_layer": layers,
                "kinds": {k: self.kinds[k] for k in layers}, "layers_total": sum(layers.values()),
                "logits": self.sent.get("logits", 0)}


def describe_traffic(traffic: dict[str, Any]) -> str:
    """One line: what each rank sent per layer, grouped by what it exchanged."""
    groups: dict[tuple[str, int], int] = {}
    for name, size in traffic["per_layer"].items():
        key = (traffic["kinds"][name], size)
        groups[key] = groups.get(key, 0) + 1
    parts = [f"{count} layers x {size:,} B ({kind})" for (kind, size), count in sorted(groups.items())]
    logits = f"; logits gather {traffic['logits']:,} B" if traffic["logits"] else ""
    return (f"sent per rank: {' + '.join(parts) or 'nothing'} = {traffic['layers_total']:,} B "
            f"(all-gathers: each rank receives {traffic['ranks'] - 1}x that){logits}")
