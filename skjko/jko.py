"""Block-wise JKO training: each block is one proximal (JKO) step towards N(0, I).

Block k is trained alone on the training set pushed through blocks 1..k-1, by
minimising over its velocity f_k

    E[½‖T_k(x)‖² − ∫ div f_k(x(t)) dt] + E‖T_k(x) − x‖² / (2 h_k),

the KL divergence to N(0, I) (up to a constant) plus the Wasserstein-2
proximal term of the JKO scheme. :class:`JKOTrainer` runs the papers' rounds
on a :class:`~skjko.flow.BlockFlow`: growing it block by block, time
reparametrization (equal W2 movement per block) and refinement (every block
split in two).
"""

import collections
import copy
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from functools import partial

import torch
from sklearn.exceptions import ConvergenceWarning
from tqdm.auto import tqdm

from .divergence import ExactTrace, HutchinsonTrace, SampledStageTrace
from .flow import BlockFlow, log_density, targets
from .ode_block import RK4_STAGE_WEIGHTS, ODEBlock

#: A validation NLL must drop by more than this (nats) to count as better.
IMPROVEMENT = 1e-4


class Patience:
    """Early stopping on a validation NLL: the best so far and the checks since it.

    One rule for the best iterate within a block (``n_checks_no_change`` checks)
    and for the number of blocks (``n_blocks_no_change`` blocks), as
    HistGradientBoosting's ``_should_stop`` serves its iterations.

    Parameters
    ----------
    n_checks : int
        Checks in a row without improvement that exhaust the patience.
    best : float, default=inf
        The NLL to beat.
    """

    def __init__(self, n_checks: int, best: float = math.inf):
        self.n_checks, self.best, self.checks_without_improvement = n_checks, best, 0

    def improves(self, nll: float) -> bool:
        """Record a check; True when ``nll`` beats the best by more than ``IMPROVEMENT``."""
        if nll < self.best - IMPROVEMENT:
            self.best, self.checks_without_improvement = nll, 0
            return True
        self.checks_without_improvement += 1
        return False

    @property
    def exhausted(self) -> bool:
        """True after ``n_checks`` checks in a row without improvement."""
        return self.checks_without_improvement >= self.n_checks


def step_sizes(h: float, h_growth: float, h_max: float, n_blocks: int) -> list:
    """JKO step sizes h_k = min(h · h_growth^k, h_max) for k = 0..n_blocks-1."""
    return [min(h * h_growth**k, h_max) for k in range(n_blocks)]


def reparametrized_step_sizes(step_sizes_, movements, eta: float) -> list:
    """New h_k that give every block an equal share of the total W2 distance.

    A JKO step moves the data about in proportion to h_k, so block k's step is
    rescaled by W̄ / W_k, with W_k = sqrt(E‖T_k(x) − x‖²) its W2 movement and
    W̄ their mean, damped by ``eta``: h_k ← (1 − η) h_k + η h_k W̄ / W_k.
    """
    distances = [math.sqrt(max(m, 1e-12)) for m in movements]
    if not distances:  # every block was dropped (diverged): nothing to rescale
        return []
    mean = sum(distances) / len(distances)
    return [(1 - eta) * h + eta * h * mean / w for h, w in zip(step_sizes_, distances)]


def weighted_mean(values: torch.Tensor, weight: torch.Tensor = None) -> torch.Tensor:
    """Mean of ``values`` (n,), weighted by ``weight`` (n,) when given."""
    return values.mean() if weight is None else (weight * values).sum() / weight.sum()


def mean_squared_movement(x: torch.Tensor, y: torch.Tensor, weight: torch.Tensor = None) -> float:
    """E‖y − x‖² over the rows (weighted by ``weight``): block T's W2 movement, y = T(x)."""
    return weighted_mean(((y - x) ** 2).sum(dim=1), weight).item()


def kl_to_standard_normal(y: torch.Tensor, log_det: torch.Tensor, weight: torch.Tensor = None,
                          n_context: int = 0) -> torch.Tensor:
    """mean(½‖y‖² − log_det): the KL divergence of the pushed rows ``y`` (n, d) to N(0, I),
    up to a constant, with ``log_det`` (n,) the map's log-determinant on each row (the
    context columns excluded, see :func:`skjko.flow.targets`; weighted by ``weight``)."""
    y_targets = targets(y, n_context)
    return weighted_mean(0.5 * (y_targets * y_targets).sum(dim=1) - log_det, weight)


