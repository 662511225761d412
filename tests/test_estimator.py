import copy
import pickle

import joblib
import numpy as np
import pandas as pd
import pytest
import sklearn
import torch
from sklearn.base import clone
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from benchmarks.common import grid_mass

from skjko import JKOFlowDensity

FAST = dict(hidden_sizes=(32, 32), n_blocks=2, n_reparam=0, n_steps=2, max_iter=150,
            batch_size=256, learning_rate=5e-3, device="cpu")


def two_blob_mixture(n, seed):
    rng = np.random.default_rng(seed)
    centers = np.array([[-2.0, 0.0], [2.0, 1.0]])
    labels = rng.integers(0, 2, n)
    return centers[labels] + rng.normal(scale=[0.5, 0.3], size=(n, 2)) + [10.0, -5.0]


@pytest.fixture(scope="module")
def data():
    return two_blob_mixture(600, 0), two_blob_mixture(600, 1)


@pytest.fixture(scope="module")
def fitted(data):
    return JKOFlowDensity(random_state=0, **FAST).fit(data[0])


def test_fitted_attributes(fitted):
    *blocks, joint = fitted.history_  # a row per block, then the joint round's
    assert fitted.n_blocks_ == len(fitted.flow_.blocks) == len(blocks) >= 1
    assert joint["round"] == "joint 1" and joint["n_iter"] == fitted.joint_max_iter_ > 0
    assert fitted.n_features_in_ == 2 and fitted.device_ == torch.device("cpu")
    assert fitted.n_iter_ == sum(r["n_iter"] for r in fitted.history_)
    assert fitted.stop_reason_ in {"movement_tol", "n_blocks"}
    for record in fitted.history_:
        assert set(record) >= {"h", "n_iter", "loss", "w2_movement", "seconds"}
        assert np.isfinite(record["loss"])
    assert all(record["w2_movement"] > 0 for record in blocks)


def test_density_integrates_to_one(fitted, data):
    assert grid_mass(fitted, data[0]) == pytest.approx(1.0, abs=0.02)


def input_map(model, X):
    """The fitted input map's output (standardized, whitened rows) as an ndarray."""
    with torch.no_grad():
        return model.flow_.input_map(torch.tensor(X, dtype=torch.float64))[0].numpy()


def test_whitening_is_part_of_the_density(data):
    X = data[0] @ np.array([[1.0, 0.9], [0.0, 0.3]])  # strongly correlated features
    model = JKOFlowDensity(whiten=True, random_state=0, **FAST).fit(X)
    assert model.whitening_.shape == (2, 2)
    correlation = np.corrcoef(X, rowvar=False)[0, 1]
    whitened_correlation = np.corrcoef(input_map(model, X), rowvar=False)[0, 1]
    assert abs(whitened_correlation) < 0.5 * abs(correlation)  # shrinkage keeps a little
    assert grid_mass(model, X) == pytest.approx(1.0, abs=0.02)
    np.testing.assert_allclose(model.inverse_transform(model.transform(X)), X, atol=1e-6)


def test_beats_a_single_gaussian_on_held_out_data(fitted, data):
    X_train, X_test = data
    gaussian = GaussianMixture(n_components=1).fit(X_train)
    assert fitted.score(X_test) > gaussian.score(X_test) + 0.3


def test_transform_inverse_transform_round_trip(fitted, data):
    X = data[1]
    Z = fitted.transform(X)
    assert np.abs(Z - input_map(fitted, X)).max() > 0.1  # the flow moves points
    np.testing.assert_allclose(fitted.inverse_transform(Z), X, rtol=1e-3, atol=1e-3 * np.abs(X).max())


def test_latent_codes_are_roughly_standard_normal(fitted, data):
    Z = fitted.transform(data[1])
    assert np.all(np.abs(Z.mean(axis=0)) < 0.25)
    assert np.all(np.abs(Z.std(axis=0) - 1) < 0.25)


