"""mixed_precision: the training steps' matrix products in bfloat16, everything else exact."""

import numpy as np
import pytest
import torch

from skjko import JKOFlowConditionalDensity, JKOFlowDensity, _precision, jko

SMALL = dict(hidden_sizes=(32, 32), n_blocks=1, max_iter=60, random_state=0, device="cpu")
X = np.random.default_rng(0).normal(size=(400, 3)) @ np.array([[1, .5, 0], [0, 1, .5], [0, 0, 1]])


def dtypes_in_training(monkeypatch, estimator, *fit_args):
    """Fit; return the model and the dtype of the first hidden layer's output in each step."""
    seen, jko_loss = set(), jko.jko_loss

    def recording(block, *args, **kwargs):
        first_layer = block.velocity.net[0]
        hook = first_layer.register_forward_hook(lambda m, i, out: seen.add(out.dtype))
        try:
            return jko_loss(block, *args, **kwargs)
        finally:
            hook.remove()

    monkeypatch.setattr(jko, "jko_loss", recording)
    return estimator.fit(*fit_args), seen


@pytest.mark.parametrize("native", [True, False])
def test_auto_follows_the_cpus_bfloat16(monkeypatch, native):
    monkeypatch.setattr(_precision, "cpu_has_native_bfloat16", lambda: native)
    model, seen = dtypes_in_training(monkeypatch, JKOFlowDensity(**SMALL), X)
    assert model.mixed_precision_ is native
    assert seen == {torch.bfloat16 if native else torch.float32}


def test_auto_keeps_float32_on_a_gpu():
    assert _precision.resolve_autocast_dtype("auto", torch.device("cuda")) is None
    assert _precision.resolve_autocast_dtype(True, torch.device("cuda")) is torch.bfloat16


@pytest.mark.parametrize("mixed_precision, dtype", [(True, torch.bfloat16),
                                                    (False, torch.float32)])
def test_an_explicit_setting_is_used(monkeypatch, mixed_precision, dtype):
    model, seen = dtypes_in_training(
        monkeypatch, JKOFlowDensity(**SMALL, mixed_precision=mixed_precision), X)
    assert model.mixed_precision_ is mixed_precision and seen == {dtype}


@pytest.mark.parametrize("mixed_precision, dtype", [("auto", torch.float32),
                                                    (True, torch.bfloat16)])
def test_the_conditional_density_keeps_float32_unless_asked(monkeypatch, mixed_precision,
                                                           dtype):
    monkeypatch.setattr(_precision, "cpu_has_native_bfloat16", lambda: True)
    y, x = X[:, :2], X[:, 2:]
    model, seen = dtypes_in_training(
        monkeypatch, JKOFlowConditionalDensity(**SMALL, mixed_precision=mixed_precision), x, y)
    assert model.mixed_precision_ is (dtype is torch.bfloat16) and seen == {dtype}


def test_the_fitted_model_is_full_precision_and_close_to_float32s():
    rounded = JKOFlowDensity(**SMALL, mixed_precision=True).fit(X)
    exact = JKOFlowDensity(**SMALL, mixed_precision=False).fit(X)
    assert all(p.dtype == torch.float64 for p in rounded.flow_.parameters())
    weights = lambda m: torch.cat([p.flatten() for p in m.flow_.parameters()])  # noqa: E731
    assert not torch.equal(weights(rounded), weights(exact))
    assert abs(rounded.score(X) - exact.score(X)) < 0.05
    # Scores are float64 and batch-independent whatever the training precision.
    np.testing.assert_allclose(rounded.score_samples(X[:7]), rounded.score_samples(X)[:7],
                               rtol=0, atol=1e-12)


def test_the_same_seed_gives_the_same_model():
    a, b = (JKOFlowDensity(**SMALL, mixed_precision=True).fit(X) for _ in range(2))
    np.testing.assert_array_equal(a.score_samples(X), b.score_samples(X))


@pytest.mark.parametrize("bad", ["yes", 1.5, None])
def test_bad_values_are_refused(bad):
    with pytest.raises(ValueError, match="mixed_precision"):
        JKOFlowDensity(**SMALL, mixed_precision=bad).fit(X)
