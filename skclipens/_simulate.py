"""A simulated zoo of backbones, for tests, examples and benchmarks."""

from numbers import Integral

import numpy as np
from sklearn.utils import check_random_state

from ._features import BackboneFeatures

__all__ = ["make_backbone_zoo"]


def make_backbone_zoo(
    n_samples=1000,
    n_classes=10,
    embedding_dims=(64, 64, 64, 64),
    *,
    expert_accuracy=0.95,
    other_accuracy=0.4,
    logit_scale=100.0,
    random_state=None,
):
    """Simulated CLIP-like features of several backbones that fail on different images.

    This is a simulation, not CLIP: it is built so that the backbones'
    strengths depend on something visible in their embeddings, as the paper
    finds for real CLIP backbones, with known ground truth.

    Every image has a class and a *domain* (one per backbone, uniformly
    drawn). Backbone ``b`` is the expert of domain ``b``: there it shows the
    image's true class with probability ``expert_accuracy``; elsewhere with
    probability ``other_accuracy``, and otherwise shows the image's
    *confuser*, one wrong class per image shared by every backbone (so the
    backbones' mistakes agree, as real ones often do, and voting or averaging
    cannot outvote them). Each backbone's embedding is the L2-normalised sum
    of a direction for the class it shows, a direction for the image's
    domain (so the domain is visible in every embedding) and Gaussian noise;
    its logits are ``logit_scale`` times the cosine with each class's
    direction, as CLIP's zero-shot logits are with class text embeddings.

    So the oracle (right when any backbone is) sits far above the best single
    backbone, static ensembles gain little, and a controller that reads the
    domain from the embeddings can approach ``expert_accuracy``.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of images.
    n_classes : int, default=10
        Number of classes; labels are ``0 .. n_classes - 1``.
    embedding_dims : sequence of int, default=(64, 64, 64, 64)
        Embedding width of each backbone; its length is the number of
        backbones. The nine OpenAI CLIP models' widths add up to 6528:
        ``(1024, 512, 640, 768, 1024, 512, 512, 768, 768)``.
    expert_accuracy : float, default=0.95
        Chance that a backbone shows the true class on its own domain.
    other_accuracy : float, default=0.4
        Chance that it shows the true class on the other domains.
    logit_scale : float, default=100.0
        Multiplies the cosines into logits (OpenAI CLIP's scale is 100).
    random_state : int, RandomState instance or None, default=None
        Seeds everything.

    Returns
    -------
    X : BackboneFeatures
        Embeddings and logits of backbones ``"backbone0"``, ``"backbone1"``, ...
        with ``classes = arange(n_classes)``.
    y : ndarray of shape (n_samples,)
        The true classes.

    Examples
    --------
    >>> from skclipens import make_backbone_zoo, backbone_accuracy, oracle_accuracy
    >>> X, y = make_backbone_zoo(random_state=0)
    >>> X.shape
    (1000, 256)
    >>> best = max(backbone_accuracy(X, y).values())
    >>> bool(oracle_accuracy(X, y) > best + 0.2)
    True
    """
    dims = [int(d) for d in embedding_dims]
    if not dims or any(d < 2 for d in dims):
        raise ValueError(f"embedding_dims must hold widths of 2 or more, got {embedding_dims!r}.")
    if not isinstance(n_classes, Integral) or n_classes < 2:
        raise ValueError(f"n_classes must be an int of 2 or more, got {n_classes!r}.")
    if not isinstance(n_samples, Integral) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive int, got {n_samples!r}.")
    for name, p in [("expert_accuracy", expert_accuracy), ("other_accuracy", other_accuracy)]:
        if not 0 <= p <= 1:
            raise ValueError(f"{name} must lie in [0, 1], got {p!r}.")
    rng = check_random_state(random_state)
    n_backbones = len(dims)
    y = rng.randint(n_classes, size=n_samples)
    domain = rng.randint(n_backbones, size=n_samples)
    confuser = (y + rng.randint(1, n_classes, size=n_samples)) % n_classes

    embeddings, logits = {}, {}
    for b, d in enumerate(dims):
        class_dirs = _unit_rows(rng.normal(size=(n_classes, d)))
        domain_dirs = _unit_rows(rng.normal(size=(n_backbones, d)))
        p_right = np.where(domain == b, expert_accuracy, other_accuracy)
        shown = np.where(rng.random_sample(n_samples) < p_right, y, confuser)
        noise = rng.normal(size=(n_samples, d)) / np.sqrt(d)
        h = _unit_rows(0.35 * class_dirs[shown] + 0.5 * domain_dirs[domain] + noise)
        name = f"backbone{b}"
        embeddings[name] = h
        logits[name] = logit_scale * h @ class_dirs.T
    return BackboneFeatures(embeddings, logits, classes=np.arange(n_classes)), y


def _unit_rows(a):
    return a / np.linalg.norm(a, axis=1, keepdims=True)
