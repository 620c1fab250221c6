"""Every coding decodes back to the counts exactly."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sbcompile.models.codings import decode, encode, steps_needed

counts = st.lists(st.integers(-300, 300), min_size=1, max_size=40).map(lambda v: torch.tensor(v))


@settings(max_examples=100, deadline=None)
@given(counts, st.sampled_from(["ternary", "bitwise", "twos_complement"]))
def test_signed_codings_round_trip(c: torch.Tensor, coding: str) -> None:
    train = encode(c, coding)
    assert train.shape == (steps_needed(c, coding), *c.shape)
    assert set(train.unique().tolist()) <= ({0, 1} if coding == "twos_complement" else {-1, 0, 1})
    assert torch.equal(decode(train, coding), c)


@settings(max_examples=50, deadline=None)
@given(counts.map(torch.abs))
def test_binary_round_trips(c: torch.Tensor) -> None:
    assert torch.equal(decode(encode(c, "binary"), "binary"), c)


def test_bitwise_steps_and_order() -> None:
    assert steps_needed(torch.tensor([255]), "bitwise") == 8  # the paper: 8 steps for 256 values
    assert encode(torch.tensor([6]), "bitwise")[:, 0].tolist() == [1, 1, 0]  # most significant bit first
    assert encode(torch.tensor([-5]), "bitwise")[:, 0].tolist() == [-1, 0, -1]
    with pytest.raises(ValueError, match="binary coding carries non-negative counts only"):
        encode(torch.tensor([-1]), "binary")
