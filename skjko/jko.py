"""Block-wise JKO training: each block is one proximal (JKO) step towards N(0, I).

Block k is trained alone on the training set pushed through blocks 1..k-1, by
minimising over its velocity f_k

    E[½‖T_k(x)‖² − ∫₀¹ div f_k(x(t)) dt] + E‖T_k(x) − x‖² / (2 h_k),

the KL divergence to N(0, I) (up to a constant) plus the Wasserstein-2
proximal term of the JKO scheme.
"""

import copy
import time
import warnings
from dataclasses import asdict, dataclass

import torch
from sklearn.exceptions import ConvergenceWarning

from .flow import BlockFlow
from .ode_block import ODEBlock


@dataclass
class BlockRecord:
    """What training one block did; ``asdict`` of it is a row of ``history_``."""

    block: int
    h: float
    n_iter: int
    loss: float
    kl_loss: float
    w2_loss: float
    w2_movement: float
    w2_ratio: float
    seconds: float
    diverged: bool


def step_sizes(h: float, h_growth: float, h_max: float, n_blocks: int) -> list:
    """JKO step sizes h_k = min(h · h_growth^k, h_max) for k = 0..n_blocks-1."""
    return [min(h * h_growth**k, h_max) for k in range(n_blocks)]


def rademacher_like(x: torch.Tensor) -> torch.Tensor:
    """Random ±1 entries shaped like ``x``: the Hutchinson probe of lowest variance."""
    return torch.randint(0, 2, x.shape, device=x.device).to(x.dtype) * 2 - 1


def jko_loss(block: ODEBlock, x: torch.Tensor, h: float):
    """JKO objective of one block on a batch ``x`` (n, d), Hutchinson divergence.

    Returns
    -------
    loss, kl_loss, w2_loss : scalar Tensors
        ``loss = kl_loss + w2_loss / (2 h)`` where ``kl_loss`` is
        mean(½‖T(x)‖² − ∫div f) and ``w2_loss`` is mean ‖T(x) − x‖².
    """
    y, int_div = block(x, divergence="hutchinson", noise=rademacher_like(x), create_graph=True)
    kl_loss = (0.5 * (y * y).sum(dim=1) - int_div).mean()
    w2_loss = ((y - x) ** 2).sum(dim=1).mean()
    return kl_loss + w2_loss / (2 * h), kl_loss, w2_loss


def minibatch_indices(n_samples: int, batch_size: int, device):
    """Endless shuffled minibatches: a fresh permutation every epoch."""
    while True:
        permutation = torch.randperm(n_samples, device=device)
        for start in range(0, n_samples, batch_size):
            yield permutation[start:start + batch_size]


@torch.no_grad()
def push_forward(block: ODEBlock, x: torch.Tensor, batch_size: int) -> torch.Tensor:
    """T(x) for the whole set, chunk by chunk, without a graph."""
    return torch.cat([block(chunk, divergence="none")[0] for chunk in x.split(batch_size)])


def train_block(block: ODEBlock, x: torch.Tensor, h: float, *, max_iter: int, batch_size: int,
                learning_rate: float, max_grad_norm: float = 1.0):
    """Adam on the JKO objective of ``block``; the weights are updated in place.

    A non-finite loss stops the block and restores the last weights that gave
    a finite one, with a :class:`~sklearn.exceptions.ConvergenceWarning`.

    Returns
    -------
    n_iter : int
        Optimizer steps taken.
    losses : tuple of float
        The last finite (loss, kl_loss, w2_loss).
    diverged : bool
    """
    optimizer = torch.optim.Adam(block.parameters(), lr=learning_rate)
    batches = minibatch_indices(x.shape[0], batch_size, x.device)
    losses = (float("nan"),) * 3
    for n_iter in range(max_iter):
        loss, kl_loss, w2_loss = jko_loss(block, x[next(batches)], h)
        if not torch.isfinite(loss):
            if n_iter > 0:
                block.load_state_dict(last_good)
            return n_iter, losses, True
        last_good = copy.deepcopy(block.state_dict())
        losses = (loss.item(), kl_loss.item(), w2_loss.item())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(block.parameters(), max_grad_norm)
        optimizer.step()
    return max_iter, losses, False


def train_jko_flow(x: torch.Tensor, make_velocity, *, h, h_growth, h_max, n_blocks, tol,
                   n_steps, max_iter, batch_size, learning_rate, verbose=0):
    """Train blocks one after another until the W2 movement is small or ``n_blocks``.

    Parameters
    ----------
    x : Tensor of shape (n, d)
        Standardized training data.
    make_velocity : callable
        ``make_velocity()`` returns a fresh velocity network for the first
        block; later blocks start from a copy of the previous block's weights.
    h, h_growth, h_max, n_blocks, tol, n_steps, max_iter, batch_size, learning_rate
        As in :class:`skjko.JKOFlowDensity`.
    verbose : int, default=0
        Print one line per block when positive.

    Returns
    -------
    flow : BlockFlow
    history : list of dict
        One :class:`BlockRecord` per block, as a dict.
    stop_reason : str
        ``"tol"``, ``"n_blocks"`` or ``"diverged"``.
    """
    flow, history = BlockFlow(), []
    velocity = make_velocity()
    stop_reason = "n_blocks"
    for k, h_k in enumerate(step_sizes(h, h_growth, h_max, n_blocks)):
        start = time.perf_counter()
        if k > 0:
            velocity = copy.deepcopy(flow.blocks[-1].velocity)  # warm start
        block = ODEBlock(velocity, n_steps=n_steps)
        block.train()
        n_iter, (loss, kl_loss, w2_loss), diverged = train_block(
            block, x, h_k, max_iter=max_iter, batch_size=batch_size,
            learning_rate=learning_rate)
        block.eval()
        if diverged:
            warnings.warn(
                f"JKO block {k + 1} diverged (non-finite loss at iteration {n_iter + 1}, "
                f"h={h_k:.3g}); kept its last finite weights and stopped adding blocks. "
                "Try a smaller learning_rate or h.", ConvergenceWarning)
            if n_iter == 0:  # nothing learned in this block: do not keep it
                stop_reason = "diverged"
                break
        y = push_forward(block, x, batch_size)
        if not torch.isfinite(y).all():
            warnings.warn(f"JKO block {k + 1} maps training points to non-finite values; "
                          "dropped it.", ConvergenceWarning)
            stop_reason = "diverged"
            break
        w2_movement = ((y - x) ** 2).sum(dim=1).mean().item()
        w2_ratio = w2_movement / max((y * y).sum(dim=1).mean().item(), 1e-12)
        flow.append(block)
        x = y
        record = BlockRecord(k + 1, h_k, n_iter, loss, kl_loss, w2_loss, w2_movement, w2_ratio,
                             time.perf_counter() - start, diverged)
        history.append(asdict(record))
        if verbose:
            print(f"[JKOFlowDensity] block {k + 1}/{n_blocks}: h={h_k:.3g} iters={n_iter} "
                  f"loss={loss:.4f} W2={w2_movement:.4f} ratio={w2_ratio:.4f} "
                  f"({record.seconds:.1f} s)", flush=True)
        if diverged:
            stop_reason = "diverged"
            break
        if w2_ratio < tol:
            stop_reason = "tol"
            break
    return flow, history, stop_reason
