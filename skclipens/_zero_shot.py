"""Zero-shot heads: prompts per class, encoded by a backbone's text tower.

Templates are plain strings, so that estimators holding them pickle: ``{}``
marks the class name as open_clip writes its templates, ``{c}`` as
CLIP_benchmark writes them. A dict maps each class to its own list of full
prompts. Named sets: ``"openai"`` (CLIP's 80 ImageNet prompts) and
``"simple"`` (open_clip's 7).
"""

import numpy as np
import torch


def _named_templates():
    # open_clip keeps its sets as lambdas (which do not pickle); each is an
    # f-string of the class name, so calling it with "{}" gives the template.
    from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES, SIMPLE_IMAGENET_TEMPLATES

    return {
        "openai": tuple(t("{}") for t in OPENAI_IMAGENET_TEMPLATES),
        "simple": tuple(t("{}") for t in SIMPLE_IMAGENET_TEMPLATES),
    }


def named_templates(name):
    """The named template set ``name`` as a tuple of strings."""
    sets = _named_templates()
    if name not in sets:
        raise ValueError(f"unknown template set {name!r}: use one of {sorted(sets)}, or a list.")
    return sets[name]


def has_class_slot(template):
    """Whether ``template`` has a place for the class name: ``{c}`` or ``{}``."""
    return "{c}" in template or "{}" in template


def _fill(template, name):
    if not has_class_slot(template):
        raise ValueError(
            f"template {template!r} has no place for the class name: write {{}} or {{c}} in it."
        )
    return template.replace("{c}" if "{c}" in template else "{}", name)


def prompts_per_class(templates, classes, classnames=None):
    """The prompts of each class, in the order of ``classes``.

    Parameters
    ----------
    templates : str, sequence of str, or dict
        A named set (``"openai"``, ``"simple"``), templates with ``{}`` or
        ``{c}``, or a dict mapping each class (label) to its prompts.
    classes : sequence
        The labels.
    classnames : dict, default=None
        Label to the name that goes into the templates; by default ``str(label)``.

    Returns
    -------
    list of list of str
    """
    if isinstance(templates, dict):
        missing = [c for c in classes if c not in templates]
        if missing:
            raise ValueError(f"the templates dict has no prompts for classes {missing}.")
        prompts = [list(templates[c]) for c in classes]
        empty = [
            c
            for c, p in zip(classes, prompts, strict=True)
            if not p or not all(isinstance(s, str) for s in p)
        ]
        if empty:
            raise ValueError(f"the templates dict needs a non-empty list of strings for {empty}.")
        return prompts
    if isinstance(templates, str):
        templates = named_templates(templates)
    templates = list(templates)
    if not templates or not all(isinstance(t, str) for t in templates):
        raise ValueError("templates must be a set name, a non-empty list of strings, or a dict.")
    names = []
    for c in classes:
        if classnames is None:
            names.append(str(c))
        elif c in classnames:
            names.append(str(classnames[c]))
        else:
            raise ValueError(f"classnames has no name for label {c!r}.")
    return [[_fill(t, name) for t in templates] for name in names]


def text_head(loaded, prompts, batch_size=256):
    """One unit-norm text embedding per class, shape (n_classes, d), float32.

    The recipe of open_clip's ``build_zero_shot_classifier``: encode every
    prompt, L2-normalise, average over the class's prompts, re-normalise.
    """
    model, tokenizer, device = loaded.model, loaded.tokenizer, loaded.device
    flat = [p for class_prompts in prompts for p in class_prompts]
    encoded = []
    with torch.inference_mode():
        for start in range(0, len(flat), batch_size):
            tokens = tokenizer(flat[start : start + batch_size]).to(device)
            encoded.append(model.encode_text(tokens, normalize=True).float().cpu())
    encoded = torch.cat(encoded)
    head, start = [], 0
    for class_prompts in prompts:
        mean = encoded[start : start + len(class_prompts)].mean(dim=0)
        head.append(mean / mean.norm())
        start += len(class_prompts)
    return torch.stack(head).numpy().astype(np.float32)
