import pickle
import shutil
import time
from pathlib import Path

import numpy as np
import open_clip
import pytest
import torch
from open_clip.zero_shot_classifier import build_zero_shot_classifier
from PIL import Image
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline

from skclipens import (
    AdaptiveBackboneEnsemble,
    BackboneFeatures,
    CLIPFeatures,
    LogitAverage,
    _backbones,
    _clip_features,
)


@pytest.fixture
def specs(tiny_checkpoints):
    return [f"{name}:{path}" for name, (path, _) in tiny_checkpoints.items()]


def reference_embeddings(spec, paths):
    """A plain open_clip loop: the output CLIPFeatures must reproduce."""
    model_name, pretrained = spec.split(":", 1)
    model, _, preprocess = open_clip.create_model_and_transforms(model_name, pretrained=pretrained)
    model.eval()
    batch = torch.stack([preprocess(Image.open(p).convert("RGB")) for p in paths])
    with torch.no_grad():
        return model.encode_image(batch, normalize=True).numpy(), model, preprocess


def test_embeddings_equal_a_plain_open_clip_loop(specs, image_files):
    paths, _ = image_files
    X = CLIPFeatures(specs, batch_size=5).fit(paths).transform(paths)
    assert isinstance(X, BackboneFeatures) and X.logits is None
    assert X.widths == {specs[0]: 32, specs[1]: 24}
    for spec in specs:
        expected, _, _ = reference_embeddings(spec, paths)
        np.testing.assert_allclose(X.embeddings[spec], expected, rtol=1e-4, atol=1e-5)


def test_heads_equal_open_clips_zero_shot_classifier(specs, image_files):
    paths, labels = image_files
    feats = CLIPFeatures(specs, templates="simple").fit(paths, labels)
    assert feats.classes_.tolist() == ["blue", "red"]
    for spec in specs:
        _, model, _ = reference_embeddings(spec, paths[:1])
        tokenizer = open_clip.get_tokenizer(spec.split(":")[0])
        from open_clip.zero_shot_metadata import SIMPLE_IMAGENET_TEMPLATES

        expected = build_zero_shot_classifier(
            model, tokenizer, ["blue", "red"], SIMPLE_IMAGENET_TEMPLATES
        )
        np.testing.assert_allclose(feats.heads_[spec], expected.T.numpy(), rtol=1e-4, atol=1e-5)
        assert feats.logit_scales_[spec] == pytest.approx(float(model.logit_scale.detach().exp()))


def test_logits_are_the_scale_times_the_cosines(specs, image_files):
    paths, labels = image_files
    X = CLIPFeatures(specs, templates=["a photo of {}."]).fit_transform(paths, labels)
    assert X.classes.tolist() == ["blue", "red"]
    feats = CLIPFeatures(specs, templates=["a photo of {}."]).fit(paths, labels)
    for spec in specs:
        expected = feats.logit_scales_[spec] * X.embeddings[spec] @ feats.heads_[spec].T
        np.testing.assert_allclose(X.logits[spec], expected, rtol=1e-4)  # float32 sums


def test_checkpoint_by_path_and_by_local_dir_agree(tiny_checkpoints, image_files):
    paths, _ = image_files
    name, (path, folder) = next(iter(tiny_checkpoints.items()))
    by_path = CLIPFeatures([f"{name}:{path}"]).fit(paths).transform(paths)
    by_dir = CLIPFeatures([("tiny", f"local-dir:{folder}")]).fit(paths).transform(paths)
    np.testing.assert_array_equal(by_path.embeddings[f"{name}:{path}"], by_dir.embeddings["tiny"])


def test_templates_styles_and_classnames(specs, image_files):
    paths, labels = image_files
    y = np.where(labels == "red", 0, 1)
    names = {0: "red", 1: "blue"}
    braces = CLIPFeatures(specs, templates=["a {} photo."], classnames=names).fit(paths, y)
    c_style = CLIPFeatures(specs, templates=["a {c} photo."], classnames=names).fit(paths, y)
    per_class = CLIPFeatures(specs, templates={0: ["a red photo."], 1: ["a blue photo."]}).fit(
        paths, y
    )
    for spec in specs:
        np.testing.assert_allclose(braces.heads_[spec], c_style.heads_[spec])
        np.testing.assert_allclose(braces.heads_[spec], per_class.heads_[spec], rtol=1e-5)
    only_names = CLIPFeatures(specs, templates=["a {} photo."], classnames=names).fit(paths)
    assert only_names.classes_.tolist() == [0, 1]
    np.testing.assert_allclose(only_names.heads_[specs[0]], braces.heads_[specs[0]])