def jko_loss(block: ODEBlock, x: torch.Tensor, h: float, transport_cost: str = "endpoint",
             alpha_hjb: float = 0.0, trace=None, weight: torch.Tensor = None,
             n_context: int = 0):
    """JKO objective of one block on a batch ``x`` (n, d).

    Parameters
    ----------
    transport_cost : {"endpoint", "path"}, default="endpoint"
        The W2 proximal term: JKO-iFlow's ‖T(x) − x‖², or JKO-Flow's (OT-Flow's)
        kinetic energy ∫‖f(x(t), t)‖² dt, which also penalises curved paths:
        it is never below the endpoint cost and equals it on straight ones.
    alpha_hjb : float, default=0.0
        Weight of OT-Flow's HJB penalty E∫|∂ₜΦ − ½‖∇Φ‖²| dt (potential
        velocities only), added to the loss.
    trace : callable, optional
        The divergence (see :mod:`skjko.divergence`); None draws the paper's
        Hutchinson probe, ``HutchinsonTrace.rademacher(x)``.
    weight : Tensor of shape (n,), optional
        Row weights: both expectations become weighted means over the batch.
    n_context : int, default=0
        The last columns of ``x`` are a context the block does not move; the
        KL term's Gaussian is on the other columns (see :func:`skjko.flow.targets`).

    Returns
    -------
    loss, kl_loss, w2_loss : scalar Tensors
        ``loss = kl_loss + w2_loss / (2 h) [+ alpha_hjb · HJB]`` where
        ``kl_loss`` is mean(½‖T(x)‖² − ∫div f) and ``w2_loss`` the mean
        transport cost.
    """
    integrands = (("kinetic",) if transport_cost == "path" else ()) + (
        ("hjb",) if alpha_hjb > 0 else ())
    trace = HutchinsonTrace.rademacher(x) if trace is None else trace
    y, int_div, integrals = block.path_integrals(x, trace, integrands)
    kl_loss = kl_to_standard_normal(y, int_div, weight, n_context)
    w2_loss = weighted_mean(integrals["kinetic"] if "kinetic" in integrals
                            else ((y - x) ** 2).sum(dim=1), weight)
    loss = kl_loss + w2_loss / (2 * h)
    if "hjb" in integrals:
        loss = loss + alpha_hjb * weighted_mean(integrals["hjb"], weight)
    return loss, kl_loss, w2_loss


def minibatch_indices(n_samples: int, batch_size: int, device):
    """Endless shuffled minibatches: a fresh permutation every epoch."""
    while True:
        permutation = torch.randperm(n_samples, device=device)
        for start in range(0, n_samples, batch_size):
            yield permutation[start:start + batch_size]


@torch.no_grad()
def push_forward(block: ODEBlock, x: torch.Tensor, batch_size: int) -> torch.Tensor:
    """T(x) for the whole set, chunk by chunk, without a graph."""
    return torch.cat([block(chunk, trace=None)[0] for chunk in x.split(batch_size)])


class ValidationData:
    """Held-out rows pushed through the blocks so far, with their accumulated log-det.

    Their exact negative log-likelihood under the flow (in the standardized
    space) is what early stopping and block selection compare.
    """

    def __init__(self, x: torch.Tensor, batch_size: int, weight: torch.Tensor = None,
                 n_context: int = 0):
        self.x = x
        self.log_det = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
        self.batch_size = batch_size
        self.weight = weight
        self.n_context = n_context

    @torch.no_grad()
    def _through(self, block):
        pieces = [block(chunk) for chunk in self.x.split(self.batch_size)]
        return torch.cat([y for y, _ in pieces]), torch.cat([d for _, d in pieces])

    def nll(self, block: ODEBlock = None) -> float:
        """Mean NLL of the flow so far, followed by ``block`` if given."""
        y, log_det = (self.x, self.log_det) if block is None else self._through(block)
        if block is not None:
            log_det = self.log_det + log_det
        return -weighted_mean(log_density(y, log_det, self.n_context), self.weight).item()

    def push(self, block: ODEBlock) -> "ValidationData":
        """Move the rows through ``block`` (after it is accepted)."""
        self.x, log_det = self._through(block)
        self.log_det = self.log_det + log_det
        return self


