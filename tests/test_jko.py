import copy
import warnings

import numpy as np
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning

from skjko import ExactTrace, JKOFlowDensity, ODEBlock, VelocityMLP
from skjko import jko
from skjko.flow import BlockFlow
from skjko.jko import (GrowthSettings, JKOTrainer, TrainingSettings, ValidationData, jko_loss,
                       reparametrized_step_sizes, step_sizes, train_block)


def test_step_sizes_grow_geometrically_up_to_h_max():
    assert step_sizes(1.0, 2.0, 5.0, 5) == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert step_sizes(0.25, 1.0, 5.0, 3) == [0.25, 0.25, 0.25]


def grow(x, *, x_val=None, h=1.0, h_growth=1.5, h_max=5.0, n_blocks=2, movement_tol=0.0,
         hidden=(16,), n_steps=1, max_iter=5, batch_size=100, learning_rate=1e-3,
         n_blocks_no_change=1, **fit):
    """A trainer that has grown a flow from scratch; returns (trainer, stop_reason)."""
    trainer = JKOTrainer(BlockFlow(), [], x, x_val,
                         TrainingSettings(max_iter=max_iter, batch_size=batch_size,
                                          learning_rate=learning_rate, **fit))
    reason = trainer.grow(GrowthSettings(
        n_blocks=n_blocks, h=h, h_growth=h_growth, h_max=h_max, movement_tol=movement_tol,
        n_blocks_no_change=n_blocks_no_change, n_steps=n_steps,
        make_velocity=lambda: VelocityMLP(x.shape[1], hidden)))
    return trainer, reason


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
    train_block(block, x, 1.0, TrainingSettings(max_iter=150, batch_size=200, learning_rate=5e-3))
    with torch.no_grad():
        after = torch.stack([jko_loss(block, x, 1.0)[0] for _ in range(20)]).mean()
    assert after < before - 0.05


def test_weight_decay_pulls_the_velocity_towards_zero():
    x = two_moons_like()
    weight_norms = []
    for weight_decay in (0.0, 1.0):
        torch.manual_seed(0)
        block = ODEBlock(VelocityMLP(2, (32, 32)), n_steps=2)
        train_block(block, x, 1.0, TrainingSettings(max_iter=150, batch_size=200,
                                                    learning_rate=5e-3, weight_decay=weight_decay))
        weight_norms.append(sum(p.square().sum() for p in block.parameters()).sqrt().item())
    assert weight_norms[1] < 0.9 * weight_norms[0]


def test_noise_regularization_keeps_a_block_from_memorising_few_rows():
    """40 training rows, a large step and many iterations: the jittered block generalizes."""
    x = two_moons_like(1040)
    train, held_out = x[:40], ValidationData(x[40:], batch_size=1000)
    held_out_nll = {}
    for noise_std in (0.0, 0.3):
        torch.manual_seed(0)
        block = ODEBlock(VelocityMLP(2, (32, 32)), n_steps=2)
        train_block(block, train, 5.0, TrainingSettings(max_iter=300, batch_size=40,
                                                        learning_rate=1e-2, noise_std=noise_std))
        held_out_nll[noise_std] = held_out.nll(block)
    assert held_out_nll[0.3] < held_out_nll[0.0] - 0.5


def test_noise_moves_the_targets_and_leaves_the_context():
    torch.manual_seed(0)
    batch = torch.randn(500, 5)
    noisy = jko.jittered(batch, 0.3, n_context=2)
    assert torch.equal(noisy[:, 3:], batch[:, 3:])
    assert (noisy[:, :3] - batch[:, :3]).std().item() == pytest.approx(0.3, rel=0.1)
    torch.manual_seed(0)
    without_context = jko.jittered(batch, 0.3)
    torch.manual_seed(0)
    assert torch.equal(without_context, batch + 0.3 * torch.randn_like(batch))


def test_rounds_on_a_flow_without_blocks_do_nothing():
    """When the first block is dropped (non-finite), the later rounds have nothing to retrain."""
    trainer = JKOTrainer(BlockFlow(), [], two_moons_like(), None,
                         TrainingSettings(max_iter=5, batch_size=100, learning_rate=1e-3))
    trainer.reparametrize(0.5)
    trainer.refine()
    assert len(trainer.flow) == 0 and trainer.history == [] and trainer.step_sizes == []


