"""Backbones named in open_clip's own terms, loaded lazily and once per process.

A backbone is a string:

- ``"MODEL:TAG"``: an open_clip architecture and the tag of its weights
  (``"ViT-B-32:openai"``, ``"ViT-B-32:laion2b_s34b_b79k"``);
- ``"MODEL:/path/to/checkpoint.pt"``: an architecture and a local weights file;
- ``"local-dir:/path/to/folder"``: a folder with ``open_clip_config.json`` and weights;
- ``"hf-hub:org/repo"``: a Hugging Face Hub repository (downloaded by open_clip);
- ``"skclipens-zoo/NAME"``: a backbone of the project's own small zoo (``list_zoo()``),
  whose weights ship in the package;
- ``"MODEL"`` alone: the architecture with random weights (for tests; warns).

Loaded models live in a process-wide cache keyed by (model, weights, device,
precision), so clones of a transformer in a grid search do not reload them.
"""

import difflib
import hashlib
import logging
import os
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from . import zoo

_SCHEMAS = ("hf-hub:", "local-dir:")


@dataclass(frozen=True)
class Backbone:
    """A parsed backbone spec: what open_clip's ``create_model`` is called with."""

    spec: str
    model_name: str  # an architecture, or a schema name ("local-dir:...", "hf-hub:...")
    pretrained: str | None  # a tag or a file path; None with a schema or random weights

    @property
    def random_weights(self):
        return self.pretrained is None and not self.model_name.startswith(_SCHEMAS)

    def weights_identity(self):
        """A string that changes whenever the weights do (for cache keys), or None
        for random weights, which no two processes share, and for hub weights
        that are not in the local Hugging Face cache."""
        if self.random_weights:
            return None
        if self.model_name.startswith("local-dir:"):
            folder = Path(self.model_name[len("local-dir:") :])
            files = sorted(p for p in folder.iterdir() if p.is_file())
            return "local-dir:" + ";".join(_file_identity(p) for p in files)
        if self.model_name.startswith("hf-hub:"):
            return _hf_hub_identity(self.model_name[len("hf-hub:") :])
        if self.pretrained is not None and os.path.isfile(self.pretrained):
            return "file:" + _file_identity(Path(self.pretrained))
        return f"{self.model_name}:{self.pretrained}"


# What open_clip reads from a hub repository: its config, and its weights in either format.
_HF_HUB_FILES = (
    "open_clip_config.json",
    "open_clip_model.safetensors",
    "open_clip_pytorch_model.bin",
)


def _hf_hub_identity(repo_id):
    """The identity of the snapshot of ``repo_id`` in the local Hugging Face cache, or None.

    A hub repository can change under the same name, so its id alone would
    let stored vectors outlive the weights they came from. The cached files
    resolve to blobs named by their content hash; those name the weights.
    Called after open_clip has loaded the model, so the files it used are
    cached. None (nothing stored) if they cannot be found.
    """
    from huggingface_hub import try_to_load_from_cache

    found = []
    for filename in _HF_HUB_FILES:
        path = try_to_load_from_cache(repo_id, filename)
        if isinstance(path, str):
            found.append(_file_identity(Path(path)))
    if len(found) < 2:  # the config and one weights file
        return None
    return f"hf-hub:{repo_id}:" + ";".join(found)


def _file_identity(path):
    stat = path.stat()
    return f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"


def parse_backbone(spec):
    """Parse and check a backbone spec (see the module docstring) without loading it.

    Raises ValueError for an unknown architecture (with the closest known
    names), an unknown weights tag (with the known tags) or a missing file.
    """
    import open_clip

    if not isinstance(spec, str) or not spec:
        raise ValueError(
            f"a backbone is a non-empty string such as 'ViT-B-32:openai', got {spec!r}."
        )
    if spec.startswith(zoo.PREFIX):
        return Backbone(spec, f"local-dir:{zoo.zoo_folder(spec)}", None)
    if spec.startswith("local-dir:"):
        folder = Path(spec[len("local-dir:") :])
        if not (folder / "open_clip_config.json").is_file():
            raise ValueError(
                f"backbone {spec!r}: {folder} is not a folder with an open_clip_config.json "
                "(as open_clip's save or push_to_hf_hub writes it)."
            )
        return Backbone(spec, spec, None)
    if spec.startswith("hf-hub:"):
        if not spec[len("hf-hub:") :]:
            raise ValueError(f"backbone {spec!r}: name a repository, as in 'hf-hub:org/repo'.")
        return Backbone(spec, spec, None)
    model_name, _, pretrained = spec.partition(":")
    known = open_clip.list_models()
    if model_name not in known:
        close = difflib.get_close_matches(model_name, known, n=5, cutoff=0.5)
        hint = f" Closest: {', '.join(close)}." if close else ""
        raise ValueError(
            f"backbone {spec!r}: open_clip has no model {model_name!r}.{hint} "
            "See open_clip.list_models()."
        )
    if not pretrained:
        return Backbone(spec, model_name, None)
    tags = open_clip.list_pretrained_tags_by_model(model_name)
    if pretrained not in tags and not os.path.isfile(pretrained):
        looks_like_path = os.sep in pretrained or pretrained.endswith((".pt", ".bin", ".pth"))
        problem = (
            f"there is no file {pretrained!r}"
            if looks_like_path
            else f"{pretrained!r} is neither a weights tag of {model_name} nor a file"
        )
        raise ValueError(
            f"backbone {spec!r}: {problem}. Tags of {model_name}: {tags or 'none'}; "
            f"or pass a local checkpoint as '{model_name}:/path/to/weights.pt'."
        )
    return Backbone(spec, model_name, pretrained)