def test_named_template_sets_are_plain_strings():
    from skclipens._zero_shot import named_templates

    openai, simple = named_templates("openai"), named_templates("simple")
    assert len(openai) == 80 and len(simple) == 7
    assert all(isinstance(t, str) and "{}" in t for t in openai + simple)
    assert "a photo of a {}." in openai
    with pytest.raises(ValueError, match="unknown template set 'imagenet'"):
        named_templates("imagenet")


def test_models_load_once_per_process(specs, image_files):
    paths, _ = image_files
    a = CLIPFeatures(specs).fit(paths)
    b = clone(a).fit(paths)
    device = _backbones.resolve_device(None)
    loaded_a = a._load(a.backbones_[0][1])
    loaded_b = b._load(b.backbones_[0][1])
    assert loaded_a is loaded_b
    assert str(device) in {"cpu", "cuda", "mps"}


@pytest.mark.parametrize(
    "device, message",
    [("nonsense", "unknown device 'nonsense'"), ("cuda:99", "'cuda:99' is not available")],
)
def test_bad_device_is_a_clear_error(specs, device, message):
    with pytest.raises(ValueError, match=message):
        CLIPFeatures(specs, device=device).fit(y=["a", "b"])


def test_pickles_carry_no_weights(specs, image_files):
    paths, labels = image_files
    feats = CLIPFeatures(specs, templates="simple").fit(paths, labels)
    blob = pickle.dumps(feats)
    assert len(blob) < 50_000  # heads and settings only; the tiny models alone are ~18 MB
    back = pickle.loads(blob)
    np.testing.assert_array_equal(
        np.asarray(back.transform(paths[:3])), np.asarray(feats.transform(paths[:3]))
    )


def test_in_a_pipeline_with_grid_search_and_cross_validation(specs, image_files):
    paths, labels = image_files
    paths = np.array(paths, dtype=object)
    pipe = make_pipeline(
        CLIPFeatures(specs, templates=["a {} photo."]),
        AdaptiveBackboneEnsemble(max_iter=20, random_state=0),
    )
    pipe.fit(paths, labels)
    assert set(pipe.predict(paths)) <= {"red", "blue"}
    search = GridSearchCV(
        pipe,
        {
            "clipfeatures__backbones": [specs, specs[:1]],
            "adaptivebackboneensemble": [AdaptiveBackboneEnsemble(max_iter=10), LogitAverage()],
        },
        cv=2,
    ).fit(paths, labels)
    assert len(search.cv_results_["params"]) == 4
    assert cross_val_score(pipe, paths, labels, cv=3).shape == (3,)
    back = pickle.loads(pickle.dumps(pipe))
    np.testing.assert_array_equal(back.predict(paths), pipe.predict(paths))


class CountingEncoder:
    """Wraps _clip_features._encode to count the images it encodes."""

    def __init__(self, monkeypatch):
        self.count = 0
        original = _clip_features._encode

        def counting(loaded, pictures, precision):
            self.count += len(pictures)
            return original(loaded, pictures, precision)

        monkeypatch.setattr(_clip_features, "_encode", counting)


def test_store_hits_misses_and_a_changed_file(specs, image_files, tmp_path, monkeypatch):
    paths, _ = image_files
    files = []
    for i, p in enumerate(paths[:6]):
        files.append(str(tmp_path / f"copy{i}.png"))
        Image.open(p).save(files[-1])
    counter = CountingEncoder(monkeypatch)
    feats = CLIPFeatures(specs, cache=tmp_path / "store").fit(files)
    first = feats.transform(files[:4])
    assert counter.count == 2 * 4  # two backbones, four images
    again = feats.transform(files[:4])
    assert counter.count == 8  # all from the store
    np.testing.assert_array_equal(np.asarray(again), np.asarray(first))
    feats.transform(files)  # incremental: only the two new images
    assert counter.count == 8 + 2 * 2
    Image.open(paths[7]).save(files[0])  # a changed file is a new image
    changed = feats.transform(files[:1])
    assert counter.count == 12 + 2
    assert not np.allclose(np.asarray(changed)[0], np.asarray(first)[0])
    # without the store, the same numbers
    plain = CLIPFeatures(specs).fit(files).transform(files[1:4])
    np.testing.assert_allclose(np.asarray(plain), np.asarray(first)[1:4], atol=1e-6)


