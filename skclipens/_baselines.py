"""Baseline ensembles: the same input, the same pipeline slot as the controller.

Each is a classifier over per-backbone logits, so a grid search can swap it
for :class:`AdaptiveBackboneEnsemble` in a pipeline's last step.
"""

from numbers import Integral, Real

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, logsumexp
from sklearn.utils._param_validation import Interval

from ._ensemble import BaseBackboneEnsemble, GateEnsemble

__all__ = [
    "BestSingleBackbone",
    "LogitAverage",
    "ProbabilityAverage",
    "MajorityVote",
    "CalibratedAverage",
    "SuperLearner",
    "MixtureOfExperts",
]


class _StaticBaseline(BaseBackboneEnsemble):
    """A baseline whose only parameter is the layout of plain arrays."""

    def __init__(self, *, backbone_widths=None):
        self.backbone_widths = backbone_widths

    def _fit(self, inputs, logits, y):
        """Nothing to learn by default."""


def _log_mean_proba(logits, weights=None):
    """log(sum_b w_b softmax(z_b)) for logits (n, B, C); uniform weights by default."""
    log_p = log_softmax(logits.astype(np.float64), axis=2)
    if weights is None:
        return logsumexp(log_p, axis=1) - np.log(logits.shape[1])
    with np.errstate(divide="ignore"):
        log_w = np.log(weights)
    return logsumexp(log_p + log_w[None, :, None], axis=1)


class BestSingleBackbone(_StaticBaseline):
    """The one backbone with the highest accuracy on the training labels.

    Ties go to the backbone with the lower training log-loss.

    Parameters
    ----------
    backbone_widths : list of int, default=None
        How a plain 2-D array's columns split into backbones. ``None``: one
        block. Ignored for :class:`BackboneFeatures`, which carry their layout.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The labels seen in ``fit``, in sorted order.
    backbones_ : list of str
        The backbone names (``"block0"``, ... for plain arrays).
    n_features_in_ : int
        Number of embedding columns seen in ``fit``.
    prototypes_ : list of ndarray or None
        The class-prototype heads, when the input had no logits.
    best_backbone_ : str
        The chosen backbone.
    training_accuracies_ : ndarray of shape (n_backbones,)
        Each backbone's accuracy on the training labels.

    Examples
    --------
    >>> from skclipens import BestSingleBackbone, make_backbone_zoo
    >>> X, y = make_backbone_zoo(random_state=0)
    >>> BestSingleBackbone().fit(X, y).best_backbone_
    'backbone1'
    """

    def _fit(self, inputs, logits, y):
        rows = np.arange(len(y))
        self.training_accuracies_ = (logits.argmax(axis=2) == y[:, None]).mean(axis=0)
        log_loss = -log_softmax(logits.astype(np.float64), axis=2)[rows, :, y].mean(axis=0)
        order = np.lexsort((log_loss, -self.training_accuracies_))
        self.best_index_ = int(order[0])
        self.best_backbone_ = self.backbones_[self.best_index_]

    def _decision(self, inputs, logits):
        return logits[:, self.best_index_]


class LogitAverage(_StaticBaseline):
    """The mean of the backbones' logits (what an untrained controller computes).

    Parameters
    ----------
    backbone_widths : list of int, default=None
        How a plain 2-D array's columns split into backbones. ``None``: one
        block. Ignored for :class:`BackboneFeatures`, which carry their layout.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The labels seen in ``fit``, in sorted order.
    backbones_ : list of str
        The backbone names (``"block0"``, ... for plain arrays).
    n_features_in_ : int
        Number of embedding columns seen in ``fit``.
    prototypes_ : list of ndarray or None
        The class-prototype heads, when the input had no logits.
    """

    def _decision(self, inputs, logits):
        return logits.mean(axis=1)


class ProbabilityAverage(_StaticBaseline):
    """The mean of the backbones' softmax probabilities.

    Parameters
    ----------
    backbone_widths : list of int, default=None
        How a plain 2-D array's columns split into backbones. ``None``: one
        block. Ignored for :class:`BackboneFeatures`, which carry their layout.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The labels seen in ``fit``, in sorted order.
    backbones_ : list of str
        The backbone names (``"block0"``, ... for plain arrays).
    n_features_in_ : int
        Number of embedding columns seen in ``fit``.
    prototypes_ : list of ndarray or None
        The class-prototype heads, when the input had no logits.
    """

    def _decision(self, inputs, logits):
        return _log_mean_proba(logits)


class MajorityVote(_StaticBaseline):
    """Each backbone votes for its top class; the most votes win.

    Ties are broken by the mean probability, which is also folded into
    ``predict_proba``: ``(votes + mean probability) / (n_backbones + 1)``.

    Parameters
    ----------
    backbone_widths : list of int, default=None
        How a plain 2-D array's columns split into backbones. ``None``: one
        block. Ignored for :class:`BackboneFeatures`, which carry their layout.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The labels seen in ``fit``, in sorted order.
    backbones_ : list of str
        The backbone names (``"block0"``, ... for plain arrays).
    n_features_in_ : int
        Number of embedding columns seen in ``fit``.
    prototypes_ : list of ndarray or None
        The class-prototype heads, when the input had no logits.
    """

    def _decision(self, inputs, logits):
        n, n_backbones, n_classes = logits.shape
        votes = np.zeros((n, n_classes))
        np.add.at(votes, (np.arange(n)[:, None], logits.argmax(axis=2)), 1.0)
        share = (votes + np.exp(_log_mean_proba(logits))) / (n_backbones + 1)
        return np.log(np.maximum(share, np.finfo(np.float64).tiny))


