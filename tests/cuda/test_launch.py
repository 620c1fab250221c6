"""Launcher (kernels/launch.py): a call site's first call of each specialisation goes through Triton,
later ones launch the compiled kernel with every argument in signature order. Checked on the CPU with
a stand-in JIT function and compiled kernel (the real ones exist only on a GPU; test_plan and the
kernel tests run the real path there)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

torch = pytest.importorskip("torch", reason="torch is not installed")
pytest.importorskip("triton", reason="triton is not installed: no GPU kernels to test")

from triton.compiler import CompiledKernel  # noqa: E402

from targets.cuda.kernels import launch  # noqa: E402
from targets.cuda.kernels.launch import Launcher  # noqa: E402


def _kernel(x_ptr, y_ptr, n, alpha, BLOCK, EVEN=True):  # the stand-in's signature
    pass


class _Compiled(CompiledKernel):
    function, packed_metadata = "function", "metadata"

    def __init__(self, log: list, backend: str = "cuda") -> None:
        self.log = log
        self.metadata = SimpleNamespace(target=SimpleNamespace(backend=backend))

    def __getattribute__(self, name):  # no module to load
        return object.__getattribute__(self, name)

    def run(self, gx, gy, gz, stream, function, metadata, launch_metadata, enter, leave, *args):
        self.log.append(("direct", (gx, gy, gz), args, stream))

    def __del__(self) -> None:  # nothing was loaded
        pass


class _Jit:
    arg_names = ["x_ptr", "y_ptr", "n", "alpha", "BLOCK", "EVEN"]
    fn = staticmethod(_kernel)

    def __init__(self, backend: str = "cuda") -> None:
        self.log: list = []
        self.backend = backend

    def run(self, *args, grid, warmup, **kwargs):
        self.log.append(("triton", args, kwargs))
        return _Compiled(self.log, self.backend)


@pytest.fixture(autouse=True)
def _stream(monkeypatch) -> None:
    monkeypatch.setattr(launch, "_current_stream", lambda: 7)


def test_second_call_of_a_specialisation_launches_directly() -> None:
    jit = _Jit()
    launcher = Launcher(jit)
    x, y = torch.zeros(64), torch.zeros(64)
    grid = lambda meta: (meta["n"] // meta["BLOCK"], 2)  # noqa: E731
    launcher[grid](x, y, 48, 0.5, BLOCK=16, num_warps=4)
    launcher[grid](x, y, 32, 0.25, BLOCK=16, num_warps=4)  # n still a multiple of 16, not 1: same key
    assert [e[0] for e in jit.log] == ["triton", "direct"]
    assert jit.log[1][1:] == ((2, 2, 1), (x, y, 32, 0.25, 16, True), 7)


@pytest.mark.parametrize("change", ["n", "width", "alignment", "dtype", "keyword"])
def test_a_new_specialisation_goes_through_triton(change: str) -> None:
    jit = _Jit()
    launcher = Launcher(jit)
    x, y = torch.zeros(64), torch.zeros(64)
    launcher[(1,)](x, y, 32, 0.5, BLOCK=16)
    args = {"n": (x, y, 33, 0.5), "width": (x, y, 2 ** 32, 0.5), "alignment": (x[1:], y, 32, 0.5),
            "dtype": (x.double(), y, 32, 0.5), "keyword": (x, y, 32, 0.5)}[change]
    launcher[(1,)](*args, BLOCK=32 if change == "keyword" else 16)
    assert [e[0] for e in jit.log] == ["triton", "triton"]


def test_arguments_the_key_cannot_describe_always_go_through_triton() -> None:
    jit = _Jit()
    launcher = Launcher(jit)
    for _ in range(2):
        launcher[(1,)](torch.zeros(4), (1, 2), 4, 0.5, BLOCK=16)
    assert [e[0] for e in jit.log] == ["triton", "triton"]


def test_kernels_of_other_backends_always_go_through_triton() -> None:
    """MetaX's mcTriton (or any backend but NVIDIA's) keeps its own launch path."""
    jit = _Jit(backend="maca")
    launcher = Launcher(jit)
    for _ in range(2):
        launcher[(1,)](torch.zeros(4), torch.zeros(4), 4, 0.5, BLOCK=16)
    assert [e[0] for e in jit.log] == ["triton", "triton"]