@dataclass(frozen=True)
class TrainingDivergence:
    """The divergence of a training step, built for each minibatch: ``trace = self(batch)``.

    Parameters
    ----------
    exact : bool, default=False
        The exact trace (:class:`~skjko.divergence.ExactTrace`, in closed form
        where the velocity has one) instead of a fresh Hutchinson probe per batch.
    sampled_stages : bool, default=False
        Take it at one RK4 stage per step, drawn with the stage's weight
        (:class:`~skjko.divergence.SampledStageTrace`), instead of at every stage.
    n_context : int, default=0
        The batch's last columns are a context: the probe leaves them out.
    """

    exact: bool = False
    sampled_stages: bool = False
    n_context: int = 0

    def __call__(self, batch: torch.Tensor):
        trace = ExactTrace() if self.exact else HutchinsonTrace.rademacher(batch, self.n_context)
        return SampledStageTrace(trace, RK4_STAGE_WEIGHTS) if self.sampled_stages else trace


@dataclass(kw_only=True)
class TrainingSettings:
    """Settings for training one block (the estimator's parameters of the same names)."""

    max_iter: int
    batch_size: int
    learning_rate: float
    n_checks_no_change: int = 5
    validation_interval: int = 25
    transport_cost: str = "endpoint"
    alpha_hjb: float = 0.0
    max_grad_norm: float = 1.0
    weight_decay: float = 0.0
    noise_std: float = 0.0
    #: Learning-rate schedule within a block: ``schedule(optimizer, max_iter)`` returns a
    #: torch scheduler stepped after every optimizer step (e.g. :func:`cosine_schedule`);
    #: None keeps the rate constant.
    schedule: Callable = None
    #: ``trace(batch)`` gives the divergence each training step uses (see
    #: :class:`TrainingDivergence`): a fresh Hutchinson probe by default.
    trace: Callable = TrainingDivergence()
    #: The dtype the training steps' forward pass autocasts to (``torch.autocast``), or
    #: None for the rows' own. Validation and the kept weights stay in full precision.
    autocast_dtype: torch.dtype = None


@dataclass(frozen=True, kw_only=True)
class GrowthSettings:
    """How :meth:`JKOTrainer.grow` adds blocks (the estimator's parameters of the same names).

    Block k trains with ``h_k = min(h · h_growth^k, h_max)``; growth stops at
    ``n_blocks``, at a block whose W2 ratio is under ``movement_tol``, or after
    ``n_blocks_no_change`` blocks without validation gain. ``make_velocity()``
    builds the first block's network (later blocks start from the one before);
    each block takes ``n_steps`` RK4 steps.
    """

    n_blocks: int
    h: float
    h_growth: float
    h_max: float
    make_velocity: Callable
    movement_tol: float = 0.0
    n_blocks_no_change: int = 1
    n_steps: int = 3


def cosine_schedule(optimizer, max_iter: int):
    """Cosine decay to 1 % of the rate over ``max_iter`` steps.

    Large steps first, small ones last, so the block ends at a settled iterate.
    """
    floor = optimizer.param_groups[0]["lr"] / 100
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max_iter, eta_min=floor)


#: Share of the joint round's steps over which :func:`with_warmup` ramps the rate up.
WARMUP_FRACTION = 0.1


def warmup_steps(max_iter: int, fraction: float = WARMUP_FRACTION) -> int:
    """Steps of the warm-up of :func:`with_warmup` in a round of ``max_iter`` steps."""
    return max(1, int(fraction * max_iter))


def with_warmup(schedule: Callable = None, fraction: float = WARMUP_FRACTION):
    """``schedule`` (a :attr:`TrainingSettings.schedule`) after a linear warm-up of the rate.

    Adam's first steps move every weight by about the full rate whatever its
    gradient; a round that starts from trained weights ramps the rate up over
    the first ``fraction`` of its steps instead of knocking them about.
    """
    def make(optimizer, max_iter: int):
        n_warm = warmup_steps(max_iter, fraction)
        # The schedule first: it may read the full rate from the optimizer (a floor, say).
        rest = None if schedule is None else schedule(optimizer, max(1, max_iter - n_warm))
        # Rates rate/n, 2 rate/n, ..., rate over the first n steps.
        warm = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=1 / n_warm,
                                                 end_factor=1.0, total_iters=max(1, n_warm - 1))
        if rest is None:
            return warm
        return torch.optim.lr_scheduler.SequentialLR(optimizer, [warm, rest], milestones=[n_warm])

    return make