def test_smaller_h_moves_the_data_less():
    x = two_moons_like()
    movements = {}
    for h in (0.05, 5.0):
        torch.manual_seed(0)
        trainer, _ = grow(x, h=h, h_growth=1.0, h_max=10.0, n_blocks=1, hidden=(32, 32),
                          n_steps=2, max_iter=100, batch_size=200, learning_rate=5e-3)
        movements[h] = trainer.history[0]["w2_movement"]
    assert movements[0.05] < 0.5 * movements[5.0]


def test_blocks_stop_when_w2_movement_is_below_tol():
    x = torch.randn(300, 2)  # already standard normal: the first block barely moves
    torch.manual_seed(0)
    trainer, reason = grow(x, n_blocks=4, movement_tol=0.05, n_steps=2, max_iter=30, batch_size=300)
    assert reason == "movement_tol"
    assert len(trainer.flow) == len(trainer.history) < 4
    assert trainer.history[-1]["w2_ratio"] < 0.05


def test_runs_all_blocks_when_tol_is_zero_and_warm_starts():
    x = two_moons_like(200)
    torch.manual_seed(0)
    trainer, reason = grow(x)
    assert reason == "n_blocks" and len(trainer.flow) == 2
    assert [r["h"] for r in trainer.history] == trainer.step_sizes == [1.0, 1.5]
    first, second = (b.velocity for b in trainer.flow.blocks)
    assert first is not second  # warm start copies; it does not share weights


def test_diverging_block_warns_and_keeps_last_finite_weights(monkeypatch):
    x = two_moons_like(200)
    calls = []

    def loss_turning_nan(block, batch, h, *args):
        calls.append(copy.deepcopy(block.state_dict()))
        loss, kl, w2 = jko_loss(block, batch, h, *args)
        return (loss * float("nan"), kl, w2) if len(calls) == 4 else (loss, kl, w2)

    monkeypatch.setattr(jko, "jko_loss", loss_turning_nan)
    torch.manual_seed(0)
    with pytest.warns(ConvergenceWarning, match="JKO block 1 diverged"):
        trainer, reason = grow(x, n_blocks=3, max_iter=50, learning_rate=1e-2)
    flow, history = trainer.flow, trainer.history
    assert reason == "diverged"
    assert len(flow) == 1 and history[0]["n_iter"] == 3 and history[0]["diverged"]
    # The weights that produced the last finite loss (iteration 3) are the ones kept.
    kept = flow.blocks[0].state_dict()
    assert all(torch.equal(kept[name], calls[2][name]) for name in kept)
    assert torch.isfinite(flow.log_prob(x)).all()


def test_reparametrized_step_sizes_equalize_w2_distances():
    # W = (2, 1), mean 1.5: full correction scales h by 0.75 and 1.5; eta damps it.
    assert reparametrized_step_sizes([1.0, 2.0], [4.0, 1.0], eta=1.0) == [0.75, 3.0]
    assert reparametrized_step_sizes([1.0, 2.0], [4.0, 1.0], eta=0.5) == [0.875, 2.5]


def coefficient_of_variation(movements):
    distances = torch.tensor(movements).sqrt()
    return (distances.std() / distances.mean()).item()


def test_reparametrization_makes_block_movements_more_equal():
    x = two_moons_like()
    torch.manual_seed(0)
    trainer, _ = grow(x, n_blocks=3, h=0.5, h_growth=4.0, h_max=100.0, hidden=(32, 32),
                      n_steps=2, max_iter=120, batch_size=200, learning_rate=5e-3)
    before = trainer.block_movements()
    trainer.reparametrize(eta=0.5)
    after = trainer.block_movements()
    assert coefficient_of_variation(after) < 0.8 * coefficient_of_variation(before)
    assert [r["round"] for r in trainer.history] == ["grow"] * 3 + ["reparam 1"] * 3
    assert trainer.step_sizes == [r["h"] for r in trainer.history[3:]]


def test_refinement_doubles_the_blocks_without_losing_likelihood():
    x, x_test = two_moons_like(400), two_moons_like(800)[400:]
    trainer, _ = grow(x, n_blocks=2, hidden=(32, 32), n_steps=2, max_iter=100, batch_size=200,
                      learning_rate=5e-3)
    steps_before = list(trainer.step_sizes)
    with torch.no_grad():
        nll_before = -trainer.flow.log_prob(x_test).mean().item()
    trainer.refine()
    with torch.no_grad():
        nll_after = -trainer.flow.log_prob(x_test).mean().item()
    assert len(trainer.flow) == 4
    assert trainer.step_sizes == [h / 2 for h in steps_before for _ in range(2)]
    assert [b.t_span for b in trainer.flow.blocks[:2]] == [(0.0, 0.5), (0.5, 1.0)]
    assert nll_after < nll_before + 0.05


