"""Pieces shared by the benchmark scripts: data loading and the machine description."""

import os
import platform
from pathlib import Path

import numpy as np
import torch

from .toys import TOYS, sample_toy


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


def input_rows(model, X):
    """Rows of ``X`` through a fitted ``JKOFlowDensity``'s input map: what its blocks see."""
    input_map = model.flow_.input_map
    with torch.no_grad():
        return input_map(torch.tensor(X, dtype=torch.float64, device=input_map.mean.device)
                         )[0].cpu().numpy()


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
