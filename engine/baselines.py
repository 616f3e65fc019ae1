"""scikit-learn references, fitted and scored on exactly the split a model of this repo saw.

The Fashion-MNIST benchmark (Xiao, Rasul and Vollgraf 2017) fitted scikit-learn's classifiers
on pixels standardised with StandardScaler, for a fixed budget of epochs. A model's compare.py
trains its own network through the engine, then hands ``score_baselines`` the same training and
test split (``data_utils.transforms.flat_features``) and the estimators it is measured against.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)


def score_baselines(
    estimators: Mapping[str, Any],
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
) -> dict[str, dict[str, float]]:
    """Fit each estimator on the standardised training split and score it on the test split.

    StandardScaler is fitted on the training split only (the benchmark's preprocessing). The
    estimators stop at their epoch budgets, as in the benchmark, so the ConvergenceWarning that
    says so is silenced.

    Args:
        estimators: Name -> an unfitted scikit-learn classifier; fitted in this order.
        x_train: Training features (N, D), e.g. from ``flat_features``.
        y_train: Training labels (N,).
        x_test: Test features (M, D).
        y_test: Test labels (M,).

    Returns:
        Name -> ``{"test_accuracy": ..., "seconds": ...}``, the seconds of fitting and scoring.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(x_train)
    z_train, z_test = scaler.transform(x_train), scaler.transform(x_test)
    results = {}
    for name, estimator in estimators.items():
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            estimator.fit(z_train, y_train)
        results[name] = {
            "test_accuracy": float(estimator.score(z_test, y_test)),
            "seconds": time.perf_counter() - start,
        }
    return results


def log_results(results: Mapping[str, Mapping[str, float]]) -> None:
    """One log line per model: its name, test accuracy and seconds, names aligned."""
    width = max(len(name) for name in results)
    for name, row in results.items():
        logger.info(
            "%-*s test accuracy %.4f | %.1f s", width, name, row["test_accuracy"], row["seconds"]
        )
