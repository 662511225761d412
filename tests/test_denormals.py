"""Denormals flushed to zero while a flow trains, the caller's setting restored after."""

import numpy as np
import pytest
import torch

from skjko import JKOFlowDensity, jko
from skjko._denormals import flushed_denormals, flushing_denormals

TINY = dict(hidden_sizes=(8,), n_blocks=1, max_iter=5, random_state=0, device="cpu")
X = np.random.default_rng(0).normal(size=(200, 2))

pytestmark = pytest.mark.skipif(
    not torch.set_flush_denormal(False), reason="this CPU cannot flush denormals")


@pytest.fixture(params=[False, True], ids=["caller keeps denormals", "caller flushes"])
def callers_setting(request):
    torch.set_flush_denormal(request.param)
    yield request.param
    torch.set_flush_denormal(False)


def test_the_probe_reads_the_setting():
    torch.set_flush_denormal(True)
    assert flushing_denormals()
    torch.set_flush_denormal(False)
    assert not flushing_denormals()
    # The probe's product is a float32 denormal, not a value that underflows anyway.
    assert 0 < (torch.tensor(1e-30, dtype=torch.float32) * 1e-10).item() < 1.2e-38


def test_the_block_flushes_and_restores(callers_setting):
    with flushed_denormals():
        assert flushing_denormals()
        assert (torch.full((3,), 1e-30) * 1e-10 == 0).all()
    assert flushing_denormals() == callers_setting


def test_the_setting_is_restored_when_the_block_raises(callers_setting):
    with pytest.raises(RuntimeError), flushed_denormals():
        raise RuntimeError
    assert flushing_denormals() == callers_setting


def test_training_flushes_and_the_fit_restores(monkeypatch, callers_setting):
    seen, train_block = [], jko.train_block
    monkeypatch.setattr(jko, "train_block", lambda *a, **k: seen.append(
        flushing_denormals()) or train_block(*a, **k))
    JKOFlowDensity(**TINY).fit(X)
    assert seen == [True]
    assert flushing_denormals() == callers_setting
