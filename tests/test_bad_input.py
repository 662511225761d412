"""The bad-input table of README's "Errors and guarantees": every row is a test here."""

import warnings

import numpy as np
import pytest
import scipy.sparse
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from skjko import JKOFlowDensity, JKOFlowOutlierDetector

TINY = dict(hidden_sizes=(16, 16), n_blocks=1, n_steps=2, max_iter=30, n_reparam=0,
            device="cpu", random_state=0)
METHODS = ("score_samples", "transform", "inverse_transform")


@pytest.fixture(scope="module")
def X():
    return np.random.default_rng(0).normal(size=(300, 2))


@pytest.fixture(scope="module")
def fitted(X):
    return JKOFlowDensity(**TINY).fit(X)


def with_value(X, value):
    bad = X[:20].copy()
    bad[3, 1] = value
    return bad


@pytest.mark.parametrize("value, match", [(np.nan, "NaN"), (np.inf, "infinity"),
                                          (-np.inf, "infinity")])
def test_non_finite_values_are_rejected_everywhere(X, fitted, value, match):
    with pytest.raises(ValueError, match=match):
        JKOFlowDensity(**TINY).fit(with_value(X, value))
    for method in METHODS:
        with pytest.raises(ValueError, match=match):
            getattr(fitted, method)(with_value(X, value))


@pytest.mark.parametrize("make, match", [
    (lambda X: X[:, 0], r"shape \(300,\).*reshape\(-1, 1\)"),
    (lambda X: 1.5, r"shape \(\).*2-D array"),
    (lambda X: X.reshape(150, 2, 2), r"shape \(150, 2, 2\).*reshape\(len"),
    (lambda X: X[:0], r"0 sample\(s\) \(shape=\(0, 2\)\).*minimum of 2"),
    (lambda X: X[:1], r"1 sample\(s\) \(shape=\(1, 2\)\).*minimum of 2"),
    (lambda X: X[:, :0], r"0 feature\(s\)"),
])
def test_bad_shapes_at_fit_name_the_shape(X, make, match):
    for estimator in (JKOFlowDensity(**TINY), JKOFlowOutlierDetector(JKOFlowDensity(**TINY))):
        with pytest.raises(ValueError, match=match):
            estimator.fit(make(X))


@pytest.mark.parametrize("method", METHODS)
def test_bad_shapes_after_fit(fitted, method):
    name = "Z" if method == "inverse_transform" else "X"
    call = getattr(fitted, method)
    with pytest.raises(ValueError, match=rf"{name} has shape \(5, 2, 1\)"):
        call(np.zeros((5, 2, 1)))
    with pytest.raises(ValueError, match=rf"{name} has shape \(2,\).*reshape\(1, -1\)"):
        call(np.zeros(2))
    with pytest.raises(ValueError, match=r"0 sample\(s\)"):
        call(np.zeros((0, 2)))
    with pytest.raises(ValueError, match="3 features.*expecting 2"):
        call(np.zeros((4, 3)))


@pytest.mark.parametrize("bad, error, match", [
    (np.array([["a", "b"]] * 10), ValueError, "could not convert string to float"),
    (np.array([[1.0, "x"]] * 10, dtype=object), ValueError, "could not convert"),
    (np.ones((10, 2)) + 1j, ValueError, "Complex data not supported"),
    (scipy.sparse.random(10, 2, density=0.5, format="csr", random_state=0), TypeError,
     "dense data is required"),
])
def test_non_numeric_and_sparse_input(fitted, bad, error, match):
    with pytest.raises(error, match=match):
        JKOFlowDensity(**TINY).fit(bad)
    for method in METHODS:
        with pytest.raises(error, match=match):
            getattr(fitted, method)(bad)


def test_numeric_object_arrays_are_converted_like_scikit_learn_does(X, fitted):
    np.testing.assert_array_equal(fitted.score_samples(X.astype(object)),
                                  fitted.score_samples(X))


