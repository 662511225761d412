"""The scikit-learn estimator: JKOFlowDensity."""

import copy
import warnings
from functools import partial
from numbers import Integral, Real

import numpy as np
import torch
from sklearn import get_config
from sklearn.base import (BaseEstimator, ClassNamePrefixFeaturesOutMixin, DensityMixin,
                          TransformerMixin, _fit_context)
from sklearn.utils import check_random_state, metadata_routing
from sklearn.model_selection import train_test_split
from sklearn.utils._param_validation import Hidden, Interval, StrOptions
from sklearn.utils.validation import (_check_sample_weight, check_array, check_is_fitted,
                                      validate_data)

from ._device import resolve_device
from ._precision import resolve_autocast_dtype
from ._threads import resolve_n_threads
from .flow import BlockFlow, targets
from .dequantize import (POINT_MASS_FRACTION, POINT_MASS_ROWS, atom_fractions,
                         column_resolutions, dequantized, grid_steps)
from .input_map import InputMap
from .fit_plan import FitPlan, JointRound
from .jko import (GrowthSettings, JKOTrainer, TrainingDivergence, TrainingSettings,
                  cosine_schedule)
from .velocity_family import VELOCITY_FAMILIES

FLOAT_DTYPES = (np.float64, np.float32)

#: noise_std='auto' is this fraction of Scott's bandwidth when validation rows guard the fit,
#: and the whole bandwidth when nothing else does.
AUTO_NOISE_FRACTION = 0.35
AUTO_NOISE_FRACTION_UNVALIDATED = 1.0
#: ... and fades out where the rows are plentiful for their dimension: it is multiplied by
#: 1 / (1 + (n / (d · AUTO_NOISE_FADE_ROWS))^AUTO_NOISE_FADE_POWER), which leaves sets with a
#: few hundred rows per dimension as they were and all but switches the noise off at thousands,
#: where noise-free fits score better. It never fades below the
#: step of the coarsest grid a column's values sit on (integer codes, counts) when the rows
#: are not spread over their cells (dequantize=False): there the noise stands in for the
#: cells, and a density fitted to integer rows without it spikes on them.
AUTO_NOISE_FADE_ROWS = 1000
AUTO_NOISE_FADE_POWER = 3
#: dequantize=True: each training row enters the blocks as this many spreads over its cells.
DEQUANTIZE_DRAWS = 4
#: movement_tol='auto' without validation data (with it, validation alone stops growth).
AUTO_MOVEMENT_TOL_UNVALIDATED = 0.01
#: Parameters renamed in 0.2, each to the name that says what it counts; the old names
#: still work, with a FutureWarning, until 0.4.
RENAMED_PARAMETERS = {"tol": "movement_tol", "n_iter_no_change": "n_checks_no_change"}

#: The joint round's learning rate, as a fraction of ``learning_rate``: it starts from
#: trained blocks, which full-size first steps would knock about.
JOINT_LEARNING_RATE_FRACTION = 0.2
#: joint_max_iter='auto': the round may cost this many blocks' ``max_iter`` steps in
#: all, spread over the blocks (a joint step costs a step of every block): 800 steps of
#: four blocks, where it pays more than further blocks do.
AUTO_JOINT_BUDGET = 3.2

#: learning_rate_schedule's options: how the rate moves within each block.
LEARNING_RATE_SCHEDULES = {"constant": None, "cosine": cosine_schedule}
#: Relative residual to which ``sample`` inverts each RK4 step. Draws need no
#: round-trip exactness, and stopping here instead of at 100 ulps saves most of
#: the fixed-point iterations: at 1e-4 one check after the first guess usually suffices.
SAMPLE_TOLERANCE = 1e-4

#: Float64 copies of one row's activations that scoring, transforming or sampling keep alive
#: at once on a GPU (the CPU's peak memory shows fewer; twice that for safety): sizes the
#: chunks there from scikit-learn's ``working_memory``.
ACTIVATION_COPIES_PER_ROW = 16


def _joint_trace(flow, divergence_stages):
    """The joint round's divergence: the closed form where every block has one."""
    if all(getattr(block.velocity, "has_closed_form_divergence", False)
           for block in flow.blocks):
        return TrainingDivergence(exact=True, sampled_stages=divergence_stages == "sampled")
    return None  # the blocks' own training divergence


def _run_rounds(trainer, plan, stop_reason):
    """The papers' improvement rounds (reparametrization, then refinement), then the
    joint round after a growth that stopped on ``stop_reason``; returns the joint
    round's step budget (0: it did not run)."""
    for _ in range(plan.n_reparam):
        trainer.reparametrize(plan.eta)
    for _ in range(plan.n_refine):
        trainer.refine()
    joint_max_iter = plan.joint.steps(len(trainer.flow), stop_reason)
    if joint_max_iter:
        trainer.train_jointly(joint_max_iter, plan.joint.learning_rate,
                              plan.joint.trace(trainer.flow))
    return joint_max_iter


