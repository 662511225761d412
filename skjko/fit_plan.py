"""One fit's settings, every 'auto' resolved once: what the trainer runs and the fitted
attributes report."""

import contextlib
from dataclasses import dataclass
from typing import Callable

import torch

from ._denormals import flushed_denormals
from ._threads import torch_threads
from .jko import GrowthSettings, TrainingSettings


@dataclass(frozen=True, kw_only=True)
class JointRound:
    """The closing joint round: its learning rate, the divergence it trains on, its steps.

    ``max_iter`` is a number of steps, or None for 'auto': ``budget`` block steps
    shared by the blocks (a joint step costs a step of every block), and only
    after a growth that ended at ``n_blocks``; 0 skips the round. ``trace(flow)``
    is the divergence for the grown ``flow`` (None: the blocks' own).
    """

    learning_rate: float
    trace: Callable
    max_iter: int = None
    budget: float = 0.0

    def steps(self, n_blocks: int, stop_reason: str) -> int:
        """The round's steps for a flow of ``n_blocks`` blocks whose growth stopped on
        ``stop_reason`` (0: it does not run).

        'auto' runs the round only where every block still gained on validation
        (``stop_reason`` 'n_blocks'): the flow underfits there, and training the
        blocks together pays. Where validation stopped the growth, the blocks fit
        the training rows as far as validation allows, and a round on the same
        training likelihood falls behind the JKO weights.
        """
        if not n_blocks:
            return 0
        if self.max_iter is None:
            return int(self.budget / n_blocks) if stop_reason == "n_blocks" else 0
        return self.max_iter


@dataclass(frozen=True, kw_only=True)
class FitPlan:
    """Everything one fit needs, resolved from the parameters and the training rows.

    ``training`` says how each block trains, ``growth`` how blocks are added,
    ``n_reparam`` / ``eta`` / ``n_refine`` the papers' improvement rounds and
    ``joint`` the closing round. The rest are the resolved values the fitted
    ``*_`` attributes report.
    """

    device: torch.device
    n_threads: int
    seed: int
    early_stopping: bool
    velocity: str
    hidden_sizes: tuple
    n_steps: int
    noise_std: float
    movement_tol: float
    divergence_stages: str
    training: TrainingSettings
    growth: GrowthSettings
    n_reparam: int
    eta: float
    n_refine: int
    joint: JointRound

    @property
    def architecture(self) -> tuple:
        """What a warm start must find unchanged: (velocity, hidden_sizes, n_steps)."""
        return self.velocity, self.hidden_sizes, self.n_steps

    @contextlib.contextmanager
    def running(self):
        """Where training runs: its own torch RNG state, the plan's threads, denormals flushed."""
        cuda_devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda_devices), torch_threads(self.n_threads), \
                flushed_denormals():
            yield
