"""A normalizing flow made of ODE blocks applied one after another."""

import math

import torch
from torch import nn

from .ode_block import ODEBlock


def standard_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) of each row of ``z`` (n, d); returns shape (n,)."""
    d = z.shape[1]
    return -0.5 * (z * z).sum(dim=1) - 0.5 * d * math.log(2 * math.pi)


class BlockFlow(nn.Module):
    """Composition T = T_K ∘ … ∘ T_1 of :class:`ODEBlock` maps, data → latent."""

    def __init__(self, blocks=()):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)

    def __len__(self):
        return len(self.blocks)

    def append(self, block: ODEBlock) -> "BlockFlow":
        self.blocks.append(block)
        return self

    def forward(self, x: torch.Tensor, exact_method: str = "auto"):
        """Map data to latent with the exact log-determinant.

        Parameters
        ----------
        x : Tensor of shape (n, d)
        exact_method : {"auto", "loop", "vmap"}, default="auto"
            How each block computes its exact divergence (see
            :meth:`skjko.ode_block.ODEBlock.forward`).

        Returns
        -------
        z : Tensor of shape (n, d)
        log_det : Tensor of shape (n,)
            Σ_k ∫₀¹ div f_k, the log |det ∂T/∂x|.
        """
        log_det = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
        for block in self.blocks:
            x, int_div = block(x, divergence="exact", exact_method=exact_method)
            log_det = log_det + int_div
        return x, log_det

    def log_prob(self, x: torch.Tensor, exact_method: str = "auto") -> torch.Tensor:
        """Exact log-density of each row of ``x`` (n, d); returns shape (n,)."""
        z, log_det = self(x, exact_method=exact_method)
        return standard_normal_log_prob(z) + log_det

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        """Data → latent without the log-determinant, (n, d) to (n, d)."""
        for block in self.blocks:
            x, _ = block(x, divergence="none")
        return x

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        """Latent → data: the blocks solved backwards, last block first."""
        for block in reversed(self.blocks):
            z = block.inverse(z)
        return z