@dataclass(kw_only=True)
class BlockRecord:
    """What training one block did in one round; ``asdict`` of it is a row of ``history_``.

    The joint round, which trains every block at once, has one row: its ``block`` is
    the number of blocks, and the per-block fields (``h``, W2) are nan.
    """

    round: str
    block: int
    h: float
    n_iter: int
    best_iter: int
    loss: float
    kl_loss: float
    w2_loss: float
    val_nll: float
    w2_movement: float
    w2_ratio: float
    seconds: float
    diverged: bool


def train_block(block: ODEBlock, x: torch.Tensor, h: float, settings: TrainingSettings,
                validation: ValidationData = None, progress=None, weight: torch.Tensor = None,
                n_context: int = 0):
    """AdamW on the JKO objective of ``block``; the weights are updated in place.

    Each minibatch's moving columns are jittered by N(0, ``settings.noise_std``² I)
    when that is positive. ``weight`` (n,), when given, weights the rows of
    ``x`` in the loss. The last ``n_context`` columns of ``x`` are a context
    the block does not move (see :func:`jko_loss`).

    With ``validation``, the exact validation NLL is checked every
    ``settings.validation_interval`` steps; the block ends at the best iterate and
    stops after ``settings.n_checks_no_change`` checks without improvement. A
    non-finite loss stops the block and restores the last weights that gave a
    finite one, with a :class:`~sklearn.exceptions.ConvergenceWarning` left to
    the caller.

    Returns
    -------
    dict
        ``n_iter``, ``best_iter``, the last finite ``loss``, ``kl_loss`` and
        ``w2_loss``, ``val_nll`` of the kept weights (nan without validation),
        ``diverged`` and ``unconverged``: the block used all ``max_iter`` steps
        while its validation NLL was still improving (patience not run out) or,
        without validation, while its training loss was still falling
        (:func:`still_falling` over two windows of ``validation_interval`` steps).
    """
    def objective(batch, batch_weight):
        return jko_loss(block, batch, h, settings.transport_cost, settings.alpha_hjb,
                        settings.trace(batch), batch_weight, n_context)

    return minimize(block, objective, x, settings,
                    None if validation is None else partial(validation.nll, block),
                    progress, weight, n_context=n_context)


def jittered(batch: torch.Tensor, noise_std: float, n_context: int = 0) -> torch.Tensor:
    """``batch`` plus N(0, ``noise_std``²) noise on the columns a flow moves.

    The last ``n_context`` columns, a conditional flow's context, stay as they
    are: jittering them too blurs what the density is conditioned on.
    """
    moving = targets(batch, n_context)
    noise = noise_std * torch.randn_like(moving)
    if n_context:
        noise = torch.cat([noise, noise.new_zeros(batch.shape[0], n_context)], dim=1)
    return batch + noise


