"""One JKO block: the flow map T(x) = x(1) of dx/dt = f(x, t) on t ∈ [0, 1]."""

import copy
from functools import partial
from typing import NamedTuple

import torch
from torch import nn

from .divergence import ExactTrace, divergence_along_solve

INTEGRANDS = ("kinetic", "hjb")
_ONE_THIRD, _TWO_THIRDS = 1 / 3, 2 / 3
#: The weights of the four stages of an RK4 step (the 3/8 rule of :func:`rk4_path_step`), in the
#: order it evaluates them.
RK4_STAGE_WEIGHTS = (1 / 8, 3 / 8, 3 / 8, 1 / 8)


class Stage(NamedTuple):
    """Where a solve evaluates its field: the RK4 step (from 0) and the stage within it (0–3)."""

    step: int
    index: int


class _PathRates:
    """The field of a solve with the rates of its path integrals: ``(x, t, stage) -> (f, rates)``.

    ``rates`` holds one (n,) tensor per integral, ∫div f first, then one per name in
    ``integrands``. None of them feeds back into the motion, so the solve moves x
    alone and sums each integral with its RK4 stage weights beside it
    (:func:`rk4_path_step`). ``divergence``, ``(x, t, stage) -> (f(x, t), div f(x, t))``, is
    a trace prepared for this solve (see
    :func:`skjko.divergence.divergence_along_solve`); the HJB residual comes with
    the potential's own closed-form divergence.
    """

    def __init__(self, velocity, divergence, integrands):
        self.velocity = velocity
        self.divergence = divergence
        self.integrands = integrands

    def __call__(self, x, t, stage):
        hjb = None
        if "hjb" in self.integrands:
            fx, div, hjb = self.velocity.velocity_divergence_hjb(x, t)
        else:
            fx, div = self.divergence(x, t, stage)
        extra = {"kinetic": lambda: (fx * fx).sum(dim=1), "hjb": lambda: hjb}
        return fx, (div, *(extra[name]() for name in self.integrands))


