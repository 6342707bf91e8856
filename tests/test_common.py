"""scikit-learn's own estimator checks over every estimator of skclipens.

A check an estimator cannot pass is listed in EXPECTED_FAILED_CHECKS with its
reason and runs as an expected failure (strict: a pass is reported), never a skip.
"""

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from skclipens import (
    AdaptiveBackboneEnsemble,
    BestSingleBackbone,
    CalibratedAverage,
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
]

#: estimator class name -> {check name: reason}
EXPECTED_FAILED_CHECKS = {}


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