def test_store_keeps_the_backbones_apart(specs, image_files, tmp_path, monkeypatch):
    paths, _ = image_files
    store = tmp_path / "store"
    vit = CLIPFeatures([("b", specs[0])], cache=store).fit(paths).transform(paths)
    rn = CLIPFeatures([("b", specs[1])], cache=store).fit(paths).transform(paths)
    assert vit.widths == {"b": 32} and rn.widths == {"b": 24}
    counter = CountingEncoder(monkeypatch)
    both = CLIPFeatures(specs, cache=store).fit(paths).transform(paths)
    assert counter.count == 0
    np.testing.assert_array_equal(both.embeddings[specs[0]], vit.embeddings["b"])
    np.testing.assert_array_equal(both.embeddings[specs[1]], rn.embeddings["b"])


def test_a_crash_mid_run_keeps_the_finished_batches(specs, image_files, tmp_path, monkeypatch):
    paths, _ = image_files
    store = tmp_path / "store"
    original = _clip_features.load_image

    def crash_at_image_7(image, position=None):
        if position == 7:
            raise KeyboardInterrupt
        return original(image, position=position)

    monkeypatch.setattr(_clip_features, "load_image", crash_at_image_7)
    with pytest.raises(KeyboardInterrupt):
        CLIPFeatures(specs, batch_size=3, cache=store).fit(paths).transform(paths)
    monkeypatch.setattr(_clip_features, "load_image", original)
    counter = CountingEncoder(monkeypatch)
    resumed = CLIPFeatures(specs, batch_size=3, cache=store).fit(paths).transform(paths)
    assert counter.count == 2 * (12 - 6)  # batches [0..2] and [3..5] were kept
    plain = CLIPFeatures(specs).fit(paths).transform(paths)
    np.testing.assert_allclose(np.asarray(resumed), np.asarray(plain), atol=1e-6)


def test_a_missing_file_is_reported_before_any_encoding(specs, image_files, monkeypatch):
    paths, _ = image_files
    counter = CountingEncoder(monkeypatch)
    bad = paths[:5] + ["/no/such/image.png"] + paths[5:]
    with pytest.raises(ValueError, match=r"image 5 .*/no/such/image.png"):
        CLIPFeatures(specs).fit(bad).transform(bad)
    assert counter.count == 0


@pytest.mark.parametrize(
    "backbones, match",
    [
        (["ViT-B-23:openai"], r"no model 'ViT-B-23'\. Closest: ViT-B-32"),
        (["ViT-B-32:opnai"], r"'opnai' is neither a weights tag of ViT-B-32.*openai"),
        (["ViT-B-32:/no/such/weights.pt"], r"there is no file '/no/such/weights.pt'"),
        (["local-dir:/no/such/folder"], r"not a folder with an open_clip_config.json"),
        (["hf-hub:"], "name a repository"),
        ([], "backbones is empty"),
        ("ViT-B-32:openai", r"'backbones' parameter of CLIPFeatures must be .* 'list'"),
        ([("a", "skc-tiny-vit"), ("a", "skc-tiny-rn")], r"names \['a'\] more than once"),
    ],
)
def test_bad_backbones(tiny_models, backbones, match):
    with pytest.raises(ValueError, match=match):
        CLIPFeatures(backbones).fit()


def test_weights_that_cannot_be_had_offline_fail_fast_with_the_fix(image_files):
    paths, _ = image_files
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"'ViT-B-32:openai'.*local-dir:"):
        CLIPFeatures(["ViT-B-32:openai"]).fit(paths).transform(paths)
    assert time.perf_counter() - start < 5  # measured: well under a second offline


