"""A small zoo of CLIP backbones of different architectures, trained on scikit-learn's digits.

Tiny models for offline demonstration and tests, not pretrained CLIP: see ``docs/zoo.md``.
Each is a backbone name for ``CLIPFeatures``, e.g. ``"skclipens-zoo/vit-p4"``; the weights
ship in this package (``weights/``, as ``python -m skclipens.zoo._train --out`` writes them).
"""

from pathlib import Path

__all__ = ["list_zoo"]

PREFIX = "skclipens-zoo/"
WEIGHTS = Path(__file__).parent / "weights"


def list_zoo():
    """The backbone names of the zoo, e.g. ``["skclipens-zoo/rn", "skclipens-zoo/vit-p2", ...]``.

    Examples
    --------
    >>> from skclipens import list_zoo
    >>> "skclipens-zoo/vit-p4" in list_zoo()
    True
    """
    folders = sorted(
        p.name for p in WEIGHTS.glob("zoo-*") if (p / "open_clip_config.json").is_file()
    )
    return [PREFIX + name[len("zoo-") :] for name in folders]


def zoo_folder(spec):
    """The folder of zoo backbone ``spec`` (``"skclipens-zoo/NAME"``); ValueError if unknown."""
    folder = WEIGHTS / ("zoo-" + spec[len(PREFIX) :])
    if not (folder / "open_clip_config.json").is_file():
        raise ValueError(f"the zoo has no backbone {spec!r}; it has {list_zoo()}.")
    return folder
