"""JKOFlowDensity(velocity='potential'): OT-Flow's potential inside the JKO loop."""

import numpy as np
import pytest
import torch

from benchmarks.common import grid_mass

from skjko import JKOFlowDensity, PotentialVelocity

PARAMS = dict(velocity="potential", hidden_sizes=(64, 64, 64), n_blocks=2, n_reparam=0,
              max_iter=100, batch_size=256, learning_rate=1e-2, device="cpu", random_state=0)


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(0)
    centers = np.array([[-2.0, 0.0], [2.0, 1.0]])
    X = centers[rng.integers(0, 2, 1200)] + rng.normal(scale=[0.5, 0.3], size=(1200, 2))
    return X[:600], X[600:]


@pytest.fixture(scope="module")
def fitted(blobs):
    return JKOFlowDensity(**PARAMS).fit(blobs[0])


def test_blocks_use_the_potential_network(fitted):
    assert all(isinstance(b.velocity, PotentialVelocity) for b in fitted.flow_.blocks)
    assert fitted.flow_.blocks[0].velocity.width == 64
    assert all(b.n_steps == 8 for b in fitted.flow_.blocks)  # n_steps='auto'
    # The proximal term is the kinetic energy, never below the endpoint movement.
    assert all(r["w2_loss"] > 0 for r in fitted.history_ if r["round"] == "grow")


def test_potential_density_integrates_to_one(fitted, blobs):
    # 101² points: the trapezoid rule is already exact to 1e-3 on these blobs (the step is
    # under half their smallest spread), and 8 RK4 steps per block make each point costly.
    assert grid_mass(fitted, blobs[0], n_grid=101) == pytest.approx(1.0, abs=0.02)


def test_potential_learns_more_than_a_gaussian(fitted, blobs):
    from sklearn.mixture import GaussianMixture

    gaussian = GaussianMixture(1).fit(blobs[0])
    assert fitted.score(blobs[1]) > gaussian.score(blobs[1]) + 0.3


def test_potential_round_trip(fitted, blobs):
    Z = fitted.transform(blobs[1])
    np.testing.assert_allclose(fitted.inverse_transform(Z), blobs[1], rtol=1e-3, atol=1e-3)


def test_potential_scores_match_the_autograd_trace(fitted, blobs):
    """The closed-form divergence used for scoring equals an autograd Jacobian trace."""
    from skjko import divergence_exact

    velocity = fitted.flow_.blocks[0].velocity
    x = fitted.flow_.input_map(torch.tensor(blobs[1][:50]))[0]
    for t in (0.0, 0.5):
        _, closed_form = velocity.velocity_and_divergence(x, t)
        _, autograd = divergence_exact(lambda y: velocity(y, t), x)
        torch.testing.assert_close(closed_form, autograd, rtol=1e-8, atol=1e-8)


def test_potential_needs_equal_widths(blobs):
    with pytest.raises(ValueError, match="equal-width"):
        JKOFlowDensity(**{**PARAMS, "hidden_sizes": (64, 16)}).fit(blobs[0])


def hjb_residual(model, X):
    """Mean ∫|∂ₜΦ − ½‖∇Φ‖²| dt along the training paths, summed over blocks."""
    x, total = model.flow_.input_map(torch.tensor(X))[0], 0.0
    with torch.no_grad():
        for block in model.flow_.blocks:
            y, _, integrals = block.path_integrals(x, integrands=("hjb",))
            total, x = total + integrals["hjb"].mean().item(), y
    return total


def test_hjb_regularizer_lowers_the_hjb_residual(blobs):
    params = dict(PARAMS, n_blocks=1, max_iter=60)
    plain = JKOFlowDensity(**params).fit(blobs[0])
    regularized = JKOFlowDensity(**dict(params, alpha_hjb=5.0)).fit(blobs[0])
    assert hjb_residual(regularized, blobs[0]) < 0.7 * hjb_residual(plain, blobs[0])
    assert np.isfinite(regularized.score(blobs[1]))


def test_hjb_needs_the_potential(blobs):
    with pytest.raises(ValueError, match="alpha_hjb"):
        JKOFlowDensity(**dict(PARAMS, velocity="mlp", hidden_sizes=(8,), alpha_hjb=1.0)).fit(
            blobs[0])