def minimize(module: torch.nn.Module, objective: Callable, x: torch.Tensor,
             settings: TrainingSettings, validation_nll: Callable = None, progress=None,
             weight: torch.Tensor = None, stop: Callable = None, n_context: int = 0):
    """AdamW on ``objective(batch, batch_weight)`` over minibatches of ``x``: the loop of
    :func:`train_block`, for any module (one block, or every block of a flow).

    ``objective`` returns the scalar tensors ``(loss, kl_loss, w2_loss)``;
    ``validation_nll()``, when given, the module's validation NLL as a float;
    ``stop(iteration)``, when given, is asked after every step and True ends
    the loop there (``result["stopped"]``); the last ``n_context`` columns of
    ``x`` are a context the noise leaves alone (:func:`jittered`). Returns the
    dict :func:`train_block` documents.
    """
    # Decoupled weight decay pulls the weights, and so the velocity, towards
    # zero: a block that learns nothing stays the identity. 0 is plain Adam.
    optimizer = torch.optim.AdamW(module.parameters(), lr=settings.learning_rate,
                                  weight_decay=settings.weight_decay)
    scheduler = (None if settings.schedule is None
                 else settings.schedule(optimizer, settings.max_iter))
    batches = minibatch_indices(x.shape[0], settings.batch_size, x.device)
    result = dict(n_iter=0, best_iter=0, loss=math.nan, kl_loss=math.nan, w2_loss=math.nan,
                  val_nll=math.nan, diverged=False, unconverged=False, stopped=False)
    losses = None  # the last finite (loss, kl_loss, w2_loss), read back once at the end
    # Without validation, the last two windows of losses tell whether the budget ended a
    # block that was still learning (kept on the device, read back once at the end).
    recent = collections.deque(maxlen=2 * settings.validation_interval)
    best, patience = None, Patience(settings.n_checks_no_change)
    if validation_nll is not None:  # the starting weights are a candidate too
        val_nll = validation_nll()
        if math.isfinite(val_nll):
            best = WeightSnapshot(module)
            result["val_nll"] = patience.best = val_nll
    last_good = WeightSnapshot(module)  # weights that gave a finite loss
    for iteration in range(1, settings.max_iter + 1):
        rows = next(batches)
        batch, batch_weight = x[rows], None if weight is None else weight[rows]
        if settings.noise_std > 0:
            # Noise regularization: the block fits the rows smoothed by N(0, σ²I),
            # which keeps it from memorising a small training set.
            batch = jittered(batch, settings.noise_std, n_context)
        with torch.autocast(x.device.type, dtype=settings.autocast_dtype,
                            enabled=settings.autocast_dtype is not None):
            loss, kl_loss, w2_loss = objective(batch, batch_weight)
        if not torch.isfinite(loss):
            last_good.restore()
            result["diverged"] = True
            break
        last_good.save()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(module.parameters(), settings.max_grad_norm)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        losses = (loss.detach(), kl_loss.detach(), w2_loss.detach())
        recent.append(losses[0])
        result["n_iter"] = iteration
        if progress is not None:
            progress.update(1)
            if not progress.disable:  # the postfix reads the loss back from the device
                progress.set_postfix(loss=f"{losses[0].item():.4f}",
                                     w2=f"{losses[2].item():.4f}",
                                     val=f"{result['val_nll']:.4f}", refresh=False)
        if stop is not None and stop(iteration):
            result["stopped"] = True
            break
        if validation_nll is None or (iteration % settings.validation_interval
                                      and iteration != settings.max_iter):
            continue
        val_nll = validation_nll()
        if not math.isfinite(val_nll):
            continue
        if patience.improves(val_nll):
            if best is None:
                best = WeightSnapshot(module)  # a copy of the weights as they are now
            else:
                best.save()
            result.update(best_iter=iteration, val_nll=val_nll)
        elif patience.exhausted:
            break
    else:  # no break: the budget, not the patience, ended the block
        result["unconverged"] = (result["best_iter"] > 0 if validation_nll is not None
                                 else still_falling(recent, settings.validation_interval))
    if losses is not None:
        result.update(zip(("loss", "kl_loss", "w2_loss"), torch.stack(losses).tolist()))
    if best is not None:
        best.restore()
    else:
        result["best_iter"] = result["n_iter"]
    return result


def still_falling(losses, window: int) -> bool:
    """True when the mean of the last ``window`` of ``losses`` (scalar tensors) is below the
    mean of the ``window`` before it by more than two standard errors of their difference,
    or when there are fewer than ``2 * window`` losses to tell."""
    if len(losses) < 2 * window or window < 2:
        return True
    values = torch.stack(list(losses)[-2 * window:]).double().cpu()
    before, last = values[:window], values[window:]
    standard_error = math.sqrt((before.var() + last.var()).item() / window)
    return (before.mean() - last.mean()).item() > 2 * standard_error


class WeightSnapshot:
    """A copy of a module's weights, refreshed in place.

    Training keeps two (the last weights with a finite loss, the best by
    validation); copying into the same tensors every step costs no allocation.
    """

    def __init__(self, module: torch.nn.Module):
        self.module = module
        self.tensors = {name: value.detach().clone()
                        for name, value in module.state_dict().items()}

    @torch.no_grad()
    def save(self):
        """Copy the module's current weights into the snapshot."""
        for name, value in self.module.state_dict().items():
            self.tensors[name].copy_(value)

    def restore(self):
        """Put the snapshot's weights back into the module."""
        self.module.load_state_dict(self.tensors)


