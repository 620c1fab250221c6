"""The Loihi 2 hardware model that the mapping passes and the loihi2 target share: sourced cost
constants (costs.py), the neuron program each op runs as and its resources (neuron_programs.py), and
the measured GPU figures the energy report sits beside (gpu_baseline.py). It lives below both, so
that a pass never imports a target."""
