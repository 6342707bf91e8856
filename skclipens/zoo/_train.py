"""Train a small zoo of CLIP backbones of different architectures on scikit-learn's digits.

Run as ``python -m skclipens.zoo._train --out FOLDER [--size tiny|full] [--seed 0]``.

Why this exists
---------------
Pretrained CLIP weights cannot be had offline, and random weights classify at chance. The paper's
setting (several CLIP image encoders of *different* architectures, trained with the same
contrastive objective on the same images and captions, which then get *different* images right)
is rebuilt here in miniature, so the ensembles can be tried on real backbones and real images.

The recipe
----------
- **Data**: ``sklearn.datasets.load_digits`` (1,797 8x8 grey images), upsampled bilinearly to
  32x32 and stored as 3-channel uint8, white digits on black. A fixed stratified split
  (``SPLIT_SEED``, independent of ``--seed``): 1,000 images to train on, the other 797 held out
  and never trained on; the indices are saved as ``split.json`` beside the checkpoints.
- **Captions**: each image gets, at every step, one of ``TEMPLATES`` filled with its class name
  (``"zero"`` ... ``"nine"``), drawn afresh.
- **Objective**: CLIP's symmetric image-text contrastive loss (cross-entropy over the batch's
  image-caption similarity matrix, both ways, with the learned logit scale, clamped at 100 as
  open_clip does). With ten classes a batch holds many images of each class, so the
  one-hot targets of plain CLIP would push apart an image and a caption that *do* match; the
  targets here are spread evenly over every caption of the image's class (the multi-positive
  form of the same loss, as in UniCL). Everything else is CLIP.
- **Architectures** (``ARCHITECTURES``): open_clip's own towers, differing the way the paper's
  backbones do: vision transformers of patch 8, 4 and 2 (16, 64 and 64 tokens; at 32, 32 and 16
  pixels) and depths 2 to 4, and a ``ModifiedResNet`` (open_clip's CLIP ResNet: a three-conv
  stem, bottleneck stages and an attention pool) at 64 pixels. Every model has its own small
  text tower (width 32, one layer), the standard BPE tokenizer and a context of 16 tokens.
- **Diversity**: one recipe for every backbone (``RECIPE``: a mild random affine, the usual
  shift, scale and small rotation), as the paper's backbones share their images and objective;
  only the architecture differs, and that is what makes them right on different images. On
  clean digits all four are accurate; under a perturbation each architecture keeps different
  images: the 16-pixel patch-2 ViT is the most robust to noise (its downsampling averages noise
  away), the patch-8 ViT to blur, the ResNet to mild rotation, the patch-4 ViT to occlusion. So
  under every perturbation the oracle is above the best single backbone, by 11 to 20 points at
  the strongest severity, and the logit average often falls below it (the trial before this
  module found the same: 0.36 against 0.55 under noise). An earlier recipe gave each backbone
  one *specialty* augmentation on top (strong noise, large rotations, occluding squares, blur).
  That made every perturbation one specialist's, so that picking the best backbone on a few
  shots came within three points of the oracle and left a per-image combination little to gain
  on one condition at a time; ``docs/zoo.md`` records both recipes.
- **Optimiser**: AdamW (lr 2e-3, weight decay 0.05 on matrices only), linear warm-up then
  cosine decay, batch 100, all seeded: ``torch.manual_seed(seed)`` for the initial weights and a
  local ``torch.Generator`` for batches, templates and augmentations.
- **Saved**: per backbone a folder ``OUT/<name>/`` with ``open_clip_config.json``
  (``{"model_cfg": ..., "preprocess_cfg": ...}``) and ``open_clip_pytorch_model.bin`` (fp16
  state dict), so ``open_clip.create_model_and_transforms("local-dir:OUT/<name>")`` and
  ``open_clip.get_tokenizer("local-dir:OUT/<name>")`` load it; ``OUT/split.json`` and
  ``OUT/recipe.json`` (architectures, recipes, seeds, timings).

Evaluation
----------
``evaluate_zoo(folder)`` classifies the held-out digits zero-shot (class text embeddings from
the same templates, each normalised, averaged per class and normalised again, as open_clip's
``build_zero_shot_classifier`` does; logits are the logit scale times the cosine), clean and
under ``PERTURBATIONS`` (Gaussian noise, blur, rotation, occlusion, three severities each, seeded
so every call gives the same images), through each backbone's own open_clip preprocessing. It
reports per condition each backbone's accuracy, the logit average, the oracle (right if any
backbone is) and the pairwise disagreement. ``zoo_features`` gives the same features as
``BackboneFeatures`` for the ensembles.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import tempfile
import time
from itertools import combinations
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

CLASSNAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
TEMPLATES = (
    "a photo of the digit {}.",
    "a handwritten {}.",
    "the number {}.",
    "a drawing of the digit {}.",
    "a scan of a handwritten {}.",
    "a low resolution image of the number {}.",
    "a {} written by hand.",
    "the digit {}.",
)
IMAGE_SIZE = 32  # the canonical images: what the zoo's users pass in
N_TRAIN = 1000
SPLIT_SEED = 0
MEAN = (0.305, 0.305, 0.305)  # of the digits, on [0, 1]
STD = (0.376, 0.376, 0.376)
CONTEXT_LENGTH = 16

_TEXT_CFG = {
    "context_length": CONTEXT_LENGTH,
    "vocab_size": 49408,
    "width": 32,
    "heads": 2,
    "layers": 1,
}

ARCHITECTURES = {
    "zoo-vit-p8": {
        "embed_dim": 32,
        "vision_cfg": {
            "image_size": 32,
            "patch_size": 8,
            "width": 64,
            "layers": 2,
            "head_width": 32,
            "mlp_ratio": 2.0,
        },
        "text_cfg": _TEXT_CFG,
    },
    "zoo-vit-p4": {
        "embed_dim": 32,
        "vision_cfg": {
            "image_size": 32,
            "patch_size": 4,
            "width": 48,
            "layers": 4,
            "head_width": 16,
            "mlp_ratio": 2.0,
        },
        "text_cfg": _TEXT_CFG,
    },
    "zoo-rn": {
        "embed_dim": 32,
        "vision_cfg": {
            "image_size": 64,
            "layers": [1, 1, 1, 1],
            "width": 8,
            "head_width": 32,
            "patch_size": None,
        },
        "text_cfg": _TEXT_CFG,
    },
    "zoo-vit-p2": {
        "embed_dim": 32,
        "vision_cfg": {
            "image_size": 16,
            "patch_size": 2,
            "width": 48,
            "layers": 3,
            "head_width": 16,
            "mlp_ratio": 2.0,
        },
        "text_cfg": _TEXT_CFG,
    },
}

# One recipe for every backbone, as the paper's backbones share their images and objective: a
# mild random affine (shift, scale, small rotation), 60 epochs. The architectures alone make them
# differ (see the docstring).
RECIPE = {
    "epochs": 60,
    "augment": {"affine": {"p": 0.8, "degrees": 10.0, "translate": 0.08, "scale": (0.9, 1.1)}},
}
SIZES = {
    "full": {"batch_size": 100, "steps": None},  # steps from the recipe's epochs
    "tiny": {"batch_size": 32, "steps": 3},
}

# Held-out perturbations: (kind, severities).
PERTURBATIONS = {
    "noise": (0.2, 0.35, 0.5),  # standard deviation on [0, 1]
    "blur": (1.5, 2.5, 3.5),  # Gaussian sigma in pixels at 32x32
    "rotation": (20.0, 35.0, 50.0),  # degrees, either way
    "occlusion": (8, 12, 16),  # side of a grey square, pixels at 32x32
}
_EVAL_SEED = 1234


# --------------------------------------------------------------------------- data


def load_digit_images():
    """The digits as ``(1797, 32, 32, 3)`` uint8 images (white on black) and their labels."""
    digits = load_digits()
    small = torch.from_numpy(digits.images / 16.0).float()[:, None]
    big = F.interpolate(small, size=IMAGE_SIZE, mode="bilinear", align_corners=False)
    big = big.clamp(0.0, 1.0).repeat(1, 3, 1, 1).permute(0, 2, 3, 1).numpy()
    return np.rint(big * 255.0).astype(np.uint8), digits.target.astype(np.int64)


def make_split(labels):
    """Fixed stratified split: ``N_TRAIN`` training indices, the rest held out."""
    train, held_out = train_test_split(
        np.arange(len(labels)), train_size=N_TRAIN, stratify=labels, random_state=SPLIT_SEED
    )
    return np.sort(train), np.sort(held_out)


def _to_tensor(images):
    """uint8 ``(N, H, W, 3)`` -> float ``(N, 3, H, W)`` on [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 255.0


def _to_uint8(x):
    """float ``(N, 3, H, W)`` -> uint8 ``(N, H, W, 3)``, as ``skclipens`` reads float arrays."""
    x = x.clamp(0.0, 1.0).permute(0, 2, 3, 1).numpy()
    return np.rint(x * 255.0).astype(np.uint8)


# ------------------------------------------------------------ augmentations, perturbations


def _uniform(n, low, high, gen):
    return low + (high - low) * torch.rand(n, generator=gen)


def affine(x, angle, translate, scale):
    """Rotate (degrees), shift (fraction of the side) and scale each image; black fill."""
    a = angle * math.pi / 180.0
    cos, sin = torch.cos(a) / scale, torch.sin(a) / scale
    theta = torch.stack(
        [
            torch.stack([cos, -sin, translate[:, 0] * 2.0], dim=1),
            torch.stack([sin, cos, translate[:, 1] * 2.0], dim=1),
        ],
        dim=1,
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def gaussian_noise(x, sigma, gen):
    """Add noise of standard deviation ``sigma`` (one per image), clipped to [0, 1]."""
    noise = torch.randn(x.shape, generator=gen)
    return (x + sigma[:, None, None, None] * noise).clamp(0.0, 1.0)


def gaussian_blur(x, sigma):
    """Blur each image with its own Gaussian ``sigma`` (pixels); 0 leaves it as it is."""
    n, c, h, w = x.shape
    radius = max(1, int(math.ceil(3.0 * float(sigma.max()))))
    d = torch.arange(-radius, radius + 1, dtype=x.dtype)
    s = sigma.clamp(min=1e-3)[:, None]
    k = torch.exp(-0.5 * (d[None] / s) ** 2)
    k = (k / k.sum(1, keepdim=True)).repeat_interleave(c, dim=0)  # (n * c, 2r + 1)
    flat = x.reshape(1, n * c, h, w)
    flat = F.conv2d(
        F.pad(flat, (radius, radius, 0, 0), mode="reflect"), k[:, None, None, :], groups=n * c
    )
    flat = F.conv2d(
        F.pad(flat, (0, 0, radius, radius), mode="reflect"), k[:, None, :, None], groups=n * c
    )
    return flat.reshape(n, c, h, w)


def occlude(x, size, top, left, fill):
    """Paint a square of side ``size`` at (``top``, ``left``) with ``fill``, one per image."""
    n, _, h, w = x.shape
    rows = torch.arange(h)[None, :, None]
    cols = torch.arange(w)[None, None, :]
    inside = (
        (rows >= top[:, None, None])
        & (rows < (top + size)[:, None, None])
        & (cols >= left[:, None, None])
        & (cols < (left + size)[:, None, None])
    )[:, None]
    return torch.where(inside, fill[:, None, None, None], x)


def _random_squares(n, size_low, size_high, side, gen):
    size = torch.randint(size_low, size_high + 1, (n,), generator=gen)
    top = (torch.rand(n, generator=gen) * (side - size + 1)).floor().long()
    left = (torch.rand(n, generator=gen) * (side - size + 1)).floor().long()
    return size, top, left


def augment(x, spec, gen):
    """``spec["affine"]``'s random rotation, shift and scale of a share ``p`` of ``x`` (float)."""
    cfg = spec["affine"]
    n = x.shape[0]
    chosen = torch.rand(n, generator=gen) < cfg["p"]
    angle = _uniform(n, -cfg["degrees"], cfg["degrees"], gen)
    shift = _uniform(2 * n, -cfg["translate"], cfg["translate"], gen).reshape(n, 2)
    scale = _uniform(n, *cfg["scale"], gen)
    return torch.where(chosen[:, None, None, None], affine(x, angle, shift, scale), x)


def perturb(images, kind, severity, seed=_EVAL_SEED):
    """The held-out perturbation ``kind`` at ``severity`` of uint8 images, deterministically."""
    if kind == "clean":
        return images
    gen = torch.Generator().manual_seed(seed)
    x = _to_tensor(images)
    n, side = x.shape[0], x.shape[-1]
    if kind == "noise":
        x = gaussian_noise(x, torch.full((n,), float(severity)), gen)
    elif kind == "blur":
        x = gaussian_blur(x, torch.full((n,), float(severity)))
    elif kind == "rotation":
        sign = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0)
        x = affine(x, sign * float(severity), torch.zeros(n, 2), torch.ones(n))
    elif kind == "occlusion":
        size, top, left = _random_squares(n, int(severity), int(severity), side, gen)
        x = occlude(x, size, top, left, torch.full((n,), 0.5))
    else:
        raise ValueError(f"unknown perturbation {kind!r}")
    return _to_uint8(x)


def conditions():
    """Every evaluation condition as ``(name, kind, severity)``, clean first."""
    out = [("clean", "clean", None)]
    for kind, severities in PERTURBATIONS.items():
        out += [(f"{kind}-{i + 1}", kind, s) for i, s in enumerate(severities)]
    return out


# ------------------------------------------------------------------------------ training


def preprocess_cfg(model_cfg):
    """What open_clip needs to build the model's preprocessing (see ``PreprocessCfg``)."""
    return {
        "size": model_cfg["vision_cfg"]["image_size"],
        "mode": "RGB",
        "mean": list(MEAN),
        "std": list(STD),
        "interpolation": "bilinear",  # PIL's bilinear upsampling is torch's (align_corners=False)
        "resize_mode": "shortest",
        "fill_color": 0,
    }


def _create_model(name, model_cfg):
    """A fresh open_clip model of ``model_cfg``, registered under ``name`` from a JSON file."""
    import open_clip

    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / f"{name}.json").write_text(json.dumps(model_cfg))
        open_clip.add_model_config(tmp)
        model = open_clip.create_model(name)
    return model


