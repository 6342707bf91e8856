"""Labelled image sets for ``skclipens evaluate``: an image folder, or the built-in digits.

An image folder has one subfolder per class (torchvision's ImageFolder layout)::

    data/cat/001.jpg
    data/cat/nested/002.png
    data/dog/003.jpg

Class names come from the folder names (underscores read as spaces) or from a
file mapping folder to name. Files PIL cannot open by their extension are
skipped and counted; image files that fail to decode are listed and left out.
"""

import json
import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.model_selection import train_test_split

from ._images import ImageLoadError, load_image

__all__ = ["ImageSet", "load_digits_set", "read_classnames", "scan_image_folder", "split_set"]

DIGITS = "digits"


def image_extensions():
    """File extensions (lower case, with the dot) of the formats PIL can open."""
    Image.init()
    return frozenset(
        ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN
    )


@dataclass
class ImageSet:
    """Images with integer labels into ``classnames``, and what was left out on the way.

    ``images`` is a list of file paths or an array of shape (n, H, W, 3).
    ``skipped`` lists files that are not images or lie outside the class
    folders; ``corrupt`` lists ``(path, reason)`` of image files that failed
    to decode; ``folders`` are the class folders, in label order.
    """

    name: str
    images: object
    labels: np.ndarray
    classnames: list
    skipped: list = field(default_factory=list)
    corrupt: list = field(default_factory=list)
    folders: list = field(default_factory=list)

    def __len__(self):
        return len(self.labels)

    def subset(self, rows, name=None):
        images = (
            self.images[rows]
            if isinstance(self.images, np.ndarray)
            else [self.images[i] for i in rows]
        )
        return ImageSet(name or self.name, images, self.labels[rows], self.classnames)

    def counts(self):
        """Images per class name."""
        counts = Counter(self.labels.tolist())
        return {name: counts.get(i, 0) for i, name in enumerate(self.classnames)}


