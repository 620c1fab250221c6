"""Builds a small convolutional spiking network in snnTorch, exports it to NIR with snnTorch's own
exporter (net.nir), and writes an input spike train (inputs.npy) and snnTorch's own simulation of
it (snntorch_out.npy), so that sbcompile's result can be compared:

    python examples/nir/make_net.py            # needs snntorch + nirtorch (the `test` extra)
    sbcompile examples/nir/net.nir -t ref -o out/
    sbcompile run out/ --inputs examples/nir/inputs.npy --save-outputs out/spikes.npy
    python examples/nir/make_net.py --compare out/spikes.npy
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from tests.nir import snntorch_nets as S  # noqa: E402  (the same networks the acceptance tests use)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--compare", type=Path, metavar="SPIKES.npy", help="compare sbcompile's output with snnTorch's")
    args = ap.parse_args()
    if args.compare:
        ours, theirs = np.load(args.compare), np.load(HERE / "snntorch_out.npy")
        diff = int((ours != theirs).sum())
        print(f"{int(theirs.sum())} output spikes from snnTorch, {int(ours.sum())} from sbcompile, {diff} differ")
        return 1 if diff else 0
    import nir

    net, shape = S.conv_net(seed=0)
    nir.write(str(HERE / "net.nir"), S.export(net, shape))
    x = (np.random.default_rng(0).random((50, *shape)) < 0.5).astype(np.float32)
    np.save(HERE / "inputs.npy", x)
    np.save(HERE / "snntorch_out.npy", S.simulate(net, x).astype(np.float32))
    print(f"wrote {HERE / 'net.nir'} ({(HERE / 'net.nir').stat().st_size} bytes), inputs.npy, snntorch_out.npy")
    return 0


if __name__ == "__main__":
    sys.exit(main())
