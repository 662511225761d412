import math

import pytest
import torch

from skjko import divergence_exact
from skjko.potential import PotentialVelocity, log_cosh


def make_model(d, n_layers=2, width=8, seed=0):
    """A float64 model with w, A, b and c moved away from their initial values."""
    torch.manual_seed(seed)
    model = PotentialVelocity(d, width=width, n_layers=n_layers).double()
    with torch.no_grad():
        model.w.copy_(torch.randn_like(model.w))
        model.A.add_(0.3 * torch.randn_like(model.A))
        model.b.copy_(torch.randn_like(model.b))
        model.c.fill_(0.7)
        for layer in model.layers:
            layer.bias.add_(0.5 * torch.randn_like(layer.bias))
    return model


def autograd_grad_x(model, x, t):
    x = x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(model.potential(x, t).sum(), x)
    return grad


def test_log_cosh_is_stable_and_exact():
    z = torch.tensor([-1000.0, -3.0, 0.0, 0.5, 1000.0], dtype=torch.float64)
    moderate = torch.tensor([-3.0, 0.0, 0.5], dtype=torch.float64)
    expected = torch.cat([torch.tensor([1000.0 - math.log(2.0)], dtype=torch.float64),
                          torch.log(torch.cosh(moderate)),
                          torch.tensor([1000.0 - math.log(2.0)], dtype=torch.float64)])
    torch.testing.assert_close(log_cosh(z), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n_layers", [2, 3])
@pytest.mark.parametrize("d", [2, 5, 43])
def test_closed_form_gradient_matches_autograd(d, n_layers):
    model = make_model(d, n_layers)
    x = torch.randn(6, d, dtype=torch.float64)
    for t in (0.0, 0.37):
        expected = -autograd_grad_x(model, x, t)
        assert expected.abs().max() > 1e-3  # the test would be vacuous otherwise
        torch.testing.assert_close(model(x, t), expected, rtol=1e-8, atol=1e-10)
        v, _ = model.velocity_and_divergence(x, t)
        torch.testing.assert_close(v, expected, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("n_layers", [2, 3])
@pytest.mark.parametrize("d", [2, 5, 43])
def test_closed_form_hessian_trace_matches_autograd(d, n_layers):
    model = make_model(d, n_layers)
    x = torch.randn(4, d, dtype=torch.float64)
    t = 0.37
    expected = torch.stack([
        torch.trace(torch.autograd.functional.hessian(
            lambda r: model.potential(r[None], t)[0], row)) for row in x])
    _, div = model.velocity_and_divergence(x, t)
    torch.testing.assert_close(div, -expected, rtol=1e-5, atol=1e-5)


def test_divergence_matches_divergence_exact():
    model = make_model(5, n_layers=3)
    x = torch.randn(7, 5, dtype=torch.float64)
    t = torch.tensor(0.25, dtype=torch.float64)
    fx, expected = divergence_exact(lambda y: model(y, t), x, create_graph=False, method="loop")
    v, div = model.velocity_and_divergence(x, t)
    torch.testing.assert_close(div, expected, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(v, fx, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("vectorized", [False, True])
def test_a_potential_block_scores_the_same_through_autograd(vectorized):
    """A block of the time-dependent potential: autograd traces equal the closed form."""
    from skjko import AutogradTrace, ODEBlock

    block = ODEBlock(make_model(3, n_layers=3), n_steps=4)
    x = torch.randn(6, 3, dtype=torch.float64)
    y_closed, closed = block(x)
    y_autograd, by_autograd = block(x, AutogradTrace(vectorized))
    torch.testing.assert_close(y_autograd, y_closed, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(by_autograd, closed, rtol=1e-10, atol=1e-10)


def test_divergence_is_differentiable_wrt_parameters():
    model = make_model(3, n_layers=3)
    x = torch.randn(10, 3, dtype=torch.float64)
    v, div = model.velocity_and_divergence(x, 0.5)
    (div.pow(2).sum() + v.pow(2).sum()).backward()
    for param in (model.layers[0].weight, model.layers[1].weight, model.w, model.A):
        assert param.grad is not None
        assert torch.isfinite(param.grad).all() and param.grad.abs().sum() > 0
    # The divergence alone must already reach the first layer.
    model.zero_grad()
    _, div = model.velocity_and_divergence(x, 0.5)
    div.sum().backward()
    assert model.layers[0].weight.grad.abs().sum() > 0


def test_float32_in_float32_out():
    torch.manual_seed(0)
    model = PotentialVelocity(4, width=16)
    x = torch.randn(5, 4)
    v, div = model.velocity_and_divergence(x, 0.1)
    assert model(x).dtype == v.dtype == div.dtype == model.potential(x).dtype == torch.float32
    assert v.shape == (5, 4) and div.shape == (5,)
    assert torch.isfinite(v).all() and torch.isfinite(div).all()


def test_default_init_gives_nonzero_velocity_and_none_means_zero_time():
    torch.manual_seed(0)
    model = PotentialVelocity(3)
    assert model.A.shape == (4, 4)  # rank min(10, d+1)
    x = torch.randn(5, 3)
    assert model(x).abs().max() > 0
    torch.testing.assert_close(model(x), model(x, 0.0))
    assert PotentialVelocity(20).A.shape == (10, 21)


def test_rejects_single_layer():
    with pytest.raises(ValueError, match="n_layers"):
        PotentialVelocity(2, n_layers=1)


@pytest.mark.parametrize("d", [2, 5])
def test_hjb_residual_matches_autograd(d):
    torch.manual_seed(0)
    model = PotentialVelocity(d, width=16, n_layers=3).double()
    x = torch.randn(7, d, dtype=torch.float64)
    t = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    xg = x.clone().requires_grad_(True)
    grad_x, grad_t = torch.autograd.grad(model.potential(xg, t).sum(), (xg, t))
    # t is shared by the rows, so per-row ∂Φ/∂t needs one gradient per row.
    grad_t = torch.stack([torch.autograd.grad(model.potential(x[i:i + 1], t).sum(), t)[0]
                          for i in range(len(x))])
    expected = (grad_t - 0.5 * (grad_x ** 2).sum(dim=1)).abs()
    v, div, hjb = model.velocity_divergence_hjb(x, 0.3)
    torch.testing.assert_close(hjb, expected, rtol=1e-8, atol=1e-10)
    v_ref, div_ref = model.velocity_and_divergence(x, 0.3)
    torch.testing.assert_close(v, v_ref)
    torch.testing.assert_close(div, div_ref)
