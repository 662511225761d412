"""Grid searches run in parallel: joblib processes and a dask cluster give the serial results,
with one torch thread per worker so that parallel fits do not oversubscribe the cores."""

import distributed
import joblib
import numpy as np
import pytest
from sklearn.datasets import make_moons
from sklearn.model_selection import GridSearchCV

from skjko import JKOFlowDensity

GRID = {"h": [0.25, 1.0, 4.0]}


def torch_threads(_):
    import torch

    return torch.get_num_threads()


@pytest.fixture(scope="module")
def moons():
    return make_moons(300, noise=0.1, random_state=0)[0]


def search(moons, n_jobs):
    flow = JKOFlowDensity(hidden_sizes=(16, 16), n_blocks=1, n_steps=2, max_iter=20,
                          n_reparam=0, device="cpu", random_state=0)
    return GridSearchCV(flow, GRID, cv=2, n_jobs=n_jobs).fit(moons).cv_results_


@pytest.fixture(scope="module")
def serial(moons):
    return search(moons, n_jobs=1)


def test_loky_workers_use_one_torch_thread_and_match_the_serial_search(moons, serial):
    assert joblib.Parallel(n_jobs=2)(joblib.delayed(torch_threads)(i) for i in range(2)) == [1, 1]
    np.testing.assert_allclose(search(moons, n_jobs=2)["mean_test_score"],
                               serial["mean_test_score"], rtol=1e-10)


def test_dask_cluster_runs_the_search_like_the_serial_one(moons, serial):
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        assert set(client.run(torch_threads, 0).values()) == {1}  # dask's nanny sets OMP 1
        with joblib.parallel_config(backend="dask"):
            results = search(moons, n_jobs=-1)
    np.testing.assert_allclose(results["mean_test_score"], serial["mean_test_score"],
                               rtol=1e-10)
