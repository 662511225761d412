import math

import pytest
import torch

from skjko import BlockFlow, HutchinsonTrace, ODEBlock, VelocityMLP, standard_normal_log_prob


@pytest.fixture
def block():
    torch.manual_seed(1)
    return ODEBlock(VelocityMLP(3, (16, 16)).double(), n_steps=3)


def test_integrated_divergence_is_log_det_of_the_flow_map(block):
    """∫div f along the RK4 path matches log|det ∂T/∂x| of the map up to solver error."""
    x = torch.randn(5, 3, dtype=torch.float64)
    _, int_div = block(x)
    log_dets = torch.stack([
        torch.linalg.slogdet(torch.autograd.functional.jacobian(
            lambda r: block(r[None], trace=None)[0][0], row))[1] for row in x])
    torch.testing.assert_close(int_div, log_dets, rtol=1e-3, atol=1e-3)
    assert int_div.abs().max() > 1e-3  # the test would notice a zero divergence


def test_inverse_undoes_forward_to_round_off(block):
    x = torch.randn(50, 3, dtype=torch.float64)
    y, _ = block(x, trace=None)
    assert (y - x).abs().max() > 1e-2  # the block really moves points
    torch.testing.assert_close(block.inverse(y), x, rtol=1e-9, atol=1e-9)


def test_anderson_mixing_solves_what_the_plain_iteration_cannot():
    """A step with Jacobian eigenvalues near 2 stalls x ← x + (y − step(x)); the mixing does not.

    The plain iteration contracts by |1 − λ| per step: 0.95 here, so 20 iterations
    would leave 36 % of the error. With Newton turned off, only the mixing can solve it.
    """
    from skjko.ode_block import _solve_fixed_point

    torch.manual_seed(0)
    basis = torch.linalg.qr(torch.randn(4, 4, dtype=torch.float64))[0]
    jacobian = basis @ torch.diag(torch.tensor([1.95, 1.9, 0.5, 1.0], dtype=torch.float64)) @ basis.T
    step = lambda x: x @ jacobian.T  # noqa: E731
    x = torch.randn(30, 4, dtype=torch.float64)
    solved = _solve_fixed_point(step, step(x), x + 0.1, max_newton=0)
    torch.testing.assert_close(solved, x, rtol=1e-12, atol=1e-12)


def test_hutchinson_probe_must_match_the_state(block):
    with pytest.raises(ValueError, match="probe has shape"):
        block(torch.zeros(2, 3, dtype=torch.float64), HutchinsonTrace(torch.ones(4, 3)))


def test_row_result_does_not_depend_on_its_batch(block):
    x = torch.randn(40, 3, dtype=torch.float64)
    flow = BlockFlow([block])
    whole = flow.log_prob(x)
    pieces = torch.cat([flow.log_prob(x[i:i + 7]) for i in range(0, 40, 7)])
    torch.testing.assert_close(whole, pieces, rtol=1e-12, atol=1e-12)


def test_empty_flow_is_the_standard_normal():
    x = torch.randn(10, 4, dtype=torch.float64)
    normal = torch.distributions.Normal(0.0, 1.0)
    torch.testing.assert_close(BlockFlow().log_prob(x), normal.log_prob(x).sum(dim=1))
    torch.testing.assert_close(standard_normal_log_prob(x), normal.log_prob(x).sum(dim=1))


def test_split_blocks_compose_to_the_same_map(block):
    x = torch.randn(30, 3, dtype=torch.float64)
    y, int_div = block(x)
    first, second = block.split()
    assert first.t_span == (0.0, 0.5) and second.t_span == (0.5, 1.0)
    assert first.velocity is not second.velocity is not block.velocity
    middle, div_first = first(x)
    y_split, div_second = second(middle)
    # Same field, twice the RK4 resolution: equal up to the coarse solver's error.
    torch.testing.assert_close(y_split, y, rtol=1e-3, atol=1e-3)
    torch.testing.assert_close(div_first + div_second, int_div, rtol=1e-3, atol=1e-3)
    torch.testing.assert_close(first.inverse(second.inverse(y_split)), x, rtol=1e-9, atol=1e-9)


def test_integrands_are_checked(block):
    x = torch.zeros(2, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match="Unknown integrands"):
        block.path_integrals(x, integrands=("curvature",))
    with pytest.raises(ValueError, match="potential"):
        block.path_integrals(x, integrands=("hjb",))  # an MLP has no potential


def test_kinetic_energy_bounds_the_endpoint_movement(block):
    """Jensen: ∫‖f‖² dt ≥ ‖T(x) − x‖² for a unit time interval."""
    x = torch.randn(20, 3, dtype=torch.float64)
    y, _, integrals = block.path_integrals(x, integrands=("kinetic",))
    kinetic = integrals["kinetic"]
    assert torch.all(kinetic >= ((y - x) ** 2).sum(dim=1) - 1e-9)
    assert kinetic.max() > 1e-3


class _Linear(torch.nn.Module):
    """dx/dt = A x, whose RK4 step is the degree-4 Taylor polynomial of exp(dt A)."""

    def __init__(self, a):
        super().__init__()
        self.a = a

    def forward(self, x, t):
        return x @ self.a.T


def test_the_solve_takes_n_steps_of_fourth_order_runge_kutta():
    """Against the closed form of RK4 on a linear field, kinetic energy and divergence too."""
    torch.manual_seed(0)
    a = torch.randn(3, 3, dtype=torch.float64)
    block = ODEBlock(_Linear(a), n_steps=3, t_span=(0.0, 0.9))
    x = torch.randn(7, 3, dtype=torch.float64)
    dt = 0.3
    step = sum(torch.linalg.matrix_power(dt * a, k) / math.factorial(k) for k in range(5))
    y, int_div, integrals = block.path_integrals(x, integrands=("kinetic",))
    torch.testing.assert_close(y, x @ torch.linalg.matrix_power(step, 3).T, rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(block(x, trace=None)[0], y, rtol=0, atol=0)
    # A constant divergence integrates exactly: tr(A) over the interval.
    torch.testing.assert_close(int_div, torch.full((7,), 0.9 * a.trace().item(),
                                                   dtype=torch.float64), rtol=1e-13, atol=1e-13)
    # The kinetic energy along the RK4 path: the 3/8 rule's weights over each step's stages.
    kinetic, state = torch.zeros(7, dtype=torch.float64), x
    for _ in range(3):
        k1 = state @ a.T
        k2 = (state + dt * k1 / 3) @ a.T
        k3 = (state + dt * (k2 - k1 / 3)) @ a.T
        k4 = (state + dt * (k1 - k2 + k3)) @ a.T
        kinetic = kinetic + dt * sum(w * (k * k).sum(dim=1)
                                     for w, k in zip((1 / 8, 3 / 8, 3 / 8, 1 / 8),
                                                     (k1, k2, k3, k4)))
        state = state + dt * (k1 + 3 * (k2 + k3) + k4) / 8
    torch.testing.assert_close(integrals["kinetic"], kinetic, rtol=1e-13, atol=1e-13)
