"""Image perturbations for ``skclipens evaluate --perturb``, at three severities each.

Each works on any RGB PIL image, scales with the image's size where size
matters, and is deterministic given the image's position and a seed, so a
rerun (and the feature store) sees the same perturbed images.

>>> from PIL import Image
>>> img = Image.new("RGB", (32, 32), (120, 60, 200))
>>> perturb_image(img, "jpeg", 3, seed=0).size
(32, 32)
>>> [name for name, _, _ in perturbation_conditions()][:4]
['noise-1', 'noise-2', 'noise-3', 'blur-1']
"""

import io

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter

__all__ = ["PERTURBATIONS", "perturb_image", "perturbation_conditions"]

#: kind -> its three severities (see ``perturb_image`` for the units)
PERTURBATIONS = {
    "noise": (0.08, 0.16, 0.32),  # standard deviation, on [0, 1]
    "blur": (0.02, 0.04, 0.08),  # Gaussian radius, as a fraction of the shorter side
    "jpeg": (30, 12, 5),  # JPEG quality
    "contrast": (0.6, 0.4, 0.2),  # contrast factor; brightness rises by as much as it falls
    "rotation": (15.0, 30.0, 45.0),  # degrees, either way at random
}


def perturbation_conditions():
    """``(name, kind, level)`` of each perturbation and level, e.g. ``("blur-2", "blur", 2)``."""
    return [
        (f"{kind}-{level}", kind, level)
        for kind, severities in PERTURBATIONS.items()
        for level in range(1, len(severities) + 1)
    ]


def perturb_image(image, kind, level, seed=0, position=0):
    """``image`` (RGB PIL) under perturbation ``kind`` at ``level`` (1, 2 or 3).

    ``seed`` and ``position`` (the image's index) fix the random parts: the
    noise, and the direction of a rotation.
    """
    if kind not in PERTURBATIONS:
        raise ValueError(f"unknown perturbation {kind!r}; known: {', '.join(PERTURBATIONS)}.")
    severity = PERTURBATIONS[kind][level - 1]
    rng = np.random.default_rng([seed, position])
    if kind == "noise":
        pixels = np.asarray(image, dtype=np.float32) / 255.0
        pixels = pixels + rng.normal(0.0, severity, pixels.shape).astype(np.float32)
        return Image.fromarray(np.rint(np.clip(pixels, 0.0, 1.0) * 255.0).astype(np.uint8))
    if kind == "blur":
        return image.filter(ImageFilter.GaussianBlur(severity * min(image.size)))
    if kind == "jpeg":
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=severity)
        with Image.open(buffer) as decoded:
            return decoded.convert("RGB")
    if kind == "contrast":
        lower = ImageEnhance.Contrast(image).enhance(severity)
        return ImageEnhance.Brightness(lower).enhance(2.0 - severity)
    angle = severity if rng.random() < 0.5 else -severity
    return image.rotate(angle, resample=Image.Resampling.BILINEAR)