def test_random_weights_warn(tiny_models, image_files):
    paths, _ = image_files
    with pytest.warns(UserWarning, match="random weights"):
        _backbones.clear_cache()
        CLIPFeatures(["skc-tiny-vit"]).fit(paths[:2]).transform(paths[:2])


def test_bad_labels_and_templates(specs, image_files):
    paths, labels = image_files
    with pytest.raises(ValueError, match="12 images but y has 11 labels"):
        CLIPFeatures(specs).fit(paths, labels[:11])
    with pytest.raises(ValueError, match="has no place for the class name"):
        CLIPFeatures(specs, templates=["a photo."]).fit(paths, labels)
    with pytest.raises(ValueError, match=r"classnames has no name for label 'red'"):
        CLIPFeatures(specs, classnames={"blue": "sky"}).fit(paths, labels)
    with pytest.raises(ValueError, match=r"no prompts for classes \['red'\]"):
        CLIPFeatures(specs, templates={"blue": ["sky"]}).fit(paths, labels)


def test_in_memory_images_match_their_files(specs, image_files):
    paths, _ = image_files
    feats = CLIPFeatures(specs).fit()
    from_files = feats.transform(paths[1:3])  # PNG files: lossless
    pictures = [Image.open(p) for p in paths[1:3]]
    arrays = [np.asarray(im.convert("RGB")) for im in pictures]
    encoded = [open(p, "rb").read() for p in paths[1:3]]
    for images in [pictures, arrays, encoded, np.stack(arrays)]:
        np.testing.assert_allclose(
            np.asarray(feats.transform(images)), np.asarray(from_files), atol=1e-6
        )


def test_text_heads_are_stored_too(specs, image_files, tmp_path, monkeypatch):
    paths, labels = image_files
    calls = []
    original = _clip_features.text_head
    monkeypatch.setattr(
        _clip_features, "text_head", lambda *a, **k: calls.append(1) or original(*a, **k)
    )
    first = CLIPFeatures(specs, templates="simple", cache=tmp_path).fit(paths, labels)
    assert len(calls) == 2
    second = CLIPFeatures(specs, templates="simple", cache=tmp_path).fit(paths, labels)
    assert len(calls) == 2
    for spec in specs:
        np.testing.assert_array_equal(first.heads_[spec], second.heads_[spec])
    CLIPFeatures(specs, templates=["a {} thing."], cache=tmp_path).fit(paths, labels)
    assert len(calls) == 4  # other prompts, other heads


def test_verbose_shows_a_progress_bar_that_is_not_kept(specs, image_files, capsys):
    paths, _ = image_files
    feats = CLIPFeatures(specs, verbose=True, batch_size=4).fit()
    feats.transform(paths)
    assert "12/12" in capsys.readouterr().err
    assert not any("tqdm" in type(v).__name__ for v in vars(feats).values())
    pickle.dumps(feats)
    CLIPFeatures(specs).fit().transform(paths[:2])
    assert capsys.readouterr().err == ""


def test_hub_weights_offline_fail_fast(image_files):
    paths, _ = image_files
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"'hf-hub:laion/CLIP-ViT-B-32-laion2B-s34B-b79K'"):
        CLIPFeatures(["hf-hub:laion/CLIP-ViT-B-32-laion2B-s34B-b79K"]).fit().transform(paths)
    assert time.perf_counter() - start < 5


def _hub_snapshot(cache, repo, commit, folder):
    """Put ``folder``'s files in the Hugging Face cache as ``repo`` at ``commit`` (its main)."""
    base = cache / f"models--{repo.replace('/', '--')}"
    snapshot = base / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for file in Path(folder).iterdir():
        shutil.copy(file, snapshot / file.name)
    (base / "refs").mkdir(exist_ok=True)
    (base / "refs" / "main").write_text(commit)


