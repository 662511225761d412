"""Fit, score and sample on a GPU: the defaults end to end on ``device``, timed.

For each data set, ``JKOFlowDensity`` with its defaults (plus ``random_state=0``
and ``device``) is fitted on the training rows, then timed on the test rows:
``score_samples`` in the estimator's own chunks and in chunks of each
``score_chunks`` size, ``transform``, ``inverse_transform`` of those codes and
``sample`` of as many rows. Beside the times, the checks that moving the work
to a GPU costs no exactness: the round trip's largest error, and the largest
difference between the scores on the device and the same model's scores on
the CPU (``cpu_rows`` rows). Last, the training part's per-iteration timing
(``training.measure``) at each of ``training["dims"]`` on the same device.

Run it where a GPU is (the results are only about that machine):

    python -m benchmarks run --suite full --parts device --data-dir DIR --out DIR

``--set device=cpu`` runs the same on the CPU.
"""

import copy
import time

import numpy as np
import sklearn
import torch

from skjko import JKOFlowDensity

from ..common import load_any
from . import training


def _timed(function, device):
    """(``function()``'s result, its wall seconds once the device has finished)."""
    training.synchronize(device)
    start = time.perf_counter()
    result = function()
    training.synchronize(device)
    return result, time.perf_counter() - start


def _scoring_rates(model, X, chunk_sizes, device):
    """Rows per second of ``score_samples(X)`` in chunks of each of ``chunk_sizes`` rows.

    A chunk is at least ``batch_size`` rows, and on a GPU as many as
    ``working_memory`` holds: with ``working_memory`` at its least, the chunk is
    ``batch_size``, whatever the device.
    """
    rates, fitted = {}, model.batch_size
    try:
        with sklearn.config_context(working_memory=1):
            for chunk in chunk_sizes:
                model.batch_size = chunk
                rates[str(chunk)] = len(X) / _timed(lambda: model.score_samples(X), device)[1]
    finally:
        model.batch_size = fitted
    return rates


def measure(name, settings, data_dir):
    """One data set's fit, scoring, sampling and exactness figures on ``settings['device']``."""
    device = torch.device(settings["device"])
    X, X_test = load_any(name, data_dir, settings["n_toy"])
    model = JKOFlowDensity(**dict(settings["jko"], device=device, random_state=0))
    _, fit_seconds = _timed(lambda: model.fit(X), device)
    scores, score_seconds = _timed(lambda: model.score_samples(X_test), device)
    Z, transform_seconds = _timed(lambda: model.transform(X_test), device)
    X_back, inverse_seconds = _timed(lambda: model.inverse_transform(Z), device)
    _, sample_seconds = _timed(lambda: model.sample(len(X_test), random_state=0), device)
    on_cpu = copy.deepcopy(model).to("cpu")
    rows = slice(0, settings["cpu_rows"])
    n = len(X_test)
    row = dict(dataset=name, device=str(model.device_), n_train=len(X), n_test=n,
               d=X.shape[1], nll=-float(np.mean(scores)), fit_seconds=fit_seconds,
               n_blocks=model.n_blocks_, n_iter=model.n_iter_, stop_reason=model.stop_reason_,
               score_rows_per_s=n / score_seconds, transform_rows_per_s=n / transform_seconds,
               inverse_rows_per_s=n / inverse_seconds, sample_rows_per_s=n / sample_seconds,
               score_rows_per_s_by_chunk=_scoring_rates(model, X_test, settings["score_chunks"],
                                                        device),
               round_trip_error=float(np.max(np.abs(X_back - X_test))),
               cpu_score_difference=float(np.max(np.abs(
                   on_cpu.score_samples(X_test[rows]) - scores[rows]))))
    print(f"  device {name}: " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else
                                           f"{k} {v}" for k, v in row.items()), flush=True)
    return row


def run(settings, data_dir=None):
    """The data sets' end-to-end rows, then the training iteration's parts, on one device."""
    return dict(fits=[measure(name, settings, data_dir) for name in settings["datasets"]],
                training=training.run(dict(settings["training"], device=settings["device"])),
                gpu=torch.cuda.get_device_name() if torch.cuda.is_available() else None)


def table(result):
    fits = result["fits"]
    chunks = list(dict.fromkeys(c for r in fits for c in r["score_rows_per_s_by_chunk"]))
    lines = [f"The defaults (plus random_state=0) fitted and used on {fits[0]['device']}"
             f" ({result['gpu'] or 'no GPU'}); rows per second on the test rows:", "",
             "| data set | n train | d | test NLL | fit s | blocks | iterations | stop | "
             "score rows/s | transform rows/s | inverse rows/s | sample rows/s | "
             + " | ".join(f"score rows/s, chunk {c}" for c in chunks) +
             " | round-trip error | largest score difference to the CPU |",
             "|" + "---|" * (14 + len(chunks))]
    lines += [f"| {r['dataset']} | {r['n_train']} | {r['d']} | {r['nll']:.4f} | "
              f"{r['fit_seconds']:.1f} | {r['n_blocks']} | {r['n_iter']} | {r['stop_reason']} | "
              f"{r['score_rows_per_s']:.0f} | {r['transform_rows_per_s']:.0f} | "
              f"{r['inverse_rows_per_s']:.0f} | {r['sample_rows_per_s']:.0f} | "
              + " | ".join(f"{r['score_rows_per_s_by_chunk'].get(c, float('nan')):.0f}"
                           for c in chunks) +
              f" | {r['round_trip_error']:.1e} | {r['cpu_score_difference']:.1e} |"
              for r in fits]
    return "\n".join(lines + ["", training.table(result["training"])])
