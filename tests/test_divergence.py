import pytest
import torch

from skjko import VelocityMLP, divergence_exact, divergence_hutchinson
from skjko.divergence import rademacher_like


def autograd_jacobian_trace(net, x):
    """Reference: the trace of the full Jacobian, one row at a time."""
    return torch.stack([
        torch.trace(torch.autograd.functional.jacobian(lambda r: net(r[None])[0], row))
        for row in x])


@pytest.fixture
def net_and_x():
    torch.manual_seed(0)
    net = VelocityMLP(5, (16, 16)).double()
    return net, torch.randn(7, 5, dtype=torch.float64)


@pytest.mark.parametrize("method", ["loop", "vmap"])
def test_exact_divergence_equals_jacobian_trace(net_and_x, method):
    net, x = net_and_x
    fx, div = divergence_exact(net, x, method=method)
    torch.testing.assert_close(div, autograd_jacobian_trace(net, x), rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(fx, net(x))
    assert not fx.requires_grad and not div.requires_grad


def test_exact_divergence_is_differentiable_with_create_graph(net_and_x):
    net, x = net_and_x
    _, div = divergence_exact(net, x, create_graph=True)
    div.sum().backward()
    first_weight_grad = net.net[0].weight.grad
    assert first_weight_grad is not None and first_weight_grad.abs().sum() > 0


def test_exact_divergence_rejects_unknown_method(net_and_x):
    net, x = net_and_x
    with pytest.raises(ValueError, match="method"):
        divergence_exact(net, x, method="magic")


def test_hutchinson_is_unbiased_within_its_standard_error(net_and_x):
    net, x = net_and_x
    _, exact = divergence_exact(net, x)
    n_probes = 4000
    x_rep = x.repeat(n_probes, 1)
    _, estimates = divergence_hutchinson(net, x_rep, rademacher_like(x_rep), create_graph=False)
    estimates = estimates.view(n_probes, x.shape[0])
    mean = estimates.mean(dim=0)
    standard_error = estimates.std(dim=0) / n_probes**0.5
    assert torch.all((mean - exact).abs() < 4 * standard_error + 1e-12)
    assert torch.all(standard_error > 0)  # a real estimator, not the exact value in disguise


@pytest.mark.parametrize("hidden_sizes", [(), (9,), (16, 12)])
def test_mlp_closed_form_divergence_equals_jacobian_trace(hidden_sizes):
    torch.manual_seed(0)
    net = VelocityMLP(5, hidden_sizes, beta=2.0).double()
    x = 3 * torch.randn(7, 5, dtype=torch.float64)  # some pre-activations past the threshold
    fx, div = net.velocity_and_divergence(x)
    torch.testing.assert_close(div, autograd_jacobian_trace(net, x), rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(fx, net(x))


def test_mlp_closed_form_divergence_needs_at_most_two_hidden_layers():
    net = VelocityMLP(3, (8, 8, 8))
    assert not net.has_closed_form_divergence
    with pytest.raises(ValueError, match="two hidden layers"):
        net.velocity_and_divergence(torch.zeros(2, 3))


def test_blocks_score_with_the_closed_form_and_train_with_the_probe(monkeypatch):
    """Exact divergences of a 2-layer MLP skip autograd; a Hutchinson request still probes."""
    from skjko import AutogradTrace, HutchinsonTrace, ODEBlock, divergence as divergence_module

    torch.manual_seed(0)
    block = ODEBlock(VelocityMLP(4, (8, 8)).double(), n_steps=2)
    x = torch.randn(5, 4, dtype=torch.float64)
    _, by_loop = block(x, AutogradTrace())
    calls, autograd = [], divergence_module.divergence_exact
    monkeypatch.setattr(divergence_module, "divergence_exact",
                        lambda *a, **k: calls.append(1) or autograd(*a, **k))
    _, closed = block(x)
    assert calls == []
    torch.testing.assert_close(closed, by_loop, rtol=1e-10, atol=1e-10)
    noise = rademacher_like(x)
    _, probed = block(x, HutchinsonTrace(noise))
    assert not torch.allclose(probed, closed)  # the estimate, not the exact value


class _WithoutProbedProduct(torch.nn.Module):
    """The same field, hiding its probed product: the trace falls back on autograd."""

    def __init__(self, mlp):
        super().__init__()
        self.mlp = mlp

    def forward(self, x, t=None):
        return self.mlp(x, t)


@pytest.mark.parametrize("hidden_sizes", [(), (9,), (16, 12), (8, 8, 8)])
@pytest.mark.parametrize("n_context", [0, 2])
def test_mlp_probed_product_along_a_solve_equals_the_vector_jacobian_product(hidden_sizes,
                                                                            n_context):
    """The MLP's forward-mode probe product (its ends computed once per solve) gives the
    autograd estimate and the same weight gradients, past Softplus's threshold too."""
    from skjko import HutchinsonTrace, ODEBlock

    torch.manual_seed(0)
    mlp = VelocityMLP(3, hidden_sizes, beta=2.0, n_context=n_context).double()
    x = 3 * torch.randn(6, 3 + n_context, dtype=torch.float64)
    trace = HutchinsonTrace.rademacher(x, n_context)
    results = []
    for velocity in (mlp, _WithoutProbedProduct(mlp)):
        y, int_div = ODEBlock(velocity, n_steps=2)(x, trace)
        loss = (y ** 2).sum() + (int_div ** 2).sum()
        results.append((y, int_div, torch.autograd.grad(loss, list(mlp.parameters()),
                                                        allow_unused=True,
                                                        materialize_grads=True)))
    (y, int_div, grads), (y_ref, int_div_ref, grads_ref) = results
    assert torch.equal(y, y_ref)
    torch.testing.assert_close(int_div, int_div_ref, rtol=1e-12, atol=1e-12)
    for grad, grad_ref in zip(grads, grads_ref):
        torch.testing.assert_close(grad, grad_ref, rtol=1e-10, atol=1e-12)
    assert int_div.abs().max() > 0 and any(g.abs().max() > 0 for g in grads)


def test_softplus_slope_is_exact_without_its_mask_in_float32():
    """Past the threshold the logistic rounds to 1 in float32: the slope skips the mask
    there and equals the masked one; in float64 the mask gives exactly 1."""
    from skjko.velocity import _softplus_slope

    softplus = torch.nn.Softplus(beta=20.0)
    pre = torch.linspace(-3.0, 50.0, 20001)
    masked = torch.where(20 * pre > 20, torch.ones_like(pre), torch.sigmoid(20 * pre))
    assert torch.equal(_softplus_slope(pre, softplus), masked)
    past = pre.double()[20 * pre > 20]
    assert torch.equal(_softplus_slope(past, softplus), torch.ones_like(past))
    assert not torch.equal(torch.sigmoid(20 * past), torch.ones_like(past))  # the mask matters


def _sampled_stage_block():
    from skjko import ODEBlock

    torch.manual_seed(0)
    return ODEBlock(VelocityMLP(3, (8, 8), beta=2.0).double(), n_steps=3), \
        2 * torch.randn(6, 3, dtype=torch.float64)


def test_sampled_stage_trace_is_unbiased_for_the_rk4_sum():
    """Drawn stages, reweighted, average to the RK4 integral of the divergence scoring uses;
    the map itself is the plain solve's, every stage's velocity evaluated."""
    from skjko.divergence import ExactTrace, SampledStageTrace
    from skjko.ode_block import RK4_STAGE_WEIGHTS

    block, x = _sampled_stage_block()
    y_exact, exact = block(x, ExactTrace())
    n_solves = 800
    estimates = []
    for _ in range(n_solves):
        y, int_div = block(x, SampledStageTrace(ExactTrace(), RK4_STAGE_WEIGHTS))
        estimates.append(int_div)
        assert torch.equal(y, y_exact)
    estimates = torch.stack(estimates)
    standard_error = estimates.std(dim=0) / n_solves**0.5
    assert torch.all((estimates.mean(dim=0) - exact).abs() < 4 * standard_error)
    assert torch.all(standard_error > 0)  # a real draw, not the full sum in disguise
    # Without the reweighting the mean would be far off: the check can tell.
    assert torch.all((exact - exact / 4).abs() > 4 * standard_error)


def test_sampled_stage_trace_takes_one_divergence_per_step():
    from skjko.divergence import ExactTrace, SampledStageTrace
    from skjko.ode_block import RK4_STAGE_WEIGHTS

    block, x = _sampled_stage_block()
    calls = []

    def counting_trace(velocity, x, t):
        calls.append(float(t))
        return ExactTrace()(velocity, x, t)

    sampled = SampledStageTrace(counting_trace, RK4_STAGE_WEIGHTS)
    block(x, sampled)
    assert len(calls) == block.n_steps
    # Each drawn stage lies within its own step.
    grid = block.time_grid()
    assert all(grid[i] <= t <= grid[i + 1] for i, t in enumerate(calls))
    # A second solve with the same object (the next block of a joint step) continues the
    # sequence: its steps are the whole solve's steps n_steps.. 2 n_steps - 1.
    block(x, sampled)
    offsets = [t - grid[i] for i, t in enumerate(calls[block.n_steps:])]
    expected = [sampled._stage_of_step(block.n_steps + i) for i in range(block.n_steps)]
    dt = grid[1] - grid[0]
    assert offsets == pytest.approx([dt * (0, 1 / 3, 2 / 3, 1)[s] for s in expected])


def test_sampled_stage_trace_needs_a_solve():
    from skjko.divergence import ExactTrace, SampledStageTrace
    from skjko.ode_block import RK4_STAGE_WEIGHTS

    block, x = _sampled_stage_block()
    with pytest.raises(TypeError, match="ODEBlock's solve"):
        SampledStageTrace(ExactTrace(), RK4_STAGE_WEIGHTS)(block.velocity, x, 0.0)
