"""scikit-learn references scored on our split (engine/baselines.py)."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression

from engine.baselines import score_baselines


def test_score_baselines_fits_on_standardised_train_and_scores_test():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3)) * [1.0, 100.0, 0.01]  # scales StandardScaler evens out
    y = (x[:, 0] + x[:, 1] / 100 > 0).astype(np.int64)
    results = score_baselines(
        {"logistic": LogisticRegression()}, x[:150], y[:150], x[150:], y[150:]
    )
    assert set(results) == {"logistic"} and results["logistic"]["seconds"] >= 0
    assert results["logistic"]["test_accuracy"] > 0.9
