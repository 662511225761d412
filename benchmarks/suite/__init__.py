"""The benchmark suite behind ``python -m benchmarks run``.

Parts: :mod:`.density` (test NLL against peers), :mod:`.anomaly` (ODDS ROC AUC),
:mod:`.speed` (scoring throughput, profile, peak memory) and :mod:`.scaling`
(time against n and d). :mod:`.config` holds every setting of the three suites
(smoke, quick, full); :mod:`.report` turns results into JSON, markdown and PNGs.
"""
