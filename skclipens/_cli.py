"""The ``skclipens`` command: ``evaluate`` (the few-shot comparison) and ``extract`` (features).

::

    skclipens evaluate                                   # digits, the zoo, 1-16 shots
    skclipens evaluate --data photos/ --backbones openai --store ~/.cache/skclipens
    skclipens evaluate --data train/ --test val/ --shots 1,4,16 --seeds 5 --perturb
    skclipens extract photos/ --backbones RN50:openai,ViT-B-32:openai --store feats/

Also ``python -m skclipens``. Exit status 0 on success; on bad input, 1 and
one line saying what is wrong and what to do.
"""

import argparse
import csv
import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

__all__ = ["main"]

OPENAI = [
    f"{model}:openai"
    for model in (
        "RN50", "RN101", "RN50x4", "RN50x16", "RN50x64",
        "ViT-B-32", "ViT-B-16", "ViT-L-14", "ViT-L-14-336",
    )
]  # fmt: skip
TEMPLATE_SETS = ("auto", "openai", "simple", "zoo")
DEFAULT_SHOTS = "1,2,4,8,16"


class UsageError(ValueError):
    """Bad input on the command line: reported as one line, exit status 1."""


# ------------------------------------------------------------------------- arguments


def _parser():
    parser = argparse.ArgumentParser(
        prog="skclipens",
        description="Adaptive ensembling of CLIP backbones: few-shot comparisons and features.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--backbones",
        default="zoo",
        help="comma-separated backbones in open_clip's terms (MODEL:TAG, MODEL:/file.pt, "
        "local-dir:FOLDER, hf-hub:ORG/REPO, skclipens-zoo/NAME); 'zoo' for the project's "
        "four small digit backbones, 'openai' for the nine OpenAI CLIP models "
        "(default: zoo)",
    )
    common.add_argument(
        "--templates",
        default="auto",
        help="prompt templates: 'openai' (80), 'simple' (7), 'zoo' (the zoo's captions), or a "
        "text file with one template per line, '{}' where the class name goes; 'auto' is "
        "'zoo' when every backbone is the zoo's, else 'openai' (default: auto)",
    )
    common.add_argument(
        "--classnames",
        metavar="FILE",
        help="class folder to class name: a JSON object, or lines 'FOLDER NAME'",
    )
    common.add_argument("--device", help="cuda, mps, cpu... (default: the best there is)")
    common.add_argument("--batch-size", type=int, default=64, help="images encoded at once")
    common.add_argument(
        "--store",
        metavar="FOLDER",
        help="feature store: features are computed once and read back later",
    )

    evaluate = commands.add_parser(
        "evaluate",
        parents=[common],
        help="few-shot comparison of backbones, static ensembles and the controller",
        description="Few-shot comparison of each backbone (zero-shot), the static ensembles and "
        "the Neural Logit Controller on a labelled image set.",
    )
    evaluate.add_argument(
        "--data",
        default="digits",
        help="'digits' (scikit-learn's digits the zoo never trained on) or a folder with one "
        "subfolder of images per class (default: digits)",
    )
    evaluate.add_argument(
        "--test",
        metavar="FOLDER",
        help="a separate test folder (the --data folder is then the pool "
        "the few shots are drawn from)",
    )
    evaluate.add_argument(
        "--split",
        type=float,
        default=0.5,
        help="without --test, the fraction of --data held out for testing (default: 0.5)",
    )
    evaluate.add_argument(
        "--shots",
        default=DEFAULT_SHOTS,
        help=f"labelled images per class (default: {DEFAULT_SHOTS})",
    )
    evaluate.add_argument(
        "--seeds",
        type=int,
        default=3,
        help="few-shot draws per shots value, reported as mean and standard "
        "deviation (default: 3)",
    )
    evaluate.add_argument(
        "--perturb",
        action="store_true",
        help="also compare under noise, blur, JPEG, contrast and rotation at three severities",
    )
    evaluate.add_argument(
        "--out",
        default="skclipens-results",
        metavar="FOLDER",
        help="where results.json, results.csv and the plots go (default: skclipens-results)",
    )
    evaluate.set_defaults(run=run_evaluate)

    extract = commands.add_parser(
        "extract",
        parents=[common],
        help="compute and store features of an image folder for later runs",
        description="Compute every backbone's features (and zero-shot heads) of an image folder "
        "into a feature store, where a later evaluate or CLIPFeatures(cache=...) "
        "finds them.",
    )
    extract.add_argument("folder", help="a folder with one subfolder of images per class")
    extract.set_defaults(run=run_extract)
    return parser


