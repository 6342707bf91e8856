"""The zoo's training recipe, end to end at ``--size tiny``."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from skclipens import BackboneFeatures
from skclipens.zoo import _train

pytestmark = pytest.mark.filterwarnings("ignore:No pretrained weights")


@pytest.fixture(scope="module")
def tiny_zoo(tmp_path_factory):
    out = tmp_path_factory.mktemp("zoo")
    record = _train.train_zoo(out, size="tiny", seed=0, log=None)
    return out, record


def test_split_is_fixed_and_disjoint(tiny_zoo):
    out, _ = tiny_zoo
    split = json.loads((out / "split.json").read_text())
    train, held = set(split["train"]), set(split["held_out"])
    assert len(train) == _train.N_TRAIN and len(held) == 1797 - _train.N_TRAIN
    assert not train & held
    again_train, again_held = _train.make_split(_train.load_digit_images()[1])
    assert sorted(train) == again_train.tolist() and sorted(held) == again_held.tolist()


def test_every_architecture_is_saved(tiny_zoo):
    out, record = tiny_zoo
    assert sorted(record["backbones"]) == sorted(_train.ARCHITECTURES)
    assert _train.zoo_backbones(out) == sorted(_train.ARCHITECTURES)
    recipe = json.loads((out / "recipe.json").read_text())
    assert recipe["size"] == "tiny" and set(recipe["backbones"]) == set(_train.ARCHITECTURES)
    for name in _train.ARCHITECTURES:
        config = json.loads((out / name / "open_clip_config.json").read_text())
        assert config["model_cfg"] == _train.ARCHITECTURES[name]
        assert config["preprocess_cfg"]["size"] == config["model_cfg"]["vision_cfg"]["image_size"]
        state = torch.load(out / name / "open_clip_pytorch_model.bin", weights_only=True)
        assert all(v.dtype == torch.float16 for v in state.values())


def test_zoo_size_budget(tiny_zoo):
    out, _ = tiny_zoo
    total = sum(p.stat().st_size for p in out.glob("*/open_clip_pytorch_model.bin"))
    assert total <= 20e6


@pytest.mark.parametrize("name", sorted(_train.ARCHITECTURES))
def test_loads_through_open_clip_local_dir(tiny_zoo, name):
    import open_clip

    out, _ = tiny_zoo
    spec = f"local-dir:{out / name}"
    model, _, preprocess = open_clip.create_model_and_transforms(spec)
    tokenizer = open_clip.get_tokenizer(spec)
    images = _train.load_digit_images()[0][:3]
    batch = torch.stack([preprocess(Image.fromarray(im)) for im in images])
    with torch.no_grad():
        emb = model.encode_image(batch, normalize=True)
    assert emb.shape == (3, _train.ARCHITECTURES[name]["embed_dim"])
    np.testing.assert_allclose(emb.norm(dim=-1).numpy(), 1.0, rtol=1e-5)
    tokens = tokenizer(["a handwritten seven."])
    assert tokens.shape == (1, _train.CONTEXT_LENGTH)
    with torch.no_grad():
        assert torch.isfinite(model.encode_text(tokens)).all()


def test_perturbations_are_deterministic():
    images = _train.load_digit_images()[0][:8]
    for _, kind, severity in _train.conditions():
        a, b = _train.perturb(images, kind, severity), _train.perturb(images, kind, severity)
        assert a.dtype == np.uint8 and a.shape == images.shape
        np.testing.assert_array_equal(a, b)
        if kind != "clean":
            assert not np.array_equal(a, images)


def test_evaluation(tiny_zoo):
    out, _ = tiny_zoo
    conds = [c for c in _train.conditions() if c[0] in ("clean", "noise-2", "rotation-3")]
    features = _train.zoo_features(out, condition_list=conds, n_images=40)
    assert set(features) == {"clean", "noise-2", "rotation-3"}
    X, y = features["clean"]
    assert isinstance(X, BackboneFeatures) and X.backbones == sorted(_train.ARCHITECTURES)
    assert len(y) == 40 and X.logits[X.backbones[0]].shape == (40, 10)
    result = _train.evaluate_zoo(out, features=features)
    again = _train.evaluate_zoo(out, features=_train.zoo_features(out, conds, n_images=40))
    assert result == again
    for r in result["conditions"].values():
        accs = list(r["accuracy"].values())
        assert all(0.0 <= a <= 1.0 for a in accs)
        assert max(accs) <= r["oracle"] <= 1.0
        assert len(r["disagreement"]) == len(accs) * (len(accs) - 1) // 2
    assert "oracle" in _train.format_report(result)
