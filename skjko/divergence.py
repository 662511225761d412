"""Divergence of a velocity field: exact (Jacobian trace) and Hutchinson estimates.

Every function returns the pair ``(f(x), div f(x))`` so callers evaluate the
network once per point. With ``create_graph=False`` (scoring) both outputs are
detached and no autograd graph survives the call.

An ODE block takes one of the trace objects below, or any callable
``trace(velocity, x, t)``, and evaluates it at every stage of its RK4 steps,
summing the divergence beside the motion. A trace may also prepare itself once
per solve: ``for_solve(velocity, x)`` (``x`` its start) returns the
``(x, t, stage) -> (f(x), div f(x))`` the solve then calls at each
:class:`~skjko.ode_block.Stage` (:func:`divergence_along_solve`).
They keep the graph for differentiation exactly when grad mode is on (as zuko
does), so training differentiates through the divergence and scoring under
``torch.no_grad()`` builds no graph.
"""

from functools import partial
from itertools import accumulate

import torch
from torch import nn


def divergence_along_solve(trace, velocity, x):
    """``trace`` for one solve of ``velocity`` from ``x`` (n, d): ``(x, t, stage) -> (f, div)``.

    ``trace.for_solve(velocity, x)`` where the trace has it, else ``trace(velocity, x, t)``
    at every stage.
    """
    for_solve = getattr(trace, "for_solve", None)
    return _at_every_stage(partial(trace, velocity)) if for_solve is None else for_solve(
        velocity, x)


def _at_every_stage(divergence):
    """``divergence(x, t)`` as a solve's ``(x, t, stage)``: the same at every stage."""
    return lambda x, t, stage: divergence(x, t)


class ExactTrace:
    """Exact divergence: the velocity's closed form where it has one, else autograd.

    A velocity with ``has_closed_form_divergence`` (the potential, an MLP with
    at most two hidden layers) gives it from ``velocity_and_divergence(x, t)``;
    any other costs one vector-Jacobian product per dimension.
    """

    def __call__(self, velocity, x, t):
        if getattr(velocity, "has_closed_form_divergence", False):
            return velocity.velocity_and_divergence(x, t)
        return divergence_exact(partial(velocity, t=t), x, torch.is_grad_enabled())

    def __repr__(self):
        return "ExactTrace()"


class AutogradTrace:
    """Exact divergence through autograd, even where a closed form exists.

    Parameters
    ----------
    vectorized : bool, default=False
        Build each row's full Jacobian with ``torch.func.vmap(jacrev)`` instead
        of one vector-Jacobian product per dimension.
    """

    def __init__(self, vectorized: bool = False):
        self.vectorized = vectorized

    def __call__(self, velocity, x, t):
        return divergence_exact(partial(velocity, t=t), x, torch.is_grad_enabled(),
                                "vmap" if self.vectorized else "loop")

    def __repr__(self):
        return f"AutogradTrace(vectorized={self.vectorized})"


class HutchinsonTrace:
    """Hutchinson estimate of the divergence with a probe fixed over one solve.

    Parameters
    ----------
    probe : Tensor of shape (n, d)
        With E[probe probeᵀ] = I; the same probe at every time of the solve
        keeps the estimated log-det a smooth function of the weights (FFJORD).
    """

    def __init__(self, probe: torch.Tensor):
        self.probe = probe

    @classmethod
    def rademacher(cls, x: torch.Tensor, n_context: int = 0) -> "HutchinsonTrace":
        """A fresh ±1 probe shaped like the batch ``x``: the estimate of lowest variance.

        The last ``n_context`` columns (a context the field does not move) get
        zeros: their rows of the Jacobian vanish, and probing them would only
        add the variance of the cross terms.

        Parameters
        ----------
        x : Tensor of shape (n, d)
            The batch the probe is for.
        n_context : int, default=0
            The last columns that are a context.

        Returns
        -------
        HutchinsonTrace
            The trace with the new probe.
        """
        probe = rademacher_like(x)
        if n_context:
            probe[:, probe.shape[1] - n_context:] = 0
        return cls(probe)

    def for_solve(self, velocity, x):
        """The estimate along one solve of ``velocity`` from ``x``.

        A velocity with ``probed_divergence`` (:class:`~skjko.velocity.VelocityMLP`)
        carries the probe through its layers beside the forward pass, its parts that
        do not depend on x computed once: first-order autograd trains through it,
        at less cost than through a vector-Jacobian product. Any other velocity gets
        a vector-Jacobian product at each call.

        Parameters
        ----------
        velocity : callable
            The field ``velocity(x, t)``.
        x : Tensor of shape (n, d)
            The start of the solve.

        Returns
        -------
        callable
            ``(x, t, stage) -> (f(x), estimate)``.
        """
        if self.probe.shape != x.shape:
            raise ValueError(f"The Hutchinson probe has shape {tuple(self.probe.shape)}; the "
                             f"state has {tuple(x.shape)}.")
        if hasattr(velocity, "probed_divergence"):
            return _at_every_stage(velocity.probed_divergence(self.probe))
        return _at_every_stage(partial(self._by_autograd, velocity))

    def __call__(self, velocity, x, t):
        return self.for_solve(velocity, x)(x, t, None)

    def _by_autograd(self, velocity, x, t):
        return divergence_hutchinson(partial(velocity, t=t), x, self.probe, torch.is_grad_enabled())

    def __repr__(self):
        return f"HutchinsonTrace(probe of shape {tuple(self.probe.shape)})"


