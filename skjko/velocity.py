"""Velocity networks: the vector field f(x) that an ODE block integrates."""

from collections.abc import Sequence

import torch
from torch import nn


class VelocityMLP(nn.Module):
    """Autonomous MLP velocity field ``f: R^d -> R^d`` (JKO-iFlow's network).

    Parameters
    ----------
    n_features : int
        Dimension d of the state.
    hidden_sizes : sequence of int
        Width of each hidden layer, e.g. ``(128, 128, 128)``.
    beta : float, default=20.0
        Sharpness of the Softplus activation. A smooth activation keeps the
        divergence (a second derivative of the loss) well defined.
    """

    def __init__(self, n_features: int, hidden_sizes: Sequence[int], beta: float = 20.0):
        super().__init__()
        sizes = [n_features, *hidden_sizes, n_features]
        layers = []
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(n_in, n_out))
            if i < len(sizes) - 2:
                layers.append(nn.Softplus(beta=beta))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, t=None) -> torch.Tensor:
        """Velocity at ``x`` of shape (n, d); returns shape (n, d).

        The field is autonomous (JKO-iFlow's blocks have no time input): ``t``
        is accepted for the common velocity signature and ignored.
        """
        return self.net(x)