class _JKOFlowBase(BaseEstimator):
    """What every JKO-flow estimator shares: its parameters and the block-wise fit.

    A fit trains one :class:`~skjko.flow.BlockFlow` on a state matrix whose
    last ``n_context`` columns are a context the blocks read but never move:
    none for :class:`JKOFlowDensity`, the conditioning features for
    :class:`~skjko.JKOFlowConditionalDensity`. Parameters are documented on
    :class:`JKOFlowDensity`.
    """

    #: What ``divergence_stages='auto'`` means for this estimator.
    _auto_divergence_stages = "sampled"
    #: Whether ``mixed_precision='auto'`` may train in bfloat16 (where the CPU has it).
    _auto_mixed_precision = True

    _parameter_constraints: dict = {
        "h": [Interval(Real, 0, None, closed="neither")],
        "h_growth": [Interval(Real, 0, None, closed="neither")],
        "h_max": [Interval(Real, 0, None, closed="neither")],
        "n_blocks": [Interval(Integral, 1, None, closed="left")],
        "movement_tol": [Interval(Real, 0, None, closed="left"), StrOptions({"auto"})],
        "tol": [Interval(Real, 0, None, closed="left"), StrOptions({"auto"}),
                Hidden(StrOptions({"deprecated"}))],
        "velocity": [StrOptions(set(VELOCITY_FAMILIES))],
        "alpha_hjb": [Interval(Real, 0, None, closed="left")],
        "hidden_sizes": ["array-like"],
        "n_steps": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "learning_rate_schedule": [StrOptions(set(LEARNING_RATE_SCHEDULES))],
        "training_divergence": [StrOptions({"hutchinson", "exact"})],
        "divergence_stages": [StrOptions({"sampled", "all", "auto"})],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "noise_std": [Interval(Real, 0, None, closed="left"), StrOptions({"auto"})],
        "dequantize": ["boolean"],
        "widen_heavy_cells": ["boolean"],
        "early_stopping": [StrOptions({"auto"}), "boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_checks_no_change": [Interval(Integral, 1, None, closed="left")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"),
                             Hidden(StrOptions({"deprecated"}))],
        "validation_interval": [Interval(Integral, 1, None, closed="left")],
        "n_blocks_no_change": [Interval(Integral, 1, None, closed="left")],
        "n_reparam": [Interval(Integral, 0, None, closed="left")],
        "eta": [Interval(Real, 0, 1, closed="right")],
        "n_refine": [Interval(Integral, 0, None, closed="left")],
        "joint_max_iter": [Interval(Integral, 0, None, closed="left"), StrOptions({"auto"})],
        "whiten": ["boolean"],
        "warm_start": ["boolean"],
        "device": [str, torch.device],
        "n_threads": [None, StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "mixed_precision": [StrOptions({"auto"}), "boolean"],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(self, *, h=1.0, h_growth=1.4, h_max=5.0, n_blocks=4, movement_tol="auto",
                 velocity="mlp", alpha_hjb=0.0, hidden_sizes=(128, 128), n_steps="auto",
                 max_iter=1000, batch_size=1000, learning_rate=5e-3,
                 learning_rate_schedule="cosine", training_divergence="hutchinson",
                 divergence_stages="auto", weight_decay=0.0,
                 noise_std="auto", dequantize=True, widen_heavy_cells=True,
                 early_stopping="auto",
                 validation_fraction=0.1, n_checks_no_change=5, validation_interval=25,
                 n_blocks_no_change=1, n_reparam=0, eta=0.5, n_refine=0, joint_max_iter="auto",
                 whiten=False, warm_start=False, device="auto", n_threads=1,
                 mixed_precision="auto", random_state=None, verbose=0, tol="deprecated",
                 n_iter_no_change="deprecated"):
        self.h = h
        self.h_growth = h_growth
        self.h_max = h_max
        self.n_blocks = n_blocks
        self.movement_tol = movement_tol
        self.velocity = velocity
        self.alpha_hjb = alpha_hjb
        self.hidden_sizes = hidden_sizes
        self.n_steps = n_steps
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_schedule = learning_rate_schedule
        self.training_divergence = training_divergence
        self.divergence_stages = divergence_stages
        self.weight_decay = weight_decay
        self.noise_std = noise_std
        self.dequantize = dequantize
        self.widen_heavy_cells = widen_heavy_cells
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_checks_no_change = n_checks_no_change
        self.validation_interval = validation_interval
        self.n_blocks_no_change = n_blocks_no_change
        self.n_reparam = n_reparam
        self.eta = eta
        self.n_refine = n_refine
        self.joint_max_iter = joint_max_iter
        self.whiten = whiten
        self.warm_start = warm_start
        self.device = device
        self.n_threads = n_threads
        self.mixed_precision = mixed_precision
        self.random_state = random_state
        self.verbose = verbose
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change

    def _fit_flow(self, X, sample_weight, n_context, continuing, on_block=None):
        """Train the flow on the validated state rows ``X`` (n_samples, n_features).

        Its last ``n_context`` columns are the context. ``continuing``: warm start
        from ``flow_``. Returns self.
        """
        X, weight = _rows_and_weights(X, sample_weight)
        hidden_sizes = self._validated_architecture(n_context)
        # Everything fitted is built aside and assigned at the end: a fit that
        # fails half-way leaves the fitted model as it was.
        if continuing:
            flow = copy.deepcopy(self.flow_).cpu()  # its input map maps X on the CPU below
            history = list(self.history_)
            # The first fit's split: continued blocks never validate on rows they trained on.
            seed = self._split_seed
            steps = self.grid_steps_
        else:
            steps = self._grid_steps(X, n_context)
            # The heavy cells are widened inside the input map (cell_stretch).
            input_map = InputMap.from_data(X, self.whiten, weight, n_context,
                                           cell_widths=steps if self.widen_heavy_cells else None)
            flow = BlockFlow(input_map=input_map, n_context=n_context)
            history = []
            seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        X_train, X_val, w_train, w_val = self._validation_split(X, weight, seed)
        # The model is of the rows spread over their grid cells: each training row enters
        # as DEQUANTIZE_DRAWS spreads, so the blocks fit the cells rather than one draw.
        cells = np.append(steps, np.zeros(n_context))
        n_draws = DEQUANTIZE_DRAWS if cells.any() else 1
        rng = np.random.default_rng(seed + len(history))
        mapped = lambda A: flow.input_map(torch.tensor(A))[0].numpy()  # noqa: E731
        X_train = mapped(np.vstack([dequantized(X_train, cells, rng) for _ in range(n_draws)]))
        X_val = None if X_val is None else mapped(dequantized(X_val, cells, rng))
        w_train = None if w_train is None else np.tile(w_train, n_draws)
        plan = self._plan(X_train, w_train, n_context, hidden_sizes, seed,
                          validated=X_val is not None, n_draws=n_draws)
        if continuing:
            self._check_same_architecture(plan.architecture)
        as_tensor = lambda a: None if a is None else torch.tensor(  # noqa: E731
            a, dtype=torch.float32, device=plan.device)
        flow.to(plan.device).blocks.float().requires_grad_(True)  # the input map stays float64
        trainer = JKOTrainer(
            flow, history, as_tensor(X_train), as_tensor(X_val), plan.training, self.verbose,
            weight=as_tensor(w_train), weight_val=as_tensor(w_val),
            rounds_done=self._rounds_done if continuing else None,
            on_block=on_block)
        grow = not continuing or self.stop_reason_ in ("n_blocks", "interrupted")
        stop_reason = self.stop_reason_ if continuing else "n_blocks"
        joint_max_iter = 0  # unless the rounds get to run
        with plan.running():
            # Offset by the rounds so far: a warm-started fit draws fresh batches and probes.
            torch.manual_seed(seed + len(history))
            try:
                if grow:
                    stop_reason = trainer.grow(plan.growth)
                joint_max_iter = _run_rounds(trainer, plan, stop_reason)
            except KeyboardInterrupt:
                warnings.warn(f"fit interrupted: kept the {len(trainer.flow)} finished "
                              "block(s); the model is usable.", UserWarning)
                stop_reason = "interrupted"
        self._set_fitted(trainer, plan, stop_reason, joint_max_iter, steps)
        return self

    def _plan(self, X_train, w_train, n_context, hidden_sizes, seed, validated, n_draws=1):
        """Every setting of this fit, 'auto' resolved, from the training rows ``X_train``
        (each row's ``n_draws`` spreads over its cells)."""
        n_rows = X_train.shape[0] if w_train is None else w_train.sum()**2 / (w_train**2).sum()
        n_effective = n_rows / n_draws  # spreads of one row are not more rows
        # The noise moves the targets alone (jko.jittered), so σ counts only their columns.
        noise_std = self._noise_std(targets(X_train, n_context), n_effective, validated)
        device = resolve_device(self.device)
        family = self._velocity_family
        n_steps = self._n_steps()
        divergence_stages = self._divergence_stages()
        movement_tol = self._movement_tol(validated)
        return FitPlan(
            device=device, n_threads=resolve_n_threads(self.n_threads), seed=seed,
            early_stopping=validated, velocity=self.velocity, hidden_sizes=hidden_sizes,
            n_steps=n_steps, noise_std=noise_std, movement_tol=movement_tol,
            divergence_stages=divergence_stages,
            training=TrainingSettings(
                max_iter=self.max_iter, batch_size=self.batch_size,
                learning_rate=self.learning_rate,
                n_checks_no_change=self._renamed("n_iter_no_change"),
                validation_interval=self.validation_interval,
                transport_cost=family.transport_cost, alpha_hjb=self.alpha_hjb,
                weight_decay=self.weight_decay, noise_std=noise_std,
                schedule=LEARNING_RATE_SCHEDULES[self.learning_rate_schedule],
                trace=self._training_trace(n_context, divergence_stages),
                autocast_dtype=resolve_autocast_dtype(self._mixed_precision(), device)),
            growth=GrowthSettings(
                n_blocks=self.n_blocks, h=self.h, h_growth=self.h_growth, h_max=self.h_max,
                movement_tol=movement_tol, n_blocks_no_change=self.n_blocks_no_change,
                n_steps=n_steps, make_velocity=lambda: family.make(
                    X_train.shape[1] - n_context, hidden_sizes, n_context).to(device)),
            n_reparam=self.n_reparam, eta=self.eta, n_refine=self.n_refine,
            joint=self._joint_round(validated, divergence_stages))

    def _set_fitted(self, trainer, plan, stop_reason, joint_max_iter, grid_steps):
        """The fitted attributes: the trainer's flow and history, the plan's resolved values,
        the cells the rows were spread over."""
        # Evaluate in float64: scores must not depend on how rows are batched.
        self.flow_ = trainer.flow.double().eval().requires_grad_(False)
        self.step_sizes_ = trainer.step_sizes
        self.history_ = trainer.history
        self.stop_reason_ = stop_reason
        self.movement_tol_ = plan.movement_tol
        self.joint_max_iter_ = joint_max_iter
        self.noise_std_ = plan.noise_std
        self.grid_steps_ = grid_steps
        self.n_steps_ = plan.n_steps
        self.divergence_stages_ = plan.divergence_stages
        self.early_stopping_ = plan.early_stopping
        self._split_seed = plan.seed
        self._rounds_done = dict(trainer.rounds_done)
        self.n_blocks_ = len(self.flow_)
        self.n_iter_ = sum(record["n_iter"] for record in self.history_)
        self.device_ = plan.device
        self.n_threads_ = plan.n_threads
        self.mixed_precision_ = plan.training.autocast_dtype is not None
        self._architecture = plan.architecture

    def _check_same_architecture(self, requested):
        """warm_start continues the fitted blocks: their network must not have changed."""
        fitted = self._architecture
        if fitted != requested:
            names = ("velocity", "hidden_sizes", "n_steps")
            changed = ", ".join(f"{name} {old!r} -> {new!r}" for name, old, new
                                in zip(names, fitted, requested) if old != new)
            raise ValueError(f"warm_start=True continues the fitted blocks, but {changed}; "
                             "set warm_start=False to fit a new flow.")

    def _validation_split(self, U, weight, seed):
        """Training and validation rows and their weights (None when early stopping is off)."""
        n_val = int(np.ceil(self.validation_fraction * U.shape[0]))
        too_few = n_val < 2 or U.shape[0] - n_val < 2
        enabled = not too_few if self.early_stopping == "auto" else self.early_stopping
        if not enabled:
            return U, None, weight, None
        if too_few:
            raise ValueError(f"early_stopping needs at least 2 training and 2 validation rows; "
                             f"{U.shape[0]} rows with validation_fraction="
                             f"{self.validation_fraction} leave {U.shape[0] - n_val} and {n_val}.")
        if weight is None:
            return (*train_test_split(U, test_size=n_val, random_state=seed), None, None)
        return tuple(train_test_split(U, weight, test_size=n_val, random_state=seed))

    def _validated_architecture(self, n_context=0):
        sizes = tuple(self.hidden_sizes)
        if not sizes or not all(isinstance(s, Integral) and s >= 1 for s in sizes):
            raise ValueError("hidden_sizes must be a non-empty sequence of positive integers, "
                             f"got {self.hidden_sizes!r}.")
        self._velocity_family.check(sizes, n_context, self.alpha_hjb)
        return sizes

    @property
    def _velocity_family(self):
        return VELOCITY_FAMILIES[self.velocity]

    def _movement_tol(self, validated):
        """'auto': with validation data, validation alone decides when growth stops."""
        movement_tol = self._renamed("tol")
        if movement_tol == "auto":
            return 0.0 if validated else AUTO_MOVEMENT_TOL_UNVALIDATED
        return movement_tol

    def _renamed(self, old):
        """The value of the parameter ``old`` was renamed to: the old one's, if it was set."""
        new = RENAMED_PARAMETERS[old]
        if getattr(self, old) == "deprecated":
            return getattr(self, new)
        warnings.warn(f"'{old}' was renamed '{new}' in 0.2 and will be removed in 0.4; "
                      f"its value is used for '{new}'.", FutureWarning)
        return getattr(self, old)

    @property
    def tol_(self):
        """Deprecated: ``movement_tol_``; will be removed in 0.4."""
        warnings.warn("'tol_' was renamed 'movement_tol_' in 0.2 and will be removed in 0.4.",
                      FutureWarning)
        return self.movement_tol_

    def _n_steps(self):
        if self.n_steps == "auto":
            return self._velocity_family.default_n_steps
        return self.n_steps

    def _grid_steps(self, X, n_context):
        """The cell width of each target column of the rows ``X`` that ``dequantize``
        spreads, 0 for the others; warns of point masses off a grid."""
        Y = targets(X, n_context)
        steps = grid_steps(Y)
        shares = atom_fractions(Y)
        # A share of 1 is a constant column: nothing to spread, and no density to spike.
        spiked = np.flatnonzero((steps == 0) & (shares < 1)
                                & (shares >= POINT_MASS_FRACTION)
                                & (shares * len(Y) >= POINT_MASS_ROWS))
        if spiked.size:
            warnings.warn(
                f"column(s) {spiked.tolist()} hold at least {POINT_MASS_FRACTION:.0%} of the "
                "rows at one value but are not on a grid: a density has no point mass, so "
                "the fitted density peaks there. Round such a column to its grid, or model "
                "the value apart (its share of the rows, and a density of the others).",
                UserWarning)
        return steps if self.dequantize else np.zeros_like(steps)

    def _noise_std(self, X_train, n_samples, validated):
        """'auto': a fraction of Scott's kernel bandwidth n^(-1/(d+4)) in standardized units
        for the ``n_samples`` (effective) rows ``X_train``, faded out at many rows per
        dimension, but not below the coarsest column resolution (capped at the unfaded σ)."""
        if self.noise_std == "auto":
            n_features = X_train.shape[1]
            fraction = AUTO_NOISE_FRACTION if validated else AUTO_NOISE_FRACTION_UNVALIDATED
            sigma = fraction * n_samples ** (-1.0 / (n_features + 4))
            fade = 1.0 / (1.0 + (n_samples / (n_features * AUTO_NOISE_FADE_ROWS))
                          ** AUTO_NOISE_FADE_POWER)
            grid_step = column_resolutions(X_train).max(initial=0.0)
            return max(sigma * fade, min(sigma, grid_step))
        return float(self.noise_std)

    def _training_trace(self, n_context, divergence_stages):
        """The divergence of the training loss, as a function of the batch."""
        return TrainingDivergence(
            exact=self.training_divergence == "exact" or self._velocity_family.always_exact_trace,
            sampled_stages=divergence_stages == "sampled", n_context=n_context)

    def _mixed_precision(self):
        """``mixed_precision``, with 'auto' off for an estimator that keeps float32."""
        if self.mixed_precision == "auto" and not self._auto_mixed_precision:
            return False
        return self.mixed_precision

    def _divergence_stages(self):
        """``divergence_stages``, 'auto' resolved for this estimator."""
        if self.divergence_stages == "auto":
            return self._auto_divergence_stages
        return self.divergence_stages

    def _joint_round(self, validated, divergence_stages):
        """The joint round: none without validation rows, which it needs to choose its
        iterate; 'auto' steps cost ``AUTO_JOINT_BUDGET`` blocks' steps."""
        auto = self.joint_max_iter == "auto"
        return JointRound(
            learning_rate=JOINT_LEARNING_RATE_FRACTION * self.learning_rate,
            trace=partial(_joint_trace, divergence_stages=divergence_stages),
            max_iter=0 if not validated else None if auto else self.joint_max_iter,
            budget=AUTO_JOINT_BUDGET * self.max_iter)

    @property
    def mean_(self):
        """Per-feature mean of the input map, ndarray of shape (n_features,)."""
        return self.flow_.input_map.mean.cpu().numpy()

    @property
    def scale_(self):
        """Per-feature standard deviation of the input map, ndarray of shape (n_features,)."""
        return self.flow_.input_map.scale.cpu().numpy()

    @property
    def whitening_(self):
        """The input map's whitening, ndarray of shape (n_features, n_features) or None."""
        whitening = self.flow_.input_map.whitening
        return None if whitening is None else whitening.cpu().numpy()

    def _chunk_rows(self, n_rows, n_columns):
        """Rows per chunk when scoring, transforming or sampling ``n_rows`` rows.

        On the CPU ``batch_size``: chunks that stay in cache score fastest
        there. On a GPU a chunk's cost is mostly its kernel launches, so it
        takes as many rows as scikit-learn's ``working_memory`` holds
        (``sklearn.set_config``), and at least ``batch_size``.
        """
        if self.device_.type == "cpu":
            return self.batch_size
        widths = sum(layer.out_features for layer in self.flow_.blocks[:1].modules()
                     if isinstance(layer, torch.nn.Linear))  # one block (none: no layers)
        # float64 activations of every layer, a few times over (RK4 stages, the trace),
        # and a d × d Jacobian for the inverse's Newton steps.
        row_bytes = 8 * (ACTIVATION_COPIES_PER_ROW * (n_columns + widths) + n_columns ** 2)
        fitting = int(get_config()["working_memory"] * 2**20) // row_bytes
        return max(self.batch_size, min(fitting, n_rows))

    def _in_chunks(self, function, rows):
        """Apply a torch function to ``rows`` chunk by chunk; float64 ndarray out.

        Besides the input and the output, memory grows with the chunk size
        (:meth:`_chunk_rows`), not with the number of rows.
        """
        outputs, size = [], self._chunk_rows(*rows.shape)
        with torch.no_grad():
            for start in range(0, rows.shape[0], size):
                chunk = torch.tensor(rows[start:start + size], dtype=torch.float64,
                                     device=self.device_)
                outputs.append(function(chunk).cpu().numpy())
        return np.concatenate(outputs)

    def _log_density(self, rows):
        """The flow's log-density of validated ``rows``, floored at the lowest float."""
        log_density = self._in_chunks(self.flow_.log_prob, rows)
        # Rows so far out that ½‖z‖² overflows get the lowest finite score, not -inf.
        return np.where(np.isneginf(log_density), np.finfo(np.float64).min, log_density)

    def to(self, device):
        """Move the fitted flow to another device, in place, as ``nn.Module.to`` does.

        Later ``score_samples``, ``transform``, ``inverse_transform`` and
        ``sample`` run there. The ``device`` parameter (where ``fit`` trains)
        is left as it is.

        Parameters
        ----------
        device : {'auto', 'cpu', 'cuda', 'cuda:N'} or torch.device

        Returns
        -------
        self : estimator
            The estimator, with ``device_`` the new device.
        """
        check_is_fitted(self)
        self.device_ = resolve_device(device)
        self.flow_.to(self.device_)
        return self

    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: object.__getstate__ gives __dict__ itself
        if "flow_" in state and self.device_.type != "cpu":
            # Pickles hold CPU tensors so they load on machines without CUDA.
            state["flow_"] = copy.deepcopy(self.flow_).cpu()
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        device = getattr(self, "device_", None)
        if device is None or not hasattr(self, "flow_"):
            return
        if device.type == "cuda" and not torch.cuda.is_available():
            warnings.warn(f"This model was fitted on {device}, which is not available here; "
                          "it was loaded on the CPU.", UserWarning)
            self.device_ = torch.device("cpu")
        self.flow_.to(self.device_)


class JKOFlowDensity(ClassNamePrefixFeaturesOutMixin, DensityMixin, TransformerMixin,
                     _JKOFlowBase):
    """Density estimation with a JKO-iFlow normalizing flow.

    The flow is a chain of neural-ODE blocks ``T_k(x) = x(1)``, ``dx/dt = f_k(x)``
    on ``t ∈ [0, 1]`` (fixed-step RK4). Block k is trained alone, on the data
    pushed through blocks 1..k-1, as one Jordan–Kinderlehrer–Otto step towards
    N(0, I): it minimises ``E[½‖T_k(x)‖² − ∫₀¹ div f_k] + E‖T_k(x) − x‖² / (2 h_k)``
    (Xu, Cheng and Xie, "Normalizing flow neural networks by JKO scheme",
    NeurIPS 2023). Data are standardized internally; every density is a
    density of the original ``X``.

    Parameters
    ----------
    h : float, default=1.0
        Step size h_1 of the first block. The W2 proximal term is weighted by
        ``1 / (2 h_k)``: a smaller h makes each block move less.
    h_growth : float, default=1.4
        Geometric growth of the step size: ``h_k = min(h · h_growth^(k-1), h_max)``.
    h_max : float, default=5.0
        Largest step size.
    n_blocks : int, default=4
        Maximum number of blocks. With early stopping, blocks are added only
        while they improve the validation NLL. Fewer blocks leave the joint
        round (``joint_max_iter='auto'``) more steps for the same cost.
    movement_tol : float or 'auto', default='auto'
        Stop adding blocks once a block's W2 movement is small:
        ``E‖x − T_k(x)‖² / E‖T_k(x)‖² < movement_tol``. 'auto': 0 (never) when
        early stopping is on, since the validation NLL then decides when to
        stop growing; 0.01 without validation data. Resolved into
        ``movement_tol_``. Raise it to stop a fit without validation sooner.
    velocity : {'mlp', 'potential'}, default='mlp'
        The velocity field of each block. 'mlp': JKO-iFlow's autonomous MLP
        f(x) (Softplus), trained with a Hutchinson divergence and scored with
        the exact Jacobian trace. 'potential': OT-Flow's potential network,
        f(x, t) = −∇Φ(x, t) with Φ = wᵀN(x, t) + ½ sᵀAᵀA s + bᵀs + c, N a
        log-cosh ResNet, whose exact divergence has a closed form used for
        training and scoring alike (Vidal et al., JKO-Flow). Its W2 proximal
        term is OT-Flow's kinetic energy E∫‖f‖² dt rather than E‖T(x) − x‖².
    alpha_hjb : float, default=0.0
        Weight of OT-Flow's HJB regularizer E∫|∂ₜΦ − ½‖∇Φ‖²| dt added to each
        block's loss; only with ``velocity='potential'`` (any other velocity
        with ``alpha_hjb > 0`` is an error). Off by default, as in the JKO-Flow
        paper's fixed-α_C scheme; raise it to straighten a potential's paths.
    hidden_sizes : tuple of int, default=(128, 128)
        Hidden layer widths of each block's velocity network. With at most
        two hidden layers the exact divergence has a closed form, so scoring
        costs about a forward pass instead of one backward pass per feature;
        wider or deeper networks fit more detail at a higher cost per step.
        For ``velocity='potential'`` the ResNet has ``max(2, len(hidden_sizes))``
        layers of one width, so the sizes must all be equal.
    n_steps : int or 'auto', default='auto'
        RK4 steps per block: each costs four velocity evaluations, and too
        few make the discrete map depart from the flow it integrates. 'auto':
        3 for ``velocity='mlp'`` (JKO-iFlow's choice) and 8 for
        ``velocity='potential'``, whose time-dependent field needs more for
        its density to integrate to 1. Resolved into ``n_steps_``.
    max_iter : int, default=1000
        Maximum optimizer (Adam) steps per block and round. With early
        stopping a block usually stops sooner, when its validation NLL stops
        improving; one that runs out of steps while still improving warns
        with a ``ConvergenceWarning``.
    batch_size : int, default=1000
        Rows per optimizer step, and per chunk when scoring, transforming or
        sampling on the CPU (which bounds memory). On a GPU those chunks are
        at least this large, and as large as scikit-learn's ``working_memory``
        allows (``sklearn.set_config``): there larger chunks run many times
        faster. The scores do not depend on the chunks.
    learning_rate : float, default=5e-3
        Adam learning rate at the start of each block.
    learning_rate_schedule : {'cosine', 'constant'}, default='cosine'
        'cosine': the rate decays over ``max_iter`` steps to 1 % of
        ``learning_rate`` (restarting with every block and round), so a block
        takes large steps first and settles at the end; 'constant' keeps it.
    training_divergence : {'hutchinson', 'exact'}, default='hutchinson'
        The divergence in the training loss. 'hutchinson': the paper's
        one-probe estimate. 'exact': the Jacobian trace (the closed form of a
        network with at most two hidden layers, else one backward pass per
        feature). Scoring and validation always use the exact trace.
        ``velocity='potential'`` trains on its closed form either way.
    divergence_stages : {'auto', 'sampled', 'all'}, default='auto'
        Where in each RK4 step the training loss (blocks and joint round)
        takes its divergence. 'sampled': at one of the step's four stages,
        drawn at random with the stage's RK4 weight and reweighted (the
        steps' draws spread so that they rarely repeat a stage): an unbiased
        estimate of the RK4 sum whose training step costs markedly less, for
        a noisier gradient. 'all': at every stage, as the papers do.
        'auto': 'sampled' here, 'all' for
        :class:`~skjko.JKOFlowConditionalDensity`, whose conditional fits the
        noisier gradient cost more than its speed gave; resolved into
        ``divergence_stages_``. Scoring is exact either way. The potential with
        ``alpha_hjb > 0`` takes its HJB residual, and with it the divergence, at
        every stage regardless.
    weight_decay : float, default=0.0
        Decoupled (AdamW) weight decay of the velocity network: pulls every
        block towards the identity. 0 is plain Adam.
    noise_std : float or 'auto', default='auto'
        Noise regularization: every training minibatch of every block is
        jittered by N(0, σ² I), σ in the standardized space of the block's
        input, so each block fits a slightly smoothed sample instead of
        memorising the training rows (Rothfuss et al., "Noise regularization
        for conditional density estimation", 2019). Validation and scoring
        use the rows as they are. 'auto': a multiple of Scott's kernel
        bandwidth n^(-1/(d+4)) for the n training rows in d dimensions, more
        noise where the rows are few for their dimension: 0.35 of it when
        early stopping guards the fit, the whole bandwidth when nothing else
        does (no validation split), times 1 / (1 + (n / (1000 d))³), so the
        noise fades out once there are thousands of rows per dimension; but
        never below the step of a column whose values sit on a grid (integer
        codes or counts) and is not dequantized, where the noise stands in for
        the cells. 0 turns it off.
    dequantize : bool, default=True
        Model the rows spread uniformly over their grid cells. A column whose
        values sit on a grid of step δ (integer codes, counts, values rounded
        to a decimal) has no density of its own: a continuous model can peak
        on its grid points as sharply as it likes. With ``dequantize=True``
        each value v of such a column stands for the cell [v − δ/2, v + δ/2),
        the rows are spread uniformly over their cells (each training row four
        times, each validation row once, seeded by ``random_state``), and
        :meth:`score_samples` is the density of that spread: its integral over
        a cell is the probability of the grid value, a value many rows repeat (a point
        mass, such as a missing value coded as 0) becomes a cell that carries
        their share, and at a grid point it is the cell's probability over its
        width. This is how flows are compared on such data. Continuous
        columns are left alone (one of them with a point mass gets a warning);
        the detected steps are in ``grid_steps_``. False fits the grid values
        as they are, smoothed by ``noise_std`` alone: a density whose peaks on
        the grid points depend on the noise level.
    widen_heavy_cells : bool, default=True
        With ``dequantize``, widen each grid cell that holds a large share of
        the rows in a narrow width (a point mass on a grid column, such as a
        missing value coded as 0) inside the flow's input map, by a monotone
        piecewise-linear map of its column (:class:`CellStretch`) whose exact
        log-derivative keeps the model the density of the spread rows. The
        blocks then need not build the cell's tall, narrow peak: held-out
        likelihood improves where such cells are. For anomaly scoring leave it
        off: with it, a row on a heavy cell scores its cell's full probability,
        which ranks rows more by the point masses they sit on than by the rest
        of their values (the default estimator of
        :class:`JKOFlowOutlierDetector` turns it off).
    early_stopping : 'auto' or bool, default='auto'
        Hold out ``validation_fraction`` of the rows and use their exact
        log-likelihood to (i) keep each block's best iterate and stop it after
        ``n_checks_no_change`` checks without improvement, and (ii) stop adding
        blocks after ``n_blocks_no_change`` blocks without improvement,
        keeping the best prefix of blocks. 'auto' enables it whenever the
        split leaves at least 2 validation and 2 training rows; turning it
        off on small data lets the blocks memorise the training rows.
        Resolved into ``early_stopping_``.
    validation_fraction : float, default=0.1
        Fraction of the rows held out when early stopping is on.
    n_checks_no_change : int, default=5
        Validation checks (one every ``validation_interval`` steps) without
        improvement before a block stops, and behind the JKO weights in a row
        before the joint round stops.
    validation_interval : int, default=25
        Optimizer steps between two validation checks.
    n_blocks_no_change : int, default=1
        Blocks without validation improvement before no more are added.
    n_reparam : int, default=0
        Rounds of time reparametrization after the blocks are grown: each
        block's step is rescaled so that every block moves an equal share of
        the total W2 distance, h_k ← (1 − η) h_k + η h_k W̄ / W_k with
        W_k = (E‖T_k(x) − x‖²)^½ and W̄ their mean, then every block is
        retrained from its current weights (with early stopping, a block
        keeps its old weights unless its validation NLL improves). Each round
        costs up to one more pass of training over all blocks; with blocks
        grown until validation stops improving it seldom pays for that, so
        the default runs none.
    eta : float, default=0.5
        Damping η of the reparametrization, in (0, 1]: how far each round
        moves the step sizes toward equal W2 movements. Does nothing at the
        default ``n_reparam=0``.
    n_refine : int, default=0
        Rounds of refinement after reparametrization: every block's time
        interval is split in two (twice the blocks, h_k / 2 each), starting
        from the coarse block's weights, and every block is fine-tuned. Each
        round doubles the blocks, and so the scoring time.
    joint_max_iter : int or 'auto', default='auto'
        Optimizer steps of the closing joint round; 0 skips it. After the JKO
        rounds, every block is trained at once on the training rows' negative
        log-likelihood (as a continuous flow is trained end to end), from the
        blocks' JKO weights, at a fifth of ``learning_rate`` with a warm-up and
        then the blocks' schedule and noise, on the exact divergence where the
        network has a closed form for it. Block-wise training fits each block
        to what the blocks before it left; this round lets them correct one
        another. A step costs about one step of every block, so 'auto' gives
        it ``3.2 * max_iter / n_blocks_`` steps, the cost of 3.2 blocks'
        budgets in all, and runs it only where growth ended at ``n_blocks``
        with every block still gaining on validation: there the flow
        underfits and the round pays, while after growth that validation
        stopped it falls behind the JKO weights. Set an int to run it anyway.
        The round runs only with validation rows: it
        keeps its last iterate when that beats the JKO weights on validation
        NLL, and the JKO weights otherwise; a round behind them at
        ``n_checks_no_change`` validation checks in a row after its warm-up ends
        there (where it overfits, it does not recover).
    whiten : bool, default=False
        After per-feature standardization, decorrelate the features with ZCA
        whitening by a Ledoit–Wolf shrunk covariance, so the flow starts from
        the best full-covariance Gaussian rather than a diagonal one and its
        blocks only model what is not Gaussian. The map is linear; its
        log-determinant enters ``score_samples``. Worth trying on strongly
        correlated continuous features; it can hurt where the correlations
        are not linear.
    warm_start : bool, default=False
        When True, ``fit`` continues from the fitted blocks: it adds blocks up
        to ``n_blocks`` if growing had not stopped on ``movement_tol`` or validation,
        then runs ``n_reparam`` and ``n_refine`` further rounds and the joint
        round. The standardization (and whitening) of the first fit is kept.
    device : {'auto', 'cpu', 'cuda', 'cuda:N'} or torch.device, default='auto'
        Where to train and evaluate; 'auto' picks CUDA when available.
    n_threads : int, None or 'auto', default=1
        CPU threads torch may use while the flow trains; torch's own setting
        is restored afterwards. One thread never waits on another, so a fit
        takes about the same time on a busy machine as on an idle one, and
        the same seed repeats the same model whatever the load. More
        threads train faster on an idle machine, but torch's threads spin
        while they wait for each other and a fit beside busy processes then
        crawls: raise it (an int, or None for ``torch.get_num_threads()``)
        where the cores are yours alone; 'auto' lowers torch's count to the
        CPUs idle just before the fit. Different counts round sums
        differently and give slightly different models; the count used is
        ``n_threads_``. Parallel searches (``GridSearchCV(n_jobs=...)``) use
        the other cores better than threads do.
    mixed_precision : bool or 'auto', default='auto'
        Train with the matrix products of each step in bfloat16
        (``torch.autocast``), about a third less time a step where the hardware
        multiplies bfloat16 natively. Validation, block selection, the kept
        weights and every score stay in full precision, so the density is
        exact for the model kept; only the training gradients are rounder.
        'auto' turns it on for a CPU with native bfloat16 (AVX512-BF16 or
        AMX) and off elsewhere, GPUs included; the choice made is
        ``mixed_precision_``. Set False to train in float32 throughout, True
        to force it (emulated without the hardware, where it gains nothing).
    random_state : int, RandomState instance or None, default=None
        Seeds the network initialisation, minibatches and Hutchinson probes.
        The same value on CPU, with the same ``n_threads_``, gives the same
        model.
    verbose : int, default=0
        1: a progress bar while each block trains and a summary line after
        it; 2: progress bars stay on screen; 0: silent.
    tol : float or 'auto'
        Deprecated since 0.2, removed in 0.4: use ``movement_tol``.
    n_iter_no_change : int
        Deprecated since 0.2, removed in 0.4: use ``n_checks_no_change``.

    Attributes
    ----------
    flow_ : skjko.flow.BlockFlow
        The fitted flow, in float64, on ``device_``: its first layer
        ``flow_.input_map`` (standardization, and whitening with
        ``whiten=True``), then the blocks ``flow_.blocks``.
        ``flow_.log_prob`` of data rows is :meth:`score_samples`.
    n_blocks_ : int
        Number of blocks kept.
    step_sizes_ : list of float
        Step size h_k of each kept block.
    n_iter_ : int
        Optimizer steps taken over all blocks and rounds.
    history_ : list of dict
        One row per block and round (``pandas.DataFrame(history_)`` reads
        it): ``round`` ('grow', 'reparam 1', 'refine 1', ...), ``block``,
        ``h``, ``n_iter``, ``best_iter`` (the iterate kept), the last
        training ``loss`` with its ``kl_loss`` and ``w2_loss`` parts,
        ``val_nll`` (validation NLL of the flow up to this block, standardized
        space; nan without validation), ``w2_movement`` E‖x − T_k(x)‖²,
        ``w2_ratio`` (over E‖T_k(x)‖²), ``seconds`` and ``diverged``.
        :func:`skjko.plot_history` draws it.
    movement_tol_ : float
        The W2-ratio threshold growth used (``movement_tol``, or its 'auto' value).
    n_steps_ : int
        RK4 steps per block (``n_steps``, or its 'auto' value).
    divergence_stages_ : str
        Where the training divergence was taken in each RK4 step
        (``divergence_stages``, or its 'auto' value): 'sampled' or 'all'.
    early_stopping_ : bool
        Whether validation rows were held out (``early_stopping``, or its
        'auto' value for this fit's rows).
    stop_reason_ : str
        Why no more blocks were added: ``'n_blocks'``, ``'movement_tol'``,
        ``'validation'`` (blocks kept up to the best validation NLL),
        ``'diverged'`` or ``'interrupted'`` (KeyboardInterrupt).
    mean_ : ndarray of shape (n_features,)
        Per-feature mean used by the input map's standardization.
    scale_ : ndarray of shape (n_features,)
        Per-feature standard deviation (1 for constant features).
    noise_std_ : float
        The σ the training minibatches were jittered with (``noise_std``, or
        its 'auto' value for this fit).
    grid_steps_ : ndarray of shape (n_features,)
        The width of the cells each column's rows were spread over
        (``dequantize``): the step of a column on a grid, 0 for the columns left
        as they are (continuous ones, or all without ``dequantize``).
    joint_max_iter_ : int
        The joint round's steps (``joint_max_iter``, or its 'auto' value); 0
        when it did not run: for want of validation rows, or under 'auto'
        after a growth that validation stopped.
    whitening_ : ndarray of shape (n_features, n_features) or None
        ZCA whitening matrix applied after standardization (``whiten=True``),
        else None.
    device_ : torch.device
        Where the fitted flow lives.
    n_threads_ : int
        CPU threads the last fit trained with (``n_threads`` resolved).
    mixed_precision_ : bool
        Whether the last fit trained in bfloat16 (``mixed_precision`` resolved).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when X has string column names.

    See Also
    --------
    sklearn.neighbors.KernelDensity : Kernel density estimation.
    sklearn.mixture.GaussianMixture : Gaussian mixture density.

    Notes
    -----
    ``fit`` trains in float32 with denormal floats flushed to zero on the
    calling thread and torch's OpenMP threads (``torch.set_flush_denormal``);
    each thread's setting is restored afterwards. A trained network's inactive
    units make such values, and on x86 each costs a slow microcode path.
    Scoring, ``transform`` and ``sample`` run in float64 and are left as they
    are.

    Examples
    --------
    >>> import numpy as np
    >>> from skjko import JKOFlowDensity
    >>> X = np.random.default_rng(0).normal(size=(200, 2))
    >>> flow = JKOFlowDensity(hidden_sizes=(16,), n_blocks=1, max_iter=20,
    ...                       random_state=0).fit(X)
    >>> flow.score_samples(X[:3]).shape
    (3,)
    """

    # A callback, not data: nothing for a meta-estimator to route to it.
    __metadata_request__fit = {"on_block": metadata_routing.UNUSED}

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None, on_block=None):
        """Train the flow block by block.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data; at least 2 rows.
        y : None
            Ignored; present for API consistency.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights, as repeat counts: the standardization,
            the JKO loss and the validation NLL are weighted means, and rows of
            weight zero are left out. The 'auto' noise level follows the
            effective number of rows (Σw)² / Σw². None weighs every row the same.
        on_block : callable, default=None
            Called as ``on_block(flow, record)`` after every block of every
            round, in the training thread: ``flow`` is the
            :class:`~skjko.flow.BlockFlow` being trained (float32, on the
            training device, its blocks so far; ``copy.deepcopy`` it to keep a
            snapshot, never modify it) and ``record`` the dict that block adds
            to ``history_``. For monitoring: progress, logging, a density after
            each block. Not routed as metadata.

        Returns
        -------
        self : JKOFlowDensity
            The fitted estimator.
        """
        continuing = self.warm_start and hasattr(self, "flow_")
        X = validate_data(self, check_2d(X), dtype=FLOAT_DTYPES, ensure_min_samples=2,
                          reset=not continuing)
        return self._fit_flow(X, sample_weight, n_context=0, continuing=continuing,
                              on_block=on_block)

    def score_samples(self, X):
        """Log-density of each row under the fitted flow.

        The latent Gaussian's log-density at the row's image, plus each block's
        ∫ div f_k along the row's path, plus the log-determinant of the input
        map. The divergence is the exact Jacobian trace (no random probe),
        integrated by the same RK4 steps that move the row, so the result is
        the flow's log-density up to the solver's quadrature error, not a
        stochastic estimate; it does not depend on how rows are batched.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_density : ndarray of shape (n_samples,), dtype float64
            ``log p(x)`` in the space of the original ``X``. Low values flag
            outliers; rows so far out that it would be −inf get the lowest
            float instead.
        """
        check_is_fitted(self)
        X = validate_data(self, check_2d(X), dtype=FLOAT_DTYPES, reset=False)
        return self._log_density(X)

    def score(self, X, y=None, sample_weight=None):
        """Mean log-likelihood of the rows of ``X`` (higher is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights of the mean.

        Returns
        -------
        score : float
            Mean of :meth:`score_samples`, so that ``GridSearchCV`` can pick
            parameters such as ``h`` with no scorer argument.
        """
        return mean_score(self.score_samples(X), sample_weight)

    def transform(self, X):
        """Map data to the latent space, approximately N(0, I) for training-like data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        Z : ndarray of shape (n_samples, n_features)
            Latent codes, with the dtype of ``X`` (float32 or float64).
        """
        check_is_fitted(self)
        X = validate_data(self, check_2d(X), dtype=FLOAT_DTYPES, reset=False)
        return self._in_chunks(self.flow_.transform, X).astype(X.dtype)

    def inverse_transform(self, Z):
        """Map latent codes back to the data space by solving the blocks backwards.

        Parameters
        ----------
        Z : array-like of shape (n_samples, n_features)

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            Data-space points, with the dtype of ``Z`` (float32 or float64).
        """
        check_is_fitted(self)
        Z = check_array(check_2d(Z, "Z"), dtype=FLOAT_DTYPES, input_name="Z")
        if Z.shape[1] != self.n_features_in_:
            raise ValueError(f"Z has {Z.shape[1]} features, but {type(self).__name__} is "
                             f"expecting {self.n_features_in_} features as input.")
        return self._in_chunks(self.flow_.inverse, Z).astype(Z.dtype)

    def sample(self, n_samples=1, random_state=None):
        """Draw samples by pushing N(0, I) draws backwards through the blocks.

        Each RK4 step is inverted to a relative residual of ``SAMPLE_TOLERANCE``
        (1e-4), not to round-off as in :meth:`inverse_transform`: a draw can
        differ from ``inverse_transform`` of the same Gaussian rows in about
        the fourth significant digit, far below the spread of any sample, and
        costs about half the time.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples.
        random_state : int, RandomState instance or None, default=None
            Seeds the Gaussian draws.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features), dtype float64
        """
        check_is_fitted(self)
        check_n_samples(n_samples)
        rng = check_random_state(random_state)
        return self._in_chunks(partial(self.flow_.inverse, tolerance=SAMPLE_TOLERANCE),
                               rng.standard_normal((n_samples, self.n_features_in_)))

    @property
    def _n_features_out(self):
        """Latent dimensions, named ``jkoflowdensity0``, ... by ``get_feature_names_out``."""
        return self.n_features_in_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


def mean_score(scores, sample_weight=None):
    """The (weighted) mean of per-row log-likelihoods ``scores`` (n,), as ``score`` returns it.

    Taken on the scores divided by the largest magnitude among them, then scaled back:
    rows at the floor of ``score_samples`` (the lowest float) would overflow any sum.
    """
    if sample_weight is None:
        weight = np.full(scores.shape[0], 1.0 / scores.shape[0])
    else:
        weight = _check_sample_weight(sample_weight, scores[:, None], dtype=np.float64,
                                      ensure_non_negative=True)
        weight = weight / weight.sum()
    scale = np.abs(scores).max(initial=0.0)
    if not 0 < scale < np.inf:
        scale = 1.0
    # A mean of terms in [-1, 1] lies in [-1, 1]; round-off must not push it past.
    return float(scale * np.clip(np.sum(scores / scale * weight), -1.0, 1.0))


def check_n_samples(n_samples):
    """A ValueError unless ``n_samples`` (draws asked of ``sample``) is a positive integer."""
    if not isinstance(n_samples, Integral) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}.")


def _rows_and_weights(X, sample_weight):
    """The rows to train on and their weights: None when all are equal.

    Rows of weight zero are dropped, so they change nothing; equal weights
    train exactly as no weights.
    """
    if sample_weight is None:
        return X, None
    weight = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
    kept = weight > 0
    if kept.sum() < 2:
        raise ValueError(f"sample_weight must leave at least 2 rows of positive weight; "
                         f"got {int(kept.sum())}.")
    X, weight = X[kept], weight[kept]
    if np.all(weight == weight[0]):
        return X, None
    return X, weight / weight.mean()


def check_2d(X, input_name="X"):
    """``X`` unchanged, or a ValueError with its shape when it is not 2-D.

    scikit-learn's own messages print the whole 1-D array, or only the number
    of axes of a 3-D one; the shape and what to do about it help more.
    """
    try:
        shape = tuple(getattr(X, "shape", None) or np.shape(X))
    except (ValueError, TypeError):  # ragged lists, array-likes: check_array explains those
        return X
    if len(shape) == 2:
        return X
    expected = (f"{input_name} has shape {shape}, but a 2-D array of shape (n_samples, "
                "n_features) is expected")
    if len(shape) > 2:
        raise ValueError(f"{expected}; flatten the trailing axes first, e.g. "
                         f"{input_name}.reshape(len({input_name}), -1).")
    raise ValueError(f"{expected}. Reshape your data: {input_name}.reshape(-1, 1) for a "
                     f"single feature or {input_name}.reshape(1, -1) for a single row.")
