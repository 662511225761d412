"""The benchmark suite behind ``python -m benchmarks run``: one module per part.

The suite's parts (run by default): :mod:`.density` (test NLL against peers),
:mod:`.conditional` (conditional densities), :mod:`.anomaly` (ODDS ROC AUC),
:mod:`.speed` (scoring throughput and profile), :mod:`.training` (the cost of one
training iteration), :mod:`.memory`, :mod:`.scaling` (time against n and d) and
:mod:`.threads`. The studies (run when named): :mod:`.defaults`,
:mod:`.small_data`, :mod:`.parallel`, :mod:`.divergence`, :mod:`.velocity`,
:mod:`.procedure`, :mod:`.device` (the defaults on a GPU) and :mod:`.older_code` (a
training iteration against an older commit's). Each module's ``run(settings,
data_dir)`` returns its result;
:mod:`.config` holds every part's settings in the three suites (smoke, quick,
full); :mod:`.report` turns results into JSON, markdown, PNGs and the standing;
:mod:`.peers` holds the baselines.
"""
