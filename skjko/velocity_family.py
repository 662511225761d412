"""The kinds of velocity field an estimator can fit, each with its own defaults and rules.

The estimator's ``velocity`` parameter names one of :data:`VELOCITY_FAMILIES`; the
family, not string branches in the estimator, says how many RK4 steps it needs by
default, which transport cost and training divergence suit it, which settings it
accepts, and builds each block's network.
"""

from collections.abc import Sequence

from torch import nn

from .potential import PotentialVelocity
from .velocity import VelocityMLP


class MLPFamily:
    """JKO-iFlow's autonomous MLP f(x) (:class:`~skjko.velocity.VelocityMLP`).

    Its paths are nearly straight, so three RK4 steps suffice and the W2 term is
    the endpoint cost ‖T(x) − x‖²; it trains on the training divergence the
    estimator asks for and has a conditional form (the context as extra inputs).
    """

    name = "mlp"
    default_n_steps = 3
    transport_cost = "endpoint"
    always_exact_trace = False

    def check(self, hidden_sizes: Sequence[int], n_context: int, alpha_hjb: float):
        """Raise a ValueError for settings this family cannot fit."""
        if alpha_hjb > 0:
            raise ValueError("alpha_hjb > 0 needs velocity='potential': the HJB residual is "
                             "defined for a potential Φ.")

    def make(self, n_features: int, hidden_sizes: Sequence[int], n_context: int) -> nn.Module:
        """A fresh network for one block on ``n_features`` moving columns."""
        return VelocityMLP(n_features, hidden_sizes, n_context=n_context)


class PotentialFamily:
    """OT-Flow's potential, f(x, t) = −∇Φ(x, t) (:class:`~skjko.potential.PotentialVelocity`).

    Time-dependent, so it takes more RK4 steps by default; JKO-Flow keeps
    OT-Flow's kinetic energy ∫‖f‖² dt as the W2 term, whose paths stay straight
    enough for them where the endpoint cost let them bend; its closed-form
    trace of −∇²Φ costs less than a probe, so it always trains on it.
    """

    name = "potential"
    default_n_steps = 8
    transport_cost = "path"
    always_exact_trace = True

    def check(self, hidden_sizes: Sequence[int], n_context: int, alpha_hjb: float):
        """Raise a ValueError for settings this family cannot fit."""
        if n_context:
            raise ValueError("velocity='potential' has no conditional form yet: a conditional "
                             "density needs velocity='mlp'.")
        if len(set(hidden_sizes)) > 1:
            raise ValueError("velocity='potential' is a ResNet of equal-width layers: "
                             f"hidden_sizes must repeat one width, got {tuple(hidden_sizes)!r}.")

    def make(self, n_features: int, hidden_sizes: Sequence[int], n_context: int) -> nn.Module:
        """A fresh potential network for one block: ``max(2, len(hidden_sizes))`` layers."""
        return PotentialVelocity(n_features, width=hidden_sizes[0],
                                 n_layers=max(2, len(hidden_sizes)))


#: The estimators' ``velocity`` options.
VELOCITY_FAMILIES = {family.name: family for family in (MLPFamily(), PotentialFamily())}
