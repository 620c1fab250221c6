"""`sbcompile run` under torchrun: the prompt's prefill split over the launched ranks by token ranges
(targets/cuda/sequence_parallel.py), then decode on the last rank, which holds the decode state and
prints the result, the summary line (ranks and backend) and what each rank sent per layer. The
other ranks print nothing and end after the prefill."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np

from sbcompile.ir import SbirError

SPREAD_TARGETS = ("cuda", "metax")


def run_on_ranks(args: argparse.Namespace, art: Any, tokens: np.ndarray) -> int:
    from sbcompile.run import launched_world, print_result, sampling_options

    target = args.target or art.target
    if target not in SPREAD_TARGETS:
        raise SbirError(f"a run on {launched_world()} ranks prefills across them on the cuda or metax target only; "
                        f"this one runs on '{target}' (use --target cuda, or run without torchrun)")
    if args.inputs is not None or args.hardware:
        raise SbirError("a run on several ranks drives token models on the cuda target (no --inputs, no --hardware)")
    try:
        import torch.distributed as dist

        from sbcompile.targets import TARGETS
        from sbcompile.targets.cuda import plan
        from sbcompile.targets.cuda.sequence_parallel import SequenceParallelExecutor, describe_traffic, init_ranks, token_ranges
    except ImportError as e:
        raise SbirError(f"a run on several ranks needs torch and triton ({e})") from None
    plan.build(art.module)  # a module without a plan (op-by-op session only) is refused here
    token_ranges(len(tokens), launched_world())  # every rank refuses a too-short prompt before any collective
    _, device = init_ranks()
    try:
        session = SequenceParallelExecutor(art.module, flavour=TARGETS[target].flavour, device=str(device),
                                           all_logits=args.save_logits is not None)
        if not session.last:
            session(tokens)
            return 0
        res = art.run(tokens=tokens, generate=args.generate, target=target, session=session, **sampling_options(args))
        print_result(args, art, res)
        print(f"sbcompile run: {describe_traffic(session.traffic())}", file=sys.stderr)
        return 0
    finally:
        dist.destroy_process_group()