class JKOTrainer:
    """Trains the blocks of a :class:`BlockFlow` in JKO rounds.

    The flow (each block with its step size h) and the history are updated
    block by block, so an interruption leaves every finished block in place.

    Parameters
    ----------
    flow : BlockFlow
        Blocks so far (empty to start).
    history : list of dict
        Records so far; new rounds append to it.
    x : Tensor of shape (n, d)
        Standardized training rows.
    x_val : Tensor of shape (n_val, d) or None
        Standardized validation rows (None: no early stopping or selection).
    settings : TrainingSettings
        How each block is trained.
    verbose : int
        Progress bars per block when positive.
    weight, weight_val : Tensor of shape (n,) and (n_val,), optional
        Positive weights of the training and validation rows; None weighs
        every row the same.
    rounds_done : dict of str to int, optional
        Reparametrization ("reparam") and refinement ("refine") rounds run on
        ``flow`` before; the next round of each kind is numbered after them.
    on_block : callable, optional
        ``on_block(flow, record)`` after every block of every round, once
        the block is in ``flow`` and ``record`` (a dict) in ``history``: for
        monitoring, e.g. scoring the flow as it stands after each block.
    """

    def __init__(self, flow: BlockFlow, history: list, x, x_val, settings: TrainingSettings,
                 verbose: int = 0, *, weight=None, weight_val=None, rounds_done=None,
                 on_block: Callable = None):
        self.flow, self.history = flow, history
        self.on_block = on_block
        self.rounds_done = {"reparam": 0, "refine": 0, "joint": 0, **(rounds_done or {})}
        self.x, self.x_val, self.settings, self.verbose = x, x_val, settings, verbose
        self.weight, self.weight_val = weight, weight_val

    @property
    def step_sizes(self) -> list:
        """h_k of each block of the flow."""
        return [block.h for block in self.flow.blocks]

    def _validation(self):
        return None if self.x_val is None else ValidationData(
            self.x_val, self.settings.batch_size, self.weight_val, self.flow.n_context)

    def _train(self, block, x, validation, h, round_name, index):
        """Train a copy of ``block``; return it, the pushed data and its record."""
        start = time.perf_counter()
        block = copy.deepcopy(block).train()
        with tqdm(total=self.settings.max_iter, desc=f"{round_name} block {index + 1} h={h:.3g}",
                  disable=not self.verbose, leave=self.verbose > 1, mininterval=0.5) as bar:
            result = train_block(block, x, h, self.settings, validation, bar, self.weight,
                                 self.flow.n_context)
        block.eval()
        y = push_forward(block, x, self.settings.batch_size)
        if result["diverged"]:
            warnings.warn(
                f"JKO block {index + 1} diverged ({round_name} round): non-finite loss at "
                f"iteration {result['n_iter'] + 1} with h={h:.3g}; kept its last finite "
                "weights. Try a smaller learning_rate or h.", ConvergenceWarning)
        elif result["unconverged"]:
            still = (f"its validation NLL was still improving (best iterate "
                     f"{result['best_iter']})" if validation is not None
                     else "its training loss was still falling")
            warnings.warn(
                f"JKO block {index + 1} ({round_name} round) reached max_iter="
                f"{self.settings.max_iter} while {still}; increase max_iter or learning_rate.",
                ConvergenceWarning)
        movement = mean_squared_movement(x, y, self.weight)
        y_targets = targets(y, self.flow.n_context)
        ratio = movement / max(weighted_mean((y_targets * y_targets).sum(dim=1),
                                             self.weight).item(), 1e-12)
        record = BlockRecord(
            round=round_name, block=index + 1, h=h, n_iter=result["n_iter"],
            best_iter=result["best_iter"], loss=result["loss"], kl_loss=result["kl_loss"],
            w2_loss=result["w2_loss"], val_nll=result["val_nll"], w2_movement=movement,
            w2_ratio=ratio, seconds=time.perf_counter() - start, diverged=result["diverged"])
        if self.verbose:
            print(f"[skjko] {round_name} block {index + 1}: h={h:.3g} "
                  f"iters={record.n_iter} best={record.best_iter} loss={record.loss:.4f} "
                  f"val_nll={record.val_nll:.4f} W2={movement:.4f} ratio={ratio:.4f} "
                  f"({record.seconds:.1f} s)", flush=True)
        return block, y, record

    def _record(self, record: dict):
        self.history.append(record)
        if self.on_block is not None:
            self.on_block(self.flow, record)

    def _pushed(self):
        """Training and validation rows pushed through every block of the flow."""
        x, validation = self.x, self._validation()
        for block in self.flow.blocks:
            x = push_forward(block, x, self.settings.batch_size)
            if validation is not None:
                validation.push(block)
        return x, validation

    def grow(self, growth: GrowthSettings):
        """Add blocks until ``n_blocks``, a small W2 movement, or no validation gain (``growth``).

        Block k starts from block k-1's weights. With validation data, blocks
        are added while the validation NLL improves (``n_blocks_no_change``
        blocks of patience) and the best prefix is kept.

        Returns
        -------
        stop_reason : {"n_blocks", "movement_tol", "validation", "diverged"}
        """
        x, validation = self._pushed()
        # A continued flow (warm start) is the bar new blocks must beat.
        patience = Patience(growth.n_blocks_no_change, validation.nll()
                            if validation is not None and len(self.flow) else math.inf)
        best_length, stop_reason = len(self.flow), "n_blocks"
        schedule = step_sizes(growth.h, growth.h_growth, growth.h_max, growth.n_blocks)
        for k in range(len(self.flow), growth.n_blocks):
            h_k = schedule[k]
            velocity = (copy.deepcopy(self.flow.blocks[-1].velocity) if len(self.flow)
                        else growth.make_velocity())
            block, y, record = self._train(ODEBlock(velocity, growth.n_steps, h=h_k), x,
                                           validation, h_k, "grow", k)
            if not torch.isfinite(y).all():
                warnings.warn(f"JKO block {k + 1} maps training points to non-finite values; "
                              "dropped it and stopped adding blocks.", ConvergenceWarning)
                stop_reason = "diverged"
                break
            if record.diverged and record.n_iter == 0:  # nothing learned: not worth a block
                stop_reason = "diverged"
                break
            self.flow.append(block)
            self._record(asdict(record))
            x = y
            if record.diverged:
                stop_reason = "diverged"
                break
            if validation is not None:
                validation.push(block)
                if patience.improves(record.val_nll):
                    best_length = len(self.flow)
                elif patience.exhausted:
                    stop_reason = "validation"
                    break
            if record.w2_ratio < growth.movement_tol:
                stop_reason = "movement_tol"
                break
        if validation is not None and best_length < len(self.flow):
            self.truncate(best_length)
        return stop_reason

    def truncate(self, n_blocks: int):
        """Keep only the first ``n_blocks`` blocks."""
        self.flow.blocks = self.flow.blocks[:n_blocks]

    def block_movements(self) -> list:
        """E‖T_k(x) − x‖² of every block on the training rows pushed so far."""
        movements, x = [], self.x
        for block in self.flow.blocks:
            y = push_forward(block, x, self.settings.batch_size)
            movements.append(mean_squared_movement(x, y, self.weight))
            x = y
        return movements

    def retrain(self, new_step_sizes, round_name):
        """Retrain every block in order, from its current weights, with new h_k."""
        x, validation = self.x, self._validation()
        for k, h_k in enumerate(new_step_sizes):
            block, y, record = self._train(self.flow.blocks[k], x, validation, h_k,
                                           round_name, k)
            if not torch.isfinite(y).all():
                warnings.warn(f"JKO block {k + 1} maps training points to non-finite values "
                              f"in the {round_name} round; kept its previous weights.",
                              ConvergenceWarning)
                block = self.flow.blocks[k]
                y = push_forward(block, x, self.settings.batch_size)
            else:
                if record.best_iter > 0:  # best_iter 0: the old weights (and h) were kept
                    block.h = h_k
                self.flow.blocks[k] = block
            self._record(asdict(record))
            x = y
            if validation is not None:
                validation.push(block)

    def train_jointly(self, max_iter: int, learning_rate: float, trace: Callable = None):
        """The closing round: every block at once, on the training rows' negative log-likelihood.

        Block-wise training fits each block to the rows as the blocks before
        it left them, and no block can correct the others. This round trains
        them together by maximum likelihood (the objective of a continuous
        flow trained end to end), started from the blocks' JKO weights, with
        the blocks' noise and batch, their schedule over ``max_iter`` steps
        after a warm-up (:func:`with_warmup`), and a smaller ``learning_rate``.
        It needs validation rows: its last iterate, which the schedule's decay
        leaves settled, is kept when its validation NLL beats the JKO weights',
        else the JKO weights stay. Two candidates, not the best of every check:
        on a few hundred rows the best of twenty checks is often a lucky one
        that loses on new rows. The validation NLL is also checked every
        ``validation_interval`` steps: a round behind the JKO weights at
        ``n_checks_no_change`` checks in a row after its warm-up ends there,
        keeping them. Where the round overfits, its validation NLL climbs from
        the start and never returns; where it pays, it may trail them for a few
        checks, most often while the rate warms up.

        Parameters
        ----------
        max_iter : int
            Most optimizer steps; each costs about one step of every block.
        learning_rate : float
        trace : callable, optional
            ``trace(batch)`` gives the divergence of the loss; None uses the
            blocks' own (``TrainingSettings.trace``).
        """
        if self.x_val is None:
            raise ValueError("The joint round needs validation rows to choose its iterate.")
        start = time.perf_counter()
        settings = replace(self.settings, max_iter=max_iter, learning_rate=learning_rate,
                      trace=self.settings.trace if trace is None else trace,
                      schedule=with_warmup(self.settings.schedule))
        flow, n_context = self.flow, self.flow.n_context

        def objective(batch, batch_weight):
            kl_loss = kl_to_standard_normal(*flow.through_blocks(batch, settings.trace(batch)),
                                            batch_weight, n_context)
            return kl_loss, kl_loss, torch.zeros_like(kl_loss)

        round_name = self._next_round("joint")
        validation = self._validation()
        jko_weights, jko_val_nll = WeightSnapshot(flow.blocks), validation.nll(
            flow.through_blocks)

        def beats_jko_weights(val_nll):
            return Patience(1, best=jko_val_nll).improves(val_nll)

        checks_behind, n_warm = 0, warmup_steps(max_iter)  # checks behind in a row

        def losing(iteration):
            nonlocal checks_behind
            if iteration % settings.validation_interval or iteration <= n_warm:
                return False
            ahead = beats_jko_weights(validation.nll(flow.through_blocks))
            checks_behind = 0 if ahead else checks_behind + 1
            return checks_behind >= settings.n_checks_no_change

        flow.blocks.train()
        with tqdm(total=max_iter, desc=f"{round_name}: all {len(flow)} blocks",
                  disable=not self.verbose, leave=self.verbose > 1, mininterval=0.5) as bar:
            result = minimize(flow.blocks, objective, self.x, settings, progress=bar,
                              weight=self.weight, stop=losing, n_context=n_context)
        flow.blocks.eval()
        result["val_nll"] = validation.nll(flow.through_blocks)
        if not beats_jko_weights(result["val_nll"]):
            jko_weights.restore()
            result.update(best_iter=0, val_nll=jko_val_nll)
        if result["diverged"]:
            warnings.warn(f"The joint round ({round_name}) diverged: non-finite loss at "
                          f"iteration {result['n_iter'] + 1}; kept "
                          + ("its last finite weights" if result["best_iter"] else
                             "the JKO weights, which its last finite ones did not beat")
                          + ". Try a smaller learning_rate.", ConvergenceWarning)
        record = BlockRecord(
            round=round_name, block=len(flow), h=math.nan, n_iter=result["n_iter"],
            best_iter=result["best_iter"], loss=result["loss"], kl_loss=result["kl_loss"],
            w2_loss=math.nan, val_nll=result["val_nll"], w2_movement=math.nan,
            w2_ratio=math.nan, seconds=time.perf_counter() - start, diverged=result["diverged"])
        if self.verbose:
            print(f"[skjko] {round_name}, all {len(flow)} blocks: iters={record.n_iter} "
                  f"best={record.best_iter} loss={record.loss:.4f} val_nll={record.val_nll:.4f} "
                  f"({record.seconds:.1f} s)"
                  + (", ended early, behind the JKO weights" if result["stopped"]
                     else ""), flush=True)
        self._record(asdict(record))

    def _next_round(self, kind):
        self.rounds_done[kind] += 1
        return f"{kind} {self.rounds_done[kind]}"

    def reparametrize(self, eta: float):
        """One round of time reparametrization: equalize each block's W2 movement."""
        new = reparametrized_step_sizes(self.step_sizes, self.block_movements(), eta)
        self.retrain(new, self._next_round("reparam"))

    def refine(self):
        """One round of refinement: split every block's interval in two, h_k/2 each, retrain."""
        halves = [half for block in self.flow.blocks for half in block.split()]
        self.flow.blocks = torch.nn.ModuleList(halves)
        self.retrain(self.step_sizes, self._next_round("refine"))
