import numpy as np
import pytest

from skclipens import (
    LogitAverage,
    backbone_accuracy,
    make_backbone_zoo,
    oracle_accuracy,
)


def test_shape_layout_and_seed():
    X, y = make_backbone_zoo(n_samples=300, n_classes=5, embedding_dims=[8, 16, 4], random_state=0)
    assert X.shape == (300, 28) and y.shape == (300,)
    assert X.widths == {"backbone0": 8, "backbone1": 16, "backbone2": 4}
    assert X.classes.tolist() == [0, 1, 2, 3, 4] and set(y) <= set(range(5))
    for emb in X.embeddings.values():
        np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-5)
    X2, y2 = make_backbone_zoo(
        n_samples=300, n_classes=5, embedding_dims=[8, 16, 4], random_state=0
    )
    np.testing.assert_array_equal(np.asarray(X), np.asarray(X2))
    np.testing.assert_array_equal(y, y2)
    X3, _ = make_backbone_zoo(
        n_samples=300, n_classes=5, embedding_dims=[8, 16, 4], random_state=1
    )
    assert not np.allclose(np.asarray(X), np.asarray(X3))


def test_the_backbones_fail_on_different_images():
    X, y = make_backbone_zoo(n_samples=4000, random_state=0)
    accuracies = backbone_accuracy(X, y)
    best = max(accuracies.values())
    assert all(0.3 < a < 0.6 for a in accuracies.values())  # far above chance (0.1)
    assert oracle_accuracy(X, y) > best + 0.3
    assert LogitAverage().fit(X, y).score(X, y) < best + 0.15  # averaging gains little


def test_expert_accuracy_controls_the_gap():
    X, y = make_backbone_zoo(n_samples=2000, expert_accuracy=0.4, random_state=0)
    # no experts: every backbone is as good everywhere
    assert max(backbone_accuracy(X, y).values()) < 0.45


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"embedding_dims": []}, "embedding_dims"),
        ({"embedding_dims": [1, 8]}, "embedding_dims"),
        ({"n_classes": 1}, "n_classes"),
        ({"n_samples": 0}, "n_samples"),
        ({"expert_accuracy": 1.5}, "expert_accuracy"),
        ({"other_accuracy": -0.1}, "other_accuracy"),
    ],
)
def test_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_backbone_zoo(**kwargs)
