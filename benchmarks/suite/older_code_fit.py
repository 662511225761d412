"""The child process of :mod:`.older_code`: one fit by the ``skjko`` of a given tree.

``python -m benchmarks.suite.older_code_fit TREE STEPS THREADS DATA_DIR`` prints
one JSON line (the fit's seconds, the block's iterations). Nothing here may
import ``skjko`` before ``TREE`` is first on the path.
"""

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch


def main(tree, steps, threads, data_dir):
    """Fit ``tree``'s defaults on MINIBOONE for ``steps`` steps; print seconds, iterations."""
    sys.path.insert(0, str(tree))
    import skjko
    if not Path(skjko.__file__).resolve().is_relative_to(Path(tree).resolve()):
        raise RuntimeError(f"imported {skjko.__file__}, not the tree {tree}")
    torch.set_num_threads(threads)
    X = np.load(Path(data_dir) / "miniboone" / "val.npy")
    flow = skjko.JKOFlowDensity()
    params = dict(n_blocks=1, max_iter=steps, n_reparam=0, random_state=0)
    # Only this checkout's code has these; the older code has no joint round.
    params.update({k: v for k, v in dict(joint_max_iter=0, n_threads=threads).items()
                   if k in flow.get_params()})
    flow.set_params(**params)
    start = time.perf_counter()
    flow.fit(X)
    seconds = time.perf_counter() - start
    print(json.dumps(dict(seconds=seconds, n_iter=int(np.sum(flow.n_iter_)))))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
