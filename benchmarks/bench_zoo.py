"""The trained zoo's held-out accuracy, and the ensembles on top of it.

Trains the zoo into a temporary folder unless one is given (about 4 minutes on 2 cores), prints
each backbone's zero-shot accuracy clean and under every perturbation, then two few-shot
comparisons. In both, the few-shot images are drawn per class and the rest is the test part; the
best single backbone is chosen on the few shots ("best (shots)", the fair reference) and on the
test part itself ("best (test)", in hindsight, the strictest reference).

- Per condition, as the paper evaluates (one dataset at a time): each condition (clean or one
  perturbation at one severity) is its own dataset, the few shots come from it, and the table
  gives the mean over the conditions.
- Mixed: every held-out digit under one of the conditions, drawn at random, as a stand-in for a
  dataset whose images differ in what makes them hard; the few shots cannot cover every condition.

    python benchmarks/bench_zoo.py [--zoo FOLDER] [--shots 1,2,5] [--draws 5]
"""

import argparse
import os
import tempfile
import warnings

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def few_shot_scores(X, y, shots, draws):
    """Per method, its test accuracy in each draw of ``shots`` images per class."""
    from skclipens import (
        AdaptiveBackboneEnsemble,
        BestSingleBackbone,
        CalibratedAverage,
        LogitAverage,
        MajorityVote,
        ProbabilityAverage,
        backbone_accuracy,
        oracle_accuracy,
    )
    from skclipens._evaluate import draw_shots

    methods = {
        "controller": lambda: AdaptiveBackboneEnsemble(random_state=0),
        "logit avg": LogitAverage,
        "prob avg": ProbabilityAverage,
        "vote": MajorityVote,
        "calibrated": CalibratedAverage,
        "best (shots)": BestSingleBackbone,
    }
    scores = {m: [] for m in [*methods, "best (test)", "oracle"]}
    for draw in range(draws):
        train = draw_shots(y, shots, np.random.default_rng(100 + draw))
        test = np.setdiff1d(np.arange(len(y)), train)
        for name, make in methods.items():
            scores[name].append(make().fit(X[train], y[train]).score(X[test], y[test]))
        scores["best (test)"].append(max(backbone_accuracy(X[test], y[test]).values()))
        scores["oracle"].append(oracle_accuracy(X[test], y[test]))
    return {m: np.array(v) for m, v in scores.items()}


def print_table(rows):
    """``rows``: {shots: {method: scores per draw}}; mean ± std over draws."""
    methods = list(next(iter(rows.values())))
    print(f"{'shots':>5}" + "".join(f"{m:>13}" for m in methods))
    for shots, scores in rows.items():
        print(
            f"{shots:>5}"
            + "".join(f"{np.mean(scores[m]):>8.3f}±{np.std(scores[m]):.3f}" for m in methods)
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
    shots_list = [int(s) for s in args.shots.split(",")]
    print(f"\nper condition: mean over the {len(features)} conditions, {args.draws} draws each")
    per_condition = {}
    for shots in shots_list:
        each = [few_shot_scores(X, y, shots, args.draws) for X, y in features.values()]
        per_condition[shots] = {m: np.mean([e[m] for e in each], axis=0) for m in each[0]}
    print_table(per_condition)
    X, y = _train.mixed_conditions(features)
    print(f"\nmixed set: {len(y)} held-out digits, each under one of {len(features)} conditions")
    print_table({shots: few_shot_scores(X, y, shots, args.draws) for shots in shots_list})


if __name__ == "__main__":
    main()
