"""Checks shared by several test modules."""

import numpy as np


def grid_mass(model, X, n_grid=201, margin=3.0):
    """∫ exp(score_samples) over a box around 2-D data X (trapezoid rule)."""
    lo, hi = X.min(axis=0) - margin, X.max(axis=0) + margin
    xs, ys = (np.linspace(lo[i], hi[i], n_grid) for i in range(2))
    grid = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
    density = np.exp(model.score_samples(grid)).reshape(n_grid, n_grid)
    return np.trapezoid(np.trapezoid(density, xs, axis=1), ys)
