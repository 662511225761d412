"""Training speed by thread count beside busy processes: the measurement behind ``n_threads``.

For each number of busy neighbours (single-threaded torch processes that
multiply matrices without pause) and each data dimension, one fit of the
default network (batch 1000, one block, no validation) is timed per setting
of ``n_threads`` (1, 2, 'auto'), each in a fresh interpreter, after a short
warm-up fit. ``2 passive`` is two threads with ``OMP_WAIT_POLICY=PASSIVE``
(OpenMP reads it when it starts, so only the environment can set it). The
figure is milliseconds per optimizer step; run it on an otherwise idle machine:

    python -m benchmarks run --suite full --parts threads --out benchmarks/results
"""

import json
import os
import subprocess
import sys
import time

FIT = r'''
import json, sys, time
import numpy as np
from skjko import JKOFlowDensity
n_threads = sys.argv[1] if sys.argv[1] == "auto" else int(sys.argv[1])
d, steps = int(sys.argv[2]), int(sys.argv[3])
X = np.random.default_rng(0).normal(size=(5000, d))
params = dict(n_blocks=1, early_stopping=False, n_threads=n_threads, random_state=0)
JKOFlowDensity(max_iter=5, **params).fit(X)  # warm-up
start = time.perf_counter()
model = JKOFlowDensity(max_iter=steps, **params).fit(X)
print(json.dumps(dict(ms=(time.perf_counter() - start) / model.n_iter_ * 1000,
                      n_threads_=model.n_threads_)))
'''

BUSY = r'''
import torch
torch.set_num_threads(1)
a = torch.randn(256, 256)
while True:
    a = torch.tanh(a @ a)
'''

SETTINGS = (("1", None), ("2", None), ("2", "PASSIVE"), ("auto", None))


def time_setting(n_threads, wait_policy, d, n_busy, steps):
    env = {key: value for key, value in os.environ.items() if key != "OMP_NUM_THREADS"}
    if wait_policy:
        env["OMP_WAIT_POLICY"] = wait_policy
    neighbours = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(n_busy)]
    try:
        time.sleep(2 if n_busy else 0)  # let the neighbours get going
        out = subprocess.run([sys.executable, "-c", FIT, n_threads, str(d), str(steps)],
                             env=env, capture_output=True, text=True, timeout=1800, check=True)
    finally:
        for process in neighbours:
            process.kill()
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return dict(busy=n_busy, d=d, n_threads=n_threads, wait_policy=wait_policy or "default",
                n_threads_=result["n_threads_"], ms_per_step=round(result["ms"], 1))


def run(settings, data_dir=None):
    """Every setting beside 0, 1, ... busy neighbours; one row each."""
    rows = []
    for n_busy in settings["busy"]:
        for d in settings["dims"]:
            for n_threads, wait_policy in SETTINGS:
                # Two spinning threads beside busy cores take seconds per step: time fewer.
                crawls = n_busy and n_threads == "2" and not wait_policy
                steps = max(settings["steps"] // 4, 5) if crawls else settings["steps"]
                row = time_setting(n_threads, wait_policy, d, n_busy, steps)
                print(f"  threads: {row}", flush=True)
                rows.append(row)
    return rows
