"""PNG plots of an evaluation, with matplotlib (the optional ``plots`` extra)."""

import numpy as np

__all__ = ["plots_available", "write_plots"]

MISSING = "plots skipped: matplotlib is not installed (pip install 'skclipens[plots]')"


def plots_available():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def write_plots(result, folder):
    """Write the evaluation's plots into ``folder``; return their paths."""
    import matplotlib

    matplotlib.use("Agg", force=True)  # files only, never a window
    import matplotlib.pyplot as plt

    paths = [_accuracy_vs_shots(plt, result, folder), _temperatures(plt, result, folder)]
    if len(result["conditions"]) > 1:
        paths.append(_robustness(plt, result, folder))
    return paths


def _accuracy_vs_shots(plt, result, folder):
    clean = result["conditions"]["clean"]
    shots = result["shots"]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for method, by_shots in clean["methods"].items():
        mean = np.array([by_shots[s]["mean"] for s in shots])
        std = np.array([by_shots[s]["std"] for s in shots])
        width = 2.2 if method == result["controller"] else 1.2
        (line,) = ax.plot(shots, mean, marker="o", linewidth=width, label=method)
        ax.fill_between(shots, mean - std, mean + std, color=line.get_color(), alpha=0.12)
    best = clean["best_backbone"]
    ax.axhline(
        clean["backbones"][best],
        color="black",
        linestyle="--",
        linewidth=1,
        label=f"best backbone, zero-shot ({best})",
    )
    ax.axhline(clean["oracle"], color="grey", linestyle=":", linewidth=1, label="oracle")
    ax.set_xscale("log", base=2)
    ax.set_xticks(shots, [str(s) for s in shots])
    ax.set_xlabel("labelled images per class")
    ax.set_ylabel("test accuracy")
    ax.set_title(f"{result['dataset']['name']}: accuracy against shots (mean ± std over seeds)")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    return _save(plt, fig, folder / "accuracy_vs_shots.png")


def _temperatures(plt, result, folder):
    temps = result["temperatures"]
    names = list(temps["values"])
    fig, ax = plt.subplots(figsize=(max(4, 1.2 * len(names) + 2), 4))
    ax.boxplot([temps["values"][n] for n in names], showfliers=False)
    ax.set_xticks(range(1, len(names) + 1), names, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("temperature (factor of the logits)")
    ax.set_title(
        f"controller temperatures per backbone on the test images "
        f"({temps['shots']} shots, seed {temps['seed']})",
        fontsize=9,
    )
    ax.grid(alpha=0.3, axis="y")
    return _save(plt, fig, folder / "temperatures.png")


def _robustness(plt, result, folder):
    shots = result["shots"][-1]
    conditions = list(result["conditions"])
    series = {
        "best backbone (zero-shot)": [
            c["backbones"][c["best_backbone"]] for c in result["conditions"].values()
        ],
        "logit average": [
            c["methods"]["logit average"][shots]["mean"] for c in result["conditions"].values()
        ],
        result["controller"]: [
            c["methods"][result["controller"]][shots]["mean"]
            for c in result["conditions"].values()
        ],
        "oracle": [c["oracle"] for c in result["conditions"].values()],
    }
    x = np.arange(len(conditions))
    width = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(max(7, 0.55 * len(conditions) + 2), 4.5))
    for i, (label, values) in enumerate(series.items()):
        ax.bar(x + (i - (len(series) - 1) / 2) * width, values, width, label=label)
    ax.set_xticks(x, conditions, rotation=45, ha="right", fontsize=8)
    ax.set_ylim(max(0.0, min(min(v) for v in series.values()) - 0.1), 1.0)
    ax.set_ylabel("test accuracy")
    ax.set_title(f"accuracy under perturbations ({shots} shots per class)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.grid(alpha=0.3, axis="y")
    return _save(plt, fig, folder / "robustness.png")


def _save(plt, fig, path):
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