def test_dtypes(fitted, data):
    X32 = data[1].astype(np.float32)
    assert fitted.transform(X32).dtype == np.float32
    assert fitted.inverse_transform(fitted.transform(X32)).dtype == np.float32
    assert fitted.score_samples(X32).dtype == np.float64
    assert fitted.sample(5, random_state=0).dtype == np.float64


def test_sample_matches_the_data(fitted, data):
    samples = fitted.sample(2000, random_state=0)
    assert samples.shape == (2000, 2)
    np.testing.assert_allclose(samples.mean(axis=0), data[0].mean(axis=0), atol=0.3)
    np.testing.assert_allclose(samples.std(axis=0), data[0].std(axis=0), rtol=0.15)
    np.testing.assert_array_equal(samples, fitted.sample(2000, random_state=0))
    assert not np.array_equal(samples, fitted.sample(2000, random_state=1))


def test_samples_are_the_inverse_of_gaussian_draws_to_the_sample_tolerance(fitted):
    """sample stops each inverted RK4 step at a 1e-4 residual; inverse_transform at round-off."""
    from sklearn.utils import check_random_state

    draws = check_random_state(0).standard_normal((500, 2))
    samples, exact = fitted.sample(500, random_state=0), fitted.inverse_transform(draws)
    np.testing.assert_allclose(samples, exact, rtol=0, atol=1e-3 * np.abs(exact).max())
    np.testing.assert_allclose(fitted.transform(exact), draws, rtol=1e-9, atol=1e-9)


def test_score_is_the_mean_log_likelihood(fitted, data):
    assert fitted.score(data[1]) == pytest.approx(fitted.score_samples(data[1]).mean())


def test_scores_do_not_depend_on_the_batch(data):
    model = JKOFlowDensity(random_state=0, **{**FAST, "max_iter": 20}).fit(data[0])
    whole = model.score_samples(data[1])
    model.set_params(batch_size=7)
    np.testing.assert_allclose(model.score_samples(data[1]), whole, rtol=1e-12)
    np.testing.assert_allclose([model.score_samples(row[None])[0] for row in data[1][:20]],
                               whole[:20], rtol=1e-12)


def test_on_block_sees_the_flow_after_every_block(data):
    """fit's callback: one call per history row, the flow as it stands, the same model."""
    seen = []

    def snapshot(flow, record):
        seen.append((len(flow), record["round"], copy.deepcopy(flow).double()))

    params = dict(random_state=0, **{**FAST, "max_iter": 20, "joint_max_iter": 20})
    model = JKOFlowDensity(**params).fit(data[0], on_block=snapshot)
    assert [rounds for _, rounds, _ in seen] == [row["round"] for row in model.history_]
    assert [n for n, _, _ in seen[:2]] == [1, 2]  # the grow round adds one block per call
    torch.testing.assert_close(seen[-1][2].blocks.state_dict(), model.flow_.blocks.state_dict())
    # The callback watches: the same seed without it gives the same model.
    np.testing.assert_array_equal(JKOFlowDensity(**params).fit(data[0]).score_samples(data[1]),
                                  model.score_samples(data[1]))


def test_cpu_chunks_are_the_batch_size(fitted):
    with sklearn.config_context(working_memory=4096):
        assert fitted._chunk_rows(10**6, 2) == fitted.batch_size


def test_gpu_chunks_follow_working_memory(fitted):
    """On a GPU a chunk fills scikit-learn's working_memory, never below batch_size."""
    on_gpu = copy.deepcopy(fitted)
    on_gpu.device_ = torch.device("cuda")  # only the chunk rule reads it here
    with sklearn.config_context(working_memory=1024):
        large = on_gpu._chunk_rows(10**6, 2)
        assert on_gpu._chunk_rows(10**6, 60) < large
        assert on_gpu._chunk_rows(5000, 2) == 5000
    with sklearn.config_context(working_memory=256):
        assert on_gpu._chunk_rows(10**6, 2) == pytest.approx(large / 4, abs=1)
    with sklearn.config_context(working_memory=1):
        assert on_gpu._chunk_rows(10**6, 2) == fitted.batch_size
    assert large > 10 * fitted.batch_size


