"""The trained zoo's held-out accuracy, and the ensembles on top of it.

Trains the zoo into a temporary folder unless one is given (about 5 minutes on 2 cores), prints
each backbone's zero-shot accuracy clean and under every perturbation, then a few-shot comparison
on a mixed set: every held-out digit under one of the conditions (clean or a perturbation), drawn
at random, as a stand-in for test images that differ in what makes them hard. The few-shot images
are drawn from that set per class; the rest is the test part, and the best single backbone is
chosen on the test part itself (the strictest reference).

    python benchmarks/bench_zoo.py [--zoo FOLDER] [--shots 1,2,5] [--draws 5]
"""

import argparse
import os
import tempfile
import warnings

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def few_shot_table(X, y, shots_list, draws):
    from skclipens import (
        AdaptiveBackboneEnsemble,
        CalibratedAverage,
        LogitAverage,
        backbone_accuracy,
        oracle_accuracy,
    )

    methods = {
        "controller": lambda: AdaptiveBackboneEnsemble(random_state=0),
        "logit avg": LogitAverage,
        "calibrated": CalibratedAverage,
    }
    print(
        f"{'shots':>5}"
        + "".join(f"{m:>13}" for m in methods)
        + f"{'best single':>13}{'oracle':>8}"
    )
    for shots in shots_list:
        scores = {m: [] for m in [*methods, "best", "oracle"]}
        for draw in range(draws):
            rng = np.random.default_rng(100 + draw)
            train = np.concatenate(
                [rng.choice(np.flatnonzero(y == c), shots, replace=False) for c in np.unique(y)]
            )
            test = np.setdiff1d(np.arange(len(y)), train)
            for name, make in methods.items():
                scores[name].append(make().fit(X[train], y[train]).score(X[test], y[test]))
            scores["best"].append(max(backbone_accuracy(X[test], y[test]).values()))
            scores["oracle"].append(oracle_accuracy(X[test], y[test]))
        print(
            f"{shots:>5}"
            + "".join(f"{np.mean(scores[m]):>8.3f}±{np.std(scores[m]):.2f}" for m in methods)
            + f"{np.mean(scores['best']):>13.3f}{np.mean(scores['oracle']):>8.3f}"
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zoo", help="a trained zoo folder (default: train one now)")
    parser.add_argument("--shots", default="1,2,5")
    parser.add_argument("--draws", type=int, default=5, help="few-shot draws per row")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message=".*unique classes.*")

    from skclipens.zoo import _train

    folder = args.zoo
    if folder is None:
        folder = tempfile.mkdtemp(prefix="skclipens-zoo-")
        _train.train_zoo(folder, size="full")
    features = _train.zoo_features(folder)
    print(_train.format_report(_train.evaluate_zoo(folder, features=features)))
    X, y = _train.mixed_conditions(features)
    print(f"\nmixed set: {len(y)} held-out digits, each under one of {len(features)} conditions")
    few_shot_table(X, y, [int(s) for s in args.shots.split(",")], args.draws)


if __name__ == "__main__":
    main()