def read_classnames(path):
    """Folder name to class name, from a JSON object or from lines ``FOLDER NAME...``.

    The text form is that of ImageNet's ``LOC_synset_mapping.txt``: the first
    word of a line is the folder, the rest of the line its class name.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"classnames file {str(path)!r} does not exist.")
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        try:
            mapping = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"classnames file {str(path)!r} is not valid JSON: {exc}") from None
        if not isinstance(mapping, dict) or not all(
            isinstance(v, str) and v.strip() for v in mapping.values()
        ):
            raise ValueError(
                f"classnames file {str(path)!r} must hold one JSON object mapping each class "
                'folder to its name, e.g. {"n01440764": "tench"}.'
            )
        return {str(k): v.strip() for k, v in mapping.items()}
    mapping = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        folder, _, name = line.strip().partition(" ")
        if not name.strip():
            raise ValueError(
                f"classnames file {str(path)!r}, line {number}: expected 'FOLDER CLASS NAME', "
                f"got {line.strip()!r}."
            )
        mapping[folder] = name.strip()
    return mapping


def _check_folder(folder, what):
    folder = Path(folder)
    if not folder.exists():
        raise ValueError(f"{what} folder {str(folder)!r} does not exist.")
    if not folder.is_dir():
        raise ValueError(f"{what} {str(folder)!r} is not a folder.")
    return folder


def scan_image_folder(
    folder, classnames=None, classes=None, what="data", workers=8, verbose=False
):
    """The images of an ImageFolder-layout ``folder``, every one decoded once to find corrupt ones.

    Parameters
    ----------
    folder : path-like
        One subfolder per class; images anywhere below it.
    classnames : dict, default=None
        Folder name to class name; by default the folder name, underscores as spaces.
    classes : list of str, default=None
        The class folders, in label order, that a test folder must draw from
        (those of its training folder); by default this folder's own, sorted.
    what : str
        What the folder is, for messages ("data", "test").
    workers : int
        Threads decoding images.
    verbose : bool
        A progress bar while decoding.

    Raises
    ------
    ValueError
        If the folder is missing or has no class subfolders, if a class folder
        has no readable images, if ``classnames`` lacks a folder, or if a test
        folder has a class its training folder lacks.
    """
    folder = _check_folder(folder, what)
    subfolders = sorted(p.name for p in folder.iterdir() if p.is_dir() and p.name[0] != ".")
    if not subfolders:
        raise ValueError(
            f"{what} folder {str(folder)!r} has no class subfolders: put each class's images "
            f"in a subfolder named after the class, e.g. {str(folder / 'cat' / '001.jpg')!r}."
        )
    if classes is not None:
        unknown = sorted(set(subfolders) - set(classes))
        if unknown:
            raise ValueError(
                f"{what} folder {str(folder)!r} has classes the training data lacks: "
                f"{', '.join(unknown)}."
            )
    else:
        classes = subfolders
    if classnames is not None:
        missing = [c for c in classes if c not in classnames]
        if missing:
            raise ValueError(
                f"the classnames file has no name for the class folder(s) {', '.join(missing)}: "
                "add them, or leave the file out to use the folder names."
            )
    names = [
        classnames[c] if classnames is not None else c.replace("_", " ").strip() for c in classes
    ]

    extensions = image_extensions()
    skipped = [str(p) for p in sorted(folder.iterdir()) if p.is_file()]  # outside class folders
    paths, labels = [], []
    for label, cls in enumerate(classes):
        if cls not in subfolders:
            continue
        for root, dirs, files in os.walk(folder / cls, followlinks=True):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for file in sorted(files):
                path = os.path.join(root, file)
                if os.path.splitext(file)[1].lower() in extensions:
                    paths.append(path)
                    labels.append(label)
                else:
                    skipped.append(path)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        decoded = pool.map(_decode_problem, paths)
        if verbose:
            from tqdm.auto import tqdm

            decoded = tqdm(decoded, total=len(paths), desc=f"checking {what}", unit="img")
        problems = list(decoded)
    corrupt = [(p, why) for p, why in zip(paths, problems) if why is not None]
    keep = [i for i, why in enumerate(problems) if why is None]
    image_set = ImageSet(
        what,
        [paths[i] for i in keep],
        np.asarray([labels[i] for i in keep], dtype=np.int64),
        names,
        skipped,
        corrupt,
        classes,
    )
    per_class = Counter(image_set.labels.tolist())
    empty = [cls for cls in subfolders if per_class[classes.index(cls)] == 0]
    if empty:
        raise ValueError(
            f"class folder(s) {', '.join(repr(str(folder / c)) for c in empty)} "
            "hold no readable images: add images or remove the folder."
        )
    return image_set


def _decode_problem(path):
    """None if ``path`` decodes as ``CLIPFeatures`` will decode it, else why not."""
    try:
        load_image(path)
    except ImageLoadError as exc:
        return exc.reason
    return None


def load_digits_set():
    """The zoo's held-out digits (never trained on) as 32x32 RGB arrays, named for the zoo."""
    from .zoo import WEIGHTS, _train

    images, labels = _train.held_out_digits(WEIGHTS)
    return ImageSet(DIGITS, images, labels, list(_train.CLASSNAMES))


def split_set(image_set, test_size, seed=0):
    """Stratified (pool, test) parts of ``image_set``; ``test_size`` (in (0, 1)) goes to test."""
    counts = image_set.counts()
    small = [name for name, n in counts.items() if n < 2]
    if small:
        raise ValueError(
            f"class(es) {', '.join(map(repr, small))} have fewer than 2 images, too few to split "
            "into few-shot and test parts: add images or give a separate --test folder."
        )
    present = np.unique(image_set.labels)
    n_test = round(test_size * len(image_set))
    if n_test < len(present) or len(image_set) - n_test < len(present):
        raise ValueError(
            f"--split {test_size} leaves a part with fewer images than the {len(present)} "
            "classes: choose a fraction nearer 0.5."
        )
    pool, test = train_test_split(
        np.arange(len(image_set)),
        test_size=n_test,
        stratify=image_set.labels,
        random_state=seed,
    )
    return image_set.subset(np.sort(pool), "few-shot pool"), image_set.subset(
        np.sort(test), "test"
    )
