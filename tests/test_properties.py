"""Properties over many inputs (hypothesis), determinism, and real training faults."""

import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.exceptions import ConvergenceWarning

from skjko import JKOFlowDensity

TINY = dict(hidden_sizes=(16, 16), n_blocks=2, n_steps=2, max_iter=40, n_reparam=0,
            learning_rate=5e-3, device="cpu", random_state=0)
PROPERTY = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def X():
    rng = np.random.default_rng(0)
    return np.vstack([rng.normal(size=(200, 2)) * [1.0, 0.3], rng.normal(size=(200, 2)) + 3])


@pytest.fixture(scope="module")
def fitted(X):
    return JKOFlowDensity(**TINY).fit(X)


def finite_rows(max_magnitude):
    return arrays(np.float64, st.tuples(st.integers(1, 30), st.just(2)),
                  elements=st.floats(-max_magnitude, max_magnitude, allow_nan=False,
                                     allow_infinity=False))


@PROPERTY
@given(rows=st.one_of(finite_rows(10.0), finite_rows(1e300)))
def test_scores_of_finite_rows_are_finite(fitted, rows):
    assert np.all(np.isfinite(fitted.score_samples(rows)))
    assert np.all(np.isfinite(fitted.transform(rows)))


@PROPERTY
@given(rows=finite_rows(6.0), batch_size=st.integers(1, 31), seed=st.integers(0, 2**32 - 1))
def test_a_rows_score_does_not_depend_on_its_batch(fitted, rows, batch_size, seed):
    whole = fitted.score_samples(rows)
    chunked = fitted.set_params(batch_size=batch_size).score_samples(rows)
    fitted.set_params(batch_size=TINY.get("batch_size", 1000))
    order = np.random.default_rng(seed).permutation(len(rows))
    np.testing.assert_allclose(chunked, whole, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fitted.score_samples(rows[order]), whole[order],
                               rtol=1e-12, atol=1e-12)


@PROPERTY
@given(latent=arrays(np.float64, st.tuples(st.integers(1, 20), st.just(2)),
                     elements=st.floats(-3.5, 3.5)))
def test_transform_undoes_inverse_transform(fitted, latent):
    np.testing.assert_allclose(fitted.transform(fitted.inverse_transform(latent)), latent,
                               atol=1e-6)


@PROPERTY
@given(rows=finite_rows(5.0))
def test_inverse_transform_undoes_transform(fitted, rows):
    np.testing.assert_allclose(fitted.inverse_transform(fitted.transform(rows)), rows,
                               atol=1e-6 * (1 + np.abs(rows).max()))


def test_same_random_state_gives_identical_parameters_scores_and_samples(X, fitted):
    again = JKOFlowDensity(**TINY).fit(X)
    for (name, p), (_, q) in zip(fitted.flow_.named_parameters(),
                                 again.flow_.named_parameters()):
        assert torch.equal(p, q), name
    np.testing.assert_array_equal(again.score_samples(X), fitted.score_samples(X))
    np.testing.assert_array_equal(again.sample(50, random_state=3),
                                  fitted.sample(50, random_state=3))
    assert not np.array_equal(fitted.sample(50, random_state=3),
                              fitted.sample(50, random_state=4))
    other_seed = JKOFlowDensity(**{**TINY, "random_state": 1}).fit(X)
    assert not np.allclose(other_seed.score_samples(X), fitted.score_samples(X))


def test_noise_regularization_is_reproducible(X):
    """The jitter comes from the seeded generator: same random_state, same model."""
    noisy = {**TINY, "n_blocks": 1, "noise_std": 0.2}
    first = JKOFlowDensity(**noisy).fit(X).score_samples(X)
    np.testing.assert_array_equal(JKOFlowDensity(**noisy).fit(X).score_samples(X), first)
    quiet = JKOFlowDensity(**{**noisy, "noise_std": 0.0}).fit(X).score_samples(X)
    assert not np.allclose(first, quiet)


def test_fitting_twice_is_idempotent(X, fitted):
    model = JKOFlowDensity(**TINY)
    first = model.fit(X).score_samples(X)
    np.testing.assert_array_equal(model.fit(X).score_samples(X), first)
    np.testing.assert_array_equal(first, fitted.score_samples(X))


def test_a_diverging_fit_warns_and_keeps_a_usable_model(X):
    """A learning rate of 10 blows the weights up at the second step: a real fault, not a mock."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = JKOFlowDensity(**{**TINY, "learning_rate": 10.0}).fit(X)
    messages = [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert any("JKO block 1 diverged" in m and "non-finite loss" in m for m in messages)
    assert model.stop_reason_ == "diverged" and model.history_[0]["diverged"]
    assert np.all(np.isfinite(model.score_samples(X)))
    assert np.all(np.isfinite(model.sample(20, random_state=0)))


def test_fit_and_predict_work_in_chunks_of_batch_size(monkeypatch):
    """No step of fit, score, transform or sample sees more than batch_size rows at once."""
    from skjko import ODEBlock

    largest = []
    forward, path_integrals, inverse = ODEBlock.forward, ODEBlock.path_integrals, ODEBlock.inverse
    monkeypatch.setattr(ODEBlock, "forward",
                        lambda self, x, *a, **k: largest.append(len(x)) or forward(self, x, *a, **k))
    monkeypatch.setattr(ODEBlock, "path_integrals", lambda self, x, *a, **k: largest.append(len(x))
                        or path_integrals(self, x, *a, **k))
    monkeypatch.setattr(ODEBlock, "inverse",
                        lambda self, y, *a: largest.append(len(y)) or inverse(self, y, *a))
    X = np.random.default_rng(0).normal(size=(3000, 3))
    model = JKOFlowDensity(**{**TINY, "max_iter": 10, "batch_size": 128,
                              "early_stopping": True, "validation_interval": 5}).fit(X)
    model.score_samples(X)
    model.transform(X)
    model.sample(1000, random_state=0)
    assert max(largest) == 128 and len(largest) > 50
