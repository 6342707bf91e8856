"""BackboneFeatures: the seam between the feature stage and the ensembles."""

from numbers import Integral

import numpy as np

__all__ = ["BackboneFeatures"]


class BackboneFeatures:
    """Per-backbone image embeddings and zero-shot logits, seen as one 2-D array.

    This is what ``CLIPFeatures.transform`` returns and what the ensembles fit
    on. It behaves as the float32 array of the backbones' embeddings
    concatenated column-wise (``np.asarray(X)``, ``X.shape``, ``len(X)``), so
    any scikit-learn estimator can use it as is, and it also carries its
    layout: which columns belong to which backbone, each backbone's class
    logits and the class order of those logits.

    Row indexing keeps the layout: an integer array, a boolean mask, a list
    or a slice, alone or as ``X[rows, ...]`` / ``X[rows, :]`` (what
    cross-validation splitters and ``sklearn.utils._safe_indexing`` do),
    returns a ``BackboneFeatures`` with those rows. Any other key, a single
    row or a column selection, indexes the plain concatenated array and
    returns a NumPy array. Pickling keeps everything.

    The stored arrays are read-only copies: changing the arrays that were
    passed in does not change the features, and the features cannot be
    changed in place.

    Parameters
    ----------
    embeddings : dict of str to array-like of shape (n_samples, d_b)
        Image embeddings per backbone, in the order of the dict. They are
        stored as float32 and L2-normalised, each row of each backbone (as
        CLIP's similarities use them; a row of zeros stays zeros).
    logits : dict of str to array-like of shape (n_samples, n_classes), default=None
        Class logits per backbone (in CLIP's zero-shot setting, the logit
        scale times the cosine between image and class text embeddings),
        with the same keys as ``embeddings``. ``None`` when no heads exist
        yet; the ensembles then build heads from the labelled data.
    classes : array-like of shape (n_classes,), default=None
        The class of each logit column. Required with ``logits``; must be
        ``None`` without them.

    Attributes
    ----------
    backbones : list of str
        The backbone names, in column order.
    embeddings : dict of str to ndarray of shape (n_samples, d_b)
        Read-only views of each backbone's columns, L2-normalised.
    logits : dict of str to ndarray of shape (n_samples, n_classes) or None
        Read-only views of each backbone's logits.
    classes : ndarray of shape (n_classes,) or None
        The class order of the logits.
    widths : dict of str to int
        The embedding width of each backbone.
    shape : tuple of int
        ``(n_samples, sum of the widths)``.

    Examples
    --------
    >>> import numpy as np
    >>> from skclipens import BackboneFeatures
    >>> rng = np.random.default_rng(0)
    >>> X = BackboneFeatures(
    ...     embeddings={"RN50": rng.normal(size=(4, 3)), "ViT-B-32": rng.normal(size=(4, 2))},
    ...     logits={"RN50": rng.normal(size=(4, 2)), "ViT-B-32": rng.normal(size=(4, 2))},
    ...     classes=["cat", "dog"],
    ... )
    >>> X.shape
    (4, 5)
    >>> X[[0, 2]].logits["RN50"].shape
    (2, 2)
    >>> np.asarray(X).dtype
    dtype('float32')
    """

    def __init__(self, embeddings, logits=None, classes=None):
        names, blocks = _check_embeddings(embeddings)
        n_samples = blocks[0].shape[0]
        self._names = names
        self._offsets = np.cumsum([0] + [b.shape[1] for b in blocks])
        self._data = _readonly(l2_normalise_blocks(np.concatenate(blocks, axis=1), self._offsets))
        self._logits = None
        self._classes = None
        if logits is None:
            if classes is not None:
                raise ValueError(
                    "classes names the columns of logits, but logits is None: "
                    "pass logits too, or leave classes out."
                )
            return
        self._classes = _check_classes(classes)
        self._logits = _readonly(_check_logits(logits, names, n_samples, len(self._classes)))

    @classmethod
    def _from_parts(cls, names, data, offsets, logits, classes):
        """Build from already validated parts (used by row indexing)."""
        self = cls.__new__(cls)
        self._names = names
        self._data = _readonly(data)
        self._offsets = offsets
        self._logits = None if logits is None else _readonly(logits)
        self._classes = classes
        return self

    # -- the layout -------------------------------------------------------
    @property
    def backbones(self):
        return list(self._names)

    @property
    def widths(self):
        return {name: int(w) for name, w in zip(self._names, np.diff(self._offsets))}

    @property
    def embeddings(self):
        return {
            name: self._data[:, self._offsets[i] : self._offsets[i + 1]]
            for i, name in enumerate(self._names)
        }

    @property
    def logits(self):
        if self._logits is None:
            return None
        return {name: self._logits[:, i, :] for i, name in enumerate(self._names)}

    @property
    def classes(self):
        return self._classes

    def _stacked_logits(self):
        """The logits as one read-only array of shape (n_samples, n_backbones, n_classes)."""
        return self._logits

    # -- the array protocol ----------------------------------------------
    @property
    def shape(self):
        return self._data.shape

    @property
    def ndim(self):
        return 2

    @property
    def dtype(self):
        return self._data.dtype

    def __len__(self):
        return self._data.shape[0]

    def __array__(self, dtype=None, copy=None):
        if copy is False and dtype is not None and np.dtype(dtype) != self._data.dtype:
            raise ValueError(
                "BackboneFeatures cannot be converted to another dtype without a copy."
            )
        data = self._data if dtype is None else self._data.astype(dtype, copy=False)
        return data.copy() if copy else data

    def __getitem__(self, key):
        rows = _row_key(key)
        if rows is None:
            return self._data[key]
        rows = _normalise_rows(rows, len(self))
        logits = None if self._logits is None else self._logits[rows]
        return BackboneFeatures._from_parts(
            self._names, self._data[rows], self._offsets, logits, self._classes
        )

    def __repr__(self):
        heads = "no logits" if self._classes is None else f"{len(self._classes)} classes"
        layout = ", ".join(f"{name}: {w}" for name, w in self.widths.items())
        return f"BackboneFeatures({len(self)} samples; {layout}; {heads})"


