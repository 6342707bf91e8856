"""CLIPFeatures: images in, per-backbone embeddings and zero-shot logits out."""

import hashlib
import json
import os
from numbers import Integral

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, column_or_1d

from ._backbones import load_backbone, parse_backbone, preprocess_identity, resolve_device
from ._features import BackboneFeatures
from ._images import check_images, image_identity, load_image
from ._store import FeatureStore
from ._zero_shot import prompts_per_class, text_head

__all__ = ["CLIPFeatures"]

_PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


class CLIPFeatures(TransformerMixin, BaseEstimator):
    """CLIP image embeddings of several backbones, and their zero-shot logits.

    ``transform`` turns images into :class:`BackboneFeatures`: each
    backbone's L2-normalised image embedding and, once the classes are known
    (from ``y`` in ``fit`` or from ``classnames``), each backbone's zero-shot
    logits: the model's logit scale times the cosine between the image and
    each class's text embedding. Models load lazily, on first use, into a
    process-wide cache, so clones (in a grid search, say) do not reload them,
    and pickles carry no weights.

    Parameters
    ----------
    backbones : list of str or list of (str, str)
        Backbones in open_clip's terms: ``"MODEL:TAG"`` (``"ViT-B-32:openai"``),
        ``"MODEL:/path/to/weights.pt"``, ``"local-dir:/path/to/folder"``,
        ``"hf-hub:org/repo"``, or ``"MODEL"`` alone for random weights. As
        ``(name, spec)`` pairs, ``name`` names the backbone in the features.
    templates : str, list of str or dict, default="openai"
        Prompt templates: a named set (``"openai"``: CLIP's 80 ImageNet
        prompts; ``"simple"``: 7), strings with ``{}`` or ``{c}`` where the
        class name goes, or a dict mapping each class to its own prompts.
    classnames : dict, default=None
        Label to class name, for the prompts. By default a label's name is
        ``str(label)``. Given without ``y`` in ``fit``, its keys are the classes.
    batch_size : int, default=32
        Images encoded at once.
    device : str, torch.device or None, default=None
        ``None`` picks cuda, then mps, then cpu.
    precision : {"fp32", "fp16", "bf16"}, default="fp32"
        The models' precision (fp32 is the one to use on a CPU).
    cache : str or path-like, default=None
        A folder for the feature store: embeddings (and text heads) computed
        once are read back instead of recomputed, keyed by backbone, weights,
        preprocessing, precision and image (see ``FeatureStore``). A
        transform the store can answer in full loads no model. Backbones with
        random weights are not stored.
    verbose : bool, default=False
        A progress bar while encoding images.

    Attributes
    ----------
    backbones_ : list of (str, Backbone)
        The parsed backbones, by name.
    classes_ : ndarray of shape (n_classes,) or None
        The classes of the zero-shot heads, or None without heads.
    heads_ : dict of str to ndarray of shape (n_classes, d_b)
        Each backbone's unit-norm class text embeddings, rows in the order of ``classes_``.
    logit_scales_ : dict of str to float
        Each backbone's logit scale (100 for OpenAI's CLIP).
    """

    _parameter_constraints = {
        "backbones": [list, tuple],
        "templates": [str, list, tuple, dict],
        "classnames": [dict, None],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "device": [str, torch.device, None],
        "precision": [StrOptions(set(_PRECISIONS))],
        "cache": [str, os.PathLike, None],
        "verbose": ["boolean"],
    }

    def __init__(
        self,
        backbones,
        *,
        templates="openai",
        classnames=None,
        batch_size=32,
        device=None,
        precision="fp32",
        cache=None,
        verbose=False,
    ):
        self.backbones = backbones
        self.templates = templates
        self.classnames = classnames
        self.batch_size = batch_size
        self.device = device
        self.precision = precision
        self.cache = cache
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X=None, y=None):
        """Resolve the backbones and, with labels or class names, build their zero-shot heads.

        Parameters
        ----------
        X : sequence of images, default=None
            Not encoded here (``transform`` checks and encodes images); only
            its length is checked against ``y``.
        y : array-like of shape (n_samples,), default=None
            Labels: their sorted unique values are the classes of the heads.

        Returns
        -------
        self : object
        """
        self.backbones_ = self._parse_backbones()
        if y is not None:
            y = column_or_1d(y, warn=True)
            if X is not None and len(X) != len(y):
                raise ValueError(f"X has {len(X)} images but y has {len(y)} labels.")
            self.classes_ = np.unique(y)
        elif self.classnames is not None:
            self.classes_ = np.array(list(self.classnames))
        else:
            self.classes_ = None
        self.heads_, self.logit_scales_ = {}, {}
        if self.classes_ is not None:
            prompts = prompts_per_class(self.templates, self.classes_.tolist(), self.classnames)
            store = self._store()
            for name, backbone in self.backbones_:
                self.heads_[name], self.logit_scales_[name] = self._head(backbone, prompts, store)
            if store is not None:
                store.close()
        return self

    def transform(self, X):
        """Encode images.

        Parameters
        ----------
        X : sequence of images
            File paths, ``pathlib.Path``, PIL images, NumPy arrays (HxW, HxWx3,
            HxWx4; uint8 or float in [0, 1]) or encoded bytes; or one NumPy
            array of shape (n, H, W[, C]).

        Returns
        -------
        BackboneFeatures
            Embeddings of every backbone and, with heads, their logits.
        """
        check_is_fitted(self, "backbones_")
        check_images(X)
        if len(X) == 0:
            raise ValueError("X holds no images: give at least one.")
        embeddings = self._embed(X)
        if self.classes_ is None:
            return BackboneFeatures(embeddings)
        logits = {
            name: self.logit_scales_[name] * embeddings[name] @ self.heads_[name].T
            for name in embeddings
        }
        return BackboneFeatures(embeddings, logits, classes=self.classes_)

    # -- helpers --------------------------------------------------------------
    def _parse_backbones(self):
        if len(self.backbones) == 0:
            raise ValueError("backbones is empty: name at least one, e.g. ['ViT-B-32:openai'].")
        parsed = []
        for item in self.backbones:
            name, spec = item if isinstance(item, tuple) else (item, item)
            parsed.append((name, parse_backbone(spec)))
        names = [name for name, _ in parsed]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"backbones names {duplicates} more than once: name each once.")
        return parsed

    def _store(self):
        return None if self.cache is None else FeatureStore(self.cache)

    def _load(self, backbone):
        return load_backbone(backbone, resolve_device(self.device), self.precision)

    def _stored_model(self, backbone, store):
        """``(model key, logit scale)`` of ``backbone`` in ``store``, loading it only when the
        store has no record of it; ``(None, None)`` when its vectors are not stored.

        The model key names the weights, the preprocessing and the precision.
        The preprocessing and the logit scale come from the loaded model; the
        store keeps them in a record (keyed by the weights, the precision and
        open_clip's version), so that a transform the store can answer loads
        no model at all.
        """
        import open_clip

        weights = backbone.weights_identity()
        if weights is None and not backbone.random_weights:  # hub files not cached yet
            self._load(backbone)
            weights = backbone.weights_identity()
        if weights is None or store is None:
            return None, None
        record_key = f"model:{weights}|{self.precision}|open_clip {open_clip.__version__}"
        record = store.get_record(record_key)
        if record is None:
            loaded = self._load(backbone)
            record = {
                "preprocess": preprocess_identity(loaded.preprocess),
                "logit_scale": loaded.logit_scale,
            }
            store.put_record(record_key, record)
        return f"{weights}|{record['preprocess']}|{self.precision}", record["logit_scale"]

    def _head(self, backbone, prompts, store):
        key, logit_scale = self._stored_model(backbone, store)
        if key is None:
            loaded = self._load(backbone)
            return text_head(loaded, prompts), loaded.logit_scale
        digest = hashlib.sha256(json.dumps(prompts).encode()).hexdigest()
        head_key = f"{key}|text:{digest}"
        head = store.get_head(head_key)
        if head is None:
            head = text_head(self._load(backbone), prompts)
            store.put_head(head_key, head)
        return head, logit_scale

    def _embed(self, images):
        """Each backbone's embeddings of ``images``: from the store where it has
        them, encoded in batches (and stored, one transaction a batch) where not.
        A backbone is loaded only if some of its vectors must be encoded."""
        n = len(images)
        store = self._store()
        keys = None if store is None else [image_identity(im, i) for i, im in enumerate(images)]
        plans = []  # (name, loaded or None, model_key, rows found, vectors found)
        for name, backbone in self.backbones_:
            key = None if store is None else self._stored_model(backbone, store)[0]
            found_rows, found = np.array([], dtype=int), None
            if key is not None:
                found, mask = store.get(key, keys)
                found_rows = np.flatnonzero(mask)
            loaded = self._load(backbone) if len(found_rows) < n else None
            plans.append((name, loaded, key, found_rows, found))

        missing = {name: np.setdiff1d(np.arange(n), rows) for name, _, _, rows, _ in plans}
        todo = np.unique(np.concatenate(list(missing.values())))
        encoded = {name: [] for name, *_ in plans}
        batches = [todo[i : i + self.batch_size] for i in range(0, len(todo), self.batch_size)]
        for batch in _progress(batches, self.verbose, len(todo)):
            pictures = {i: load_image(images[i], position=i) for i in batch}
            for name, loaded, key, _, _ in plans:
                rows = batch[np.isin(batch, missing[name])]
                if len(rows) == 0:
                    continue
                vectors = _encode(loaded, [pictures[i] for i in rows], self.precision)
                encoded[name].append((rows, vectors))
                if key is not None:
                    store.put(key, [keys[i] for i in rows], vectors)

        if store is not None:
            store.close()
        embeddings = {}
        for name, _, _, found_rows, found in plans:
            parts = encoded[name] + ([(found_rows, found)] if len(found_rows) else [])
            width = parts[0][1].shape[1]
            out = np.empty((n, width), dtype=np.float32)
            for rows, vectors in parts:
                out[rows] = vectors
            embeddings[name] = out
        return embeddings


def _encode(loaded, pictures, precision):
    batch = torch.stack([loaded.preprocess(p) for p in pictures])
    batch = batch.to(loaded.device, dtype=_PRECISIONS[precision])
    with torch.inference_mode():
        features = loaded.model.encode_image(batch, normalize=True)
    return features.float().cpu().numpy()


def _progress(batches, verbose, total):
    """The batches, with a tqdm bar over the images when ``verbose``."""
    if not verbose:
        yield from batches
        return
    from tqdm.auto import tqdm

    with tqdm(total=total, unit="img", desc="CLIPFeatures") as bar:
        for batch in batches:
            yield batch
            bar.update(len(batch))
