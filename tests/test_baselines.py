import numpy as np
import pytest
from scipy.special import softmax

from skclipens import (
    BackboneFeatures,
    BestSingleBackbone,
    CalibratedAverage,
    LogitAverage,
    MajorityVote,
    ProbabilityAverage,
    SuperLearner,
    make_backbone_zoo,
)


def features_from_logits(*logits, classes=(0, 1, 2)):
    n = len(logits[0])
    emb = {f"b{i}": np.eye(n, 4)[:, :4] + 1.0 for i in range(len(logits))}
    return BackboneFeatures(emb, {f"b{i}": z for i, z in enumerate(logits)}, classes=classes)


@pytest.fixture(scope="module")
def zoo():
    return make_backbone_zoo(n_samples=1500, random_state=1)


def test_logit_and_probability_average(zoo):
    X, y = zoo
    stacked = np.stack(list(X.logits.values()), axis=1).astype(np.float64)
    lavg = LogitAverage().fit(X, y)
    np.testing.assert_allclose(lavg.predict_proba(X), softmax(stacked.mean(axis=1), axis=1), 1e-5)
    pavg = ProbabilityAverage().fit(X, y)
    np.testing.assert_allclose(pavg.predict_proba(X), softmax(stacked, axis=2).mean(axis=1))


def test_majority_vote_counts_votes_and_breaks_ties_by_probability():
    a = np.array([[5.0, 0.0, 0.0], [5.0, 0.0, 0.0], [0.0, 3.0, 0.0]])
    b = np.array([[4.0, 0.0, 0.0], [0.0, 5.0, 0.0], [0.0, 0.0, 3.0]])
    c = np.array([[0.0, 9.0, 0.0], [0.0, 9.0, 0.0], [0.0, 0.0, 1.0]])
    X = features_from_logits(a, b, c)
    vote = MajorityVote().fit(X, [0, 1, 2])
    # row 0: two votes for 0; row 1: two for 1; row 2: two for 2
    np.testing.assert_array_equal(vote.predict(X), [0, 1, 2])
    proba = vote.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert proba[0, 0] > 0.5 and proba[0, 0] < 0.75  # (2 + mean p) / 4
    # one vote for each class: the mean probability decides, and backbone b1 is surest
    tie = features_from_logits(
        np.array([[2.0, 0.0, 0.0]]), np.array([[0.0, 9.0, 0.0]]), np.array([[-5.0, -5.0, 0.0]])
    )
    assert vote.predict(tie)[0] == 1


def test_best_single_backbone_picks_the_most_accurate(zoo):
    X, y = zoo
    rng = np.random.default_rng(0)
    good = 10.0 * np.eye(10)[y] + rng.normal(size=(len(y), 10))
    noise = rng.normal(size=(len(y), 10))
    Xg = BackboneFeatures(
        {"noise": X.embeddings["backbone0"], "good": X.embeddings["backbone1"]},
        {"noise": noise, "good": good},
        classes=np.arange(10),
    )
    best = BestSingleBackbone().fit(Xg, y)
    assert best.best_backbone_ == "good"
    assert best.training_accuracies_[1] > 0.99 > 0.2 > best.training_accuracies_[0]
    np.testing.assert_array_equal(best.predict(Xg), good.argmax(axis=1))


def test_calibrated_average_recovers_a_known_temperature():
    rng = np.random.default_rng(0)
    n, n_classes = 4000, 5
    true = rng.normal(size=(n, n_classes)) * 2
    y = np.array([rng.choice(n_classes, p=p) for p in softmax(true, axis=1)])
    X = features_from_logits(true * 4.0, true * 0.5, classes=range(n_classes))
    cal = CalibratedAverage().fit(X, y)
    np.testing.assert_allclose(cal.temperatures_, [4.0, 0.5], rtol=0.1)
    np.testing.assert_allclose(cal.predict_proba(X), softmax(true, axis=1), atol=0.05)


def test_super_learner_weights_the_only_useful_backbone():
    rng = np.random.default_rng(0)
    n = 600
    y = rng.integers(0, 3, size=n)
    useful = 4.0 * np.eye(3)[y] + rng.normal(size=(n, 3))
    useless = rng.normal(size=(n, 3))
    X = features_from_logits(useless, useful, useless[::-1])
    sl = SuperLearner().fit(X, y)
    assert sl.weights_.sum() == pytest.approx(1.0)
    assert sl.weights_[1] > 0.9
    assert 1 <= sl.n_iter_ <= sl.max_iter

    # EM reaches the optimum: no convex mix of two backbones does better
    def log_loss(w):
        p = sum(wi * softmax(z, axis=1) for wi, z in zip(w, X.logits.values(), strict=True))
        return -np.log(p[np.arange(n), y]).mean()

    best = log_loss(sl.weights_)
    for w in [(0, 1, 0), (0.05, 0.9, 0.05), (1 / 3, 1 / 3, 1 / 3)]:
        assert best <= log_loss(w) + 1e-6


def test_static_baselines_on_the_zoo_sit_between_best_single_and_oracle(zoo):
    from skclipens import backbone_accuracy, oracle_accuracy

    X, y = zoo
    best = max(backbone_accuracy(X, y).values())
    for est in [LogitAverage(), ProbabilityAverage(), MajorityVote(), CalibratedAverage()]:
        score = est.fit(X, y).score(X, y)
        assert best - 0.05 < score < oracle_accuracy(X, y)
