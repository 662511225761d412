"""Heavy grid cells widened inside the input map: the map, its log-det, and the density."""

import pickle

import numpy as np
import pytest
import torch

import skjko.cell_stretch as cell_stretch
from sklearn.utils._param_validation import InvalidParameterError
from skjko import JKOFlowConditionalDensity, JKOFlowDensity
from skjko.cell_stretch import CellStretch, PiecewiseLinear, heavy_cells, stretch_knots
from skjko.input_map import InputMap

FAST = dict(hidden_sizes=(32, 32), n_blocks=2, n_reparam=0, n_steps=3, max_iter=150,
            batch_size=256, learning_rate=5e-3, device="cpu")


def test_piecewise_linear_is_monotone_invertible_and_its_log_slope_exact():
    piece = PiecewiseLinear([-1.0, -0.5, 0.2, 0.3], [-2.0, -0.5, 0.2, 3.0])
    x = torch.linspace(-4, 4, 8001, dtype=torch.float64)
    y, log_slope = piece(x)
    assert torch.all(torch.diff(y) > 0)
    torch.testing.assert_close(piece.inverse(y), x, rtol=0, atol=1e-12)
    # Slope 1 outside the knots, the chords' slopes between them.
    assert torch.all(log_slope[x < -1] == 0) and torch.all(log_slope[x >= 0.3] == 0)
    np.testing.assert_allclose(np.exp(log_slope[(x >= -1) & (x < -0.5)]), 3.0)
    np.testing.assert_allclose(np.exp(log_slope[(x >= 0.2) & (x < 0.3)]), 28.0)
    # Continuous at the knots: the map of a knot from either side agrees.
    knots = torch.tensor([-1.0, -0.5, 0.2, 0.3], dtype=torch.float64)
    below, _ = piece(knots - 1e-12)
    torch.testing.assert_close(below, piece.outputs, rtol=0, atol=1e-9)


def test_neighbouring_cells_share_a_knot_and_the_stretch_is_centred():
    # Two touching cells (the second's lo is the first's hi up to round-off) and one apart.
    inputs, outputs = stretch_knots([(0.0, 0.1, 0.5), (0.1 + 1e-15, 0.1, 0.3), (1.0, 0.1, 0.1)])
    np.testing.assert_allclose(inputs, [0.0, 0.1, 0.2, 1.0, 1.1])
    assert np.all(np.diff(inputs) > 0) and np.all(np.diff(outputs) > 0)
    np.testing.assert_allclose(np.diff(outputs), [0.5, 0.3, 0.8, 0.1])
    shift = (0.5 - 0.1) + (0.3 - 0.1)
    np.testing.assert_allclose(outputs[0], -shift / 2)


def test_heavy_cells_are_the_dense_shares_only():
    column = np.repeat([0.0, 1.0, 2.0, 3.0], [30, 60, 4, 906]) * 0.1
    # Step 0.1: a share above 0.04 is denser than HEAVY_CELL_DENSITY = 0.4 per unit;
    # 3 % is not a point mass.
    cells = heavy_cells(column, 0.1, np.ones(len(column)))
    assert [round(lo, 6) for lo, _, _ in cells] == [0.05, 0.25]
    assert cells[1][2] == pytest.approx(0.906 / cell_stretch.HEAVY_CELL_DENSITY)
    few = np.repeat([0.0, 0.1], [4, 36])  # 10 % of 40 rows, but 4 rows
    assert [round(lo, 6) for lo, _, _ in heavy_cells(few, 0.1, np.ones(40))] == [0.05]
    weight = np.where(column == 0.0, 100.0, 1.0)  # the weights decide the shares
    heavy = [round(lo + 0.05, 6) for lo, _, _ in heavy_cells(column, 0.1, weight)]
    assert heavy == [0.0, 0.3]
    U = np.column_stack([column, np.linspace(-1, 1, len(column))])
    assert CellStretch.from_rows(U, np.array([0.0, 0.1])) is None  # not spread: no cells
    assert CellStretch.from_rows(U, np.array([0.1, 0.0])).columns == [0]


@pytest.mark.parametrize("whiten", [False, True])
def test_the_input_map_with_a_stretch_inverts_and_its_log_det_is_exact(whiten):
    rng = np.random.default_rng(0)
    X = np.column_stack([np.where(rng.random(400) < 0.4, 0.0, rng.integers(1, 20, 400)),
                         rng.normal(size=400)])
    X[:, 1] += 0.1 * X[:, 0]
    input_map = InputMap.from_data(X, whiten=whiten, cell_widths=np.array([1.0, 0.0]))
    assert input_map.stretch is not None and input_map.stretch.columns == [0]
    x = torch.tensor(X + rng.uniform(-0.5, 0.5, X.shape) * [1, 0])
    u, log_det = input_map(x)
    torch.testing.assert_close(input_map.inverse(u), x, rtol=0, atol=1e-10)
    for row, row_log_det in zip(x[:20], log_det[:20]):
        jacobian = torch.autograd.functional.jacobian(lambda r: input_map(r[None])[0][0], row)
        assert torch.slogdet(jacobian)[1].item() == pytest.approx(row_log_det.item(), abs=1e-9)