def parse_backbones(text):
    """The backbone specs of ``--backbones``, checked (not loaded)."""
    from ._clip_features import CLIPFeatures
    from .zoo import list_zoo

    specs = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        specs += list_zoo() if item == "zoo" else OPENAI if item == "openai" else [item]
    if not specs:
        raise UsageError("--backbones is empty: name at least one, or 'zoo'.")
    CLIPFeatures(specs)._parse_backbones()  # unknown or repeated ones fail here, before any work
    return specs


def parse_templates(text, specs):
    from ._zero_shot import has_class_slot
    from .zoo import PREFIX
    from .zoo._train import TEMPLATES as ZOO_TEMPLATES

    if text == "auto":
        text = "zoo" if all(s.startswith(PREFIX) for s in specs) else "openai"
    if text == "zoo":
        return "zoo", list(ZOO_TEMPLATES)
    if text in ("openai", "simple"):
        return text, text
    path = Path(text)
    if not path.is_file():
        raise UsageError(
            f"--templates {text!r} is neither one of {', '.join(TEMPLATE_SETS)} nor a file."
        )
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    templates = [line for line in lines if line]
    bad = [t for t in templates if not has_class_slot(t)]
    if not templates or bad:
        raise UsageError(
            f"templates file {text!r} needs one template per line with '{{}}' where the class "
            f"name goes{f'; these lines lack it: {bad[:3]}' if bad else ''}."
        )
    return str(path), templates


def parse_shots(text):
    try:
        shots = sorted({int(s) for s in text.split(",") if s.strip()})
    except ValueError:
        raise UsageError(
            f"--shots takes whole numbers separated by commas, got {text!r}."
        ) from None
    if not shots or shots[0] < 1:
        raise UsageError(f"--shots takes positive whole numbers such as 1,2,4; got {text!r}.")
    return shots


# -------------------------------------------------------------------------------- data


def load_data(args, classnames):
    """(pool, test) ImageSets of ``--data`` / ``--test`` / ``--split``."""
    from ._datasets import DIGITS, load_digits_set, scan_image_folder, split_set

    if args.data == DIGITS:
        if args.test or args.classnames:
            raise UsageError("--test and --classnames go with a --data folder, not digits.")
        return split_set(load_digits_set(), args.split)
    verbose = sys.stderr.isatty()
    data = scan_image_folder(args.data, classnames, what="data", verbose=verbose)
    if args.test is None:
        pool, test = split_set(data, args.split)
        pool.skipped, pool.corrupt = data.skipped, data.corrupt
        return pool, test
    test = scan_image_folder(
        args.test, classnames, classes=data.folders, what="test", verbose=verbose
    )
    return data, test


def report_left_out(*image_sets):
    skipped = [p for s in image_sets for p in s.skipped]
    corrupt = [c for s in image_sets for c in s.corrupt]
    if skipped:
        examples = ", ".join(repr(p) for p in skipped[:3])
        print(
            f"skipped {len(skipped)} file(s) not images or not in a class folder, e.g. {examples}"
        )
    if corrupt:
        print(f"left out {len(corrupt)} corrupt image(s):")
        for path, reason in corrupt[:20]:
            print(f"  {path}: {reason}")
        if len(corrupt) > 20:
            print(f"  ... and {len(corrupt) - 20} more (all in results.json)")
    return skipped, corrupt


def check_shots(pool, shots):
    counts = pool.counts()
    short = {name: n for name, n in counts.items() if n < shots[-1]}
    if short:
        name, n = min(short.items(), key=lambda item: item[1])
        raise UsageError(
            f"class {name!r} has {n} image(s) in the few-shot pool, fewer than the "
            f"{shots[-1]} shots per class asked for ({len(short)} class(es) are short): "
            f"ask for at most {min(counts.values())} with --shots, or add images."
        )


def check_batch_size(args):
    if args.batch_size < 1:
        raise UsageError(f"--batch-size must be at least 1, got {args.batch_size}.")


def make_features(args, specs, templates, classnames, verbose):
    from ._clip_features import CLIPFeatures

    clip = CLIPFeatures(
        specs,
        templates=templates,
        classnames=dict(enumerate(classnames)),
        batch_size=args.batch_size,
        device=args.device,
        cache=args.store,
        verbose=verbose,
    )
    return clip.fit(y=np.arange(len(classnames)))


# -------------------------------------------------------------------------- evaluate