def test_standardization_log_det(data):
    """Scaling X by c shifts every log-density by exactly -d·log(c)."""
    params = dict(random_state=0, **{**FAST, "max_iter": 20})
    X, c = data[0], 7.5
    base = JKOFlowDensity(**params).fit(X).score_samples(data[1])
    scaled = JKOFlowDensity(**params).fit(c * X).score_samples(c * data[1])
    np.testing.assert_allclose(scaled, base - 2 * np.log(c), rtol=1e-6, atol=1e-6)


def test_fit_leaves_global_torch_rng_alone(data):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    JKOFlowDensity(random_state=0, **{**FAST, "max_iter": 2}).fit(data[0])
    torch.testing.assert_close(torch.rand(3), expected)


@pytest.mark.parametrize("dump, load", [
    (pickle.dumps, pickle.loads),
    (lambda m: joblib.dump(m, "model.joblib"), lambda _: joblib.load("model.joblib")),
])
def test_pickle_round_trip_gives_identical_scores(fitted, data, dump, load, tmp_path,
                                                  monkeypatch):
    monkeypatch.chdir(tmp_path)
    restored = load(dump(fitted))
    np.testing.assert_array_equal(restored.score_samples(data[1]), fitted.score_samples(data[1]))
    np.testing.assert_array_equal(restored.sample(10, random_state=0),
                                  fitted.sample(10, random_state=0))


def test_pickle_of_a_cuda_model_loads_on_cpu(fitted, data, monkeypatch):
    """A model whose device_ is CUDA pickles CPU tensors and loads on a CPU-only machine."""
    state = dict(fitted.__getstate__())
    assert state["flow_"] is fitted.flow_  # pickling a CPU model leaves it untouched
    on_gpu = copy.copy(fitted)
    on_gpu.device_ = torch.device("cuda")
    state = dict(on_gpu.__getstate__())
    assert state["flow_"] is not fitted.flow_ and on_gpu.flow_ is fitted.flow_  # a CPU copy
    assert all(p.device.type == "cpu" for p in state["flow_"].parameters())
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    restored = JKOFlowDensity.__new__(JKOFlowDensity)
    with pytest.warns(UserWarning, match="not available"):
        restored.__setstate__(state)
    assert restored.device_ == torch.device("cpu")
    np.testing.assert_array_equal(restored.score_samples(data[1]), fitted.score_samples(data[1]))


def test_pipeline_fits_and_scores(data):
    pipe = Pipeline([("scale", StandardScaler()),
                     ("flow", JKOFlowDensity(random_state=0, **{**FAST, "max_iter": 20}))])
    pipe.fit(data[0])
    scores = pipe.score_samples(data[1])
    assert scores.shape == (600,) and np.all(np.isfinite(scores))
    assert pipe.score(data[1]) == pytest.approx(scores.mean())
    assert pipe.transform(data[1]).shape == (600, 2)


def test_grid_search_over_h_picks_the_best_mean_log_likelihood(data):
    search = GridSearchCV(JKOFlowDensity(random_state=0, **{**FAST, "max_iter": 40}),
                          {"h": [0.01, 1.0]}, cv=3)
    search.fit(data[0])
    means = search.cv_results_["mean_test_score"]
    assert np.all(np.isfinite(means))
    assert search.best_params_["h"] == [0.01, 1.0][int(np.argmax(means))]
    # The scores are mean log-likelihoods: a model with a tiny step moves little and scores lower.
    assert means[1] > means[0]


def test_dataframe_input_sets_feature_names(data):
    frame = pd.DataFrame(data[0], columns=["length", "width"])
    model = JKOFlowDensity(random_state=0, **{**FAST, "max_iter": 5}).fit(frame)
    np.testing.assert_array_equal(model.feature_names_in_, ["length", "width"])
    scores = model.score_samples(pd.DataFrame(data[1], columns=["length", "width"]))
    assert scores.shape == (600,)


