import pickle

import numpy as np
import pytest
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.utils import _safe_indexing

from skclipens import BackboneFeatures


@pytest.fixture
def parts():
    rng = np.random.default_rng(0)
    embeddings = {"RN50": rng.normal(size=(6, 4)), "ViT-B-32": rng.normal(size=(6, 3))}
    logits = {"RN50": rng.normal(size=(6, 2)), "ViT-B-32": rng.normal(size=(6, 2))}
    return embeddings, logits, ["cat", "dog"]


@pytest.fixture
def features(parts):
    return BackboneFeatures(*parts)


def assert_same_rows(sub, full, rows):
    assert isinstance(sub, BackboneFeatures)
    assert sub.backbones == full.backbones
    np.testing.assert_array_equal(np.asarray(sub), np.asarray(full)[rows])
    for name in full.backbones:
        np.testing.assert_array_equal(sub.embeddings[name], full.embeddings[name][rows])
        np.testing.assert_array_equal(sub.logits[name], full.logits[name][rows])
    np.testing.assert_array_equal(sub.classes, full.classes)


def test_behaves_as_the_concatenated_float32_array(parts, features):
    embeddings, logits, classes = parts
    unit = {k: v / np.linalg.norm(v, axis=1, keepdims=True) for k, v in embeddings.items()}
    expected = np.hstack([unit["RN50"], unit["ViT-B-32"]]).astype(np.float32)
    assert features.shape == (6, 7)
    assert len(features) == 6
    assert features.ndim == 2
    assert features.dtype == np.float32
    np.testing.assert_allclose(np.asarray(features), expected, rtol=1e-6)
    assert np.asarray(features, dtype=np.float64).dtype == np.float64
    assert features.widths == {"RN50": 4, "ViT-B-32": 3}
    assert features.backbones == ["RN50", "ViT-B-32"]
    np.testing.assert_array_equal(features.logits["ViT-B-32"], logits["ViT-B-32"].astype("f4"))
    assert features.classes.tolist() == classes


def test_embeddings_are_l2_normalised_per_backbone_and_zero_rows_stay_zero():
    emb = np.array([[3.0, 4.0, 0.0], [0.0, 0.0, 0.0]], dtype=np.float32)
    X = BackboneFeatures({"a": emb, "b": 2 * emb[:, :2]})
    np.testing.assert_allclose(X.embeddings["a"], [[0.6, 0.8, 0.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(X.embeddings["b"], [[0.6, 0.8], [0.0, 0.0]])


def test_is_a_copy_that_cannot_be_changed(parts, features):
    embeddings, _, _ = parts
    before = np.asarray(features).copy()
    embeddings["RN50"][:] = 0
    np.testing.assert_array_equal(np.asarray(features), before)
    with pytest.raises(ValueError, match="read-only"):
        np.asarray(features)[0, 0] = 1.0
    copied = np.array(features)
    copied[0, 0] = 1.0  # an explicit copy is the caller's to change
    np.testing.assert_array_equal(np.asarray(features), before)


@pytest.mark.parametrize(
    "rows",
    [
        np.array([4, 0, 2]),
        [1, 1, 3],
        slice(1, 5, 2),
        np.array([True, False, True, True, False, False]),
        np.array([], dtype=int),
    ],
)
def test_row_indexing_keeps_the_layout(features, rows):
    assert_same_rows(features[rows], features, rows)
    assert_same_rows(features[rows, ...], features, rows)
    assert_same_rows(features[rows, :], features, rows)


def test_sklearn_indexing_and_splitters_keep_the_layout(features):
    rows = np.array([5, 3])
    assert_same_rows(_safe_indexing(features, rows), features, rows)
    y = np.array(["cat", "dog"] * 3)
    X_train, X_test, y_train, _ = train_test_split(features, y, test_size=2, random_state=0)
    assert isinstance(X_train, BackboneFeatures) and len(X_test) == 2
    for train, test in StratifiedKFold(n_splits=3).split(features, y):
        assert_same_rows(features[train], features, train)
        assert_same_rows(features[test], features, test)


def test_other_keys_index_the_plain_array(features):
    plain = np.asarray(features)
    np.testing.assert_array_equal(features[2], plain[2])
    np.testing.assert_array_equal(features[:, 1:3], plain[:, 1:3])
    np.testing.assert_array_equal(features[[0, 1], 0], plain[[0, 1], 0])
    assert features[1, 2] == plain[1, 2]


def test_bad_row_keys(features):
    with pytest.raises(IndexError, match="boolean row mask has shape"):
        features[np.array([True, False])]
    with pytest.raises(IndexError, match="integer array"):
        features[np.array([0.5, 1.0])]


def test_pickle_round_trip(features):
    back = pickle.loads(pickle.dumps(features))
    assert_same_rows(back, features, slice(None))
    assert back.widths == features.widths


def test_without_logits():
    X = BackboneFeatures({"a": np.ones((3, 2))})
    assert X.logits is None and X.classes is None
    assert X[[0, 2]].logits is None
    assert "no logits" in repr(X)


def test_repr(features):
    assert repr(features) == "BackboneFeatures(6 samples; RN50: 4, ViT-B-32: 3; 2 classes)"


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda e, lo, c: ({}, None, None), "embeddings is empty"),
        (lambda e, lo, c: ([e["RN50"]], None, None), "must be a dict"),
        (lambda e, lo, c: ({**e, "ViT-B-32": e["ViT-B-32"][:5]}, lo, c), "'ViT-B-32' has 5 rows"),
        (lambda e, lo, c: ({**e, "RN50": e["RN50"][:, 0]}, lo, c), "'RN50' must be 2-D"),
        (lambda e, lo, c: ({**e, "RN50": _with(e["RN50"], np.nan)}, lo, c), "'RN50' holds NaN"),
        (lambda e, lo, c: (e, {**lo, "RN50": _with(lo["RN50"], np.inf)}, c), "'RN50' holds NaN"),
        (lambda e, lo, c: ({**e, "RN50": [["a"] * 4] * 6}, lo, c), "'RN50' is not a numeric"),
        (lambda e, lo, c: (e, {**lo, "RN50": lo["RN50"][:, :1]}, c), "'RN50' have 1 columns"),
        (lambda e, lo, c: (e, {**lo, "ViT-B-32": lo["RN50"][:4]}, c), "'ViT-B-32' have 4 rows"),
        (lambda e, lo, c: (e, lo, ["cat", "cat"]), "duplicates: \\['cat'\\]"),
        (lambda e, lo, c: (e, lo, None), "logits need classes"),
        (lambda e, lo, c: (e, None, c), "classes names the columns of logits"),
        (lambda e, lo, c: (e, {"RN50": lo["RN50"]}, c), "logits lack \\['ViT-B-32'\\]"),
        (lambda e, lo, c: (e, {**lo, "RN101": lo["RN50"]}, c), "have \\['RN101'\\] that"),
        (lambda e, lo, c: ({1: e["RN50"]}, None, None), "names must be strings"),
        (lambda e, lo, c: ({"a": np.ones((0, 3))}, None, None), "hold no rows"),
        (lambda e, lo, c: ({"a": np.ones((3, 0))}, None, None), "'a' has no columns"),
    ],
)
def test_bad_input_names_the_backbone_and_the_problem(parts, change, match):
    with pytest.raises(ValueError, match=match):
        BackboneFeatures(*change(*parts))


def _with(array, value):
    array = array.copy()
    array[1, 1] = value
    return array