def heavy_cell_rows(n, seed):
    """A count column whose value 0 holds 40 % of the rows, and a column that follows it."""
    rng = np.random.default_rng(seed)
    counts = np.where(rng.random(n) < 0.4, 0.0, rng.integers(1, 21, n))
    return np.column_stack([counts, 0.2 * counts + rng.normal(size=n)])


@pytest.fixture(scope="module")
def fitted_pair():
    X = heavy_cell_rows(1500, 0)
    stretched = JKOFlowDensity(random_state=0, **FAST).fit(X)
    plain = JKOFlowDensity(random_state=0, widen_heavy_cells=False, **FAST).fit(X)
    return stretched, plain


def test_a_heavy_cell_is_widened_and_the_density_still_integrates_to_one(fitted_pair):
    stretched, plain = fitted_pair
    assert stretched.flow_.input_map.stretch.columns == [0]
    assert plain.flow_.input_map.stretch is None
    # ∫ over each cell of column 0 (Gauss-Legendre, 8 nodes) and over column 1 (trapezoid).
    nodes, weights = np.polynomial.legendre.leggauss(8)
    x1 = np.linspace(-8.0, 13.0, 841)
    cells = np.arange(-6.0, 28.0)
    x0 = (cells[:, None] + nodes / 2).ravel()
    grid = np.column_stack([np.repeat(x0, len(x1)), np.tile(x1, len(x0))])
    density = np.exp(stretched.score_samples(grid)).reshape(len(x0), len(x1))
    along_x1 = np.trapezoid(density, x1, axis=1).reshape(len(cells), -1)
    probabilities = (along_x1 * weights / 2).sum(axis=1)
    assert probabilities.sum() == pytest.approx(1.0, abs=0.03)
    assert probabilities[cells == 0][0] == pytest.approx(0.4, abs=0.05)


def test_widening_the_heavy_cell_fits_its_share_and_held_out_rows_better(fitted_pair):
    stretched, plain = fitted_pair
    held_out = heavy_cell_rows(2000, 1)
    spread = held_out + np.random.default_rng(2).uniform(-0.5, 0.5, held_out.shape) * [1, 0]
    assert stretched.score(spread) > plain.score(spread)
    # The share the plain fit gives the heavy cell leaks into its neighbour.
    in_cell = lambda model: np.mean(model.sample(4000, random_state=0)[:, 0] ** 2 < 0.25)  # noqa: E731
    assert abs(in_cell(stretched) - 0.4) < abs(in_cell(plain) - 0.4)


def test_samples_of_a_stretched_fit_land_in_the_heavy_cell_at_its_share(fitted_pair):
    stretched, _ = fitted_pair
    draws = stretched.sample(4000, random_state=0)
    assert np.mean(np.abs(draws[:, 0]) < 0.5) == pytest.approx(0.4, abs=0.05)
    Z = stretched.transform(draws[:50])
    np.testing.assert_allclose(stretched.inverse_transform(Z), draws[:50], atol=1e-5)


@pytest.mark.parametrize("value", ["yes", 0.5, None])
def test_bad_widen_heavy_cells_values_are_refused(value):
    with pytest.raises(InvalidParameterError, match="widen_heavy_cells"):
        JKOFlowDensity(widen_heavy_cells=value).fit(heavy_cell_rows(50, 0))


def test_a_stretched_fit_pickles_with_its_map(fitted_pair):
    stretched, _ = fitted_pair
    again = pickle.loads(pickle.dumps(stretched))
    rows = heavy_cell_rows(50, 5)
    np.testing.assert_array_equal(again.score_samples(rows), stretched.score_samples(rows))


def test_a_conditional_density_widens_heavy_target_cells_only():
    rng = np.random.default_rng(0)
    X = np.where(rng.random((600, 1)) < 0.5, 0.0, rng.integers(1, 30, (600, 1)))  # context
    y = np.where(rng.random(600) < 0.4, 0.0, rng.integers(1, 21, 600)) + (X[:, 0] > 0)
    model = JKOFlowConditionalDensity(random_state=0, **dict(FAST, max_iter=20, n_blocks=1))
    model.fit(X, y)
    assert model.flow_.input_map.stretch.columns == [0]  # y's column; x's is never widened
    assert np.all(np.isfinite(model.score_samples(X[:20], y[:20])))
