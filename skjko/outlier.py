"""Anomaly detection with a JKO flow: JKOFlowOutlierDetector."""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin, _fit_context, clone
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from .estimator import FLOAT_DTYPES, JKOFlowDensity, check_2d


#: The default estimator's settings: widening the heavy grid cells fits the density better
#: but ranked the ODDS sets' outliers worse.
DEFAULT_ESTIMATOR_PARAMS = {"widen_heavy_cells": False}


class JKOFlowOutlierDetector(OutlierMixin, BaseEstimator):
    """Unsupervised outlier detection by the log-likelihood of a JKO flow.

    A :class:`JKOFlowDensity` is fitted to the training rows (outliers
    included, as for :class:`~sklearn.ensemble.IsolationForest`); a row is an
    outlier when its log-density falls below ``offset_``. As with
    :class:`~sklearn.neighbors.LocalOutlierFactor` ``(novelty=True)``, higher
    scores are more normal.

    Parameters
    ----------
    estimator : JKOFlowDensity or None, default=None
        The (unfitted) density model; cloned in ``fit``. None uses
        ``JKOFlowDensity(widen_heavy_cells=False)``: widening the heavy grid
        cells fits the density better but ranks outliers worse. Tune it through
        ``set_params(estimator__h=...)``.
    contamination : 'auto' or float, default='auto'
        Expected fraction of outliers in the training rows.
        A float in (0, 0.5]: ``offset_`` is that quantile of the training
        log-likelihoods. 'auto': ``offset_`` bounds the model's own 99 %
        highest-density region, ``{x : log p(x) ≥ offset_}``, estimated as the
        1 % quantile of the log-density of ``n_auto_samples`` draws from the
        fitted flow, so rows the model itself rarely generates are flagged.
    n_auto_samples : int, default=2000
        Draws from the flow that estimate ``offset_`` when
        ``contamination='auto'``.
    random_state : int, RandomState instance or None, default=None
        Seeds the draws of ``contamination='auto'`` (the density model has
        its own ``random_state``).

    Attributes
    ----------
    estimator_ : JKOFlowDensity
        The fitted density model.
    offset_ : float
        Log-density threshold: ``decision_function = score_samples - offset_``.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when X has string column names.

    See Also
    --------
    sklearn.ensemble.IsolationForest : Isolation-based outlier detection.
    sklearn.neighbors.LocalOutlierFactor : Local density outlier detection.

    Examples
    --------
    >>> import numpy as np
    >>> from skjko import JKOFlowDensity, JKOFlowOutlierDetector
    >>> X = np.random.default_rng(0).normal(size=(200, 2))
    >>> flow = JKOFlowDensity(hidden_sizes=(16,), n_blocks=1, max_iter=20, random_state=0)
    >>> detector = JKOFlowOutlierDetector(flow, contamination=0.05).fit(X)
    >>> detector.predict([[0.0, 0.0], [8.0, 8.0]])
    array([ 1, -1])
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "score_samples"]), None],
        "contamination": [StrOptions({"auto"}), Interval(Real, 0, 0.5, closed="right")],
        "n_auto_samples": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(self, estimator=None, *, contamination="auto", n_auto_samples=2000,
                 random_state=None):
        self.estimator = estimator
        self.contamination = contamination
        self.n_auto_samples = n_auto_samples
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=False)  # the inner estimator validates its own
    def fit(self, X, y=None, sample_weight=None):
        """Fit the density model and set the outlier threshold ``offset_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training rows, unlabelled; at least 2.
        y : None
            Ignored; present for API consistency.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights, passed to the density's ``fit``; with a
            numeric ``contamination`` the threshold is their weighted quantile.

        Returns
        -------
        self : JKOFlowOutlierDetector
            The fitted detector.
        """
        X = validate_data(self, check_2d(X), dtype=FLOAT_DTYPES, ensure_min_samples=2)
        estimator = (JKOFlowDensity(**DEFAULT_ESTIMATOR_PARAMS) if self.estimator is None
                     else self.estimator)
        fit_params = {} if sample_weight is None else {"sample_weight": sample_weight}
        self.estimator_ = clone(estimator).fit(X, **fit_params)
        if self.contamination == "auto":
            draws = self.estimator_.sample(int(self.n_auto_samples),
                                           random_state=self.random_state)
            self.offset_ = float(np.quantile(self.estimator_.score_samples(draws), 0.01))
        else:
            scores = self.estimator_.score_samples(X)
            if sample_weight is None:
                self.offset_ = float(np.quantile(scores, self.contamination))
            else:
                weight = _check_sample_weight(sample_weight, X, dtype=np.float64)
                self.offset_ = float(np.quantile(scores, self.contamination, weights=weight,
                                                 method="inverted_cdf"))
        return self

    def score_samples(self, X):
        """Log-likelihood of each row; the lower, the more abnormal.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            :meth:`JKOFlowDensity.score_samples` of the fitted flow.
        """
        check_is_fitted(self)
        X = validate_data(self, check_2d(X), dtype=FLOAT_DTYPES, reset=False)
        return self.estimator_.score_samples(X)

    def decision_function(self, X):
        """Log-likelihood above the threshold: negative for outliers.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        decision : ndarray of shape (n_samples,)
            ``score_samples(X) - offset_``.
        """
        return self.score_samples(X) - self.offset_

    def predict(self, X):
        """Label each row +1 (inlier) or -1 (outlier).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray of shape (n_samples,), dtype int
        """
        return np.where(self.decision_function(X) < 0, -1, 1)
