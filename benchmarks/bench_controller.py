"""Speed of the Neural Logit Controller beside LogisticRegression on the same features.

The setting of the paper at full size: nine backbones with the OpenAI CLIP models' embedding
widths (6528 columns in all), 100 classes, fit on 1 and 16 shots per class, prediction on 10,000
images. The features come from the simulated zoo (speed does not depend on where they come
from); accuracy on the simulation is printed too, for orientation only.

Targets on a 2-core machine: a 1-shot fit in 2 s or less, prediction at 50,000 images/s or more.

    python benchmarks/bench_controller.py [--repeats 3]
"""

import argparse
import platform
import time

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from skclipens import AdaptiveBackboneEnsemble, make_backbone_zoo

OPENAI_WIDTHS = (1024, 512, 640, 768, 1024, 512, 512, 768, 768)  # RN50 ... ViT-L/14@336
N_CLASSES = 100
N_PREDICT = 10_000


def best_time(repeats, fn, *args):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timings per cell (best is shown)")
    args = parser.parse_args()

    n_train_pool = 16 * N_CLASSES * 2
    X, y = make_backbone_zoo(
        n_samples=n_train_pool + N_PREDICT,
        n_classes=N_CLASSES,
        embedding_dims=OPENAI_WIDTHS,
        random_state=0,
    )
    pool, test = np.arange(n_train_pool), np.arange(n_train_pool, len(y))
    X_test, y_test = X[test], y[test]
    X_test_plain = np.asarray(X_test)
    rng = np.random.RandomState(0)
    print(
        f"{len(OPENAI_WIDTHS)} backbones, {X.shape[1]} embedding columns, {N_CLASSES} classes; "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor()}"
    )

    rows = []
    for shots in (1, 16):
        train = np.concatenate(
            [rng.choice(pool[y[pool] == c], shots, replace=False) for c in range(N_CLASSES)]
        )
        X_train, y_train = X[train], y[train]
        X_train_plain = np.asarray(X_train)
        nlc = AdaptiveBackboneEnsemble(random_state=0)
        lr = LogisticRegression(max_iter=1000)
        nlc.fit(X_train, y_train)  # warm-up: torch's first call
        for name, est, Xtr, Xte in [
            ("controller (NLC)", nlc, X_train, X_test),
            ("LogisticRegression", lr, X_train_plain, X_test_plain),
        ]:
            fit_s = best_time(args.repeats, est.fit, Xtr, y_train)
            est.predict(Xte[:100])
            predict_s = best_time(args.repeats, est.predict, Xte)
            epochs = getattr(est, "n_iter_", None)
            epochs = int(np.max(epochs)) if epochs is not None else None
            rows.append(
                (
                    name,
                    shots,
                    len(train),
                    fit_s,
                    epochs,
                    N_PREDICT / predict_s,
                    est.score(Xte, y_test),
                )
            )

    header = (
        f"{'method':<20}{'shots':>6}{'n train':>9}{'fit s':>9}{'iters':>7}"
        f"{'predict img/s':>15}{'accuracy*':>11}"
    )
    print(header)
    print("-" * len(header))
    for name, shots, n, fit_s, epochs, ips, acc in rows:
        print(
            f"{name:<20}{shots:>6}{n:>9}{fit_s:>9.2f}{epochs if epochs else '':>7}"
            f"{ips:>15,.0f}{acc:>11.3f}"
        )
    print(f"best of {args.repeats}; * accuracy on the simulated zoo, not on real CLIP features")


if __name__ == "__main__":
    main()