def run_evaluate(args):
    from tqdm.auto import tqdm

    from ._datasets import read_classnames
    from ._evaluate import (
        CONTROLLER,
        METHODS,
        compare,
        encode,
        mean_over_conditions,
    )
    from ._perturb import perturbation_conditions
    from ._plots import MISSING, plots_available, write_plots

    started = time.perf_counter()
    shots = parse_shots(args.shots)
    if args.seeds < 1:
        raise UsageError(f"--seeds must be at least 1, got {args.seeds}.")
    if args.test is None and not 0.0 < args.split < 1.0:
        raise UsageError(f"--split is the test fraction, between 0 and 1; got {args.split}.")
    check_batch_size(args)
    specs = parse_backbones(args.backbones)
    template_name, templates = parse_templates(args.templates, specs)
    classnames = read_classnames(args.classnames) if args.classnames else None
    pool, test = load_data(args, classnames)
    skipped, corrupt = report_left_out(pool, test)
    check_shots(pool, shots)
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(
            f"--out {str(out)!r}: cannot create that folder ({exc.strerror})."
        ) from None

    tty = sys.stderr.isatty()
    clip = make_features(args, specs, templates, pool.classnames, verbose=tty)
    conditions = [("clean", None)]
    if args.perturb:
        conditions += [(name, (kind, level)) for name, kind, level in perturbation_conditions()]
    print(
        f"{args.data}: {len(pool.classnames)} classes, "
        f"{len(pool)} few-shot pool and {len(test)} test images; {len(specs)} backbones; "
        f"shots {','.join(map(str, shots))}; {args.seeds} seed(s); "
        f"{len(conditions)} condition(s)"
    )
    n_fits = len(conditions) * len(shots) * args.seeds * len(METHODS)
    results, temperatures = {}, None
    with tqdm(total=n_fits, desc="fits", unit="fit", disable=not tty) as bar:
        for name, condition in conditions:
            X_pool = encode(clip, pool.images, condition, seed=0)
            X_test = encode(clip, test.images, condition, seed=1)
            results[name], controller = compare(
                X_pool, pool.labels, X_test, test.labels, shots, args.seeds, progress=bar
            )
            if condition is None:
                values = controller.temperatures(X_test).T
                temperatures = dict(zip(controller.backbones_, values))

    result = {
        "settings": {k: v for k, v in vars(args).items() if k != "run"},
        "dataset": {
            "name": str(args.data),
            "test": None if args.test is None else str(args.test),
            "split": None if args.test else args.split,
            "classes": pool.classnames,
            "pool_images": len(pool),
            "test_images": len(test),
            "skipped": skipped,
            "corrupt": [{"path": p, "reason": r} for p, r in corrupt],
        },
        "backbones": specs,
        "templates": template_name,
        "shots": shots,
        "seeds": args.seeds,
        "controller": CONTROLLER,
        "conditions": results,
        "temperatures": {
            "shots": shots[-1],
            "seed": 0,
            "values": {b: v.tolist() for b, v in temperatures.items()},
        },
    }
    print(format_table(results["clean"], shots))
    if args.perturb:
        result["mean_over_conditions"] = mean_over_conditions(results)
        short_names = {m: s for m, (s, _) in METHODS.items()}
        print(format_robustness(results, result["mean_over_conditions"], shots[-1], short_names))
        print(f"\nmean over the {len(results)} conditions (clean and perturbed)")
        print(format_table(result["mean_over_conditions"], shots))
    paths = [write_json(result, out / "results.json"), write_csv(result, out / "results.csv")]
    if plots_available():
        paths += write_plots(result, out)
    else:
        print(MISSING)
    print(f"wrote {', '.join(str(p) for p in paths)} in {time.perf_counter() - started:.0f} s")
    return 0


def _cell(summary):
    return f"{summary['mean']:.3f} ± {summary['std']:.3f}"


def format_table(result, shots):
    """The comparison of one condition as text: methods down, shots across."""
    labels = {s: f"{s} shot" + ("s" if s > 1 else "") for s in shots}
    width = 36
    lines = [
        f"{'test accuracy (mean ± std over seeds)':<{width}}{'zero-shot':>10}"
        + "".join(f"{labels[s]:>16}" for s in shots)
    ]
    per_condition = "best_per_condition" in result  # a mean over conditions
    for backbone, accuracy in result["backbones"].items():
        mark = " *" if backbone == result["best_backbone"] and not per_condition else ""
        lines.append(f"{'  ' + backbone + mark:<{width}}{accuracy:>10.3f}")
    if per_condition:
        best = "best of each condition *"
        lines.append(f"{'  ' + best:<{width}}{result['best_per_condition']:>10.3f}")
    for method, by_shots in result["methods"].items():
        lines.append(
            f"{method:<{width}}{'':>10}" + "".join(f"{_cell(by_shots[s]):>16}" for s in shots)
        )
    lines.append(f"{'oracle (any backbone right)':<{width}}{result['oracle']:>10.3f}")
    lines.append(
        f"{'controller - best backbone *':<{width}}{'':>10}"
        + "".join(
            f"{result['gain'][s]['mean']:>+9.3f} ± {result['gain'][s]['std']:.3f}" for s in shots
        )
    )
    return "\n".join(lines)