def test_early_stopping_keeps_the_best_iterate():
    x, x_val = two_moons_like(400), two_moons_like(600)[400:]
    torch.manual_seed(0)
    trainer, _ = grow(x, x_val=x_val, n_blocks=1, hidden=(32, 32), n_steps=2, max_iter=100,
                      batch_size=200, learning_rate=5e-3, validation_interval=10,
                      n_checks_no_change=100)
    record = trainer.history[0]
    assert 0 < record["best_iter"] <= record["n_iter"] == 100
    kept = ValidationData(x_val, 1000).nll(trainer.flow.blocks[0])
    assert kept == pytest.approx(record["val_nll"], abs=1e-5)
    assert record["val_nll"] < ValidationData(x_val, 1000).nll()  # better than no block


def test_block_stops_after_n_checks_no_change_checks():
    x, x_val = two_moons_like(200), two_moons_like(300)[200:]
    torch.manual_seed(0)
    trainer, _ = grow(x, x_val=x_val, n_blocks=1, max_iter=200, learning_rate=1e-9,
                      validation_interval=5, n_checks_no_change=2)
    record = trainer.history[0]
    # A tiny learning rate cannot beat the starting weights: two checks, then stop.
    assert record["n_iter"] == 10 and record["best_iter"] == 0


def test_retrained_block_that_keeps_its_old_weights_keeps_its_step_size():
    x, x_val = two_moons_like(200), two_moons_like(300)[200:]
    torch.manual_seed(0)
    trainer, _ = grow(x, x_val=x_val, n_blocks=2, h_growth=3.0, max_iter=40,
                      learning_rate=5e-3, validation_interval=10)
    steps_before = list(trainer.step_sizes)
    weights_before = copy.deepcopy(trainer.flow.state_dict())
    trainer.settings.learning_rate = 1e-12  # retraining cannot beat the current weights
    trainer.reparametrize(eta=1.0)
    assert [r["best_iter"] for r in trainer.history[2:]] == [0, 0]
    assert trainer.step_sizes == steps_before
    assert all(torch.equal(v, weights_before[k]) for k, v in trainer.flow.state_dict().items())


def test_block_with_non_finite_outputs_is_dropped_with_a_warning(monkeypatch):
    x = two_moons_like(200)
    monkeypatch.setattr(jko, "push_forward", lambda block, x, batch_size: x * float("inf"))
    torch.manual_seed(0)
    with pytest.warns(ConvergenceWarning, match="non-finite values"):
        trainer, reason = grow(x, n_blocks=2)
    assert reason == "diverged" and len(trainer.flow) == 0 and trainer.history == []


def test_a_block_that_runs_out_of_iterations_while_improving_warns():
    x, x_val = two_moons_like(400), two_moons_like(600)[400:]
    torch.manual_seed(0)
    with pytest.warns(ConvergenceWarning, match="reached max_iter=20 while its validation NLL"):
        trainer, _ = grow(x, x_val=x_val, n_blocks=1, hidden=(32, 32), n_steps=2, max_iter=20,
                          batch_size=200, learning_rate=5e-3, validation_interval=5)
    assert trainer.history[0]["best_iter"] == 20


def test_a_block_stopped_by_its_patience_does_not_warn():
    x, x_val = two_moons_like(200), two_moons_like(300)[200:]
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        grow(x, x_val=x_val, n_blocks=1, max_iter=200, learning_rate=1e-9,
             validation_interval=5, n_checks_no_change=2)


def test_cosine_decay_anneals_the_learning_rate_over_max_iter(monkeypatch):
    rates = []
    step = torch.optim.AdamW.step
    monkeypatch.setattr(torch.optim.AdamW, "step", lambda self, *a, **k: rates.append(
        self.param_groups[0]["lr"]) or step(self, *a, **k))
    torch.manual_seed(0)
    block = ODEBlock(VelocityMLP(2, (8,)), n_steps=1)
    train_block(block, two_moons_like(200), 1.0,
                TrainingSettings(max_iter=50, batch_size=100, learning_rate=1e-2,
                                 schedule=jko.cosine_schedule))
    assert len(rates) == 50 and rates[0] == 1e-2
    assert all(later <= earlier for earlier, later in zip(rates, rates[1:]))
    assert 1e-4 < rates[-1] < 2e-4  # close to the floor of 1 % at the last step