class CalibratedAverage(_StaticBaseline):
    """The mean of the backbones' probabilities after temperature scaling.

    Each backbone gets one temperature ``T_b``, fit on the training labels to
    minimise the log-loss of ``softmax(z_b / T_b)``; the ensemble averages
    the calibrated probabilities.

    Parameters
    ----------
    backbone_widths : list of int, default=None
        How a plain 2-D array's columns split into backbones. ``None``: one
        block. Ignored for :class:`BackboneFeatures`, which carry their layout.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The labels seen in ``fit``, in sorted order.
    backbones_ : list of str
        The backbone names (``"block0"``, ... for plain arrays).
    n_features_in_ : int
        Number of embedding columns seen in ``fit``.
    prototypes_ : list of ndarray or None
        The class-prototype heads, when the input had no logits.
    temperatures_ : ndarray of shape (n_backbones,)
        The fitted temperature of each backbone.
    """

    def _fit(self, inputs, logits, y):
        rows = np.arange(len(y))
        logits = logits.astype(np.float64)

        def log_loss(log_t, b):
            return -log_softmax(logits[:, b] / np.exp(log_t), axis=1)[rows, y].mean()

        self.temperatures_ = np.array(
            [
                np.exp(minimize_scalar(log_loss, bounds=(-7, 7), args=(b,), method="bounded").x)
                for b in range(logits.shape[1])
            ]
        )

    def _decision(self, inputs, logits):
        return _log_mean_proba(logits / self.temperatures_[None, :, None])


class SuperLearner(BaseBackboneEnsemble):
    """A convex combination of the backbones' probabilities, one weight per backbone.

    The weights are the same for every image and minimise the training
    log-loss of ``sum_b w_b softmax(z_b)``; they are found by the EM
    algorithm for mixture weights, which converges to the optimum of this
    convex problem.

    Parameters
    ----------
    max_iter : int, default=1000
        Most EM iterations.
    tol : float, default=1e-8
        EM stops once no weight changes by more than this.
    backbone_widths : list of int, default=None
        How a plain 2-D array's columns split into backbones. ``None``: one
        block. Ignored for :class:`BackboneFeatures`, which carry their layout.

    Attributes
    ----------
    weights_ : ndarray of shape (n_backbones,)
        The fitted weights (they sum to 1).
    n_iter_ : int
        EM iterations run.
    classes_, backbones_, n_features_in_, prototypes_
        As for every backbone ensemble.
    """

    _parameter_constraints = {
        **BaseBackboneEnsemble._parameter_constraints,
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(self, *, max_iter=1000, tol=1e-8, backbone_widths=None):
        self.max_iter = max_iter
        self.tol = tol
        self.backbone_widths = backbone_widths

    def _fit(self, inputs, logits, y):
        rows = np.arange(len(y))
        log_p = log_softmax(logits.astype(np.float64), axis=2)[rows, :, y]  # (n, B)
        # Each row's scale cancels in the responsibilities, so work with
        # p / max_b p: no row underflows, and an iteration is one mat-vec.
        p = np.exp(log_p - log_p.max(axis=1, keepdims=True))
        n_backbones = p.shape[1]
        weights = np.full(n_backbones, 1.0 / n_backbones)
        n_iter = 0
        while n_iter < self.max_iter:
            n_iter += 1
            mixture = np.maximum(p @ weights, np.finfo(np.float64).tiny)
            new = weights * (p / mixture[:, None]).mean(axis=0)
            converged = np.abs(new - weights).max() <= self.tol
            weights = new
            if converged:
                break
        self.weights_, self.n_iter_ = weights, n_iter

    def _decision(self, inputs, logits):
        return _log_mean_proba(logits, self.weights_)


class MixtureOfExperts(GateEnsemble):
    """A learned gate mixes the backbones' probabilities, per image.

    A linear gate on the concatenated L2-normalised embeddings gives softmax
    weights ``g(x)`` over backbones, and ``p(x) = sum_b g_b(x) softmax(z_b(x))``;
    the gate is trained by the log-loss of ``p`` with Adam. It starts as the
    probability average. Unlike the controller, it mixes probabilities
    rather than logits, and its gate has no hidden layer.

    Parameters
    ----------
    learning_rate : float, default=2e-4
        Adam's learning rate (the controller's).
    weight_decay : float, default=0.01
        Adam's weight decay.
    max_iter : int, default=200
        Most epochs.
    batch_size : int, default=256
        Mini-batch size; smaller data trains in one full batch.
    tol : float, default=1e-4
        Training stops once the epoch's mean loss has not fallen by ``tol``
        for ``n_iter_no_change`` epochs in a row.
    n_iter_no_change : int, default=10
        See ``tol``.
    backbone_widths : list of int, default=None
        How a plain 2-D array's columns split into backbones. ``None``: one
        block. Ignored for :class:`BackboneFeatures`, which carry their layout.
    random_state : int, RandomState instance or None, default=None
        Seeds the gate's batch order (a local torch generator).

    Attributes
    ----------
    controller_ : torch.nn.Module
        The fitted gate.
    n_iter_ : int
        Epochs run.
    loss_curve_ : list of float
        Mean training loss of each epoch.
    classes_, backbones_, n_features_in_, prototypes_
        As for every backbone ensemble.
    """

    def __init__(
        self,
        *,
        learning_rate=2e-4,
        weight_decay=0.01,
        max_iter=200,
        batch_size=256,
        tol=1e-4,
        n_iter_no_change=10,
        backbone_widths=None,
        random_state=None,
    ):
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.backbone_widths = backbone_widths
        self.random_state = random_state

    def _gate_settings(self):
        return 0, None, "mixture"

    def gate_weights(self, X):
        """The gate's weights over backbones per image (rows sum to 1).

        Returns
        -------
        weights : ndarray of shape (n_samples, n_backbones)
            Columns in the order of ``backbones_``.
        """
        return self._gate_values(X)
