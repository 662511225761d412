"""JKOFlowOutlierDetector: thresholds, labels and anomaly ranking on real data."""

from pathlib import Path

import numpy as np
import pytest
import scipy.io
from sklearn.metrics import roc_auc_score
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skjko import JKOFlowDensity, JKOFlowOutlierDetector

ODDS = Path(__file__).resolve().parents[2] / "shared" / "data" / "odds"
SMALL = dict(hidden_sizes=(32, 32), n_blocks=1, n_steps=2, max_iter=60, batch_size=256,
             learning_rate=5e-3, n_reparam=0, device="cpu", random_state=0)


@pytest.fixture(scope="module")
def blob():
    rng = np.random.default_rng(0)
    return rng.normal(size=(400, 2)) * [1.0, 0.5]


@pytest.mark.parametrize("contamination", [0.05, 0.2])
def test_contamination_sets_the_fraction_of_training_outliers(blob, contamination):
    detector = JKOFlowOutlierDetector(JKOFlowDensity(**SMALL),
                                      contamination=contamination).fit(blob)
    outlier_fraction = np.mean(detector.predict(blob) == -1)
    assert outlier_fraction == pytest.approx(contamination, abs=1 / len(blob))


def test_decision_function_is_score_minus_offset(blob):
    detector = JKOFlowOutlierDetector(JKOFlowDensity(**SMALL), contamination=0.1).fit(blob)
    scores = detector.score_samples(blob[:20])
    np.testing.assert_allclose(scores, detector.estimator_.score_samples(blob[:20]))
    np.testing.assert_allclose(detector.decision_function(blob[:20]), scores - detector.offset_)
    assert set(detector.predict(blob)) == {-1, 1}


def test_auto_threshold_bounds_the_models_own_99_percent_region(blob):
    detector = JKOFlowOutlierDetector(JKOFlowDensity(**SMALL), n_auto_samples=1000,
                                      random_state=0).fit(blob)
    fresh = detector.estimator_.sample(2000, random_state=1)
    assert np.mean(detector.predict(fresh) == -1) == pytest.approx(0.01, abs=0.01)
    assert detector.predict([[0.0, 0.0], [20.0, 20.0]]).tolist() == [1, -1]


def test_default_estimator_is_a_default_jko_flow():
    detector = JKOFlowOutlierDetector()
    assert detector.get_params()["estimator"] is None
    detector.set_params(estimator=JKOFlowDensity(), estimator__h=0.5)
    assert detector.estimator.h == 0.5


def test_the_default_estimator_leaves_heavy_cells_as_they_are(monkeypatch):
    """Widening them fits the density better but ranked the ODDS outliers worse."""
    seen = {}

    def fit(self, X, **fit_params):
        seen.update(self.get_params())
        raise RuntimeError("stopped before training")

    monkeypatch.setattr(JKOFlowDensity, "fit", fit)
    with pytest.raises(RuntimeError, match="stopped before training"):
        JKOFlowOutlierDetector().fit(np.zeros((10, 2)))
    assert seen["widen_heavy_cells"] is False
    assert JKOFlowDensity().widen_heavy_cells  # on for densities


def test_beats_a_single_gaussian_on_odds_letter():
    """ODDS protocol (../shared/data/README.md): stratified 60/40, unsupervised, scaled."""
    data = scipy.io.loadmat(ODDS / "letter.mat")
    X, y = data["X"].astype(np.float64), data["y"].ravel()
    X_train, X_test, _, y_test = train_test_split(X, y, test_size=0.4, stratify=y,
                                                  random_state=0)
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    # Heavy cells left as they are, as in the detector's default estimator.
    detector = JKOFlowOutlierDetector(JKOFlowDensity(**dict(
        SMALL, hidden_sizes=(64, 64), n_blocks=2, max_iter=150, learning_rate=2e-3,
        widen_heavy_cells=False))).fit(X_train)
    gaussian = GaussianMixture(1, random_state=0).fit(X_train)
    flow_auc = roc_auc_score(y_test, -detector.score_samples(X_test))
    gaussian_auc = roc_auc_score(y_test, -gaussian.score_samples(X_test))
    assert flow_auc > gaussian_auc + 0.03  # measured: 0.920 against 0.833


def test_a_one_column_dataframe_fits_without_user_warnings():
    """scikit-learn's IsolationForest test of the same name: no warning about the input.

    In a fresh interpreter: torch warns about a read-only array once per process, so an
    earlier test could hide it here.
    """
    import subprocess
    import sys

    script = f"""
import warnings
import numpy as np, pandas as pd
from sklearn.exceptions import ConvergenceWarning
from skjko import JKOFlowDensity, JKOFlowOutlierDetector
X = pd.DataFrame(data=np.random.RandomState(0).randn(4), columns=["a"])
for contamination in (0.05, "auto"):
    detector = JKOFlowOutlierDetector(JKOFlowDensity(**{dict(SMALL, max_iter=5)!r}),
                                      contamination=contamination, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)  # five steps do not converge
        detector.fit(X)
        detector.predict(X)
    assert list(detector.feature_names_in_) == ["a"]
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