def resolve_device(device):
    """``None`` means the best there is: cuda, then mps, then cpu.

    A device that does not parse, or that this machine lacks, is a ValueError
    that says so (not open_clip's failure when it first moves weights there).
    """
    if device is not None:
        try:
            device = torch.device(device)
        except RuntimeError:
            raise ValueError(
                f"unknown device {device!r}: use 'cpu', 'cuda', 'cuda:1', 'mps', or None "
                "for the best there is."
            ) from None
        has_mps = getattr(torch.backends, "mps", None) is not None
        available = {
            "cuda": torch.cuda.is_available,
            "mps": lambda: has_mps and torch.backends.mps.is_available(),
        }.get(device.type, lambda: True)()
        if available and device.type == "cuda" and device.index is not None:
            available = device.index < torch.cuda.device_count()
        if not available:
            raise ValueError(
                f"device {str(device)!r} is not available on this machine (torch finds no "
                f"{device.type} device): use 'cpu', or None for the best there is."
            )
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


@dataclass
class LoadedBackbone:
    model: torch.nn.Module
    preprocess: object  # image -> tensor
    tokenizer: object  # list of str -> token tensor
    device: torch.device

    @property
    def logit_scale(self):
        return float(self.model.logit_scale.detach().exp())


_CACHE = {}
_CACHE_LOCK = threading.Lock()


def load_backbone(backbone, device, precision):
    """The model, preprocessing and tokenizer of ``backbone``, from the process-wide cache.

    Weights that cannot be had (offline, no such file) are a ValueError that
    says how to pass a local file.
    """
    key = (backbone.model_name, backbone.pretrained, str(device), precision)
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = _load(backbone, device, precision)
        return _CACHE[key]


def clear_cache():
    """Forget every loaded model (frees their memory once nothing else holds them)."""
    with _CACHE_LOCK:
        _CACHE.clear()


def _load(backbone, device, precision):
    import open_clip

    if backbone.random_weights:
        warnings.warn(
            f"backbone {backbone.spec!r} names no weights: it has random weights. "
            f"Name them, as in '{backbone.spec}:openai' or '{backbone.spec}:/path/to/weights.pt'.",
            UserWarning,
            stacklevel=4,
        )
    held = _HoldErrorLogs()
    logging.getLogger().addFilter(held)
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(
            backbone.model_name, pretrained=backbone.pretrained, device=device, precision=precision
        )
        tokenizer = open_clip.get_tokenizer(backbone.model_name)
    except (RuntimeError, OSError, ValueError) as exc:
        # open_clip logged why before raising; the error below says it once.
        raise ValueError(
            f"backbone {backbone.spec!r}: its weights could not be loaded ({_first_line(exc)}). "
            "Without network (or with HF_HUB_OFFLINE=1) weights must be local: download them "
            "where there is network, then pass the file as 'MODEL:/path/to/weights.pt' or a "
            "folder with open_clip_config.json as 'local-dir:/path/to/folder'."
        ) from exc
    finally:
        logging.getLogger().removeFilter(held)
    held.release()
    model.eval()
    return LoadedBackbone(model, preprocess, tokenizer, torch.device(device))


class _HoldErrorLogs(logging.Filter):
    """Holds back the error records open_clip logs (to the root logger) while a load runs.

    A failed load re-raises their content in one error; after a load that
    succeeds, ``release`` hands them on to the root logger's handlers.
    """

    def __init__(self):
        super().__init__()
        self.records = []

    def filter(self, record):
        if record.levelno >= logging.ERROR and "open_clip" in record.pathname:
            self.records.append(record)
            return False
        return True

    def release(self):
        for record in self.records:
            logging.getLogger().handle(record)


def _first_line(exc):
    return str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__


def preprocess_identity(preprocess):
    """A short hash of a preprocessing pipeline's description, for cache keys."""
    return hashlib.sha256(repr(preprocess).encode()).hexdigest()[:16]