def l2_normalise_blocks(data, offsets):
    """``data`` (float32) with each row of each block ``[offsets[i], offsets[i+1])``
    L2-normalised in place; a row of zeros stays zeros. Returns ``data``."""
    for start, stop in zip(offsets[:-1], offsets[1:]):
        block = data[:, start:stop]
        norms = np.sqrt(np.einsum("ij,ij->i", block, block, dtype=np.float64))
        block /= np.maximum(norms, 1e-30).astype(np.float32)[:, None]
    return data


def _readonly(array):
    array.setflags(write=False)
    return array


def _as_float_block(value, what, name):
    try:
        block = np.array(value, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} of backbone {name!r} is not a numeric array: {exc}") from None
    if block.ndim != 2:
        raise ValueError(
            f"{what} of backbone {name!r} must be 2-D (n_samples, width), got shape {block.shape}."
        )
    if not np.isfinite(block).all():
        bad = np.argwhere(~np.isfinite(block))[0]
        raise ValueError(
            f"{what} of backbone {name!r} holds NaN or infinity "
            f"(first at row {bad[0]}, column {bad[1]}): remove or recompute those rows."
        )
    return block


def _check_embeddings(embeddings):
    if not isinstance(embeddings, dict):
        raise ValueError(
            "embeddings must be a dict mapping backbone name to an (n_samples, width) array, "
            f"got {type(embeddings).__name__}."
        )
    if not embeddings:
        raise ValueError("embeddings is empty: give at least one backbone's embeddings.")
    names, blocks = [], []
    for name, value in embeddings.items():
        if not isinstance(name, str):
            raise ValueError(f"backbone names must be strings, got {name!r}.")
        block = _as_float_block(value, "the embedding", name)
        if block.shape[1] == 0:
            raise ValueError(f"the embedding of backbone {name!r} has no columns.")
        names.append(name)
        blocks.append(block)
    n_samples = blocks[0].shape[0]
    for name, block in zip(names, blocks):
        if block.shape[0] != n_samples:
            raise ValueError(
                f"the embedding of backbone {name!r} has {block.shape[0]} rows, but the one of "
                f"{names[0]!r} has {n_samples}: every backbone needs one row per image."
            )
    if n_samples == 0:
        raise ValueError("embeddings hold no rows: give at least one image.")
    return tuple(names), blocks


def _check_classes(classes):
    if classes is None:
        raise ValueError("logits need classes: pass classes=[...], one per logit column.")
    classes = np.asarray(classes)
    if classes.ndim != 1 or len(classes) == 0:
        raise ValueError(f"classes must be a non-empty 1-D list, got shape {classes.shape}.")
    values, counts = np.unique(classes, return_counts=True)
    if (counts > 1).any():
        raise ValueError(f"classes holds duplicates: {values[counts > 1].tolist()}.")
    return _readonly(classes.copy())


def _check_logits(logits, names, n_samples, n_classes):
    if not isinstance(logits, dict):
        raise ValueError(
            "logits must be a dict mapping backbone name to an (n_samples, n_classes) array, "
            f"got {type(logits).__name__}."
        )
    missing = [n for n in names if n not in logits]
    extra = [n for n in logits if n not in names]
    if missing or extra:
        raise ValueError(
            "logits and embeddings must name the same backbones: "
            f"logits lack {missing}, and have {extra} that embeddings lack."
        )
    stacked = np.empty((n_samples, len(names), n_classes), dtype=np.float32)
    for i, name in enumerate(names):
        block = _as_float_block(logits[name], "the logits", name)
        if block.shape[0] != n_samples:
            raise ValueError(
                f"the logits of backbone {name!r} have {block.shape[0]} rows, "
                f"but the embeddings have {n_samples}."
            )
        if block.shape[1] != n_classes:
            raise ValueError(
                f"the logits of backbone {name!r} have {block.shape[1]} columns, "
                f"but there are {n_classes} classes: one column per class."
            )
        stacked[:, i, :] = block
    return stacked


def _row_key(key):
    """The row part of ``key`` when ``key`` selects rows only, else None."""
    if isinstance(key, tuple):
        if len(key) == 2 and (key[1] is Ellipsis or _is_full_slice(key[1])):
            key = key[0]
        elif len(key) == 1:
            key = key[0]
        else:
            return None
    if key is Ellipsis or isinstance(key, (Integral, np.integer)):
        return None
    return key


def _is_full_slice(key):
    return isinstance(key, slice) and key == slice(None)


def _normalise_rows(rows, n_samples):
    if isinstance(rows, slice):
        return rows
    rows = np.asarray(rows)
    if rows.dtype == bool:
        if rows.shape != (n_samples,):
            raise IndexError(
                f"boolean row mask has shape {rows.shape}, but there are {n_samples} rows."
            )
        return np.flatnonzero(rows)
    if rows.ndim != 1 or not (rows.size == 0 or np.issubdtype(rows.dtype, np.integer)):
        raise IndexError(
            "BackboneFeatures rows are selected by a slice, a 1-D integer array or a boolean mask."
        )
    return rows.astype(np.intp, copy=False)