@pytest.mark.parametrize("name, make", [
    ("constant column", lambda X: np.column_stack([X[:, 0], np.full(len(X), 3.0)])),
    ("duplicated rows", lambda X: np.repeat(X[:10], 30, axis=0)),
    ("one row repeated", lambda X: np.repeat(X[:1], 30, axis=0)),
    ("values near 1e30", lambda X: X * 1e30),
    ("values near 1e-30", lambda X: X * 1e-30),
    ("a huge offset", lambda X: X + 1e30),
    ("values near 1e300", lambda X: X * 1e300),
    ("collinear columns", lambda X: np.column_stack([X[:, 0], 2 * X[:, 0]])),
])
@pytest.mark.parametrize("whiten", [False, True])
def test_degenerate_data_gives_finite_scores(X, name, make, whiten):
    data = make(X)
    with warnings.catch_warnings():  # and trains: no block is dropped as diverged
        warnings.filterwarnings("error", "JKO block .* (diverged|non-finite)", ConvergenceWarning)
        model = JKOFlowDensity(**TINY, whiten=whiten).fit(data)
    scores = model.score_samples(data)
    assert np.all(np.isfinite(scores)), name
    assert np.all(np.isfinite(model.scale_)) and np.all(model.scale_ > 0)
    assert np.all(np.isfinite(model.sample(5, random_state=0))), name


def test_scale_free_data_keeps_its_density_scale(X):
    """Data shrunk by 1e-30 is the same shape: its log-density rises by exactly 2 · log 1e30."""
    plain = JKOFlowDensity(**TINY).fit(X).score_samples(X)
    tiny = JKOFlowDensity(**TINY).fit(X * 1e-30).score_samples(X * 1e-30)
    np.testing.assert_allclose(tiny - plain, 2 * np.log(1e30), rtol=1e-5)


@pytest.mark.parametrize("params, match", [
    ({"h": 0}, "'h' parameter"), ({"h": -1.0}, "'h' parameter"),
    ({"n_blocks": 0}, "'n_blocks' parameter"), ({"movement_tol": -0.1}, "'movement_tol' parameter"),
    ({"hidden_sizes": ()}, "hidden_sizes"), ({"hidden_sizes": (8, 0)}, "hidden_sizes"),
    ({"batch_size": 0}, "'batch_size' parameter"), ({"batch_size": 2.5}, "'batch_size' parameter"),
    ({"max_iter": 0}, "'max_iter' parameter"), ({"learning_rate": 0.0}, "'learning_rate' parameter"),
    ({"weight_decay": -0.1}, "'weight_decay' parameter"),
    ({"divergence_stages": "some"}, "'divergence_stages' parameter"),
    ({"noise_std": -0.1}, "'noise_std' parameter"),
    ({"joint_max_iter": -1}, "'joint_max_iter' parameter"),
    ({"joint_max_iter": "long"}, "'joint_max_iter' parameter"),
    ({"joint_max_iter": 2.5}, "'joint_max_iter' parameter"),
    ({"velocity": "cnn"}, "'velocity'"), ({"device": "tpu"}, "device='tpu'"),
    ({"device": 3}, "'device' parameter"), ({"device": "gpu0"}, "not a valid torch device"),
    ({"device": "meta"}, "not supported"),
])
def test_bad_parameters_are_value_errors_before_any_training(X, params, match):
    with pytest.raises(ValueError, match=match):
        JKOFlowDensity(**{**TINY, **params}).fit(X)


@pytest.mark.parametrize("method", ["score_samples", "score", "transform", "inverse_transform",
                                    "sample", "to"])
def test_predict_time_calls_before_fit_raise_not_fitted(X, method):
    args = {"sample": (), "to": ("cpu",)}.get(method, (X,))
    with pytest.raises(NotFittedError):
        getattr(JKOFlowDensity(), method)(*args)


def test_far_away_rows_get_finite_very_low_scores(fitted):
    far = np.array([[1e6, 1e6], [-1e6, 0.0], [1e300, 0.0], [1e300, 1e300]])
    scores = fitted.score_samples(far)
    assert np.all(np.isfinite(scores))
    assert np.all(scores < fitted.score_samples(np.zeros((1, 2))) - 1e6)
    assert np.all(np.isfinite(fitted.transform(far)))
    assert (scores == np.finfo(np.float64).min).sum() >= 2  # a plain mean would overflow
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no overflow in the mean either
        mean = fitted.score(far)
    assert np.isfinite(mean) and mean <= scores.max()


@pytest.mark.parametrize("n_rows", [2, 3, 1000])
def test_the_mean_of_rows_at_the_floor_does_not_overflow(fitted, n_rows):
    far = np.full((n_rows, 2), 1e300)
    assert np.all(fitted.score_samples(far) == np.finfo(np.float64).min)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        mean = fitted.score(far)
        weighted = fitted.score(far, sample_weight=np.arange(1, n_rows + 1))
    # Within round-off of the floor: the scaled mean of n equal terms can lose a few ulps.
    assert np.isfinite(mean) and mean == pytest.approx(np.finfo(np.float64).min, rel=1e-12)
    assert np.isfinite(weighted) and weighted == pytest.approx(mean, rel=1e-12)
