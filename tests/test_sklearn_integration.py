"""The ensembles inside scikit-learn's own tools, on BackboneFeatures."""

import joblib
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer

from skclipens import (
    AdaptiveBackboneEnsemble,
    BackboneFeatures,
    CalibratedAverage,
    LogitAverage,
    MixtureOfExperts,
    make_backbone_zoo,
)


@pytest.fixture(scope="module")
def zoo():
    return make_backbone_zoo(n_samples=600, random_state=0)


def test_pipeline_passes_backbone_features_through(zoo):
    X, y = zoo
    seen = []

    def record(X):
        seen.append(type(X))
        return X

    pipe = make_pipeline(
        FunctionTransformer(record), AdaptiveBackboneEnsemble(max_iter=20, random_state=0)
    )
    pipe.fit(X[:300], y[:300])
    assert pipe.predict(X[300:]).shape == (300,)
    assert seen == [BackboneFeatures, BackboneFeatures]


def test_grid_search_over_parameters_and_over_the_last_step(zoo):
    X, y = zoo
    pipe = Pipeline([("ensemble", LogitAverage())])
    grid = [
        {"ensemble": [LogitAverage(), CalibratedAverage()]},
        {
            "ensemble": [AdaptiveBackboneEnsemble(max_iter=30, random_state=0)],
            "ensemble__combination": ["multiply", "softmax"],
        },
        {"ensemble": [MixtureOfExperts(max_iter=30, random_state=0)]},
    ]
    search = GridSearchCV(pipe, grid, cv=3).fit(X, y)
    assert len(search.cv_results_["params"]) == 5
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert search.best_estimator_.predict(X).shape == (600,)


def test_cross_val_score(zoo):
    X, y = zoo
    scores = cross_val_score(AdaptiveBackboneEnsemble(max_iter=30, random_state=0), X, y, cv=3)
    assert scores.shape == (3,) and (scores > 0.3).all()


def test_train_test_split_and_a_plain_sklearn_estimator_on_the_same_features(zoo):
    X, y = zoo
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0, stratify=y)
    assert isinstance(X_train, BackboneFeatures)
    lr = LogisticRegression(max_iter=200).fit(X_train, y_train)  # the concatenated embeddings
    assert 0.0 <= lr.score(X_test, y_test) <= 1.0


def test_pipeline_memory_and_joblib_dump(zoo, tmp_path):
    X, y = zoo
    pipe = Pipeline(
        [("id", FunctionTransformer()), ("ensemble", LogitAverage())],
        memory=str(tmp_path / "cache"),
    )
    first = pipe.fit(X, y).predict_proba(X)
    second = pipe.fit(X, y).predict_proba(X)  # the cached transformer
    np.testing.assert_array_equal(first, second)
    nlc = AdaptiveBackboneEnsemble(max_iter=20, random_state=0).fit(X, y)
    joblib.dump(nlc, tmp_path / "nlc.joblib")
    back = joblib.load(tmp_path / "nlc.joblib")
    np.testing.assert_array_equal(back.predict(X), nlc.predict(X))
