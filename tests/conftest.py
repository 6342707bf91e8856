"""Tiny CLIP models for the tests: real open_clip architectures, seconds to build."""

import atexit
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

TINY_TEXT = {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}
TINY_MODELS = {
    "skc-tiny-vit": {
        "embed_dim": 32,
        "vision_cfg": {
            "image_size": 32,
            "layers": 1,
            "width": 32,
            "head_width": 16,
            "patch_size": 8,
        },
        "text_cfg": TINY_TEXT,
    },
    "skc-tiny-rn": {
        "embed_dim": 24,
        "vision_cfg": {"image_size": 40, "layers": [1, 1, 1, 1], "width": 16},
        "text_cfg": TINY_TEXT,
    },
}


def _make_tiny_models():
    """Register the tiny configurations with open_clip and save seeded weights for
    each, as a file and as a local-dir folder: {name: (checkpoint path, folder)}.

    Done at import, so that test modules can name the models at collection time
    (tests/test_common.py does)."""
    import open_clip

    root = Path(tempfile.mkdtemp(prefix="skclipens-tiny-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    (root / "configs").mkdir()
    for name, cfg in TINY_MODELS.items():
        (root / "configs" / f"{name}.json").write_text(json.dumps(cfg))
    open_clip.add_model_config(root / "configs")
    out = {}
    for seed, name in enumerate(TINY_MODELS):
        torch.manual_seed(seed)
        model = open_clip.create_model(name)
        folder = root / f"{name}-dir"
        folder.mkdir()
        path = folder / "open_clip_pytorch_model.bin"
        torch.save(model.state_dict(), path)
        config = {"model_cfg": TINY_MODELS[name], "preprocess_cfg": {}}
        (folder / "open_clip_config.json").write_text(json.dumps(config))
        out[name] = (str(path), str(folder))
    return out


TINY_CHECKPOINTS = _make_tiny_models()
#: a backbone spec of each tiny model with its seeded weights
TINY_SPECS = [f"{name}:{path}" for name, (path, _) in TINY_CHECKPOINTS.items()]


@pytest.fixture(scope="session")
def tiny_models():
    return list(TINY_MODELS)


@pytest.fixture(scope="session")
def tiny_checkpoints():
    """{model name: (checkpoint path, local-dir folder)} of the tiny models."""
    return TINY_CHECKPOINTS


@pytest.fixture(scope="session")
def image_files(tmp_path_factory):
    """Twelve small PNG and JPEG files of two classes (reddish and bluish)."""
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    paths, labels = [], []
    for i in range(12):
        label = i % 2
        pixels = rng.integers(0, 120, size=(36, 44, 3), dtype=np.uint8)
        pixels[..., 0 if label == 0 else 2] += 120
        path = folder / f"img{i}.{'png' if i % 3 else 'jpg'}"
        Image.fromarray(pixels).save(path)
        paths.append(str(path))
        labels.append(["red", "blue"][label])
    return paths, np.array(labels)
