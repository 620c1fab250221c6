"""Every registered op class has a say in the loihi2 lowering: a process rule, or a place in the
list of ops that run their reference semantics in a host group."""

from __future__ import annotations

from sbcompile.ir import REGISTRY
from sbcompile.targets.loihi2.lower import HOST_OPS, PROCESS_RULES


def test_every_op_class_has_a_process_rule_or_runs_on_the_host() -> None:
    registered = {type(d) for d in REGISTRY.values()}
    ruled, host = set(PROCESS_RULES), set(HOST_OPS)
    assert not ruled & host, f"both ruled and on the host: {sorted(c.name for c in ruled & host)}"
    missing = sorted(c.name for c in registered - ruled - host)
    assert not missing, f"op classes the loihi2 lowering says nothing about: {missing}"
    assert not (ruled | host) - registered
