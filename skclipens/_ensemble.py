"""The shared base of every backbone ensemble, and the Neural Logit Controller."""

import warnings
from numbers import Integral, Real

import numpy as np
import torch
from scipy.special import log_softmax, softmax
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from . import _controller
from ._features import BackboneFeatures, l2_normalise_blocks

__all__ = ["AdaptiveBackboneEnsemble"]

#: The logit scale of the class-prototype heads built for inputs without
#: logits (a cosine times this number), as CLIP's logit scale is for text heads.
PROTOTYPE_SCALE = 10.0

#: Rows handled at once at prediction, which bounds the memory it needs.
CHUNK_SIZE = 4096


class BaseBackboneEnsemble(ClassifierMixin, BaseEstimator):
    """What every ensemble of backbones shares: input checks, class alignment,
    class-prototype heads for inputs without logits, and the prediction methods.

    A subclass implements ``_fit(inputs, logits, y)`` and
    ``_decision(inputs, logits)``, where ``inputs`` is the (n, D) float32
    concatenation of the L2-normalised embeddings, ``logits`` the (n, B, C)
    float32 per-backbone logits with classes in the order of ``classes_``,
    and ``y`` the labels encoded as indices into ``classes_``.
    ``_decision`` returns class scores whose softmax is the ensemble's
    ``predict_proba`` (logits, or log-probabilities).

    Inputs are either :class:`BackboneFeatures` or a plain 2-D array. A
    plain array's columns are split into backbones by ``backbone_widths``
    (default: one block). Without logits, each backbone gets a head of class
    prototypes: the normalised mean of the normalised training embeddings of
    each class, scored by cosine times ``PROTOTYPE_SCALE``. On the training
    rows each image's own class prototype leaves that image out, so the
    training logits are honest estimates of held-out ones.
    """

    _parameter_constraints = {
        "backbone_widths": ["array-like", None],
    }

    # -- fitting ------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Fit the ensemble on labelled images.

        Parameters
        ----------
        X : BackboneFeatures or array-like of shape (n_samples, n_features)
            Per-backbone embeddings (and logits), or a plain array whose
            columns ``backbone_widths`` splits into backbones.
        y : array-like of shape (n_samples,)
            The labels. With logits, every label must be one of their classes.

        Returns
        -------
        self : object
        """
        inputs, logits, y = self._prepare_fit(X, y)
        self._fit(inputs, logits, y)
        return self

    def _prepare_fit(self, X, y):
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None."
            )
        if isinstance(X, BackboneFeatures):
            data, stacked, offsets = self._check_features(X, reset=True)
            y = column_or_1d(y, warn=True)
            check_consistent_length(X, y)
        else:
            data, y = validate_data(self, X, y, dtype=np.float32, copy=True)
            offsets = self._layout_from_widths(data.shape[1])
            l2_normalise_blocks(data, offsets)
            self.backbones_ = [f"block{i}" for i in range(len(offsets) - 1)]
            self._heads = "array"
            stacked = None
        with warnings.catch_warnings():
            # Few-shot data has many classes per sample by design; that is not
            # a sign of a regression target here.
            warnings.filterwarnings("ignore", "The number of unique classes is greater than 50%")
            check_classification_targets(y)
        self.classes_, y_encoded = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(
                f"{type(self).__name__} needs at least 2 classes in y, got 1 class: "
                f"{self.classes_.tolist()}."
            )
        self._offsets = offsets
        if stacked is None:
            logits = self._fit_prototypes(data, y_encoded)
        else:
            self.prototypes_ = None
            logits = self._aligned_logits(stacked, X.classes, fitting=True)
        return data, logits, y_encoded.astype(np.int64)

    def _layout_from_widths(self, n_features):
        if self.backbone_widths is None:
            return np.array([0, n_features])
        widths = np.asarray(self.backbone_widths)
        if widths.ndim != 1 or widths.size == 0 or not np.issubdtype(widths.dtype, np.integer):
            raise ValueError(
                f"backbone_widths must be a list of positive ints, got {self.backbone_widths!r}."
            )
        if (widths <= 0).any() or widths.sum() != n_features:
            raise ValueError(
                f"backbone_widths {widths.tolist()} must be positive and add up to the "
                f"{n_features} columns of X."
            )
        return np.concatenate([[0], np.cumsum(widths)])

    def _fit_prototypes(self, inputs, y):
        """Fit ``prototypes_``; return the training rows' prototype logits.

        Each training row is left out of its own class's prototype, so its
        logits are those of an image the head has not seen (the own-class
        logit is 0 for a class's only image)."""
        n_classes = len(self.classes_)
        one_hot = np.eye(n_classes)[y]
        alone = one_hot.sum(axis=0)[y] == 1
        self.prototypes_, own_class_cosines = [], []
        for start, stop in zip(self._offsets[:-1], self._offsets[1:]):
            x = inputs[:, start:stop].astype(np.float64)
            sums = one_hot.T @ x
            norms = np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
            self.prototypes_.append((sums / norms).astype(np.float32))
            rest = sums[y] - x  # the row's own class without the row
            cosine = np.einsum("ij,ij->i", x, rest) / np.maximum(
                np.linalg.norm(rest, axis=1), 1e-12
            )
            own_class_cosines.append(np.where(alone, 0.0, cosine))
        logits = self._prototype_logits(inputs)
        logits[np.arange(len(y)), :, y] = PROTOTYPE_SCALE * np.stack(own_class_cosines, axis=1)
        return logits

    def _prototype_logits(self, inputs):
        """Cosine to each class prototype times PROTOTYPE_SCALE, (n, B, C) float32.

        Computed in float64, so that a row's logits do not depend on the
        other rows it is computed with."""
        blocks = zip(self._offsets[:-1], self._offsets[1:], self.prototypes_)
        cosines = [
            inputs[:, start:stop].astype(np.float64) @ proto.T.astype(np.float64)
            for start, stop, proto in blocks
        ]
        return (PROTOTYPE_SCALE * np.stack(cosines, axis=1)).astype(np.float32)

    # -- inputs at prediction -----------------------------------------------
    def _check_features(self, X, reset):
        names, widths = X.backbones, list(X.widths.values())
        if reset:
            self.backbones_ = names
            self.n_features_in_ = X.shape[1]
            self._widths = widths
            self._heads = "prototypes" if X.classes is None else "logits"
        else:
            if names != self.backbones_ or widths != self._widths:
                raise ValueError(
                    f"{type(self).__name__} was fitted on backbones "
                    f"{dict(zip(self.backbones_, self._widths))} (name: width), but X has "
                    f"{X.widths}: predict on features of the same backbones, in the same order."
                )
            if self._heads == "logits" and X.classes is None:
                raise ValueError(
                    f"{type(self).__name__} was fitted on per-backbone logits, but X has none: "
                    "build the features with the same zero-shot heads as at fit."
                )
            if self._heads == "prototypes" and X.classes is not None:
                raise ValueError(
                    f"{type(self).__name__} was fitted on features without logits (its heads "
                    "are class prototypes), but X has logits: fit and predict on the same kind."
                )
        return X._data, X._stacked_logits(), X._offsets

    def _check_predict_input(self, X):
        check_is_fitted(self)
        if isinstance(X, BackboneFeatures):
            if self._heads == "array":
                raise ValueError(
                    f"{type(self).__name__} was fitted on a plain array; "
                    "predict on a plain array with the same columns."
                )
            return self._check_features(X, reset=False)
        if self._heads != "array":
            raise ValueError(
                f"{type(self).__name__} was fitted on BackboneFeatures; a plain array has "
                "no backbone layout: predict on BackboneFeatures of the same backbones."
            )
        data = validate_data(self, X, dtype=np.float32, reset=False, copy=True)
        return l2_normalise_blocks(data, self._offsets), None, self._offsets

    def _logit_columns(self, feature_classes, fitting=False):
        position = {c: i for i, c in enumerate(feature_classes.tolist())}
        missing = [c for c in self.classes_.tolist() if c not in position]
        if missing:
            where = "y holds labels" if fitting else f"{type(self).__name__} was fitted on labels"
            raise ValueError(
                f"{where} {missing} that the logits have no column for; the logits' classes are "
                f"{feature_classes.tolist()}. Build the features' heads for every label."
            )
        return np.array([position[c] for c in self.classes_.tolist()])

    def _aligned_logits(self, stacked, feature_classes, fitting=False):
        """The logits' columns in the order of ``classes_`` (a view when they are)."""
        columns = self._logit_columns(feature_classes, fitting)
        if np.array_equal(columns, np.arange(stacked.shape[2])):
            return stacked
        return np.take(stacked, columns, axis=2)

    def _iter_chunks(self, X):
        """Yield (inputs, logits) over the rows of X in chunks of CHUNK_SIZE rows."""
        data, stacked, offsets = self._check_predict_input(X)
        classes = None if stacked is None else X.classes
        for start in range(0, max(len(data), 1), CHUNK_SIZE):
            rows = slice(start, start + CHUNK_SIZE)
            inputs = data[rows]
            if stacked is None:
                logits = self._prototype_logits(inputs)
            else:
                logits = self._aligned_logits(stacked[rows], classes)
            yield inputs, logits

    def _scores(self, X):
        # float32 where the ensemble computes in float32 (the torch ones):
        # no digits are claimed that the computation does not have.
        chunks = [self._decision(inputs, logits) for inputs, logits in self._iter_chunks(X)]
        return np.concatenate(chunks)

    # -- the public prediction methods --------------------------------------
    def decision_function(self, X):
        """Class scores: the ensemble's logits (log-probabilities for ensembles
        that average probabilities).

        Returns
        -------
        scores : ndarray of shape (n_samples, n_classes), or (n_samples,) for two classes
            For two classes, the score of ``classes_[1]`` minus that of ``classes_[0]``.
        """
        scores = self._scores(X)
        return scores[:, 1] - scores[:, 0] if len(self.classes_) == 2 else scores

    def predict_log_proba(self, X):
        """Log of :meth:`predict_proba`."""
        return log_softmax(self._scores(X), axis=1)

    def predict_proba(self, X):
        """Class probabilities, columns in the order of ``classes_``; rows sum to 1."""
        return softmax(self._scores(X), axis=1)

    def predict(self, X):
        """The most probable class of each image."""
        scores = self._scores(X)
        return self.classes_[np.argmax(scores, axis=1)]


class GateEnsemble(BaseBackboneEnsemble):
    """An ensemble whose per-image weights come from a gate network on the
    embeddings, trained with torch (see ``_controller``). A subclass says
    which gate through ``_gate_settings()``: (hidden width, activation,
    combination). Its fitted gate is ``controller_``.
    """

    _parameter_constraints = {
        **BaseBackboneEnsemble._parameter_constraints,
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    }

    def _fit(self, inputs, logits, y):
        hidden, activation, combination = self._gate_settings()
        generator = _torch_generator(self.random_state)
        self.controller_ = _controller.build_gate(
            np.diff(self._offsets), logits.shape[1], hidden, activation, combination, generator
        )
        self.n_iter_, self.loss_curve_ = _controller.train_gate(
            self.controller_,
            combination,
            inputs,
            logits,
            y,
            learning_rate=self.learning_rate,
            weight_decay=self.weight_decay,
            max_iter=self.max_iter,
            batch_size=self.batch_size,
            tol=self.tol,
            n_iter_no_change=self.n_iter_no_change,
            generator=generator,
        )

    def _decision(self, inputs, logits):
        combination = self._gate_settings()[2]
        with torch.inference_mode():
            outputs = self.controller_(_controller.as_tensor(inputs))
            return _controller.combine(outputs, _controller.as_tensor(logits), combination).numpy()

    def _gate_values(self, X):
        check_is_fitted(self)
        combination = self._gate_settings()[2]
        chunks = []
        with torch.inference_mode():
            for inputs, _ in self._iter_chunks(X):
                outputs = self.controller_(_controller.as_tensor(inputs))
                chunks.append(_controller.temperatures(outputs, combination).numpy())
        return np.concatenate(chunks)


class AdaptiveBackboneEnsemble(GateEnsemble):
    """The Neural Logit Controller: per-image weights over backbones, learned.

    A small MLP reads the concatenation of every backbone's L2-normalised
    image embedding and outputs one number per backbone, a temperature
    ``t_b(x)`` shared across classes; the ensemble's logits combine the
    backbones' logits with them (``z(x) = sum_b t_b(x) z_b(x)`` by default).
    Only the MLP learns, by cross-entropy on the labelled images. The MLP's
    output layer starts at zero with a bias that makes the untrained
    controller exactly the plain logit average. Method: Rodriguez-Opazo et
    al., "Synergy and Diversity in CLIP: Enhancing Performance Through
    Adaptive Backbone Ensembling", ICLR 2025.

    Parameters
    ----------
    hidden_layer_size : int, default=128
        Width of the MLP's one hidden layer (the paper's). 0 makes the
        controller linear in the embeddings.
    combination : {"multiply", "divide", "softmax"}, default="multiply"
        How the controller's outputs combine the logits (the paper does not
        say): ``"multiply"``: ``z = sum_b t_b z_b``; ``"divide"``: positive
        temperatures ``t_b = softplus(o_b)`` and ``z = sum_b z_b / t_b``;
        ``"softmax"``: weights ``w = softmax(o)`` over backbones and
        ``z = sum_b w_b z_b``.
    activation : {"tanh", "relu", "gelu"}, default="tanh"
        The hidden layer's activation (not reported in the paper). tanh
        generalised best from few shots on the simulated zoo (see Notes).
    learning_rate : float, default=2e-4
        Adam's learning rate (the paper's).
    weight_decay : float, default=0.01
        Adam's weight decay (the paper's).
    max_iter : int, default=200
        Most epochs (passes over the data). See Notes for the choice.
    batch_size : int, default=256
        Mini-batch size; data smaller than this trains in one full batch.
    tol : float, default=1e-4
        Training stops once the epoch's mean loss has not fallen by ``tol``
        for ``n_iter_no_change`` epochs in a row.
    n_iter_no_change : int, default=10
        See ``tol``.
    backbone_widths : list of int, default=None
        How a plain 2-D array's columns split into backbones. ``None``: one
        block. Ignored for :class:`BackboneFeatures`, which carry their layout.
    random_state : int, RandomState instance or None, default=None
        Seeds the controller's initialisation and batch order (a local torch
        generator; the global torch seed is not touched).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The labels seen in ``fit``, in sorted order.
    backbones_ : list of str
        The backbone names (``"block0"``, ... for plain arrays).
    n_features_in_ : int
        Number of embedding columns seen in ``fit``.
    controller_ : torch.nn.Module
        The fitted MLP, on the CPU.
    prototypes_ : list of ndarray of shape (n_classes, d_b) or None
        The class-prototype heads, when the input had no logits.
    n_iter_ : int
        Epochs run.
    loss_curve_ : list of float
        Mean training loss of each epoch.

    See Also
    --------
    LogitAverage : What the untrained controller computes.
    SuperLearner : One learned weight per backbone, the same for every image.
    MixtureOfExperts : A gate that mixes the backbones' probabilities.

    Notes
    -----
    The paper gives the width, optimiser, learning rate and weight decay; the
    rest are ours. Because the output layer starts at zero, the controller
    begins at the logit average and every step moves it towards per-image
    weights. With one shot per class the data fits in one batch, so an epoch
    is one Adam step. On the simulated zoo at one shot, test accuracy peaked
    at about 50 epochs and then fell as the controller memorised its few
    images (nine backbones, 100 classes: 0.72 at 50 epochs, 0.65 at 200,
    0.55 at 400), while the training loss flattened at the same point; the
    plateau rule (``tol``, ``n_iter_no_change``) stopped those fits after 40
    to 100 epochs, near the peak. ``max_iter=200`` is the cap for the rare
    fit that keeps improving. With 16 shots (several batches per epoch)
    accuracy was flat from 50 to 400 epochs.

    On the simulated zoo (``make_backbone_zoo``), tanh beat ReLU in every
    setting tried, by 1 to 3 points with 4 backbones and 10 or 100 classes,
    and by 19 points (0.71 against 0.52) with nine backbones of the OpenAI
    widths at one shot per class: a bounded hidden layer keeps the
    temperatures from growing to memorise a handful of images.

    Examples
    --------
    >>> from skclipens import AdaptiveBackboneEnsemble, make_backbone_zoo
    >>> X, y = make_backbone_zoo(n_samples=600, random_state=0)
    >>> nlc = AdaptiveBackboneEnsemble(random_state=0).fit(X[:200], y[:200])
    >>> nlc.predict_proba(X[200:]).shape
    (400, 10)
    >>> nlc.temperatures(X[200:]).shape
    (400, 4)
    """

    _parameter_constraints = {
        **GateEnsemble._parameter_constraints,
        "hidden_layer_size": [Interval(Integral, 0, None, closed="left")],
        "combination": [StrOptions({"multiply", "divide", "softmax"})],
        "activation": [StrOptions(set(_controller.ACTIVATIONS))],
    }

    def __init__(
        self,
        *,
        hidden_layer_size=128,
        combination="multiply",
        activation="tanh",
        learning_rate=2e-4,
        weight_decay=0.01,
        max_iter=200,
        batch_size=256,
        tol=1e-4,
        n_iter_no_change=10,
        backbone_widths=None,
        random_state=None,
    ):
        self.hidden_layer_size = hidden_layer_size
        self.combination = combination
        self.activation = activation
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.backbone_widths = backbone_widths
        self.random_state = random_state

    def _gate_settings(self):
        return self.hidden_layer_size, self.activation, self.combination

    def temperatures(self, X):
        """The controller's per-image, per-backbone numbers, as the combination uses them.

        For ``"multiply"`` the factors ``t_b(x)`` of the logits, for
        ``"divide"`` the positive temperatures that divide them, for
        ``"softmax"`` the weights (rows sum to 1).

        Returns
        -------
        temperatures : ndarray of shape (n_samples, n_backbones)
            Columns in the order of ``backbones_``.
        """
        return self._gate_values(X)


def _torch_generator(random_state):
    """A torch generator seeded from an sklearn-style random_state."""
    seed = int(check_random_state(random_state).randint(0, 2**31 - 1))
    return torch.Generator().manual_seed(seed)
