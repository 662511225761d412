"""The 2-D toys' true densities (benchmarks/toys.py), which the density benchmark reports
beside the models: each must be a density, and the one its sampler draws from."""

import numpy as np
import pytest

from benchmarks.toys import TOYS, sample_toy, toy_log_density


@pytest.mark.parametrize("name", TOYS)
def test_true_density_is_the_samplers(name):
    # Riemann sums at cell centres: accurate to far below 1e-3 for the smooth toys
    # at cells up to 1.25 times their narrowest noise (0.08 on rings, 0.1 on the
    # spirals), exact for the checkerboard's aligned squares. Every toy has all
    # but a negligible part of its mass inside [-5, 5]².
    step = 0.05 if name == "rings" else 0.125
    centres = np.arange(-5, 5, step) + step / 2
    grid = np.stack(np.meshgrid(centres, centres), axis=-1).reshape(-1, 2)
    log_q = toy_log_density(name, grid)
    q = np.exp(log_q)
    assert q.sum() * step**2 == pytest.approx(1, abs=1e-3)
    # The sampler's rows average -log q to E_p[-log q] = H(p) + KL(p‖q); the grid
    # gives q's own entropy H(q). They agree when q is p; a density off in scale,
    # shape or place (rings' noise 0.1 for 0.08, say: 0.18 nats) does not.
    entropy = -np.sum(q * np.where(q > 0, log_q, 0)) * step**2
    nll = -toy_log_density(name, sample_toy(name, 5000, 0))
    assert np.isfinite(nll).all()
    assert abs(nll.mean() - entropy) < 4 * nll.std() / np.sqrt(len(nll)) + 1e-6


def test_true_density_rejects_unknown_toys():
    with pytest.raises(ValueError, match="unknown toy 'swissroll'"):
        toy_log_density("swissroll", np.zeros((3, 2)))
