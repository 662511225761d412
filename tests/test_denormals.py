"""Denormals flushed to zero while a flow trains, the caller's setting restored after."""

import sys

import numpy as np
import pytest
import torch

from skjko import JKOFlowDensity, _denormals, jko
from skjko._denormals import flushed_denormals, flushing_denormals, on_every_thread

TINY = dict(hidden_sizes=(8,), n_blocks=1, max_iter=5, random_state=0, device="cpu")
X = np.random.default_rng(0).normal(size=(200, 2))

pytestmark = pytest.mark.skipif(
    not torch.set_flush_denormal(False), reason="this CPU cannot flush denormals")


@pytest.fixture(params=[False, True], ids=["caller keeps denormals", "caller flushes"])
def callers_setting(request):
    previous = torch.get_num_threads()
    torch.set_num_threads(2)  # a team of OpenMP threads beside the caller
    on_every_thread(lambda: torch.set_flush_denormal(False))
    torch.set_flush_denormal(request.param)
    yield request.param
    on_every_thread(lambda: torch.set_flush_denormal(False))
    torch.set_num_threads(previous)


def denormals_left(n=1_000_000):
    """How many of n products in the denormal range survive an elementwise product that
    torch splits over its threads."""
    return int((torch.full((n,), 1e-30) * 1e-10 != 0).sum())


def test_the_probe_reads_the_setting():
    torch.set_flush_denormal(True)
    assert flushing_denormals()
    torch.set_flush_denormal(False)
    assert not flushing_denormals()
    # The probe's product is a float32 denormal, not a value that underflows anyway.
    assert 0 < (torch.tensor(1e-30, dtype=torch.float32) * 1e-10).item() < 1.2e-38


def test_the_block_flushes_on_every_thread_and_restores(callers_setting):
    before = denormals_left()
    assert 0 < before < 1_000_000 if callers_setting else before == 1_000_000
    with flushed_denormals():
        assert flushing_denormals()
        assert denormals_left() == 0  # torch's other thread flushes too
    assert flushing_denormals() == callers_setting
    assert denormals_left() == before  # and each thread is back to its own setting


@pytest.mark.skipif(
    not (sys.platform.startswith("linux") and torch.backends.openmp.is_available()),
    reason="torch without OpenMP, or not on Linux")
def test_torchs_openmp_runtime_is_found():
    assert _denormals._openmp_parallel() is not None


def test_a_runtime_other_than_gnu_libgomp_is_left_alone(monkeypatch, callers_setting):
    """LLVM's libomp, Intel's libiomp5, Windows: no call into the runtime, the caller flushes."""
    monkeypatch.setattr(_denormals, "_gnu_openmp_loaded", lambda: False)
    _denormals._openmp_parallel.cache_clear()
    try:
        assert _denormals._openmp_parallel() is None
        with flushed_denormals():
            assert flushing_denormals()
        assert flushing_denormals() == callers_setting
    finally:
        _denormals._openmp_parallel.cache_clear()


def test_without_an_openmp_runtime_the_caller_alone_flushes(monkeypatch, callers_setting):
    monkeypatch.setattr(_denormals, "_openmp_parallel", lambda: None)
    with flushed_denormals():
        assert flushing_denormals()
    assert flushing_denormals() == callers_setting


def test_the_setting_is_restored_when_the_block_raises(callers_setting):
    with pytest.raises(RuntimeError), flushed_denormals():
        raise RuntimeError
    assert flushing_denormals() == callers_setting


def test_training_flushes_and_the_fit_restores(monkeypatch, callers_setting):
    seen, train_block = [], jko.train_block
    monkeypatch.setattr(jko, "train_block", lambda *a, **k: seen.append(
        (flushing_denormals(), denormals_left())) or train_block(*a, **k))
    before = denormals_left()
    JKOFlowDensity(**TINY).fit(X)
    assert seen == [(True, 0)]
    assert flushing_denormals() == callers_setting and denormals_left() == before
