"""Velocity networks: the vector field f(x) that an ODE block integrates."""

import math
from collections.abc import Sequence

import torch
from torch import nn

from .flow import targets


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
    n_context : int, default=0
        Columns appended to the state that the field reads but does not move
        (a conditional flow's context x): the state has ``n_features +
        n_context`` columns and their velocity is zero, so the divergence is
        the one with respect to the first ``n_features`` columns only.
    """

    def __init__(self, n_features: int, hidden_sizes: Sequence[int], beta: float = 20.0,
                 n_context: int = 0):
        super().__init__()
        self.n_context = n_context
        sizes = [n_features + n_context, *hidden_sizes, n_features]
        layers = []
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(n_in, n_out))
            if i < len(sizes) - 2:
                layers.append(nn.Softplus(beta=beta))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, t=None) -> torch.Tensor:
        """Velocity at ``x``.

        The field is autonomous (JKO-iFlow's blocks have no time input): ``t``
        is accepted for the common velocity signature and ignored.

        Parameters
        ----------
        x : Tensor of shape (n, d)
            Points of the state space.
        t : float, optional
            Ignored.

        Returns
        -------
        Tensor of shape (n, d)
            ``f(x)``.
        """
        return self._with_still_context(self.net(x))

    def _with_still_context(self, fx):
        """The context columns' velocity, zero, appended to the moving columns'."""
        if not self.n_context:
            return fx
        return torch.cat([fx, fx.new_zeros(fx.shape[0], self.n_context)], dim=1)

    def layers(self):
        """The network as ``(hidden, last)``, the layers the closed forms walk.

        Returns
        -------
        hidden : list of (Linear, Softplus)
            The hidden layers in order.
        last : Linear
            The output layer.
        """
        *pairs, last = list(self.net)
        return list(zip(pairs[0::2], pairs[1::2])), last

    @property
    def has_closed_form_divergence(self) -> bool:
        """True with at most two hidden layers, where the trace needs no Jacobian."""
        return sum(isinstance(layer, nn.Softplus) for layer in self.net) <= 2

    def velocity_and_divergence(self, x: torch.Tensor, t=None):
        """Velocity and its exact divergence in closed form (at most two hidden layers).

        The Jacobian is ``W_L D_{L-1} ... D_1 W_1`` with ``D_l`` the diagonal of
        Softplus slopes. Its trace is cyclic, so the narrow ends meet in the
        constant matrix ``M = W_1 W_L``: one hidden layer gives
        ``tr = d_1 · diag(M)``, two give ``tr = d_2ᵀ (W_2 ∘ Mᵀ) d_1``. Each row then
        costs less than a forward pass, where the exact trace of a general
        network costs d backward passes. Scoring and validation use it;
        training keeps the paper's Hutchinson probe, whose noise fits held-out
        rows better.

        Parameters
        ----------
        x : Tensor of shape (n, d)
        t : ignored

        Returns
        -------
        fx : Tensor of shape (n, d)
        div : Tensor of shape (n,)
            ``tr ∂f/∂x`` of each row.
        """
        if not self.has_closed_form_divergence:
            raise ValueError("A closed-form divergence needs at most two hidden layers; use "
                             "skjko.divergence.divergence_exact for deeper networks.")
        hidden, last = self.layers()
        h, slopes = x, []
        for linear, softplus in hidden:
            pre = linear(h)
            slopes.append(_softplus_slope(pre, softplus))
            h = softplus(pre)
        fx = self._with_still_context(last(h))
        if not slopes:  # a linear field; the diagonal stops at the moving columns
            return fx, torch.diagonal(last.weight).sum().expand(x.shape[0])
        # Only the moving columns enter the trace: the context's rows of ∂f/∂x are zero.
        # M = W_1 W_L, (width_1, width_L)
        ends = targets(hidden[0][0].weight, self.n_context) @ last.weight
        if len(slopes) == 1:
            return fx, slopes[0] @ torch.diagonal(ends)
        middle = hidden[1][0].weight * ends.T  # W_2 ∘ Mᵀ, (width_2, width_1)
        return fx, ((slopes[1] @ middle) * slopes[0]).sum(dim=1)

    def probed_divergence(self, probe: torch.Tensor) -> "ProbedMLP":
        """The field with Hutchinson's ``probeᵀ (∂f/∂x) probe`` along one solve.

        Parameters
        ----------
        probe : Tensor of shape (n, d)
            Zero on the context columns.

        Returns
        -------
        ProbedMLP
            Called as ``(x, t)`` with x of shape (n, d), it returns ``(f(x), div)``
            with div of shape (n,).
        """
        return ProbedMLP(self, probe)


class ProbedMLP:
    """An MLP velocity and its Hutchinson estimate ``probeᵀ (∂f/∂x) probe`` over one solve.

    The Jacobian-probe product ``W_L D_{L-1} ... W_2 D_1 W_1 probe`` (``D_l`` the
    Softplus slopes) is carried through the layers beside the forward pass, so
    training differentiates the estimate with first-order autograd instead of
    differentiating a vector-Jacobian product again. The probe's products with the
    first and last weights do not depend on x: they are computed once per solve, as
    the probe and the weights are fixed over it. Make a new one after the weights
    change.

    Parameters
    ----------
    mlp : VelocityMLP
    probe : Tensor of shape (n, d)
        Zero on the context columns (see :meth:`HutchinsonTrace.rademacher
        <skjko.divergence.HutchinsonTrace.rademacher>`).
    """

    def __init__(self, mlp: VelocityMLP, probe: torch.Tensor):
        self.mlp = mlp
        self.hidden, self.last = mlp.layers()
        # probeᵀ W_L, (n, width_L): the product's end, met by each stage's tangent.
        self.end = targets(probe, mlp.n_context) @ self.last.weight
        # W_1 probe, (n, width_1): the product's start (the probe itself for a linear field).
        self.start = probe @ self.hidden[0][0].weight.T if self.hidden else probe

    def __call__(self, x: torch.Tensor, t=None):
        h, tangent = x, self.start
        for i, (linear, softplus) in enumerate(self.hidden):
            pre = linear(h)
            if i:
                tangent = tangent @ linear.weight.T
            tangent = tangent * _softplus_slope(pre, softplus)
            h = softplus(pre)
        return self.mlp._with_still_context(self.last(h)), (tangent * self.end).sum(dim=1)


def _softplus_slope(pre, softplus):
    """Derivative of ``softplus(pre)``; torch's Softplus is linear above its threshold.

    Past the threshold the logistic slope is within exp(−threshold) of 1, and where
    that is below half an ulp of 1 (float32 and narrower at the default threshold of 20)
    it already rounds to exactly 1: the mask, which costs several times the logistic on
    the CPU, only matters in float64.
    """
    scaled = softplus.beta * pre
    slope = torch.sigmoid(scaled)
    if math.exp(-softplus.threshold) < torch.finfo(pre.dtype).eps / 2:
        return slope
    return torch.where(scaled > softplus.threshold, torch.ones_like(pre), slope)
