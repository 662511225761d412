"""Columns on a grid and point masses: finding them, and spreading grid rows over their cells.

A column whose values sit on a grid (integer codes, counts, prices in cents) has no
density: a continuous model fitted to it can put as much density on the grid points
as it likes. Uniform dequantization (Theis et al., 2016) gives it one: each value v
of a column with step δ stands for the cell [v − δ/2, v + δ/2), and the model is the
density of the rows spread uniformly over their cells. Its integral over a cell is
the probability of the grid value, and a value many rows repeat (a point mass, such
as a missing value coded as 0) becomes a cell that carries the mass of its rows.
"""

import numpy as np

#: A column is on a grid when every gap between two of its neighbouring values is a
#: whole number of its smallest gap, up to this much of that gap (round-off of decimals).
GRID_MULTIPLE_TOL = 1e-4
#: ... and its range spans at most this many steps: finer grids are the precision the values
#: were recorded at (float32's ulps, five significant digits), and their cells are too narrow
#: for a spread to change a density.
MAX_GRID_CELLS = 2**16
#: A value held by at least this share of a column's rows, and this many rows, is a point
#: mass (among a handful of rows, any value is a twentieth): off a grid it gets a warning
#: at fit, and on a grid its cell may be heavy (``cell_stretch``).
POINT_MASS_FRACTION = 0.05
POINT_MASS_ROWS = 5


def column_resolutions(X):
    """Each column's resolution: the smallest gap between two of its distinct values.

    The step of a column on a grid (integer codes, counts), about 0 for a continuous
    one, and 0 for a constant one. ``X``: (n_samples, n_features); returns
    (n_features,).
    """
    gaps = [np.diff(np.unique(column)) for column in X.T]
    return np.array([g.min() if g.size else 0.0 for g in gaps])


def grid_steps(X):
    """The step of each column whose values sit on a grid, 0 for the others.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)

    Returns
    -------
    ndarray of shape (n_features,)
        δ where every gap between neighbouring distinct values of the column is a
        whole number of its smallest gap δ, and the column spans at most
        ``MAX_GRID_CELLS`` steps; 0 for continuous and constant columns.
    """
    steps = np.zeros(X.shape[1])
    for j, column in enumerate(X.T):
        gaps = np.diff(np.unique(column))
        if not gaps.size:
            continue
        multiples = gaps / gaps.min()
        if (multiples.sum() <= MAX_GRID_CELLS
                and np.all(np.abs(multiples - np.round(multiples)) <= GRID_MULTIPLE_TOL)):
            steps[j] = gaps.min()
    return steps


def atom_fractions(X):
    """Each column's largest share of rows on one value.

    ``X``: (n_samples, n_features); returns (n_features,) in (0, 1]. About 1/n for
    a continuous column; a point mass shows as a share far above the others.
    """
    return np.array([np.unique(column, return_counts=True)[1].max() / len(column)
                     for column in X.T])


def dequantized(X, steps, rng):
    """``X`` with each column spread uniformly over its cell [v − δ/2, v + δ/2).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    steps : ndarray of shape (n_features,)
        Each column's cell width δ (:func:`grid_steps`); columns of step 0 are
        left as they are.
    rng : numpy.random.Generator
        Draws the uniform offsets.

    Returns
    -------
    ndarray of shape (n_samples, n_features)
        A new array.
    """
    return X + (rng.random(X.shape) - 0.5) * steps
