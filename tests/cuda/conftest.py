"""Kernel tests run everywhere: on a GPU when CUDA is there, else in Triton's CPU interpreter.

TRITON_INTERPRET must be set before triton compiles anything, so it is set here, at collection,
before any test module imports a kernel. The interpreter has no bf16 dot: tests use fp32/fp16/int8."""

from __future__ import annotations

import os

import pytest

try:
    import torch
    _HAS_CUDA = torch.cuda.is_available()
except ImportError:  # the test modules skip themselves
    _HAS_CUDA = False

if not _HAS_CUDA:
    os.environ["TRITON_INTERPRET"] = "1"


@pytest.fixture
def device() -> str:
    """Where tensors live: the interpreter runs kernels on CPU tensors."""
    return "cuda" if _HAS_CUDA else "cpu"

