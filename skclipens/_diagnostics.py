"""Diagnostics of a set of backbones: how good each is, and how differently they err."""

from sklearn.metrics import accuracy_score
from sklearn.utils.validation import check_consistent_length, column_or_1d

from ._features import BackboneFeatures

__all__ = [
    "backbone_accuracy",
    "oracle_accuracy",
    "pairwise_disagreement",
    "gain_over_best_backbone",
]


def _backbone_predictions(X):
    """Each backbone's predicted class, shape (n_samples, n_backbones)."""
    if not isinstance(X, BackboneFeatures):
        raise ValueError(
            "the diagnostics need BackboneFeatures with per-backbone logits, "
            f"got {type(X).__name__}."
        )
    if X.logits is None:
        raise ValueError("the diagnostics need per-backbone logits, and these features have none.")
    return X.classes[X._stacked_logits().argmax(axis=2)]


def _check_labels(X, y):
    y = column_or_1d(y)
    check_consistent_length(X, y)
    return y


def backbone_accuracy(X, y):
    """Accuracy of each backbone's own logits.

    Parameters
    ----------
    X : BackboneFeatures
        Features with per-backbone logits.
    y : array-like of shape (n_samples,)
        The true labels, values from ``X.classes``.

    Returns
    -------
    accuracies : dict of str to float
        Backbone name to accuracy, in the order of ``X.backbones``.

    Examples
    --------
    >>> from skclipens import make_backbone_zoo, backbone_accuracy
    >>> X, y = make_backbone_zoo(n_samples=200, embedding_dims=[32, 32], random_state=0)
    >>> sorted(backbone_accuracy(X, y))
    ['backbone0', 'backbone1']
    """
    predictions = _backbone_predictions(X)
    y = _check_labels(X, y)
    return {name: float((predictions[:, b] == y).mean()) for b, name in enumerate(X.backbones)}


def oracle_accuracy(X, y):
    """The share of images that at least one backbone gets right.

    The ceiling of any method that picks one backbone per image.
    """
    predictions = _backbone_predictions(X)
    y = _check_labels(X, y)
    return float((predictions == y[:, None]).any(axis=1).mean())


def pairwise_disagreement(X):
    """How often each pair of backbones predicts different classes.

    Returns
    -------
    disagreement : ndarray of shape (n_backbones, n_backbones)
        Entry ``[i, j]`` is the share of images on which backbones ``i`` and
        ``j`` (in the order of ``X.backbones``) disagree; the diagonal is 0.
    """
    predictions = _backbone_predictions(X)
    return (predictions[:, :, None] != predictions[:, None, :]).mean(axis=0)


def gain_over_best_backbone(X, y, y_pred):
    """Accuracy of ``y_pred`` minus that of the best single backbone on ``(X, y)``.

    The best backbone is chosen on these same labels: this is the gain over
    the best backbone in hindsight, the strictest reference.
    """
    y = _check_labels(X, y)
    y_pred = column_or_1d(y_pred)
    check_consistent_length(y, y_pred)
    return float(accuracy_score(y, y_pred) - max(backbone_accuracy(X, y).values()))
