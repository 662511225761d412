"""Heavy grid cells widened inside the flow: a monotone piecewise-linear map per column.

A grid cell that holds a large share of the rows in a narrow width (a missing value
coded as 0 on a column measured to the unit) is, once the rows are spread over their
cells, a tall narrow box of density. The blocks' smooth fields build such a box only
at great cost, while a mixture places one narrow component on it. This map widens each
such cell until its rows are no denser than ``HEAVY_CELL_DENSITY`` per standard
deviation of their column, with slope 1 elsewhere. Its log-derivative is exact, so the
model is still the density of the spread rows: the box's height comes from the map's
slope, and the blocks see a cell as wide as its share.
"""

import numpy as np
import torch
from torch import nn

from .dequantize import POINT_MASS_FRACTION, POINT_MASS_ROWS

#: A cell is widened when its rows are denser than this per standard deviation of their
#: column, to the width that brings them down to it: about a standard normal's peak
#: (0.399), the density the blocks are pushing the rows towards.
HEAVY_CELL_DENSITY = 0.4


def piecewise_linear(x, inputs, outputs):
    """``x`` through the monotone map with knots (``inputs``, ``outputs``), slope 1 outside.

    Parameters
    ----------
    x : Tensor of shape (n,)
    inputs, outputs : Tensor of shape (n_knots,)
        Increasing knots.

    Returns
    -------
    y : Tensor of shape (n,)
    log_slope : Tensor of shape (n,)
        log dy/dx at each x.
    """
    inner = torch.diff(outputs) / torch.diff(inputs)
    one = torch.ones(1, dtype=x.dtype, device=x.device)
    slopes = torch.cat([one, inner, one])
    # Segment k lies between knots k-1 and k (0: left of them all); cells are [lo, hi).
    segment = torch.searchsorted(inputs, x.contiguous(), right=True)
    anchor = (segment - 1).clamp(min=0)
    slope = slopes[segment]
    return outputs[anchor] + slope * (x - inputs[anchor]), torch.log(slope)


class PiecewiseLinear(nn.Module):
    """One column's monotone piecewise-linear map, slope 1 outside its knots.

    Parameters
    ----------
    inputs, outputs : array-like of shape (n_knots,)
        Strictly increasing knots and their images.
    """

    def __init__(self, inputs, outputs):
        super().__init__()
        self.register_buffer("inputs", torch.as_tensor(np.asarray(inputs, dtype=np.float64)))
        self.register_buffer("outputs", torch.as_tensor(np.asarray(outputs, dtype=np.float64)))

    def forward(self, x):
        """(y, log dy/dx), each of shape (n,), for ``x`` of shape (n,)."""
        return piecewise_linear(x, self.inputs.to(x.dtype), self.outputs.to(x.dtype))

    def inverse(self, y):
        """The x with ``forward(x)[0] == y``, shape (n,)."""
        return piecewise_linear(y, self.outputs.to(y.dtype), self.inputs.to(y.dtype))[0]


class CellStretch(nn.Module):
    """Per-column monotone piecewise-linear maps of standardized rows; other columns pass.

    Parameters
    ----------
    maps : dict of int to PiecewiseLinear
        The map (``skjko.cell_stretch.PiecewiseLinear``) of each stretched column.
    """

    def __init__(self, maps):
        super().__init__()
        self.columns = sorted(maps)
        self.maps = nn.ModuleList(maps[j] for j in self.columns)

    @classmethod
    def from_rows(cls, U, steps, sample_weight=None):
        """The stretch of the heavy cells of standardized grid rows ``U``.

        Parameters
        ----------
        U : ndarray of shape (n_samples, n_columns)
            Standardized rows on their grid (not spread); extra columns past
            ``len(steps)`` (a conditional flow's context) are never stretched.
        steps : ndarray of shape (n_targets,)
            Each column's cell width in these units, 0 for a column not spread.
        sample_weight : ndarray of shape (n_samples,), optional
            Positive row weights for the shares.

        Returns
        -------
        CellStretch or None
            None when no cell is heavy.
        """
        weight = np.ones(len(U)) if sample_weight is None else np.asarray(sample_weight, float)
        maps = {}
        for j in np.flatnonzero(steps):
            cells = heavy_cells(U[:, j], steps[j], weight)
            if cells:
                maps[int(j)] = PiecewiseLinear(*stretch_knots(cells))
        return cls(maps) if maps else None

    def forward(self, u):
        """Stretch standardized rows.

        Parameters
        ----------
        u : Tensor of shape (n, d)
            Standardized rows.

        Returns
        -------
        v : Tensor of shape (n, d)
            The rows with their stretched columns mapped.
        log_det : Tensor of shape (n,)
            The sum of the stretched columns' log-slopes at each row.
        """
        log_det = torch.zeros(u.shape[0], dtype=u.dtype, device=u.device)
        u = u.clone()
        for j, piece in zip(self.columns, self.maps):
            u[:, j], log_slope = piece(u[:, j])
            log_det = log_det + log_slope
        return u, log_det

    def inverse(self, v):
        """The standardized rows whose stretch is ``v``.

        Parameters
        ----------
        v : Tensor of shape (n, d)
            Stretched rows.

        Returns
        -------
        Tensor of shape (n, d)
            The rows ``u`` with ``forward(u)[0] == v``.
        """
        v = v.clone()
        for j, piece in zip(self.columns, self.maps):
            v[:, j] = piece.inverse(v[:, j])
        return v


def heavy_cells(column, step, weight):
    """The cells [lo, lo + step) of a grid ``column`` to widen, and the width each gets.

    A cell is heavy when it holds a point mass (at least ``POINT_MASS_FRACTION`` of the
    weighted rows and ``POINT_MASS_ROWS`` rows) and its rows are denser than
    ``HEAVY_CELL_DENSITY`` per unit; it is widened to share / ``HEAVY_CELL_DENSITY``.
    Returns a list of (lo, step, new width), increasing in lo.
    """
    values, index, counts = np.unique(column, return_inverse=True, return_counts=True)
    shares = np.bincount(index, weights=weight) / weight.sum()
    heavy = ((shares >= POINT_MASS_FRACTION) & (counts >= POINT_MASS_ROWS)
             & (shares > HEAVY_CELL_DENSITY * step))
    return [(v - step / 2, step, share / HEAVY_CELL_DENSITY)
            for v, share in zip(values[heavy], shares[heavy])]


def stretch_knots(cells):
    """Knots (inputs, outputs) that widen each of ``cells`` (lo, width, new width) and
    shift the line beyond it, slope 1 between cells; centred so the stretch adds as much
    on the left as on the right."""
    inputs, outputs, shift = [], [], 0.0
    for lo, width, new_width in cells:
        # Neighbouring cells share an edge (up to round-off): one knot, not a sliver.
        if not inputs or lo - inputs[-1] > 1e-6 * width:
            inputs.append(lo)
            outputs.append(lo + shift)
        shift += new_width - width
        inputs.append(inputs[-1] + width)
        outputs.append(outputs[-1] + new_width)
    return np.array(inputs), np.array(outputs) - shift / 2