class ODEBlock(nn.Module):
    """Flow map of a velocity field, integrated by fixed-step RK4.

    Parameters
    ----------
    velocity : nn.Module
        The field f, called as ``velocity(x, t)`` on x of shape (n, d), returning
        shape (n, d); autonomous fields ignore t.
    n_steps : int, default=3
        RK4 steps over ``t_span``. Fixed steps keep every row's result
        independent of the other rows in its batch.
    t_span : tuple of float, default=(0.0, 1.0)
        Integration interval; refinement splits it in two.
    h : float, optional
        The JKO step size the block is trained with (None for a block no JKO
        step has trained); it travels with the block through refinement.
    """

    def __init__(self, velocity: nn.Module, n_steps: int = 3, t_span=(0.0, 1.0),
                 h: float = None):
        super().__init__()
        self.velocity = velocity
        self.n_steps = n_steps
        self.t_span = tuple(float(t) for t in t_span)
        self.h = h

    def time_grid(self) -> list:
        """The ``n_steps + 1`` RK4 grid points over ``t_span``, as floats.

        Plain numbers, so that each RK4 update is one fused multiply-add per term.

        Returns
        -------
        list of float
            The grid points, ``t_span``'s ends included.
        """
        t0, t1 = self.t_span
        return [t0 + (t1 - t0) * i / self.n_steps for i in range(self.n_steps)] + [t1]

    def split(self):
        """Two blocks, each a copy of this one over half of ``t_span`` and with half its h.

        Composed, they are the same map; each is half the JKO step.

        Returns
        -------
        tuple of 2 ODEBlock
            The first and the second half.
        """
        t0, t1 = self.t_span
        middle = (t0 + t1) / 2
        h = None if self.h is None else self.h / 2
        return (ODEBlock(copy.deepcopy(self.velocity), self.n_steps, (t0, middle), h),
                ODEBlock(copy.deepcopy(self.velocity), self.n_steps, (middle, t1), h))

    def _solve(self, field, x, integrals=()):
        """``n_steps`` RK4 steps over ``t_span`` of x under ``field(x, t, stage) -> (dx/dt,
        rates)``, each rate's integral beside it (:func:`rk4_path_step`); returns
        ``(x, integrals)``."""
        grid = self.time_grid()
        for step, (t0, t1) in enumerate(zip(grid[:-1], grid[1:])):
            x, integrals = rk4_path_step(field, t0, t1, x, integrals, step)
        return x, integrals

    def forward(self, x: torch.Tensor, trace=ExactTrace()):
        """Push ``x`` through the block.

        Parameters
        ----------
        x : Tensor of shape (n, d)
        trace : callable or None, default=ExactTrace()
            How to accumulate ∫ div f(x(t)) dt over ``t_span``: one of
            :class:`~skjko.divergence.ExactTrace`,
            :class:`~skjko.divergence.AutogradTrace`,
            :class:`~skjko.divergence.HutchinsonTrace`; None skips it. The
            divergence stays differentiable when grad mode is on.

        Returns
        -------
        y : Tensor of shape (n, d)
            T(x).
        int_div : Tensor of shape (n,) or None
            ∫ div f(x(t)) dt = ``log |det ∂T/∂x|``; None when ``trace`` is None.
        """
        if trace is None:
            return self._solve(_motion_only(self.velocity), x)[0], None
        y, int_div, _ = self.path_integrals(x, trace)
        return y, int_div

    def path_integrals(self, x: torch.Tensor, trace=ExactTrace(), integrands=()):
        """Push ``x`` through the block and accumulate integrals along each path.

        Parameters
        ----------
        x : Tensor of shape (n, d)
        trace : callable, default=ExactTrace()
            The divergence, as in :meth:`forward`.
        integrands : tuple of {"kinetic", "hjb"}, default=()
            Further path integrals: the kinetic energy ∫‖f(x(t), t)‖² dt
            (OT-Flow's transport cost) and OT-Flow's HJB residual
            ``∫|∂ₜΦ − ½‖∇Φ‖²| dt`` (potential velocities only, which give their own
            closed-form divergence with it).

        Returns
        -------
        y : Tensor of shape (n, d)
        int_div : Tensor of shape (n,)
        integrals : dict of str to Tensor of shape (n,)
            One entry per name in ``integrands``.
        """
        unknown = set(integrands) - set(INTEGRANDS)
        if unknown:
            raise ValueError(f"Unknown integrands {sorted(unknown)}; use 'kinetic' or 'hjb'.")
        if "hjb" in integrands and not hasattr(self.velocity, "velocity_divergence_hjb"):
            raise ValueError("The HJB residual needs a potential velocity (PotentialVelocity).")
        integrands = tuple(integrands)
        field = _PathRates(self.velocity, divergence_along_solve(trace, self.velocity, x),
                           integrands)
        y, (int_div, *integrals) = self._solve(
            field, x, (x.new_zeros(x.shape[0]),) * (1 + len(integrands)))
        return y, int_div, dict(zip(integrands, integrals))

    def inverse(self, y: torch.Tensor, tolerance: float = None) -> torch.Tensor:
        """Invert the block's discrete map: T⁻¹(y).

        ``T`` is ``n_steps`` RK4 steps. Each step F is undone by solving
        ``F(x) = y`` row by row, started from one RK4 step backwards in time:
        fixed-point iteration, then Newton's method on the rows where it
        stalls. Solving
        the ODE backwards alone leaves the solver's error (1e-2 with 3 steps on
        sharp fields); the iteration makes ``inverse(forward(x))`` recover
        ``x`` to round-off.

        Parameters
        ----------
        y : Tensor of shape (n, d)
            Rows the block mapped to.
        tolerance : float, optional
            The largest residual of each inverted RK4 step, relative to
            ``1 + |target|``; None solves to 100 ulps, so that
            ``inverse(forward(x))`` recovers ``x`` to round-off.

        Returns
        -------
        Tensor of shape (n, d)
            The rows ``x`` with ``T(x) = y``.
        """
        grid = self.time_grid()
        for i in reversed(range(self.n_steps)):
            t0, t1 = grid[i], grid[i + 1]
            step = partial(rk4_step, self.velocity, t0, t1)
            y = _solve_fixed_point(step, y, rk4_step(self.velocity, t1, t0, y),
                                   tolerance=tolerance)
        return y


def rk4_step(velocity, t0: float, t1: float, x):
    """One RK4 step of dx/dt = velocity(x, t) from t0 to t1: the one RK4 step of skjko.

    The 3/8 rule (torchdiffeq's "rk4"). A block's solve takes ``n_steps`` of these
    (:func:`rk4_path_step` when it also integrates the divergence), and its inverse
    undoes them one at a time, evaluating a step about a dozen times.
    """
    return rk4_path_step(_motion_only(velocity), t0, t1, x, ())[0]


def _motion_only(velocity):
    """``velocity`` as a field with no path integrals: ``(x, t, stage) -> (velocity(x, t), ())``."""
    return lambda x, t, stage: (velocity(x, t), ())


