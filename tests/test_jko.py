import copy

import pytest
import torch
from sklearn.exceptions import ConvergenceWarning

from skjko import ODEBlock, VelocityMLP
from skjko import jko
from skjko.jko import jko_loss, step_sizes, train_block, train_jko_flow


def test_step_sizes_grow_geometrically_up_to_h_max():
    assert step_sizes(1.0, 2.0, 5.0, 5) == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert step_sizes(0.25, 1.0, 5.0, 3) == [0.25, 0.25, 0.25]


def two_moons_like(n=400):
    torch.manual_seed(0)
    angle = torch.rand(n) * torch.pi
    upper = torch.rand(n) < 0.5
    x = torch.stack([torch.cos(angle) - 0.5 * (~upper), torch.sin(angle) * (2 * upper - 1)], 1)
    x = x + 0.1 * torch.randn(n, 2)
    return (x - x.mean(0)) / x.std(0)


def test_jko_loss_splits_into_kl_and_w2_parts():
    torch.manual_seed(0)
    block = ODEBlock(VelocityMLP(2, (8,)), n_steps=2)
    loss, kl, w2 = jko_loss(block, torch.randn(64, 2), h=0.5)
    torch.testing.assert_close(loss, kl + w2 / (2 * 0.5))
    assert w2 > 0


def test_training_a_block_lowers_its_objective():
    x = two_moons_like()
    torch.manual_seed(0)
    block = ODEBlock(VelocityMLP(2, (32, 32)), n_steps=2)
    with torch.no_grad():
        before = torch.stack([jko_loss(block, x, 1.0)[0] for _ in range(20)]).mean()
    train_block(block, x, 1.0, max_iter=150, batch_size=200, learning_rate=5e-3)
    with torch.no_grad():
        after = torch.stack([jko_loss(block, x, 1.0)[0] for _ in range(20)]).mean()
    assert after < before - 0.05


def test_smaller_h_moves_the_data_less():
    x = two_moons_like()
    movements = {}
    for h in (0.05, 5.0):
        torch.manual_seed(0)
        _, history, _ = train_jko_flow(
            x, lambda: VelocityMLP(2, (32, 32)), h=h, h_growth=1.0, h_max=10.0, n_blocks=1,
            tol=0.0, n_steps=2, max_iter=100, batch_size=200, learning_rate=5e-3)
        movements[h] = history[0]["w2_movement"]
    assert movements[0.05] < 0.5 * movements[5.0]


def test_blocks_stop_when_w2_movement_is_below_tol():
    x = torch.randn(300, 2)  # already standard normal: the first block barely moves
    torch.manual_seed(0)
    flow, history, reason = train_jko_flow(
        x, lambda: VelocityMLP(2, (16,)), h=1.0, h_growth=1.5, h_max=5.0, n_blocks=4,
        tol=0.05, n_steps=2, max_iter=30, batch_size=300, learning_rate=1e-3)
    assert reason == "tol"
    assert len(flow) == len(history) < 4
    assert history[-1]["w2_ratio"] < 0.05


def test_runs_all_blocks_when_tol_is_zero_and_warm_starts():
    x = two_moons_like(200)
    torch.manual_seed(0)
    flow, history, reason = train_jko_flow(
        x, lambda: VelocityMLP(2, (16,)), h=1.0, h_growth=1.5, h_max=5.0, n_blocks=2,
        tol=0.0, n_steps=1, max_iter=5, batch_size=100, learning_rate=1e-3)
    assert reason == "n_blocks" and len(flow) == 2
    assert [r["h"] for r in history] == [1.0, 1.5]
    first, second = (b.velocity for b in flow.blocks)
    assert first is not second  # warm start copies; it does not share weights


def test_diverging_block_warns_and_keeps_last_finite_weights(monkeypatch):
    x = two_moons_like(200)
    calls = []

    def loss_turning_nan(block, batch, h):
        calls.append(copy.deepcopy(block.state_dict()))
        loss, kl, w2 = jko_loss(block, batch, h)
        return (loss * float("nan"), kl, w2) if len(calls) == 4 else (loss, kl, w2)

    monkeypatch.setattr(jko, "jko_loss", loss_turning_nan)
    torch.manual_seed(0)
    with pytest.warns(ConvergenceWarning, match="JKO block 1 diverged"):
        flow, history, reason = train_jko_flow(
            x, lambda: VelocityMLP(2, (16,)), h=1.0, h_growth=1.0, h_max=1.0, n_blocks=3,
            tol=0.0, n_steps=1, max_iter=50, batch_size=100, learning_rate=1e-2)
    assert reason == "diverged"
    assert len(flow) == 1 and history[0]["n_iter"] == 3 and history[0]["diverged"]
    # The weights that produced the last finite loss (iteration 3) are the ones kept.
    kept = flow.blocks[0].state_dict()
    assert all(torch.equal(kept[name], calls[2][name]) for name in kept)
    assert torch.isfinite(flow.log_prob(x)).all()