def format_robustness(results, mean, shots, short_names):
    """Every condition at ``shots``: the best backbone, each method, the oracle, the gain."""
    head = (
        f"{'at ' + str(shots) + ' shots':<12}{'best bb':>8}"
        + "".join(f"{s:>7}" for s in short_names.values())
        + f"{'oracle':>8}{'gain':>8}"
    )
    lines = ["", head]
    for condition, r in [*results.items(), ("mean", mean)]:
        best = r.get("best_per_condition", r["backbones"][r["best_backbone"]])
        row = f"{condition:<12}{best:>8.3f}"
        row += "".join(f"{r['methods'][m][shots]['mean']:>7.3f}" for m in short_names)
        lines.append(row + f"{r['oracle']:>8.3f}{r['gain'][shots]['mean']:>+8.3f}")
    lines.append(
        "columns: best bb = best backbone zero-shot; "
        + ", ".join(f"{s} = {m}" for m, s in short_names.items())
    )
    return "\n".join(lines)


def write_json(result, path):
    temps = result["temperatures"]
    summary = {
        b: {
            "mean": float(np.mean(v)),
            "std": float(np.std(v)),
            "quartiles": [float(q) for q in np.percentile(v, [25, 50, 75])],
        }
        for b, v in temps["values"].items()
    }
    data = {**result, "temperatures": {**temps, "values": summary}}
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path


def write_csv(result, path):
    """Long form: one row per condition, kind, method and shots (0 for zero-shot)."""
    rows = list(result["conditions"].items())
    if "mean_over_conditions" in result:
        rows.append(("mean", result["mean_over_conditions"]))
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["condition", "kind", "method", "shots", "mean", "std", "seeds"])
        for condition, r in rows:
            for backbone, accuracy in r["backbones"].items():
                writer.writerow([condition, "backbone", backbone, 0, f"{accuracy:.6f}", "", ""])
            for method, by_shots in r["methods"].items():
                for s, summary in by_shots.items():
                    writer.writerow(_summary_row(condition, "ensemble", method, s, summary))
            if "best_per_condition" in r:
                best = f"{r['best_per_condition']:.6f}"
                writer.writerow([condition, "backbone", "best of each condition", 0, best, "", ""])
            writer.writerow([condition, "oracle", "oracle", 0, f"{r['oracle']:.6f}", "", ""])
            for s, summary in r["gain"].items():
                method = "controller - best backbone"
                writer.writerow(_summary_row(condition, "gain", method, s, summary))
    return path


def _summary_row(condition, kind, method, shots, summary):
    """A CSV row of a mean ± std over seeds."""
    mean, std = f"{summary['mean']:.6f}", f"{summary['std']:.6f}"
    return [condition, kind, method, shots, mean, std, len(summary["scores"])]


# --------------------------------------------------------------------------- extract


def run_extract(args):
    from ._datasets import read_classnames, scan_image_folder

    started = time.perf_counter()
    if args.store is None:
        raise UsageError("extract needs --store FOLDER: where the features are kept.")
    check_batch_size(args)
    specs = parse_backbones(args.backbones)
    _, templates = parse_templates(args.templates, specs)
    classnames = read_classnames(args.classnames) if args.classnames else None
    data = scan_image_folder(args.folder, classnames, what="data", verbose=sys.stderr.isatty())
    report_left_out(data)
    clip = make_features(args, specs, templates, data.classnames, verbose=sys.stderr.isatty())
    clip.transform(data.images)
    print(
        f"stored the features of {len(data)} images ({len(data.classnames)} classes) for "
        f"{len(specs)} backbone(s) in {args.store} in {time.perf_counter() - started:.0f} s.\n"
        f"Reuse them: skclipens evaluate --data {args.folder} --store {args.store} "
        f"--backbones {args.backbones}, or CLIPFeatures(backbones, cache={str(args.store)!r})."
    )
    return 0


# ------------------------------------------------------------------------------ main


def main(argv=None):
    """Run the command line; return the exit status (0 on success)."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args = _parser().parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*unique classes.*")
            warnings.showwarning = _show_warning
            return args.run(args)
    except KeyboardInterrupt:
        print("skclipens: interrupted", file=sys.stderr)
        return 130
    except (ValueError, OSError, RuntimeError) as exc:
        message = " ".join(str(exc).split())
        print(f"skclipens: error: {message}", file=sys.stderr)
        return 1


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """Warnings as one line, without the source line a traceback would show."""
    print(f"skclipens: warning: {message}", file=sys.stderr if file is None else file)


def console_main():
    sys.exit(main())