class SampledStageTrace:
    """The divergence at one RK4 stage per step, drawn at random: ∫ div f unbiased.

    RK4 integrates the divergence over a step as ``dt · Σ_s w_s div_s`` over its
    stages. Here each step draws one stage s with probability ``w_s`` and returns
    ``div_s / w_s`` there and 0 at the other stages, so the step adds
    ``dt · div_s``: in expectation the RK4 sum that scoring computes, at one
    divergence (and one backward pass through it) per step instead of one per
    stage. The velocity is still evaluated at every stage.

    The steps' draws are spread rather than independent: step k takes the
    stage where the weights' cumulative sum passes ``(u + k φ) mod 1``, with one
    uniform u per object and φ the golden ratio's fractional part. Each step's
    stage is still drawn with probability ``w_s`` (the estimate stays
    unbiased), but successive steps tend to take different stages, which
    lowers the estimate's variance.

    Parameters
    ----------
    trace : callable
        The divergence at the drawn stage: a :class:`HutchinsonTrace` or an
        :class:`ExactTrace`.
    stage_weights : sequence of float
        The weights of one step's stages, in the order the solver evaluates them
        (``skjko.ode_block.RK4_STAGE_WEIGHTS``); they sum to 1.

    Notes
    -----
    It takes the stage each evaluation belongs to (``skjko.ode_block.Stage``) from
    the solve (``skjko.ode_block.rk4_path_step``), so it only works inside one
    and a bare call raises a TypeError. Solves of one object continue one
    sequence of draws (the blocks of a joint step take different stages). Use
    a fresh one per minibatch, as with a Hutchinson probe. The draws come from
    torch's global generator, so a seeded fit repeats them.
    """

    #: Fractional part of the golden ratio: the sequence k φ mod 1 spreads evenly.
    GOLDEN = (5**0.5 - 1) / 2

    def __init__(self, trace, stage_weights):
        self.trace = trace
        # Plain floats: the draw is scalar bookkeeping, once per step.
        self.stage_weights = tuple(float(w) for w in stage_weights)
        self._cumulative = list(accumulate(self.stage_weights))
        self._start = float(torch.rand((), dtype=torch.float64))
        self._steps_drawn = 0  # by the solves before: the next solve's steps follow them

    def _stage_of_step(self, step):
        u = (self._start + step * self.GOLDEN) % 1.0
        return next((s for s, c in enumerate(self._cumulative) if u < c),
                    len(self._cumulative) - 1)

    def for_solve(self, velocity, x):
        """The draws along one solve of ``velocity`` from ``x``, the wrapped trace prepared for it.

        Parameters
        ----------
        velocity : callable
            The field ``velocity(x, t)``.
        x : Tensor of shape (n, d)
            The start of the solve.

        Returns
        -------
        callable
            ``(x, t, stage) -> (f(x), div)``, the divergence at the drawn stage only.
        """
        return partial(self._at_drawn_stage, velocity,
                       divergence_along_solve(self.trace, velocity, x), self._steps_drawn)

    def __call__(self, velocity, x, t):
        raise TypeError("SampledStageTrace draws one stage per RK4 step: use it in an "
                        "ODEBlock's solve, which tells it each stage.")

    def _at_drawn_stage(self, velocity, divergence, first_step, x, t, stage):
        step = first_step + stage.step
        self._steps_drawn = max(self._steps_drawn, step + 1)
        if stage.index != self._stage_of_step(step):
            return velocity(x, t), x.new_zeros(x.shape[0])
        fx, div = divergence(x, t, stage)
        return fx, div / self.stage_weights[stage.index]

    def __repr__(self):
        return f"SampledStageTrace({self.trace!r}, stage_weights={list(self.stage_weights)})"


