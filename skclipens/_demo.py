"""The main job until ``skclipens evaluate`` lands: a few-shot comparison on the simulated zoo.

Run it with ``python -m skclipens``.
"""

import argparse
import time

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
from ._simulate import make_backbone_zoo


def few_shot_indices(y, shots, rng):
    """``shots`` random indices of each class of ``y``."""
    return np.concatenate(
        [rng.choice(np.flatnonzero(y == c), shots, replace=False) for c in np.unique(y)]
    )


def methods(seed):
    return {
        "best single (train)": BestSingleBackbone(),
        "logit average": LogitAverage(),
        "probability average": ProbabilityAverage(),
        "majority vote": MajorityVote(),
        "calibrated average": CalibratedAverage(),
        "super learner": SuperLearner(),
        "mixture of experts": MixtureOfExperts(random_state=seed),
        "controller (NLC)": AdaptiveBackboneEnsemble(random_state=seed),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m skclipens",
        description="Few-shot comparison of backbone ensembles on a simulated backbone zoo.",
    )
    parser.add_argument("--shots", default="1,2,4,8,16", help="shots per class, comma-separated")
    parser.add_argument("--seeds", type=int, default=3, help="few-shot draws per shot count")
    parser.add_argument("--classes", type=int, default=20)
    parser.add_argument("--backbones", type=int, default=4)
    args = parser.parse_args(argv)
    shots_list = [int(s) for s in args.shots.split(",")]

    start = time.perf_counter()
    X, y = make_backbone_zoo(
        n_samples=200 * args.classes,
        n_classes=args.classes,
        embedding_dims=[64] * args.backbones,
        random_state=0,
    )
    half = len(y) // 2
    pool, test = np.arange(half), np.arange(half, len(y))
    X_test, y_test = X[test], y[test]
    print(
        f"Simulated zoo: {args.backbones} backbones, {args.classes} classes; "
        f"few-shot draws from {half} images, tested on {len(test)}."
    )
    singles = backbone_accuracy(X_test, y_test)
    print(
        "Zero-shot accuracy per backbone: " + ", ".join(f"{k} {v:.3f}" for k, v in singles.items())
    )
    print(
        f"Best single backbone (test): {max(singles.values()):.3f}; "
        f"oracle: {oracle_accuracy(X_test, y_test):.3f}\n"
    )

    names = list(methods(0))
    header = f"{'method':<22}" + "".join(f"{f'{s} shot':>15}" for s in shots_list)
    print(header)
    print("-" * len(header))
    results = {name: [] for name in names}
    for shots in shots_list:
        scores = {name: [] for name in names}
        for seed in range(args.seeds):
            train = pool[few_shot_indices(y[pool], shots, np.random.RandomState(seed))]
            for name, est in methods(seed).items():
                scores[name].append(est.fit(X[train], y[train]).score(X_test, y_test))
        for name in names:
            results[name].append((np.mean(scores[name]), np.std(scores[name])))
    for name in names:
        print(f"{name:<22}" + "".join(f"{m:>9.3f} ±{s:.3f}" for m, s in results[name]))
    print(f"\n{args.seeds} seeds per column, mean ± std; {time.perf_counter() - start:.1f} s.")
    return 0