def test_hub_weights_from_the_local_cache_and_a_new_revision(
    tiny_checkpoints, image_files, tmp_path, monkeypatch
):
    """hf-hub: loads offline from the Hugging Face cache, and the store keys the snapshot,
    so a repository updated under the same name is encoded anew, not read stale."""
    import huggingface_hub

    paths, _ = image_files
    _, first = next(iter(tiny_checkpoints.values()))
    second = tmp_path / "retrained"  # the same architecture and preprocessing, new weights
    shutil.copytree(first, second)
    weights = torch.load(second / "open_clip_pytorch_model.bin")
    weights = {k: v * 1.5 if v.is_floating_point() else v for k, v in weights.items()}
    torch.save(weights, second / "open_clip_pytorch_model.bin")
    cache = tmp_path / "hub"
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    _hub_snapshot(cache, "skc/tiny", "a" * 40, first)
    counter = CountingEncoder(monkeypatch)
    hub = CLIPFeatures([("hub", "hf-hub:skc/tiny")], cache=tmp_path / "store")
    before = hub.fit().transform(paths[:3])
    local = CLIPFeatures([("hub", f"local-dir:{first}")]).fit().transform(paths[:3])
    np.testing.assert_allclose(np.asarray(before), np.asarray(local), atol=1e-6)
    hub.transform(paths[:3])
    assert counter.count == 3 + 3  # the local-dir run, then the hub run; the rerun is stored

    _hub_snapshot(cache, "skc/tiny", "b" * 40, second)  # the repository moves on
    _backbones.clear_cache()  # as a new process would
    after = hub.transform(paths[:3])
    assert counter.count == 6 + 3  # the new snapshot is encoded, not read from the store
    expected = CLIPFeatures([("hub", f"local-dir:{second}")]).fit().transform(paths[:3])
    np.testing.assert_allclose(np.asarray(after), np.asarray(expected), atol=1e-6)


class CountingLoads:
    """Wraps _backbones._load to count the models actually loaded (past the process cache)."""

    def __init__(self, monkeypatch):
        self.count = 0
        original = _backbones._load

        def counting(*args):
            self.count += 1
            return original(*args)

        monkeypatch.setattr(_backbones, "_load", counting)


def test_a_transform_the_store_answers_loads_no_model(specs, image_files, tmp_path, monkeypatch):
    paths, labels = image_files
    first = CLIPFeatures(specs, cache=tmp_path / "store").fit(paths, labels)
    stored = first.transform(paths[:5])
    _backbones.clear_cache()  # as a new process would start
    loads = CountingLoads(monkeypatch)
    again = CLIPFeatures(specs, cache=tmp_path / "store").fit(paths, labels)
    assert again.logit_scales_ == first.logit_scales_
    for spec in specs:
        np.testing.assert_array_equal(again.heads_[spec], first.heads_[spec])
    X = again.transform(paths[:5])
    assert loads.count == 0  # heads, logit scales and vectors all from the store
    np.testing.assert_array_equal(np.asarray(X), np.asarray(stored))
    np.testing.assert_array_equal(X.logits[specs[0]], stored.logits[specs[0]])
    again.transform(paths[:6])  # one image the store lacks: now the models load
    assert loads.count == len(specs)


def test_model_records_follow_open_clip_and_survive_damage(
    specs, image_files, tmp_path, monkeypatch
):
    from skclipens._store import FeatureStore

    paths, _ = image_files
    CLIPFeatures(specs[:1], cache=tmp_path / "store").fit().transform(paths[:2])
    _backbones.clear_cache()
    loads = CountingLoads(monkeypatch)
    monkeypatch.setattr(open_clip, "__version__", "99.0")  # another open_clip: another record
    CLIPFeatures(specs[:1], cache=tmp_path / "store").fit().transform(paths[:2])
    assert loads.count == 1
    store = FeatureStore(tmp_path / "store")
    [key] = [
        k
        for (k,) in store._run(
            lambda c: c.execute("SELECT key FROM meta WHERE key LIKE 'record:%99.0'").fetchall()
        )
    ]
    store._run(lambda c: c.execute("UPDATE meta SET value = 'not json' WHERE key = ?", (key,)))
    store._run(lambda c: c.commit())
    _backbones.clear_cache()
    with pytest.warns(UserWarning, match="is damaged and is treated as missing"):
        X = CLIPFeatures(specs[:1], cache=tmp_path / "store").fit().transform(paths[:2])
    assert loads.count == 2 and X.shape[0] == 2
