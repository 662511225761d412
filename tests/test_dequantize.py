"""Columns on a grid and point masses: detection, dequantization, and the density it gives."""

import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.utils._param_validation import InvalidParameterError

from benchmarks.common import grid_mass
from skjko import JKOFlowConditionalDensity, JKOFlowDensity
from skjko.dequantize import atom_fractions, dequantized, grid_steps

FAST = dict(hidden_sizes=(32, 32), n_blocks=2, n_reparam=0, n_steps=2, max_iter=150,
            batch_size=256, learning_rate=5e-3, device="cpu")


def test_grid_steps_find_integer_and_decimal_grids_only():
    rng = np.random.default_rng(0)
    n = 500
    X = np.column_stack([
        rng.integers(0, 10, n) * 3.0 + 7.0,         # a grid of step 3, off zero
        np.round(rng.normal(size=n), 1),             # decimals: step 0.1 (with round-off)
        rng.normal(size=n),                          # continuous
        rng.normal(size=n).astype(np.float32),       # continuous, on float32's ulps
        np.full(n, 2.5),                             # constant
        np.where(rng.random(n) < 0.3, 0.0, rng.normal(size=n)),  # continuous with an atom
    ])
    np.testing.assert_allclose(grid_steps(X), [3.0, 0.1, 0, 0, 0, 0], atol=1e-12)
    fractions = atom_fractions(X)
    assert fractions[4] == 1.0 and fractions[2] == 1 / n
    assert 0.25 < fractions[5] < 0.35


def test_dequantized_rows_stay_in_their_cells():
    X = np.repeat(np.array([[0.0, 1.5], [2.0, -0.25]]), 1000, axis=0)
    steps = np.array([2.0, 0.0])
    spread = dequantized(X, steps, np.random.default_rng(0))
    assert np.all(np.abs(spread[:, 0] - X[:, 0]) <= 1.0) and spread[:, 0].std() > 0.5
    np.testing.assert_array_equal(spread[:, 1], X[:, 1])  # step 0: left alone
    np.testing.assert_array_equal(spread, dequantized(X, steps, np.random.default_rng(0)))


def grid_rows(n, seed):
    """Rows on a 5 x 5 integer grid whose cells hold very different shares of them."""
    rng = np.random.default_rng(seed)
    cells = np.array([(i, j) for i in range(5) for j in range(5)], dtype=float)
    weights = np.exp(-((cells - [1.0, 3.0])**2).sum(axis=1) / 3.0) + 0.02
    return cells[rng.choice(len(cells), size=n, p=weights / weights.sum())], cells


@pytest.fixture(scope="module")
def fitted_on_grid():
    X, cells = grid_rows(1500, 0)
    return JKOFlowDensity(dequantize=True, random_state=0, **FAST).fit(X), X, cells


def test_dequantized_density_integrates_to_one_and_its_cells_follow_the_rows(fitted_on_grid):
    model, X, cells = fitted_on_grid
    np.testing.assert_allclose(model.grid_steps_, [1.0, 1.0])
    # Each training row enters as several spreads; the noise still counts the rows once.
    n_train = 1500 - 150
    assert model.noise_std_ == pytest.approx(
        0.35 * n_train ** (-1 / 6) / (1 + (n_train / 2000) ** 3))
    assert grid_mass(model, X) == pytest.approx(1.0, abs=0.02)
    # A cell's probability: the density's integral over [v - 1/2, v + 1/2)², by
    # Gauss-Legendre with 6 x 6 nodes.
    nodes, weights = np.polynomial.legendre.leggauss(6)
    offsets = np.stack(np.meshgrid(nodes / 2, nodes / 2), axis=-1).reshape(-1, 2)
    node_weights = np.outer(weights, weights).ravel() / 4
    density = np.exp(model.score_samples((cells[:, None, :] + offsets).reshape(-1, 2)))
    probabilities = (density.reshape(len(cells), -1) * node_weights).sum(axis=1)
    frequencies = np.array([np.all(X == cell, axis=1).mean() for cell in cells])
    assert probabilities.sum() > 0.9  # the rest leaks past the grid's outer cells
    assert spearmanr(probabilities, frequencies).statistic > 0.9
    assert np.abs(probabilities - frequencies).max() < 0.05


def test_dequantize_off_leaves_the_rows_alone():
    X, _ = grid_rows(300, 1)
    model = JKOFlowDensity(dequantize=False, random_state=0, **dict(FAST, max_iter=10)).fit(X)
    np.testing.assert_array_equal(model.grid_steps_, [0.0, 0.0])
    assert JKOFlowDensity().dequantize  # on by default


def test_dequantized_fits_are_reproducible_and_warm_starts_keep_the_cells():
    X, _ = grid_rows(300, 2)
    settings = dict(FAST, max_iter=20, n_blocks=1, dequantize=True)
    first = JKOFlowDensity(random_state=3, **settings).fit(X)
    again = JKOFlowDensity(random_state=3, **settings).fit(X)
    np.testing.assert_array_equal(first.score_samples(X), again.score_samples(X))
    warm = JKOFlowDensity(random_state=3, warm_start=True, **dict(settings, n_blocks=2)).fit(X)
    warm.fit(X * 2.0)  # continued blocks keep the first fit's cells and input map
    np.testing.assert_array_equal(warm.grid_steps_, [1.0, 1.0])


def test_a_point_mass_off_the_grid_warns():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 2))
    X[:60, 1] = 0.25
    with pytest.warns(UserWarning, match=r"column\(s\) \[1\] hold at least 5%"):
        JKOFlowDensity(random_state=0, **dict(FAST, max_iter=10, n_blocks=1)).fit(X)


def test_a_conditional_density_dequantizes_its_targets_only():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 4, size=(400, 1)).astype(float)     # context on a grid
    y = X[:, 0] + rng.integers(0, 3, size=400)              # targets on a grid
    model = JKOFlowConditionalDensity(dequantize=True, random_state=0,
                                      **dict(FAST, max_iter=10, n_blocks=1)).fit(X, y)
    np.testing.assert_array_equal(model.grid_steps_, [1.0])


@pytest.mark.parametrize("value", ["yes", 1.5, None])
def test_bad_dequantize_values_are_refused(value):
    X, _ = grid_rows(50, 0)
    with pytest.raises(InvalidParameterError, match="dequantize"):
        JKOFlowDensity(dequantize=value).fit(X)
