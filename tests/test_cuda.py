"""The estimator on a real GPU: these run only where CUDA is (the device tool's machine,
benchmarks/RESULTS.md says when they last ran); everywhere else they are reported as
skipped, with the reason. The no-CUDA paths (errors, pickles moving to the CPU) are tested
in test_estimator.py."""

import copy
import pickle

import numpy as np
import pytest
import sklearn
import torch

from skjko import JKOFlowDensity, JKOFlowOutlierDetector

from test_estimator import FAST, data  # noqa: F401  (data: the same rows as there)

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="needs a CUDA device (run on the device tool's machine)")

ON_GPU = dict(FAST, device="cuda")


@pytest.fixture(scope="module")
def fitted(data):
    return JKOFlowDensity(random_state=0, **ON_GPU).fit(data[0])


def test_fit_trains_and_keeps_the_flow_on_the_gpu(fitted):
    assert fitted.device_.type == "cuda"
    assert all(p.device.type == "cuda" for p in fitted.flow_.parameters())
    assert all(np.isfinite(r["loss"]) for r in fitted.history_)


def test_scores_on_the_gpu_match_the_same_flow_on_the_cpu(fitted, data):
    on_cpu = copy.deepcopy(fitted).to("cpu")
    np.testing.assert_allclose(fitted.score_samples(data[1]), on_cpu.score_samples(data[1]),
                               rtol=0, atol=1e-9)


def test_gpu_scores_do_not_depend_on_the_chunk_size(fitted, data):
    in_one_chunk = fitted.score_samples(data[1])
    small = copy.deepcopy(fitted).set_params(batch_size=7)
    with sklearn.config_context(working_memory=1):  # chunks of about a hundred rows
        assert small._chunk_rows(*data[1].shape) < len(data[1]) / 4
        chunked = small.score_samples(data[1])
    np.testing.assert_allclose(chunked, in_one_chunk, rtol=0, atol=1e-12)


def test_round_trip_and_sampling_on_the_gpu(fitted, data):
    Z = fitted.transform(data[1])
    np.testing.assert_allclose(fitted.inverse_transform(Z), data[1], atol=1e-6)
    samples = fitted.sample(500, random_state=0)
    assert samples.shape == (500, 2) and np.isfinite(samples).all()
    np.testing.assert_array_equal(samples, fitted.sample(500, random_state=0))


def test_a_gpu_model_pickles_and_scores_the_same(fitted, data):
    loaded = pickle.loads(pickle.dumps(fitted))
    assert loaded.device_.type == "cuda"
    np.testing.assert_array_equal(loaded.score_samples(data[1]), fitted.score_samples(data[1]))


def test_gpu_fit_with_the_same_seed_is_reproducible(fitted, data):
    again = JKOFlowDensity(random_state=0, **ON_GPU).fit(data[0])
    np.testing.assert_allclose(again.score_samples(data[1]), fitted.score_samples(data[1]),
                               rtol=0, atol=1e-6)


def test_outlier_detector_on_the_gpu(data):
    detector = JKOFlowOutlierDetector(JKOFlowDensity(random_state=0, **ON_GPU),
                                      contamination=0.05)
    labels = detector.fit(data[0]).predict(np.vstack([data[1][:50], [[60.0, 60.0]]]))
    assert labels[-1] == -1


def test_auto_trains_in_float32_on_the_gpu_and_true_in_bfloat16(fitted, data):
    assert fitted.mixed_precision_ is False  # 'auto': a GPU step is bound by launches
    rounded = JKOFlowDensity(random_state=0, mixed_precision=True, **ON_GPU).fit(data[0])
    assert rounded.mixed_precision_ is True
    assert np.all(np.isfinite(rounded.score_samples(data[1])))