def _model_input(x, size):
    """Training-time version of the model's preprocessing for float images on [0, 1]."""
    if x.shape[-1] != size:
        x = F.interpolate(
            x, size=size, mode="bilinear", align_corners=False, antialias=size < x.shape[-1]
        )
    mean = torch.tensor(MEAN)[None, :, None, None]
    std = torch.tensor(STD)[None, :, None, None]
    return (x - mean) / std


def _caption_tokens():
    """Tokens of every caption: row ``label * len(TEMPLATES) + template``."""
    import open_clip

    tokenizer = open_clip.SimpleTokenizer(context_length=CONTEXT_LENGTH)
    texts = [t.format(c) for c in CLASSNAMES for t in TEMPLATES]
    return tokenizer(texts)


def contrastive_loss(image_features, text_features, logit_scale, labels):
    """CLIP's symmetric loss, with every caption of the image's class as a positive."""
    logits = logit_scale * image_features @ text_features.T
    targets = (labels[:, None] == labels[None, :]).float()
    targets = targets / targets.sum(1, keepdim=True)
    loss_i = -(targets * F.log_softmax(logits, dim=1)).sum(1).mean()
    loss_t = -(targets * F.log_softmax(logits.T, dim=1)).sum(1).mean()
    return (loss_i + loss_t) / 2