def rk4_path_step(field, t0: float, t1: float, x, integrals, step: int = 0):
    """One RK4 step of x under ``field(x, t, stage) -> (dx/dt, rates)``, each rate's integral
    beside it.

    ``stage`` is the :class:`Stage` being evaluated: ``step`` (this step's index in
    its solve) and the stage's index in :data:`RK4_STAGE_WEIGHTS`. The rates (one (n,)
    tensor per entry of ``integrals``) do not feed back into the motion, so RK4 adds
    each integral its quadrature, ``dt · Σ_s w_s rate_s`` over the four stages. Each
    update is a chain of
    ``add(…, alpha=…)``: one pass over the tensor per term, where products by the
    step size would each take another.

    Returns
    -------
    x : Tensor of shape (n, d)
    integrals : tuple of Tensor of shape (n,)
    """
    dt = t1 - t0
    k1, r1 = field(x, t0, Stage(step, 0))
    k2, r2 = field(x.add(k1, alpha=dt * _ONE_THIRD), t0 + dt * _ONE_THIRD, Stage(step, 1))
    k3, r3 = field(x.add(k2, alpha=dt).add_(k1, alpha=-dt * _ONE_THIRD), t0 + dt * _TWO_THIRDS,
                   Stage(step, 2))
    k4, r4 = field(x.add(k1, alpha=dt).sub_(k2, alpha=dt).add_(k3, alpha=dt), t1,
                   Stage(step, 3))

    def update(y, s1, s2, s3, s4):  # the 3/8 rule's weights (1, 3, 3, 1) / 8
        return y.add(s1 + s4, alpha=dt * 0.125).add_(s2 + s3, alpha=dt * 0.375)

    return update(x, k1, k2, k3, k4), tuple(map(update, integrals, r1, r2, r3, r4))


def _row_jacobians(step, x):
    """Per-row Jacobians ∂step(x)_r/∂x_r, shape (n, d, d); rows are independent."""
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        y = step(x)
        rows = [torch.autograd.grad(y[:, i].sum(), x, retain_graph=True)[0]
                for i in range(x.shape[1])]
    return torch.stack(rows, dim=1)


def _solve_fixed_point(step, target, x, max_newton=10, max_anderson=20, history=5,
                       tolerance=None):
    """Rows x with step(x) = target, starting from ``x``.

    First the iteration ``x ← x + (target − step(x))`` with Anderson mixing of
    the last ``history`` differences of iterates: the plain iteration only converges as fast
    as the step is close to a shift (a Jacobian eigenvalue of the step near
    2 stalls it), while the mixing solves the linear part of each row's
    problem from its own differences, at no extra step evaluation. Then
    Newton's method on the rows it leaves. Rows are solved independently; a
    Newton update that does not reduce a row's residual is refused and the
    row keeps its best value.
    """
    if tolerance is None:
        tolerance = 100 * torch.finfo(target.dtype).eps
    scale = 1 + target.abs()
    iterates, residuals = [], []
    for _ in range(max_anderson):
        residual = target - step(x)
        solved = (residual.abs() / scale).amax(dim=1) <= tolerance
        if solved.all().item():
            return x
        iterates, residuals = iterates[-history:] + [x], residuals[-history:] + [residual]
        # Solved rows stay put: their differences are round-off.
        x = torch.where(solved[:, None], x, _anderson_step(iterates, residuals))
    x = x.clone()
    rows = torch.arange(x.shape[0], device=x.device)
    residual = target - step(x)
    error = (residual.abs() / scale).amax(dim=1)
    for _ in range(max_newton):
        unsolved = error[rows] > tolerance
        rows = rows[unsolved]
        if rows.numel() == 0:
            break
        jacobians = _row_jacobians(step, x[rows])
        update = torch.linalg.solve(jacobians, residual[rows])
        candidate = x[rows] + update
        candidate_residual = target[rows] - step(candidate)
        candidate_error = (candidate_residual.abs() / scale[rows]).amax(dim=1)
        better = candidate_error < error[rows]  # NaN compares False: refused too
        x[rows[better]] = candidate[better]
        residual[rows[better]] = candidate_residual[better]
        error[rows[better]] = candidate_error[better]
        rows = rows[better]
    return x


def _anderson_step(iterates, residuals):
    """Next iterate of Anderson mixing (type II) for the fixed point x = x + r(x), row by row.

    With the columns of ΔX and ΔR the differences of successive iterates and
    residuals, γ = argmin ‖r_k − ΔR γ‖ per row and the next iterate is
    x_k + r_k − (ΔX + ΔR) γ: the plain step, corrected by the secant model of
    the residual that the past iterates span. A row whose correction is not
    finite takes the plain step.
    """
    x, residual = iterates[-1], residuals[-1]
    plain = x + residual
    if len(iterates) < 2:
        return plain
    delta_x = torch.stack(iterates, dim=-1).diff(dim=-1)  # (n, d, m)
    delta_r = torch.stack(residuals, dim=-1).diff(dim=-1)
    gram = delta_r.mT @ delta_r  # (n, m, m)
    # A ridge relative to each row's scale keeps repeated or collinear differences solvable.
    ridge = 1e-12 * gram.diagonal(dim1=-2, dim2=-1).amax(dim=-1) + torch.finfo(x.dtype).tiny
    eye = torch.eye(gram.shape[-1], dtype=x.dtype, device=x.device)
    gamma = torch.linalg.solve(gram + ridge[:, None, None] * eye, delta_r.mT @ residual[..., None])
    mixed = plain - ((delta_x + delta_r) @ gamma)[..., 0]
    return torch.where(torch.isfinite(mixed).all(dim=1, keepdim=True), mixed, plain)
