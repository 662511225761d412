"""n_threads: how many CPU threads torch uses while a flow trains."""

import os

import numpy as np
import pytest
import torch

from skjko import JKOFlowDensity, _threads, jko

TINY = dict(hidden_sizes=(8,), n_blocks=1, max_iter=5, random_state=0, device="cpu")
X = np.random.default_rng(0).normal(size=(200, 2))


@pytest.fixture
def two_torch_threads():
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(previous)


def threads_while_training(monkeypatch, **params):
    """Fit; return the model and torch's thread counts seen inside train_block."""
    seen, train_block = [], jko.train_block
    monkeypatch.setattr(jko, "train_block", lambda *a, **k: seen.append(
        torch.get_num_threads()) or train_block(*a, **k))
    model = JKOFlowDensity(**TINY, **params).fit(X)
    return model, seen


def test_an_integer_count_is_used_in_training_and_then_restored(monkeypatch, two_torch_threads):
    model, seen = threads_while_training(monkeypatch, n_threads=1)
    assert seen == [1] and model.n_threads_ == 1
    assert torch.get_num_threads() == 2


def test_one_thread_by_default(monkeypatch, two_torch_threads):
    model, seen = threads_while_training(monkeypatch)
    assert seen == [1] and model.n_threads_ == 1
    assert torch.get_num_threads() == 2


def test_none_keeps_torchs_own_count(monkeypatch, two_torch_threads):
    model, seen = threads_while_training(monkeypatch, n_threads=None)
    assert seen == [2] and model.n_threads_ == 2


@pytest.mark.parametrize("idle, expected", [(0.3, 1), (1.2, 1), (1.6, 2), (64.0, 2), (None, 2)])
def test_auto_uses_no_more_threads_than_idle_cpus(monkeypatch, two_torch_threads, idle, expected):
    monkeypatch.setattr(_threads, "idle_cpus", lambda: idle)
    model, seen = threads_while_training(monkeypatch, n_threads="auto")
    assert seen == [expected] and model.n_threads_ == expected


def test_idle_cpus_reads_a_plausible_count():
    idle = _threads.idle_cpus(0.05)
    if idle is None:  # no /proc/stat on this platform: 'auto' falls back to torch's count
        assert _threads.resolve_n_threads("auto") == torch.get_num_threads()
    else:
        assert 0 <= idle <= 4096


@pytest.mark.parametrize("n_threads", [0, -1, "all", 1.5])
def test_bad_thread_counts_are_refused(n_threads):
    with pytest.raises(ValueError, match="n_threads"):
        JKOFlowDensity(**TINY, n_threads=n_threads).fit(X)


def test_the_suite_runs_one_more_xdist_worker_than_cpus(request, monkeypatch):
    """tests/conftest.py: ``-n auto`` starts a worker per usable CPU and one more, unless
    ``PYTEST_XDIST_AUTO_NUM_WORKERS`` says otherwise."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    workers = request.config.hook.pytest_xdist_auto_num_workers
    monkeypatch.delenv("PYTEST_XDIST_AUTO_NUM_WORKERS", raising=False)
    assert workers(config=request.config) == cpus + 1
    monkeypatch.setenv("PYTEST_XDIST_AUTO_NUM_WORKERS", "5")
    assert workers(config=request.config) == 5