def train_backbone(
    name,
    model_cfg,
    recipe,
    images,
    labels,
    *,
    seed=0,
    batch_size=100,
    steps=None,
    lr=2e-3,
    weight_decay=0.05,
    log=print,
):
    """Train one backbone on ``images`` (uint8) and ``labels``; returns the model (eval mode)."""
    torch.manual_seed(seed)
    model = _create_model(name, model_cfg)
    gen = torch.Generator().manual_seed(seed + 1)
    x_all = _to_tensor(images)
    y_all = torch.from_numpy(labels)
    tokens = _caption_tokens()
    size = model_cfg["vision_cfg"]["image_size"]
    n = len(y_all)
    per_epoch = max(1, n // batch_size)
    if steps is None:
        steps = recipe["epochs"] * per_epoch
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0}],
        lr=lr,
    )
    warmup = max(1, steps // 20)

    def lr_at(step):
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    model.train()
    order = torch.randperm(n, generator=gen)
    pos = 0
    start = time.perf_counter()
    for step in range(steps):
        if pos + batch_size > n:
            order, pos = torch.randperm(n, generator=gen), 0
        idx = order[pos : pos + min(batch_size, n)]
        pos += batch_size
        y = y_all[idx]
        x = _model_input(augment(x_all[idx], recipe["augment"], gen), size)
        template = torch.randint(len(TEMPLATES), (len(idx),), generator=gen)
        text = tokens[y * len(TEMPLATES) + template]
        img_f = F.normalize(model.encode_image(x), dim=-1)
        txt_f = F.normalize(model.encode_text(text), dim=-1)
        loss = contrastive_loss(img_f, txt_f, model.logit_scale.exp(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        if log and (step + 1) % max(1, steps // 5) == 0:
            log(
                f"  {name} step {step + 1}/{steps} loss {loss.item():.3f} "
                f"scale {model.logit_scale.exp().item():.1f} "
                f"({time.perf_counter() - start:.0f} s)"
            )
    return model.eval()


def save_backbone(model, model_cfg, folder):
    """Write ``folder`` so that open_clip's ``local-dir:folder`` loads the model."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = {"model_cfg": model_cfg, "preprocess_cfg": preprocess_cfg(model_cfg)}
    (folder / "open_clip_config.json").write_text(json.dumps(config, indent=2))
    state = {k: v.detach().to(torch.float16) for k, v in model.state_dict().items()}
    torch.save(state, folder / "open_clip_pytorch_model.bin")


def train_zoo(out, size="full", seed=0, names=None, log=print):
    """Train each backbone of ``ARCHITECTURES`` (or ``names``) into ``out``; returns a record."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    images, labels = load_digit_images()
    train_idx, held_idx = make_split(labels)
    (out / "split.json").write_text(
        json.dumps(
            {"seed": SPLIT_SEED, "train": train_idx.tolist(), "held_out": held_idx.tolist()}
        )
    )
    settings = SIZES[size]
    record = {"size": size, "seed": seed, "templates": list(TEMPLATES), "backbones": {}}
    total = time.perf_counter()
    for i, name in enumerate(names or ARCHITECTURES):
        model_cfg = copy.deepcopy(ARCHITECTURES[name])
        start = time.perf_counter()
        model = train_backbone(
            name,
            model_cfg,
            RECIPE,
            images[train_idx],
            labels[train_idx],
            seed=seed + 1000 * i,
            batch_size=settings["batch_size"],
            steps=settings["steps"],
            log=log,
        )
        save_backbone(model, model_cfg, out / name)
        seconds = time.perf_counter() - start
        record["backbones"][name] = {
            "model_cfg": model_cfg,
            "recipe": RECIPE,
            "parameters": sum(p.numel() for p in model.parameters()),
            "seconds": round(seconds, 1),
        }
        if log:
            log(f"{name}: {seconds:.0f} s")
    record["seconds"] = round(time.perf_counter() - total, 1)
    (out / "recipe.json").write_text(json.dumps(record, indent=2))
    return record


# ---------------------------------------------------------------------------- evaluation


def zoo_backbones(folder):
    """The backbone folders of a zoo, in a fixed order."""
    return sorted(
        p.name for p in Path(folder).iterdir() if (p / "open_clip_config.json").is_file()
    )


def held_out_digits(folder):
    """The digits a zoo in ``folder`` never trained on (its ``split.json``): images, labels."""
    images, labels = load_digit_images()
    held = np.asarray(json.loads((Path(folder) / "split.json").read_text())["held_out"])
    return images[held], labels[held]


def zoo_features(folder, condition_list=None, n_images=None):
    """Features of the held-out digits per condition, through ``CLIPFeatures``:
    ``{name: (BackboneFeatures, labels)}``."""
    from skclipens import CLIPFeatures

    folder = Path(folder)
    images, labels = held_out_digits(folder)
    images, labels = images[:n_images], labels[:n_images]
    features = CLIPFeatures(
        [(b, f"local-dir:{folder / b}") for b in zoo_backbones(folder)],
        templates=list(TEMPLATES),
        classnames=dict(enumerate(CLASSNAMES)),
        batch_size=256,
    ).fit(y=np.arange(len(CLASSNAMES)))
    return {
        name: (features.transform(perturb(images, kind, severity)), labels)
        for name, kind, severity in (condition_list or conditions())
    }


def mixed_conditions(features, seed=0):
    """One BackboneFeatures whose row i comes from a randomly drawn condition."""
    from skclipens import BackboneFeatures

    names = list(features)
    first, labels = features[names[0]]
    pick = np.random.default_rng(seed).integers(len(names), size=len(labels))
    rows = np.arange(len(labels))

    def gather(part):
        return {
            b: np.stack([getattr(features[names[c]][0], part)[b][i] for i, c in zip(rows, pick)])
            for b in first.backbones
        }

    return BackboneFeatures(gather("embeddings"), gather("logits"), first.classes), labels


def evaluate_zoo(folder, n_images=None, features=None):
    """Held-out zero-shot accuracy per backbone and condition, the oracle, the logit average.

    Returns ``{"backbones": [...], "conditions": {condition: {"accuracy": {backbone: acc},
    "logit_average": acc, "oracle": acc, "disagreement": {"a|b": share}}}}``, deterministic.
    """
    from skclipens import backbone_accuracy, oracle_accuracy

    features = features or zoo_features(folder, n_images=n_images)
    result = {"backbones": zoo_backbones(folder), "conditions": {}}
    for name, (X, y) in features.items():
        preds = {b: np.argmax(z, axis=1) for b, z in X.logits.items()}
        mean_logits = np.mean([X.logits[b] for b in result["backbones"]], axis=0)
        result["conditions"][name] = {
            "accuracy": {b: float(a) for b, a in backbone_accuracy(X, y).items()},
            "logit_average": float(np.mean(np.argmax(mean_logits, axis=1) == y)),
            "oracle": float(oracle_accuracy(X, y)),
            "disagreement": {
                f"{a}|{b}": float(np.mean(preds[a] != preds[b]))
                for a, b in combinations(result["backbones"], 2)
            },
        }
    return result


def format_report(result):
    """A plain-text table of ``evaluate_zoo``'s result."""
    names = result["backbones"]
    head = f"{'condition':<12}" + "".join(f"{n[4:]:>9}" for n in names)
    lines = [head + f"{'avg':>9}{'oracle':>9}"]
    for cond, r in result["conditions"].items():
        row = f"{cond:<12}" + "".join(f"{r['accuracy'][n]:>9.3f}" for n in names)
        lines.append(row + f"{r['logit_average']:>9.3f}{r['oracle']:>9.3f}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder for the zoo")
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-eval", action="store_true", help="train only")
    args = parser.parse_args(argv)
    record = train_zoo(args.out, size=args.size, seed=args.seed)
    print(f"trained {len(record['backbones'])} backbones in {record['seconds']:.0f} s")
    if not args.no_eval:
        print(format_report(evaluate_zoo(args.out)))


if __name__ == "__main__":
    main()
