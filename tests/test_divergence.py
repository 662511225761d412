import pytest
import torch

from skjko import VelocityMLP, divergence_exact, divergence_hutchinson
from skjko.jko import rademacher_like


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
