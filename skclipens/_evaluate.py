"""The few-shot comparison behind ``skclipens evaluate``: features once, then every method.

``compare`` takes the features of a few-shot pool and of a test part. For
every number of shots and every seed it draws that many labelled images per
class from the pool, fits every method on them and scores it on the whole
test part, which is the same for every method, shots and seed. The
backbones' own zero-shot accuracy and the oracle need no labels and are
measured on the test part once.
"""

import numpy as np

from ._baselines import (
    BestSingleBackbone,
    CalibratedAverage,
    LogitAverage,
    MajorityVote,
    MixtureOfExperts,
    ProbabilityAverage,
    SuperLearner,
)
from ._diagnostics import backbone_accuracy, oracle_accuracy
from ._ensemble import AdaptiveBackboneEnsemble
from ._features import BackboneFeatures
from ._images import load_image
from ._perturb import perturb_image

__all__ = [
    "CONTROLLER",
    "METHODS",
    "compare",
    "concatenate",
    "draw_shots",
    "encode",
    "mean_over_conditions",
]

CONTROLLER = "controller (NLC)"

#: method name -> (short name for wide tables, factory of a fresh estimator given a seed)
METHODS = {
    "best single (picked on the shots)": ("pick", lambda seed: BestSingleBackbone()),
    "logit average": ("logit", lambda seed: LogitAverage()),
    "probability average": ("proba", lambda seed: ProbabilityAverage()),
    "majority vote": ("vote", lambda seed: MajorityVote()),
    "calibrated average": ("calib", lambda seed: CalibratedAverage()),
    "super learner": ("super", lambda seed: SuperLearner()),
    "mixture of experts": ("MoE", lambda seed: MixtureOfExperts(random_state=seed)),
    CONTROLLER: ("NLC", lambda seed: AdaptiveBackboneEnsemble(random_state=seed)),
}


def encode(clip, images, condition=None, seed=0, chunk_size=256):
    """``clip.transform`` of ``images``, each under ``condition`` (``(kind, level)``) if given.

    Perturbed images are made and encoded a chunk at a time, so memory holds
    one chunk of them, never the whole set.
    """
    if condition is None:
        return clip.transform(images)
    kind, level = condition
    parts = []
    for start in range(0, len(images), chunk_size):
        pictures = [
            perturb_image(load_image(image, position=i), kind, level, seed=seed, position=i)
            for i, image in enumerate(images[start : start + chunk_size], start)
        ]
        parts.append(clip.transform(pictures))
    return concatenate(parts)


def concatenate(parts):
    """The rows of several ``BackboneFeatures`` of the same backbones and classes, in order."""
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    embeddings = {b: np.concatenate([p.embeddings[b] for p in parts]) for b in first.backbones}
    logits = None
    if first.logits is not None:
        logits = {b: np.concatenate([p.logits[b] for p in parts]) for b in first.backbones}
    return BackboneFeatures(embeddings, logits, classes=first.classes)


def draw_shots(y, shots, rng):
    """Indices of ``shots`` images of each class in ``y``, drawn without replacement."""
    return np.concatenate(
        [rng.choice(np.flatnonzero(y == c), shots, replace=False) for c in np.unique(y)]
    )


def _summary(scores):
    return {"mean": float(np.mean(scores)), "std": float(np.std(scores)), "scores": scores}


def compare(pool, y_pool, test, y_test, shots_list, n_seeds, progress=None):
    """Every method at every shots and seed, fit on draws from ``pool``, scored on ``test``.

    Returns
    -------
    result : dict
        ``backbones`` (zero-shot accuracy each), ``best_backbone``, ``oracle``,
        ``methods`` (``{method: {shots: {"mean", "std", "scores"}}}``) and
        ``gain`` (the controller's accuracy minus the best backbone's, per shots).
    controller : AdaptiveBackboneEnsemble
        The controller fit at the most shots with seed 0, for its temperatures.
    """
    backbones = {b: float(a) for b, a in backbone_accuracy(test, y_test).items()}
    best = max(backbones, key=backbones.get)
    scores = {m: {s: [] for s in shots_list} for m in METHODS}
    for shots in shots_list:
        for seed in range(n_seeds):
            rows = draw_shots(y_pool, shots, np.random.default_rng(seed))
            for name, (_, make) in METHODS.items():
                model = make(seed).fit(pool[rows], y_pool[rows])
                scores[name][shots].append(float(model.score(test, y_test)))
                if name == CONTROLLER and shots == shots_list[-1] and seed == 0:
                    controller = model
                if progress is not None:
                    progress.update()
    result = {
        "backbones": backbones,
        "best_backbone": best,
        "oracle": float(oracle_accuracy(test, y_test)),
        "methods": {
            m: {s: _summary(v) for s, v in by_shots.items()} for m, by_shots in scores.items()
        },
        "gain": {
            s: _summary([a - backbones[best] for a in scores[CONTROLLER][s]]) for s in shots_list
        },
    }
    return result, controller


def mean_over_conditions(results):
    """``compare``'s results averaged over conditions seed by seed (the paper averages datasets).

    The gain is the mean of each condition's gain over its own best backbone;
    ``best_per_condition`` is the mean accuracy of those best backbones.
    """
    results = list(results.values())
    first = results[0]

    def mean(get):
        return _summary(np.mean([get(r) for r in results], axis=0).tolist())

    backbones = {
        b: float(np.mean([r["backbones"][b] for r in results])) for b in first["backbones"]
    }
    return {
        "backbones": backbones,
        "best_backbone": max(backbones, key=backbones.get),
        "best_per_condition": float(
            np.mean([r["backbones"][r["best_backbone"]] for r in results])
        ),
        "oracle": float(np.mean([r["oracle"] for r in results])),
        "methods": {
            m: {s: mean(lambda r, m=m, s=s: r["methods"][m][s]["scores"]) for s in by_shots}
            for m, by_shots in first["methods"].items()
        },
        "gain": {s: mean(lambda r, s=s: r["gain"][s]["scores"]) for s in first["gain"]},
    }
