"""sample_weight: rows as repeat counts in the fit, the score and the outlier threshold."""

import numpy as np
import pytest
import sklearn
from sklearn.model_selection import GridSearchCV

from skjko import JKOFlowDensity, JKOFlowOutlierDetector

SMALL = dict(hidden_sizes=(32, 32), n_blocks=2, max_iter=150, random_state=0, device="cpu")


@pytest.fixture(scope="module")
def two_blobs():
    rng = np.random.default_rng(0)
    return np.r_[rng.normal(-2, 0.5, size=(300, 2)), rng.normal(2, 0.5, size=(300, 2))]


@pytest.fixture(scope="module")
def unweighted(two_blobs):
    return JKOFlowDensity(**SMALL).fit(two_blobs)


def test_unit_weights_train_exactly_as_no_weights(two_blobs, unweighted):
    weighted = JKOFlowDensity(**SMALL).fit(two_blobs, sample_weight=np.full(600, 2.5))
    np.testing.assert_array_equal(weighted.score_samples(two_blobs),
                                  unweighted.score_samples(two_blobs))


def test_zero_weights_drop_their_rows(two_blobs, unweighted):
    far = np.random.default_rng(1).normal(size=(50, 2)) * 9
    weighted = JKOFlowDensity(**SMALL).fit(np.r_[two_blobs, far],
                                           sample_weight=np.r_[np.ones(600), np.zeros(50)])
    np.testing.assert_array_equal(weighted.score_samples(two_blobs),
                                  unweighted.score_samples(two_blobs))


def test_integer_weights_fit_the_density_of_repeated_rows(two_blobs, unweighted):
    """Weight 3 on the left blob: the left blob's density triples, as with its rows repeated."""
    weight = np.r_[np.full(300, 3.0), np.ones(300)]
    weighted = JKOFlowDensity(**SMALL).fit(two_blobs, sample_weight=weight)
    repeated = JKOFlowDensity(**SMALL).fit(np.repeat(two_blobs, weight.astype(int), axis=0))
    centres = np.array([[-2.0, -2.0], [2.0, 2.0]])

    def log_ratio(model):  # log p(left centre) − log p(right centre); log 3 in truth
        left, right = model.score_samples(centres)
        return left - right

    assert abs(log_ratio(unweighted)) < 0.4
    assert abs(log_ratio(weighted) - np.log(3)) < 0.4
    assert abs(log_ratio(weighted) - log_ratio(repeated)) < 0.2


@pytest.mark.parametrize("weight, message", [
    (np.r_[-1.0, np.ones(599)], "(?i)negative"),
    (np.r_[np.nan, np.ones(599)], "NaN"),
    (np.ones(10), "shape"),
    (np.zeros(600), "zero"),
    (np.r_[1.0, np.zeros(599)], "at least 2 rows of positive weight"),
])
def test_bad_weights_are_refused_with_a_clear_error(two_blobs, weight, message):
    with pytest.raises(ValueError, match=message):
        JKOFlowDensity(**SMALL).fit(two_blobs, sample_weight=weight)


def test_score_is_the_weighted_mean_log_likelihood(two_blobs, unweighted):
    weight = np.random.default_rng(2).uniform(0, 2, size=600)
    scores = unweighted.score_samples(two_blobs)
    assert unweighted.score(two_blobs, sample_weight=weight) == pytest.approx(
        np.average(scores, weights=weight), rel=1e-12)
    assert unweighted.score(two_blobs) == pytest.approx(scores.mean(), rel=1e-12)


def test_grid_search_routes_sample_weight_to_fit(two_blobs):
    """With metadata routing on, GridSearchCV passes the weights to every fit and score."""
    weight = np.r_[np.full(300, 3.0), np.ones(300)]
    params = {**SMALL, "n_blocks": 1, "max_iter": 40}
    with sklearn.config_context(enable_metadata_routing=True):
        estimator = (JKOFlowDensity(**params).set_fit_request(sample_weight=True)
                     .set_score_request(sample_weight=True))
        search = GridSearchCV(estimator, {"h": [0.5, 1.0]}, cv=2).fit(
            two_blobs, sample_weight=weight)
    direct = JKOFlowDensity(**{**params, "h": search.best_params_["h"]}).fit(
        two_blobs, sample_weight=weight)
    np.testing.assert_array_equal(search.best_estimator_.score_samples(two_blobs),
                                  direct.score_samples(two_blobs))


def test_outlier_threshold_is_the_weighted_quantile(two_blobs):
    weight = np.r_[np.full(300, 3.0), np.ones(300)]
    detector = JKOFlowOutlierDetector(JKOFlowDensity(**{**SMALL, "n_blocks": 1, "max_iter": 40}),
                                      contamination=0.1).fit(two_blobs, sample_weight=weight)
    scores = detector.score_samples(two_blobs)
    below = weight[scores < detector.offset_].sum() / weight.sum()
    assert below == pytest.approx(0.1, abs=0.01)
