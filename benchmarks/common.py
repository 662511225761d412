"""Pieces shared by the benchmark scripts and the suite: data loading, the one standardizer
and the machine description."""

import os
import platform
import subprocess
import time
from pathlib import Path

import numpy as np
import scipy.io
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from skjko.dequantize import dequantized, grid_steps

from .toys import TOYS, sample_toy

#: The eight ODDS sets of ../shared/data/odds.
ODDS_SETS = ("cardio", "letter", "pendigits", "pima", "satellite", "shuttle", "vowels", "wbc")


def standardizer(X):
    """Per-column mean and std of ``X`` (std 1 for constant columns)."""
    mean, scale = X.mean(axis=0), X.std(axis=0)
    scale[scale == 0] = 1.0
    return mean, scale


def load_dataset(name, data_dir, run):
    """Training and test rows (float64) of one data set.

    MINIBOONE trains on ``val.npy`` and tests on ``test.npy`` (the training split
    is not in ../shared/data); toys draw ``run["n_train"]`` and ``run["n_test"]``
    rows from fixed seeds.
    """
    if name == "miniboone":
        train = np.load(Path(data_dir) / "miniboone" / "val.npy")
        test = np.load(Path(data_dir) / "miniboone" / "test.npy")
        if "n_train" in run:  # --quick
            train, test = train[:run["n_train"]], test[:run["n_test"]]
        return train.astype(np.float64), test.astype(np.float64)
    index = TOYS.index(name)
    train = sample_toy(name, run["n_train"], np.random.default_rng([0, index]))
    test = sample_toy(name, run["n_test"], np.random.default_rng([1, index]))
    return train, test


def timed(fit):
    """``fit()`` returns (model, info); this returns (model, info, its wall seconds)."""
    start = time.perf_counter()
    model, info = fit()
    return model, info, time.perf_counter() - start


def load_odds(data_dir, name):
    """X (float64) and y (1 = outlier) of one ODDS set."""
    mat = scipy.io.loadmat(Path(data_dir) / "odds" / f"{name}.mat")
    return mat["X"].astype(np.float64), mat["y"].ravel().astype(int)


def dequantized_pair(X_train, X_test, seed=0):
    """Training and test rows spread over the grid cells of the training rows' grid columns.

    Each column on a grid of step d (:func:`skjko.dequantize.grid_steps` of the training
    rows) gets uniform noise over [v - d/2, v + d/2), as ``JKOFlowDensity(dequantize=True)``
    spreads its rows, so that repeated values are no longer atoms on which a model can put
    an unbounded density (Theis et al., 2016). The same noise for every model.
    """
    steps = grid_steps(X_train)
    rng = np.random.default_rng(seed)
    return dequantized(X_train, steps, rng), dequantized(X_test, steps, rng)


def odds_inliers(data_dir, name, seed=0, dequantize=False):
    """Normal rows of an ODDS set, split 60/40 and standardized with the training part
    (then spread over their grid cells with ``dequantize``: :func:`dequantized_pair`)."""
    X, y = load_odds(data_dir, name)
    train, test = train_test_split(X[y == 0], test_size=0.4, random_state=seed)
    mean, std = standardizer(train)
    train, test = (train - mean) / std, (test - mean) / std
    return dequantized_pair(train, test, seed) if dequantize else (train, test)


def load_digits_density(seed=0):
    """``load_digits`` as a continuous density problem.

    Pixels (integers 0–16) get uniform noise U[0, 1) (``default_rng(seed)``),
    rows are split 80/20 (``train_test_split(random_state=seed)``, 1437 / 360
    rows), and both parts are standardized with the training part's per-pixel
    mean and std. NLLs are densities of these standardized dequantized rows.
    """
    X = load_digits().data.astype(np.float64)
    X = X + np.random.default_rng(seed).random(X.shape)
    train, test = train_test_split(X, test_size=0.2, random_state=seed)
    mean, std = standardizer(train)
    return (train - mean) / std, (test - mean) / std


def load_any(name, data_dir, n_toy, dequantize=False):
    """Training and test rows of a toy (``n_toy`` rows each), MINIBOONE, digits or ODDS inliers
    (their grid columns spread over their cells with ``dequantize``)."""
    if name == "digits":
        return load_digits_density()
    if name in ODDS_SETS:
        return odds_inliers(data_dir, name, dequantize=dequantize)
    return load_dataset(name, data_dir, dict(n_train=n_toy, n_test=n_toy))


def grid_mass(model, X, n_grid=201, margin=3.0):
    """∫ exp(score_samples) over a box around 2-D data X (trapezoid rule).

    A proper density gives about 1 (a little less: its tails outside the box).
    More means the flow's integrated divergence overstates its map's volume
    change, which its NLL cannot show (too few RK4 steps, say).
    """
    xs, ys, grid = box_grid(X, n_grid, margin)
    return trapezoid_mass(xs, ys, np.exp(model.score_samples(grid)).reshape(n_grid, n_grid))


def trapezoid_mass(xs, ys, density):
    """∫ of ``density`` (len(ys), len(xs)), given on the grid of axes ``xs``, ``ys``
    (:func:`box_grid`), by the trapezoid rule."""
    return np.trapezoid(np.trapezoid(density, xs, axis=1), ys)


def box_grid(X, n_grid, margin):
    """The axes ``xs``, ``ys`` of a square grid over the box around 2-D data X (``margin``
    added on every side) and its points, shape (n_grid², 2), ``ys`` varying slowest."""
    lo, hi = X.min(axis=0) - margin, X.max(axis=0) + margin
    xs, ys = (np.linspace(lo[i], hi[i], n_grid) for i in range(2))
    return xs, ys, np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)


def input_rows(model, X):
    """Rows of ``X`` through a fitted ``JKOFlowDensity``'s input map: what its blocks see."""
    return input_rows_and_log_det(model, X)[0]


def input_rows_and_log_det(model, X):
    """:func:`input_rows` and the input map's log-det of each row, as NumPy arrays."""
    input_map = model.flow_.input_map
    with torch.no_grad():
        U, log_det = input_map(torch.tensor(X, dtype=torch.float64,
                                            device=input_map.mean.device))
    return U.cpu().numpy(), log_det.cpu().numpy()


def machine_info():
    """CPU model, core count and library versions, for RESULTS.md."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return dict(cpu=cpu, logical_cpus=os.cpu_count(), torch=torch.__version__,
                threads=torch.get_num_threads(), python=platform.python_version(),
                numpy=np.__version__)


def code_version():
    """``git describe`` of the checkout the benchmark runs from ('unknown' outside git)."""
    try:
        return subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True,
                              text=True, cwd=Path(__file__).parent, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def pyplot():
    """matplotlib.pyplot on the file-only Agg backend (figures are saved, never shown)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def utc_now():
    """The time a run finished, as the results' headers record it (sorts as text)."""
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
