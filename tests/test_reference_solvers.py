"""skjko's RK4 and its log-density checked against references it does not share code with.

torchdiffeq (the ODE library the project was specified with) integrates the same
fields: its fixed-grid ``rk4`` must give skjko's steps to round-off, and a
converged ``dopri5`` solve gives the continuous flow the RK4 steps approximate.
The exact log-determinant of the discrete map comes from autograd's Jacobian and
``slogdet``. Together they make "score_samples is the exact log-density of the
model's own map" a measured statement rather than a sentence.
"""

import numpy as np
import pytest
import torch
import torchdiffeq
from sklearn.datasets import make_moons

from skjko import JKOFlowDensity, ODEBlock, VelocityMLP
from skjko.divergence import divergence_exact
from skjko.flow import log_density


def augmented_field(velocity):
    """torchdiffeq's ``func(t, (x, ∫div))`` for one block's field, divergence by autograd."""
    def func(t, state):
        x, _ = state
        with torch.enable_grad():
            fx, div = divergence_exact(lambda y: velocity(y, float(t)), x, False)
        return fx, div
    return func


def solve_reference(block, x, **solver):
    """The block's map and its ∫div f along each path, by torchdiffeq over its ``t_span``."""
    t = torch.tensor(block.t_span, dtype=x.dtype)
    if solver.get("method") == "rk4":
        t = torch.tensor(block.time_grid(), dtype=x.dtype)
    xs, int_divs = torchdiffeq.odeint(augmented_field(block.velocity), (x, x.new_zeros(len(x))),
                                      t, **solver)
    return xs[-1], int_divs[-1]


def discrete_log_det(block, x):
    """log |det ∂T/∂x| of the block's RK4 map, row by row, from autograd's Jacobian."""
    return torch.stack([torch.linalg.slogdet(torch.autograd.functional.jacobian(
        lambda r: block(r[None], trace=None)[0][0], row))[1] for row in x])


@pytest.fixture
def block():
    torch.manual_seed(3)
    return ODEBlock(VelocityMLP(3, (16, 16)).double(), n_steps=4, t_span=(0.25, 1.0))


def test_rk4_steps_equal_torchdiffeq_rk4(block):
    """Same grid, same 3/8 rule: the motion and ∫div f agree with torchdiffeq to round-off."""
    x = torch.randn(20, 3, dtype=torch.float64)
    with torch.no_grad():
        y, int_div = block(x)
        y_ref, int_div_ref = solve_reference(block, x, method="rk4")
    assert (y - x).abs().max() > 1e-2 and int_div.abs().max() > 1e-3  # the field does something
    torch.testing.assert_close(y, y_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(int_div, int_div_ref, rtol=1e-12, atol=1e-12)


@pytest.fixture(scope="module")
def fitted():
    X, _ = make_moons(n_samples=600, noise=0.1, random_state=0)
    flow = JKOFlowDensity(hidden_sizes=(16, 16), n_blocks=2, max_iter=60,
                          early_stopping=False, random_state=0).fit(X)
    rows = make_moons(n_samples=8, noise=0.1, random_state=1)[0]
    return flow, rows


def through_flow(flow, rows, through_block):
    """log p of ``rows`` with each block's (z, log-det) given by ``through_block(block, x)``."""
    x, log_det = flow.flow_.input_map(torch.tensor(rows, dtype=torch.float64))
    for block in flow.flow_.blocks:
        x, block_log_det = through_block(block, x)
        log_det = log_det + block_log_det
    return log_density(x, log_det).numpy()


def test_score_samples_is_the_log_density_of_the_discrete_map(fitted):
    """The RK4 quadrature of the exact trace against the exact log-det of the RK4 map."""
    flow, rows = fitted
    exact = through_flow(flow, rows, lambda block, x: (block(x, trace=None)[0],
                                                      discrete_log_det(block, x)))
    scores = flow.score_samples(rows)
    # The two differ by the quadrature's error only; a wrong sign or a dropped block
    # moves them by the size of ∫div f itself.
    moved = np.abs(through_flow(flow, rows, lambda block, x: (block(x, trace=None)[0],
                                                             x.new_zeros(len(x)))) - exact)
    assert moved.max() > 0.05
    np.testing.assert_allclose(scores, exact, atol=2e-4, rtol=0)  # measured: under 1e-5


def test_score_samples_approaches_the_continuous_flow(fitted):
    """A converged dopri5 solve of the same fields: the continuous model RK4 discretizes."""
    flow, rows = fitted
    continuous = through_flow(flow, rows, lambda block, x: solve_reference(
        block, x, method="dopri5", rtol=1e-10, atol=1e-10))
    # Three RK4 steps of these smooth fields leave about 1e-5 nats.
    np.testing.assert_allclose(flow.score_samples(rows), continuous, atol=2e-4, rtol=0)
