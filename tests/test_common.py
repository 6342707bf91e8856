"""scikit-learn's own estimator checks over every estimator of skclipens.

A check an estimator cannot pass is listed in EXPECTED_FAILED_CHECKS with its
reason and runs as an expected failure (strict: a pass is reported), never a skip.
"""

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from conftest import TINY_SPECS
from skclipens import (
    AdaptiveBackboneEnsemble,
    BestSingleBackbone,
    CalibratedAverage,
    CLIPFeatures,
    LogitAverage,
    MajorityVote,
    MixtureOfExperts,
    ProbabilityAverage,
    SuperLearner,
)

ESTIMATORS = [
    AdaptiveBackboneEnsemble(max_iter=30),
    MixtureOfExperts(max_iter=30),
    BestSingleBackbone(),
    LogitAverage(),
    ProbabilityAverage(),
    MajorityVote(),
    CalibratedAverage(),
    SuperLearner(),
    CLIPFeatures(TINY_SPECS[:1], templates="simple"),
]

_IMAGES = (
    "CLIPFeatures takes images (paths, PIL images, arrays of shape (N, H, W[, C])), "
    "not the 2-D table of numbers this check feeds it"
)

#: estimator class name -> {check name: reason}
EXPECTED_FAILED_CHECKS = {
    "CLIPFeatures": {
        name: _IMAGES
        for name in [
            "check_fit_score_takes_y",
            "check_estimators_dtypes",
            "check_dtype_object",
            "check_pipeline_consistency",
            "check_estimators_pickle",
            "check_f_contiguous_array_estimator",
            "check_transformer_general",
            "check_transformer_preserve_dtypes",
            "check_methods_sample_order_invariance",
            "check_methods_subset_invariance",
            "check_dict_unchanged",
            "check_fit_idempotent",
            "check_fit2d_predict1d",
            "check_transformer_data_not_an_array",
            "check_estimators_nan_inf",
            "check_estimator_sparse_array",
            "check_estimator_sparse_matrix",
            "check_fit1d",
            "check_estimators_empty_data_messages",
            "check_array_api_input",
        ]
    }
    | {
        "check_n_features_in_after_fitting": "images have no number of features: "
        "CLIPFeatures sets no n_features_in_",
        "check_n_features_in": "images have no number of features: "
        "CLIPFeatures sets no n_features_in_",
    },
}


def expected_failed_checks(estimator):
    return EXPECTED_FAILED_CHECKS.get(type(estimator).__name__, {})


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def test_every_public_estimator_is_checked():
    from sklearn.base import BaseEstimator

    import skclipens

    public = {
        name
        for name in skclipens.__all__
        if isinstance(getattr(skclipens, name), type)
        and issubclass(getattr(skclipens, name), BaseEstimator)
    }
    assert public == {type(e).__name__ for e in ESTIMATORS}


pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.SkipTestWarning")