def rademacher_like(x: torch.Tensor) -> torch.Tensor:
    """Random ±1 entries shaped like ``x``: the Hutchinson probe of lowest variance."""
    return torch.randint(0, 2, x.shape, device=x.device).to(x.dtype) * 2 - 1


def divergence_hutchinson(velocity: nn.Module, x: torch.Tensor, noise: torch.Tensor,
                          create_graph: bool = True):
    """Hutchinson estimate ``noiseᵀ (∂f/∂x) noise`` of the divergence.

    Parameters
    ----------
    velocity : nn.Module
        Maps (n, d) to (n, d).
    x : Tensor of shape (n, d)
    noise : Tensor of shape (n, d)
        Probe with E[noise noiseᵀ] = I (Rademacher or standard normal). Keep it
        fixed over one ODE solve, as FFJORD does, so the solve is a smooth map.
    create_graph : bool, default=True
        Keep the graph so the estimate can be differentiated (training).

    Returns
    -------
    fx : Tensor of shape (n, d)
    div : Tensor of shape (n,)
    """
    with torch.enable_grad():
        if not x.requires_grad:
            x = x.detach().requires_grad_(True)
        fx = velocity(x)
        (vjp,) = torch.autograd.grad(fx, x, noise, create_graph=create_graph)
    div = (vjp * noise).sum(dim=1)
    if not create_graph:
        fx, div = fx.detach(), div.detach()
    return fx, div


def divergence_exact(velocity: nn.Module, x: torch.Tensor, create_graph: bool = False,
                     method: str = "loop"):
    """Exact divergence, the trace of the Jacobian ``∂f/∂x``.

    Parameters
    ----------
    velocity : nn.Module
        Maps (n, d) to (n, d); rows must not interact (no batch statistics).
    x : Tensor of shape (n, d)
    create_graph : bool, default=False
        Keep the graph so the result can be differentiated.
    method : {"loop", "vmap"}, default="loop"
        ``"loop"``: one vector-Jacobian product per dimension, batched over rows.
        ``"vmap"``: the full per-row Jacobian with ``torch.func.vmap(jacrev)``.
        Both cost about d VJPs.

    Returns
    -------
    fx : Tensor of shape (n, d)
    div : Tensor of shape (n,)
    """
    if method == "loop":
        return _divergence_exact_loop(velocity, x, create_graph)
    if method == "vmap":
        return _divergence_exact_vmap(velocity, x, create_graph)
    raise ValueError(f"Unknown exact divergence method {method!r}; use 'loop' or 'vmap'.")


def _divergence_exact_loop(velocity, x, create_graph):
    with torch.enable_grad():
        if not x.requires_grad:
            x = x.detach().requires_grad_(True)
        fx = velocity(x)
        div = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
        for i in range(x.shape[1]):
            # Rows are independent, so d(sum_rows f_i)/dx[:, i] is each row's ∂f_i/∂x_i.
            (grad_i,) = torch.autograd.grad(fx[:, i].sum(), x, retain_graph=True,
                                            create_graph=create_graph)
            div = div + grad_i[:, i]
    if not create_graph:
        fx, div = fx.detach(), div.detach()
    return fx, div


def _divergence_exact_vmap(velocity, x, create_graph):
    def f_single(x_row):
        fx_row = velocity(x_row.unsqueeze(0)).squeeze(0)
        return fx_row, fx_row

    # has_aux returns f(x) alongside the Jacobian, so the network runs once.
    jacobian, fx = torch.func.vmap(torch.func.jacrev(f_single, has_aux=True))(x)
    div = torch.diagonal(jacobian, dim1=1, dim2=2).sum(dim=1)
    if not create_graph:
        fx, div = fx.detach(), div.detach()
    return fx, div
