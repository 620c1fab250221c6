"""Regenerates dense.net/conv.net and their expected outputs: small networks written by lava-dl's
own writer (SLAYER CUBA blocks' export_hdf5), run by lava-dl's netx.hdf5.Network on Lava's
fixed-point simulator. Needs lava-dl (0.6.0, with its torch), which the project does not depend on:

    python -m venv /tmp/lavadl && /tmp/lavadl/bin/pip install lava-dl 'numpy<2'
    /tmp/lavadl/bin/python tests/nir/data/make_netx.py

<name>_x.npy is the input spike train [T, *shape]; <name>_lava.npy netx's output spikes [T, n]
(each dense/conv layer adds Lava's one step of synaptic latency)."""
from pathlib import Path

import h5py
import numpy as np
import torch
import torch.nn.functional as F
import lava.lib.dl.slayer as slayer
from lava.lib.dl import netx
from lava.proc import io
from lava.magma.core.run_configs import Loihi2SimCfg
from lava.magma.core.run_conditions import RunSteps

HERE = Path(__file__).resolve().parent
torch.manual_seed(0)
neuron = {'threshold': 1.25, 'current_decay': 0.25, 'voltage_decay': 0.03, 'requires_grad': False}
neuron_nodecay = {'threshold': 1.0, 'current_decay': 1.0, 'voltage_decay': 0.1, 'requires_grad': False}

def write(blocks, path, input_shape=None):
    with h5py.File(path, 'w') as h:
        layer = h.create_group('layer')
        i = 0
        if input_shape is not None:
            g = layer.create_group('0'); g.create_dataset('type', (1,), 'S10', [b'input']); g.create_dataset('shape', data=np.array(input_shape)); i = 1
        for b in blocks:
            b.export_hdf5(layer.create_group(f'{i}')); i += 1

nets = {
  "dense": ([slayer.block.cuba.Dense(neuron, 12, 16, weight_scale=3, weight_norm=False),
             slayer.block.cuba.Dense(neuron_nodecay, 16, 6, weight_scale=3, weight_norm=False)], None, (12,)),
  "conv": ([slayer.block.cuba.Conv(neuron, 2, 4, 3, padding=1, weight_scale=3, weight_norm=False),
            slayer.block.cuba.Flatten(),
            slayer.block.cuba.Dense(neuron, 4 * 6 * 6, 5, weight_scale=3, weight_norm=False)], (2, 6, 6), (2, 6, 6)),
}
T = 40
for name, (blocks, ishape, shape) in nets.items():
    path = str(HERE / f"{name}.net")
    with torch.no_grad():
        z = torch.zeros(1, *shape, 4)
        for blk in blocks:
            z = blk(z)
    write(blocks, path, ishape)
    x = (np.random.default_rng(0).random((T, *shape)) < 0.4).astype(np.int32)
    net = netx.hdf5.Network(net_config=path)
    print(name, net)
    # lava's order is (x, y, c) = (W, H, C); time last
    lava_x = x.reshape(T, -1).T if len(shape) == 1 else x.transpose(3, 2, 1, 0)
    src = io.source.RingBuffer(data=lava_x)
    sink = io.sink.RingBuffer(shape=net.out.shape, buffer=T)
    src.s_out.connect(net.inp)
    net.out.connect(sink.a_in)
    net.run(condition=RunSteps(num_steps=T), run_cfg=Loihi2SimCfg(select_tag='fixed_pt'))
    out = sink.data.get()
    net.stop()
    np.save(HERE / f"{name}_x.npy", x.astype(np.float32))
    np.save(HERE / f"{name}_lava.npy", out.T)
    print(name, out.shape, out.sum())

# A sigma-delta network (SDNN): no Input block (lava-dl 0.6.0's netx Input block does not compile
# on Lava 0.10's simulator), so the first Dense takes graded input, in units of 2^spike_exp.
sd = {'threshold': 0.1, 'tau_grad': 0.1, 'scale_grad': 0.8, 'requires_grad': False, 'shared_param': True,
      'activation': F.relu}
blocks = [slayer.block.sigma_delta.Dense(sd, 12, 16, weight_scale=2), slayer.block.sigma_delta.Dense(sd, 16, 8, weight_scale=2),
          slayer.block.sigma_delta.Output(sd, 8, 4, weight_scale=2)]
with torch.no_grad():
    z = torch.zeros(1, 12, 4)
    for blk in blocks:
        z = blk(z)
write(blocks, str(HERE / "sdnn.net"))
x = (np.cumsum(np.random.default_rng(0).integers(-6, 7, (T, 12)), axis=0).clip(0, 60) * 64).astype(np.int32)
net = netx.hdf5.Network(net_config=str(HERE / "sdnn.net"), input_message_bits=16)
src = io.source.RingBuffer(data=x.T)
sink = io.sink.RingBuffer(shape=net.out.shape, buffer=T)
src.s_out.connect(net.inp)
net.out.connect(sink.a_in)
net.run(condition=RunSteps(num_steps=T), run_cfg=Loihi2SimCfg(select_tag='fixed_pt'))
out = sink.data.get()
net.stop()
np.save(HERE / "sdnn_x.npy", x.astype(np.float32))
np.save(HERE / "sdnn_lava.npy", out.T)
print("sdnn", out.shape, np.abs(out).sum())
