"""Peak memory (max RSS) of ``fit`` and of ``score_samples`` at d = 43, each in a fresh process.

The parent (:func:`run`) starts ``python -m benchmarks.suite.memory fit|score ...``
once per measurement, so one measurement's high-water mark never leaks into the
next. The child prints one JSON line: the RSS before the measured call (after
imports, data and, for ``score``, the unpickled model) and the peak RSS
(``VmHWM``) after it, both in MiB. ``score`` scores ``n_score`` rows in one call; skjko chunks
them by ``batch_size`` (1000) internally.
"""

import argparse
import json
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _status_mib(field):
    """A ``/proc/self/status`` memory field (``VmRSS``, ``VmHWM``) in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _rss_mib():
    return _status_mib("VmRSS")


def _peak_mib():
    """Peak RSS of this process image: ``VmHWM``.

    Not ``ru_maxrss``: that one keeps the high-water mark of the parent's
    address space copied at fork time, so a child started by a big parent
    (the suite after its density part: about 900 MiB) reported the parent's
    size. ``VmHWM`` belongs to the address space that ``exec`` creates.
    """
    return _status_mib("VmHWM")


def child(argv=None):
    """One measurement in this (fresh) process; prints a JSON line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=("fit", "score"))
    parser.add_argument("--d", type=int, default=43)
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--fit-iter", type=int, default=20)
    parser.add_argument("--model", default=None, help="pickled model (score only)")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    from .speed import fit_brief, synthetic

    if args.what == "fit":
        from skjko import JKOFlowDensity

        from .config import SPEED_JKO

        X = synthetic(args.n, args.d)
        model = JKOFlowDensity(**SPEED_JKO, max_iter=args.fit_iter, random_state=0)
        call = lambda: model.fit(X)  # noqa: E731
    else:
        model = pickle.loads(Path(args.model).read_bytes()) if args.model else fit_brief(
            args.d, 1000, args.fit_iter)
        # Rows built in chunks so the input array is the only n × d copy made here.
        X = np.empty((args.n, args.d))
        for s in range(0, args.n, 100_000):
            X[s:s + 100_000] = synthetic(min(100_000, args.n - s), args.d, seed=1 + s)
        call = lambda: model.score_samples(X)  # noqa: E731
    before = _rss_mib()
    start = time.perf_counter()
    call()
    seconds = time.perf_counter() - start
    print(json.dumps(dict(what=args.what, d=args.d, n=args.n, rss_before_mib=before,
                          peak_mib=_peak_mib(), seconds=seconds,
                          input_mib=X.nbytes / 2**20)))


def measure(what, n, d, fit_iter, model_path=None):
    """Run one child process; its JSON result."""
    command = [sys.executable, "-m", "benchmarks.suite.memory", what, "--d", str(d), "--n",
               str(n), "--fit-iter", str(fit_iter)]
    if model_path:
        command += ["--model", str(model_path)]
    out = subprocess.run(command, check=True, capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[2]).stdout
    result = json.loads(out.strip().splitlines()[-1])
    print(f"memory {what}: n={n}, d={d}: RSS before {result['rss_before_mib']:.0f} MiB, "
          f"peak {result['peak_mib']:.0f} MiB, {result['seconds']:.1f} s", flush=True)
    return result


def run(settings, data_dir=None):
    """Peak RSS of a brief fit and of scoring each of ``n_score`` row counts with its model."""
    from .speed import fit_brief

    d, fit_iter = settings["d"], settings["fit_iter"]
    fit = measure("fit", settings["n_fit"], d, fit_iter)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.pkl"
        path.write_bytes(pickle.dumps(fit_brief(d, settings["n_fit"], fit_iter)))
        score = [measure("score", n, d, fit_iter, path) for n in settings["n_score"]]
    return dict(fit=fit, score=score)


if __name__ == "__main__":
    child()
