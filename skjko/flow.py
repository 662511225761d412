"""A normalizing flow made of ODE blocks applied one after another."""

import math

import torch
from torch import nn

from .divergence import ExactTrace
from .input_map import InputMap
from .ode_block import ODEBlock


def standard_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    """Log-density of the standard normal N(0, I) at each row of ``z``.

    Parameters
    ----------
    z : Tensor of shape (n, d)
        Latent rows.

    Returns
    -------
    Tensor of shape (n,)
        ``log N(z; 0, I)`` of each row.
    """
    d = z.shape[1]
    return -0.5 * (z * z).sum(dim=1) - 0.5 * d * math.log(2 * math.pi)


def targets(state: torch.Tensor, n_context: int = 0) -> torch.Tensor:
    """The columns of ``state`` (n, d) a flow moves: all but the last ``n_context``.

    A conditional flow carries its context x in the state's last columns; they
    have no latent Gaussian, so only the targets enter log N(z; 0, I).
    """
    # The state itself without a context: a full slice would add a node to autograd's graph.
    return state[:, :state.shape[1] - n_context] if n_context else state


def log_density(z: torch.Tensor, log_det: torch.Tensor, n_context: int = 0) -> torch.Tensor:
    """log p of rows that a flow mapped to the latent state ``z`` (n, d) with ``log_det`` (n,).

    The latent Gaussian is on the targets only (see :func:`targets`).
    """
    return standard_normal_log_prob(targets(z, n_context)) + log_det


class BlockFlow(nn.Module):
    """Composition T = T_K ∘ … ∘ T_1 ∘ A of :class:`ODEBlock` maps, data → latent.

    Parameters
    ----------
    blocks : sequence of ODEBlock
        T_1, ..., T_K, in the order they apply.
    input_map : InputMap, optional
        A, the affine first layer (standardization, whitening) with its
        constant log-det; None for the identity. The blocks are trained on
        its output.
    n_context : int, default=0
        The state's last columns that are a context x rather than data: the
        blocks read them and leave them as they are, so the flow is a density
        of the other columns given x, log p(y | x).
    """

    def __init__(self, blocks=(), input_map: InputMap = None, n_context: int = 0):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.input_map = input_map
        self.n_context = n_context

    def __len__(self):
        return len(self.blocks)

    def append(self, block: ODEBlock) -> "BlockFlow":
        """Add ``block`` after the last block.

        Parameters
        ----------
        block : ODEBlock
            The new last block, T_{K+1}.

        Returns
        -------
        BlockFlow
            This flow.
        """
        self.blocks.append(block)
        return self

    def forward(self, x: torch.Tensor, trace=ExactTrace()):
        """Map data to latent with the exact log-determinant.

        Parameters
        ----------
        x : Tensor of shape (n, d)
        trace : callable, default=ExactTrace()
            How each block computes its divergence (see
            :meth:`skjko.ode_block.ODEBlock.forward`).

        Returns
        -------
        z : Tensor of shape (n, d)
        log_det : Tensor of shape (n,)
            Σ_k ∫₀¹ div f_k plus the input map's log-det: the ``log |det ∂T/∂x|``.
        """
        if self.input_map is None:
            return self.through_blocks(x, trace)
        x, log_det = self.input_map(x)
        return self.through_blocks(x, trace, log_det)

    def through_blocks(self, x: torch.Tensor, trace=ExactTrace(), log_det=None):
        """The blocks alone, on rows already through the input map (the space they train in).

        Parameters
        ----------
        x : Tensor of shape (n, d)
            Rows in the space of the input map's output.
        trace : callable, default=ExactTrace()
            How each block computes its divergence, as in :meth:`forward`.
        log_det : Tensor of shape (n,), optional
            Log-determinant so far; zeros when None.

        Returns
        -------
        z : Tensor of shape (n, d)
            ``T_K ∘ … ∘ T_1(x)``.
        log_det : Tensor of shape (n,)
            ``log_det`` plus Σ_k ∫₀¹ div f_k.
        """
        if log_det is None:
            log_det = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
        for block in self.blocks:
            x, int_div = block(x, trace)
            log_det = log_det + int_div
        return x, log_det

    def log_prob(self, x: torch.Tensor, trace=ExactTrace()) -> torch.Tensor:
        """Exact log-density of each row of ``x``.

        With a context, the conditional log p(y | x) of the rows' targets.

        Parameters
        ----------
        x : Tensor of shape (n, d)
            Data rows.
        trace : callable, default=ExactTrace()
            How each block computes its divergence, as in :meth:`forward`.

        Returns
        -------
        Tensor of shape (n,)
            The log-density of each row.
        """
        return log_density(*self(x, trace), self.n_context)

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        """Data → latent without the log-determinant.

        Parameters
        ----------
        x : Tensor of shape (n, d)
            Data rows.

        Returns
        -------
        Tensor of shape (n, d)
            Their latent codes ``T(x)``.
        """
        if self.input_map is not None:
            x, _ = self.input_map(x)
        for block in self.blocks:
            x, _ = block(x, trace=None)
        return x

    def inverse(self, z: torch.Tensor, tolerance: float = None) -> torch.Tensor:
        """Latent → data: the blocks solved backwards, last block first.

        Parameters
        ----------
        z : Tensor of shape (n, d)
            Latent rows.
        tolerance : float, optional
            Passed to each :meth:`ODEBlock.inverse`.

        Returns
        -------
        Tensor of shape (n, d)
            The data rows ``T⁻¹(z)``.
        """
        for block in reversed(self.blocks):
            z = block.inverse(z, tolerance)
        return z if self.input_map is None else self.input_map.inverse(z)
