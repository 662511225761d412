"""The flow's first layer: standardization, heavy grid cells widened, optionally ZCA whitening.

The map u = S((x − mean) / scale) W, with S the identity or a :class:`CellStretch`,
so the blocks train on well-scaled rows while every density, latent code and sample
is in the space of the data.
"""

import numpy as np
import torch
from scipy.linalg import block_diag
from sklearn.covariance import ledoit_wolf
from torch import nn

from .cell_stretch import CellStretch


class InputMap(nn.Module):
    """The map x ↦ S((x − mean) / scale) W, S a stretch of heavy cells, W a whitening.

    S is the identity or a :class:`~skjko.CellStretch` of the standardized columns,
    W the identity or a whitening matrix.

    Parameters
    ----------
    mean, scale : ndarray of shape (n_features,)
        Per-feature centre and (positive) spread.
    whitening : ndarray of shape (n_features, n_features) or None
        W, applied after the standardization; None for the identity.
    unwhitening : ndarray of shape (n_features, n_features) or None
        W⁻¹, required with ``whitening``.
    n_context : int, default=0
        The last columns are a conditional flow's context: W must not mix them
        with the others (block diagonal), and the log-det counts the other
        columns only, as the density is of them given the context.
    stretch : CellStretch or None, default=None
        S, applied to the standardized rows before W; None for the identity.

    Attributes
    ----------
    log_abs_det : float
        ``log |det|`` of the affine part's Jacobian (of its target columns), the
        same for every row; the stretch adds its own per row.
    """

    def __init__(self, mean, scale, whitening=None, unwhitening=None, n_context=0,
                 stretch=None):
        super().__init__()
        self.stretch = stretch
        as_buffer = lambda a: None if a is None else torch.as_tensor(  # noqa: E731
            np.asarray(a, dtype=np.float64))
        self.register_buffer("mean", as_buffer(mean))
        self.register_buffer("scale", as_buffer(scale))
        self.register_buffer("whitening", as_buffer(whitening))
        self.register_buffer("unwhitening", as_buffer(unwhitening))
        n_targets = len(scale) - n_context
        log_abs_det = -np.log(np.asarray(scale, dtype=np.float64)[:n_targets]).sum()
        if whitening is not None:
            log_abs_det += np.linalg.slogdet(np.asarray(whitening)[:n_targets, :n_targets])[1]
        self.log_abs_det = float(log_abs_det)

    @classmethod
    def from_data(cls, X, whiten=False, sample_weight=None, n_context=0, cell_widths=None):
        """The map that standardizes (and with ``whiten``, decorrelates) the rows of ``X``.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
        whiten : bool, default=False
            Follow the standardization by ZCA whitening (``zca_whitening``).
        sample_weight : ndarray of shape (n_samples,), optional
            Positive row weights for the mean, spread and covariance.
        n_context : int, default=0
            The last columns are a context: whitened apart from the others.
        cell_widths : ndarray of shape (n_features - n_context,), optional
            The width of each target column's grid cells, 0 where the rows are not
            spread over cells: the heavy cells among them are widened
            (:class:`~skjko.CellStretch`).
        """
        X = X.astype(np.float64, copy=False)
        mean, scale = mean_and_scale(X, sample_weight)
        U = (X - mean) / scale
        stretch = None
        if cell_widths is not None:
            n_targets = len(cell_widths)
            stretch = CellStretch.from_rows(U, cell_widths / scale[:n_targets], sample_weight)
        if not whiten:
            return cls(mean, scale, n_context=n_context, stretch=stretch)
        if stretch is not None:
            U = stretch(torch.as_tensor(U))[0].numpy()
        # Whitened apart, so the targets' map does not depend on the context's values.
        parts = [zca_whitening(part, sample_weight) for part in
                 np.split(U, [U.shape[1] - n_context], axis=1) if part.shape[1]]
        whitening, unwhitening = (block_diag(*matrices) for matrices in zip(*parts))
        return cls(mean, scale, whitening, unwhitening, n_context, stretch)

    def forward(self, x: torch.Tensor):
        """Map rows ``x`` to ``u``, with the map's log-det.

        Parameters
        ----------
        x : Tensor of shape (n, d)
            Data rows.

        Returns
        -------
        u : Tensor of shape (n, d)
            The mapped rows.
        log_det : Tensor of shape (n,)
            ``log_abs_det``, plus the stretch's log-slopes where there is one.
        """
        u = (x - self.mean) / self.scale
        log_det = torch.full((x.shape[0],), self.log_abs_det, dtype=x.dtype, device=x.device)
        if self.stretch is not None:
            u, stretch_log_det = self.stretch(u)
            log_det = log_det + stretch_log_det
        if self.whitening is not None:
            u = u @ self.whitening
        return u, log_det

    def inverse(self, u: torch.Tensor) -> torch.Tensor:
        """The rows x with ``forward(x)[0] == u``.

        Parameters
        ----------
        u : Tensor of shape (n, d)
            Mapped rows.

        Returns
        -------
        Tensor of shape (n, d)
            The data rows.
        """
        if self.unwhitening is not None:
            u = u @ self.unwhitening
        if self.stretch is not None:
            u = self.stretch.inverse(u)
        return u * self.scale + self.mean


def zca_whitening(U, sample_weight=None):
    """ZCA whitening of standardized rows ``U`` and its inverse, (d, d) each.

    The covariance is Ledoit–Wolf shrunk towards the identity, so it is well
    conditioned on few rows and constant columns, and ZCA (the symmetric
    ``C^{-1/2}``) moves the data least among whitening maps, keeping each
    feature's axis. With ``sample_weight``, the rows enter centred on the
    weighted mean and scaled by the square root of their weight (normalized to
    mean 1), so the empirical covariance is the weighted one.
    """
    if sample_weight is None:
        covariance, _ = ledoit_wolf(U)
    else:
        weight = sample_weight / sample_weight.mean()
        centred = (U - np.average(U, axis=0, weights=weight)) * np.sqrt(weight)[:, None]
        covariance, _ = ledoit_wolf(centred, assume_centered=True)
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    # Directions with round-off variance only (identical rows) are left unscaled,
    # as the standardization leaves constant columns: scaling them up would blow
    # round-off up to huge values.
    degenerate = eigenvalues <= 1e-12 * eigenvalues.max(initial=0.0)
    eigenvalues = np.where(degenerate, 1.0, eigenvalues)
    root = np.sqrt(eigenvalues)
    return (eigenvectors / root) @ eigenvectors.T, (eigenvectors * root) @ eigenvectors.T


def mean_and_scale(X, sample_weight=None):
    """Per-feature mean and standard deviation, robust to huge and tiny magnitudes.

    Both are weighted by ``sample_weight`` (positive, shape (n_samples,)) when given.

    The deviation is computed on columns divided by their largest magnitude,
    so values near 1e300 do not overflow when squared and values near 1e-30
    keep their own scale. Constant columns (deviation zero, or at round-off
    level next to the mean) get scale 1, as in ``StandardScaler``.
    """
    mean = np.average(X, axis=0, weights=sample_weight)
    magnitude = np.abs(X).max(axis=0)
    magnitude[magnitude == 0] = 1.0
    scaled = X / magnitude
    deviation = scaled - np.average(scaled, axis=0, weights=sample_weight)
    scale = np.sqrt(np.average(deviation**2, axis=0, weights=sample_weight)) * magnitude
    constant = (scale <= 10 * np.finfo(np.float64).eps * np.abs(mean)) | (
        scale < np.finfo(np.float64).tiny)
    return mean, np.where(constant, 1.0, scale)