def test_feature_names_out_and_pandas_output(data):
    frame = pd.DataFrame(data[0], columns=["length", "width"])
    model = JKOFlowDensity(random_state=0, **{**FAST, "max_iter": 5}).fit(frame)
    names = ["jkoflowdensity0", "jkoflowdensity1"]
    np.testing.assert_array_equal(model.get_feature_names_out(), names)
    latent = model.set_output(transform="pandas").transform(frame)
    assert isinstance(latent, pd.DataFrame) and list(latent.columns) == names
    np.testing.assert_allclose(latent.to_numpy(), model.set_output(transform="default")
                               .transform(frame))


def test_to_moves_the_fitted_flow_and_keeps_its_scores(fitted, data):
    moved = copy.deepcopy(fitted)
    assert moved.to("cpu") is moved and moved.device_ == torch.device("cpu")
    np.testing.assert_array_equal(moved.score_samples(data[1]), fitted.score_samples(data[1]))
    with pytest.raises(ValueError, match="not a valid torch device"):
        moved.to("gpu-please")
    assert moved.get_params()["device"] == "cpu"  # the fit-time parameter is untouched


def test_to_cuda_without_cuda_raises_value_error(fitted, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="CUDA is not available"):
        copy.deepcopy(fitted).to("cuda")


def test_nothing_in_skjko_loads_torch_files_unsafely():
    """Every torch.load in the package passes weights_only=True (no pickled code runs)."""
    import re
    from pathlib import Path

    import skjko

    for path in Path(skjko.__file__).parent.glob("*.py"):
        for call in re.findall(r"torch\.load\([^)]*\)", path.read_text()):
            assert "weights_only=True" in call, f"{path.name}: {call}"


def test_constant_column_gives_finite_scores():
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.normal(size=200), np.full(200, 3.0)])
    model = JKOFlowDensity(random_state=0, **{**FAST, "max_iter": 10}).fit(X)
    assert model.scale_[1] == 1.0
    assert np.all(np.isfinite(model.score_samples(X)))


def test_cuda_without_cuda_raises_value_error(data, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="CUDA is not available"):
        JKOFlowDensity(**{**FAST, "device": "cuda"}).fit(data[0])


def test_auto_device_resolves_without_cuda(data, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    model = JKOFlowDensity(random_state=0, **{**FAST, "device": "auto", "max_iter": 2})
    assert model.fit(data[0]).device_ == torch.device("cpu")
    assert clone(model).get_params()["device"] == "auto"


def test_inverse_transform_checks_the_number_of_features(fitted):
    with pytest.raises(ValueError, match="3 features.*expecting 2"):
        fitted.inverse_transform(np.zeros((4, 3)))


def test_sample_rejects_bad_n_samples(fitted):
    with pytest.raises(ValueError, match="n_samples"):
        fitted.sample(0)


@pytest.mark.parametrize("conditional, stages, resolved, per_step", [
    (False, "sampled", "sampled", 1), (False, "all", "all", 4), (False, "auto", "sampled", 1),
    (True, "auto", "all", 4), (True, "sampled", "sampled", 1)])
def test_divergence_stages_sets_the_divergences_per_rk4_step(monkeypatch, conditional, stages,
                                                             resolved, per_step):
    """'sampled' probes one stage of each RK4 step in training, 'all' every stage; 'auto'
    (the default) is 'sampled' for the density and 'all' for the conditional density."""
    from skjko import JKOFlowConditionalDensity
    from skjko.velocity import ProbedMLP

    calls, probe = [], ProbedMLP.__call__
    monkeypatch.setattr(ProbedMLP, "__call__",
                        lambda *a, **k: calls.append(1) or probe(*a, **k))
    X = np.random.default_rng(0).normal(size=(60, 2))
    params = dict(hidden_sizes=(8,), n_blocks=1, n_steps=2, max_iter=3, early_stopping=False,
                  divergence_stages=stages, random_state=0)
    if conditional:
        model = JKOFlowConditionalDensity(**params).fit(X[:, :1], X[:, 1])
    else:
        model = JKOFlowDensity(**params).fit(X)
    assert model.divergence_stages_ == resolved
    assert len(calls) == 3 * 2 * per_step
