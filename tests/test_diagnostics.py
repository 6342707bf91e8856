import numpy as np
import pytest

from skclipens import (
    BackboneFeatures,
    backbone_accuracy,
    gain_over_best_backbone,
    oracle_accuracy,
    pairwise_disagreement,
)


@pytest.fixture
def three_backbones():
    # predictions (argmax): a -> [c, d, c, d], b -> [c, c, c, d], e -> [d, d, d, d]
    one_hot = np.eye(2)
    preds = {"a": [0, 1, 0, 1], "b": [0, 0, 0, 1], "e": [1, 1, 1, 1]}
    logits = {k: one_hot[v] for k, v in preds.items()}
    embeddings = {k: np.ones((4, 2)) for k in preds}
    return BackboneFeatures(embeddings, logits, classes=["c", "d"]), np.array(["c", "c", "d", "d"])


def test_backbone_accuracy(three_backbones):
    X, y = three_backbones
    assert backbone_accuracy(X, y) == {"a": 0.5, "b": 0.75, "e": 0.5}


def test_oracle_accuracy(three_backbones):
    X, y = three_backbones
    # image 0: a, b right; 1: b right; 2: e right; 3: all right
    assert oracle_accuracy(X, y) == 1.0
    assert oracle_accuracy(X[[0, 1]], y[[0, 1]]) == 1.0
    only_e = BackboneFeatures({"e": X.embeddings["e"]}, {"e": X.logits["e"]}, X.classes)
    assert oracle_accuracy(only_e, y) == 0.5


def test_pairwise_disagreement(three_backbones):
    X, _ = three_backbones
    expected = np.array([[0, 0.25, 0.5], [0.25, 0, 0.75], [0.5, 0.75, 0]])
    np.testing.assert_allclose(pairwise_disagreement(X), expected)


def test_gain_over_best_backbone(three_backbones):
    X, y = three_backbones
    assert gain_over_best_backbone(X, y, y) == 0.25
    assert gain_over_best_backbone(X, y, ["d", "d", "d", "d"]) == -0.25


def test_bad_input(three_backbones):
    X, y = three_backbones
    with pytest.raises(ValueError, match="need BackboneFeatures with per-backbone logits"):
        backbone_accuracy(np.asarray(X), y)
    with pytest.raises(ValueError, match="these features have none"):
        oracle_accuracy(BackboneFeatures(X.embeddings), y)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        backbone_accuracy(X, y[:3])
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        gain_over_best_backbone(X, y, y[:2])