@pytest.mark.parametrize("schedule", [jko.cosine_schedule, None])
def test_warm_up_ramps_the_rate_then_hands_over_to_the_schedule(schedule):
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.Adam([parameter], lr=1e-2)
    scheduler = jko.with_warmup(schedule)(optimizer, 100)  # 10 warm-up steps
    rates = []
    for _ in range(100):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    np.testing.assert_allclose(rates[:11], np.linspace(1e-3, 1e-2, 10).tolist() + [1e-2])
    if schedule is None:
        np.testing.assert_allclose(rates[10:], 1e-2)
    else:  # the cosine over the other 90 steps, down to its floor of 1 %
        assert all(later <= earlier for earlier, later in zip(rates[10:], rates[11:]))
        assert 1e-4 < rates[-1] < 1.1e-4


def test_exact_training_divergence_is_the_mean_of_the_hutchinson_estimates():
    """The probe is unbiased: averaged over many probes it approaches the exact trace."""
    torch.manual_seed(0)
    block = ODEBlock(VelocityMLP(3, (16, 16)), n_steps=2)
    x = torch.randn(50, 3, dtype=torch.float64)
    block.double()
    exact = jko_loss(block, x, h=1.0, trace=ExactTrace())[1]
    y, int_div = block(x)
    torch.testing.assert_close(exact, (0.5 * (y * y).sum(dim=1) - int_div).mean())
    probes = torch.stack([jko_loss(block, x, h=1.0)[1].detach() for _ in range(400)])
    assert abs(probes.mean() - exact) < 4 * probes.std() / 20
    assert probes.std() > 0  # the probe does vary: the comparison means something


def test_patience_counts_checks_without_an_improvement_beyond_the_margin():
    from skjko.jko import IMPROVEMENT, Patience

    patience = Patience(2, best=1.0)
    assert not patience.improves(1.0 - IMPROVEMENT / 2)  # inside the margin: no better
    assert not patience.exhausted
    assert patience.improves(0.5) and patience.best == 0.5 and not patience.exhausted
    assert not patience.improves(float("nan")) and not patience.improves(0.6)
    assert patience.exhausted
    assert Patience(1).improves(1e300)  # anything finite beats the start


def test_on_block_sees_every_block_of_every_round_in_place():
    seen = []

    def on_block(flow, record):
        # The block is already in the flow, and its record the last in the history.
        assert flow is trainer.flow and trainer.history[-1] is record
        seen.append((record["round"], record["block"], len(flow)))

    trainer = JKOTrainer(BlockFlow(), [], two_moons_like(), None,
                         TrainingSettings(max_iter=3, batch_size=100, learning_rate=1e-3),
                         on_block=on_block)
    trainer.grow(GrowthSettings(n_blocks=2, h=1.0, h_growth=1.4, h_max=5.0, n_steps=1,
                                make_velocity=lambda: VelocityMLP(2, (8,))))
    trainer.refine()
    assert seen == [("grow", 1, 1), ("grow", 2, 2),
                    *[("refine 1", k, 4) for k in (1, 2, 3, 4)]]


def test_without_validation_a_block_cut_short_by_max_iter_warns():
    """GaussianMixture warns when its budget ends the fit; so does a block whose loss still falls."""
    X = np.random.default_rng(0).normal(size=(400, 2))
    with pytest.warns(ConvergenceWarning, match="max_iter=1 while its training loss was still"):
        JKOFlowDensity(max_iter=1, early_stopping=False, n_blocks=1, hidden_sizes=(8,),
                       random_state=0).fit(X)


def test_still_falling_reads_two_windows_of_losses():
    falling = [torch.tensor(10.0 - i) for i in range(20)]
    flat = [torch.tensor(1.0 + 0.01 * (-1) ** i) for i in range(20)]
    assert jko.still_falling(falling, 10) and not jko.still_falling(flat, 10)
    assert jko.still_falling(flat[:5], 10)  # too few to tell
