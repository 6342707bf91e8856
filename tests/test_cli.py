"""The ``skclipens`` command end to end: real image folders, the real zoo, every bad input."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from skclipens import list_zoo
from skclipens._cli import OPENAI, main
from skclipens._datasets import load_digits_set
from skclipens._evaluate import CONTROLLER, METHODS

CLASSES = {"zero": 0, "one": 1, "seven": 7}
PER_CLASS = 8
SHOTS = [1, 2]


def write_digit_folder(folder, per_class=PER_CLASS, classes=CLASSES, start=0):
    """Held-out digits as files: PNG and JPEG, with a grayscale and an RGBA image in each class."""
    digits = load_digits_set()
    for name, digit in classes.items():
        (folder / name).mkdir(parents=True, exist_ok=True)
        rows = np.flatnonzero(digits.labels == digit)[start : start + per_class]
        for i, row in enumerate(rows):
            img = Image.fromarray(digits.images[row])
            if i == 0:
                img.convert("L").save(folder / name / f"{i}-gray.png")
            elif i == 1:
                img.convert("RGBA").save(folder / name / f"{i}-rgba.png")
            elif i % 2:
                img.save(folder / name / f"{i}.jpg", quality=95)
            else:
                img.save(folder / name / f"{i}.png")
    return folder


@pytest.fixture(scope="module")
def digit_folder(tmp_path_factory):
    return write_digit_folder(tmp_path_factory.mktemp("data") / "digits-folder")


def run_cli(*args):
    """The real command line, in a fresh process: (exit status, stdout, stderr)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "skclipens", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    return done.returncode, done.stdout, done.stderr


def fails(capsys, *args):
    """Run ``main`` in this process, expect exit status 1 and one error line; return it."""
    status = main([str(a) for a in args])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 1, err
    assert len(err) == 1 and err[0].startswith("skclipens: error: "), err
    return err[0]


def evaluate_args(data, out, *extra):
    return ["evaluate", "--data", data, "--shots", "1,2", "--seeds", "2", "--out", out, *extra]


# ------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def folder_run(digit_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    status, stdout, stderr = run_cli(*evaluate_args(digit_folder, out))
    assert status == 0, stderr
    return out, stdout


def test_evaluate_folder_json(folder_run, digit_folder):
    out, stdout = folder_run
    result = json.loads((out / "results.json").read_text())
    data = result["dataset"]
    assert data["classes"] == sorted(CLASSES)  # the folder names, sorted
    assert data["pool_images"] + data["test_images"] == PER_CLASS * len(CLASSES)
    assert data["skipped"] == [] and data["corrupt"] == []
    assert result["backbones"] == list_zoo() and result["templates"] == "zoo"
    assert result["shots"] == SHOTS and result["seeds"] == 2
    assert list(result["conditions"]) == ["clean"]
    clean = result["conditions"]["clean"]
    assert set(clean["backbones"]) == set(list_zoo())
    best = clean["best_backbone"]
    assert clean["backbones"][best] == max(clean["backbones"].values())
    assert clean["oracle"] >= clean["backbones"][best]
    assert clean["oracle"] > 1 / len(CLASSES)  # the zoo knows digits
    assert set(clean["methods"]) == set(METHODS)
    for by_shots in clean["methods"].values():
        assert list(by_shots) == ["1", "2"]
        for summary in by_shots.values():
            assert len(summary["scores"]) == 2
            assert all(0.0 <= s <= 1.0 for s in summary["scores"])
            assert summary["mean"] == pytest.approx(np.mean(summary["scores"]))
            assert summary["std"] == pytest.approx(np.std(summary["scores"]))
    for s in ("1", "2"):
        gains = np.array(clean["methods"][CONTROLLER][s]["scores"]) - clean["backbones"][best]
        assert clean["gain"][s]["scores"] == pytest.approx(gains.tolist())
    temps = result["temperatures"]
    assert temps["shots"] == 2 and set(temps["values"]) == set(list_zoo())
    assert str(digit_folder) in stdout and CONTROLLER in stdout and "oracle" in stdout


def test_evaluate_folder_csv_matches_json(folder_run):
    out, _ = folder_run
    result = json.loads((out / "results.json").read_text())["conditions"]["clean"]
    with open(out / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    n_backbones, n_methods = len(result["backbones"]), len(result["methods"])
    assert len(rows) == n_backbones + n_methods * len(SHOTS) + 1 + len(SHOTS)
    assert {r["condition"] for r in rows} == {"clean"}
    for row in rows:
        if row["kind"] == "backbone":
            assert row["shots"] == "0"
            assert float(row["mean"]) == pytest.approx(result["backbones"][row["method"]])
        elif row["kind"] == "ensemble":
            summary = result["methods"][row["method"]][row["shots"]]
            assert float(row["mean"]) == pytest.approx(summary["mean"], abs=1e-6)
            assert float(row["std"]) == pytest.approx(summary["std"], abs=1e-6)
            assert row["seeds"] == "2"
        elif row["kind"] == "oracle":
            assert float(row["mean"]) == pytest.approx(result["oracle"])
        else:
            assert row["kind"] == "gain"
            assert float(row["mean"]) == pytest.approx(result["gain"][row["shots"]]["mean"])


def test_evaluate_writes_plots(folder_run):
    out, _ = folder_run
    for name in ("accuracy_vs_shots.png", "temperatures.png"):
        with Image.open(out / name) as img:
            assert img.format == "PNG" and min(img.size) > 200
    assert not (out / "robustness.png").exists()  # only with --perturb


def test_console_script_and_extract_then_evaluate_from_store(digit_folder, tmp_path):
    script = Path(sys.executable).with_name("skclipens")
    assert script.is_file(), "the console script is installed with the package"
    store = tmp_path / "store"
    args = [digit_folder, "--backbones", "skclipens-zoo/rn,skclipens-zoo/vit-p8"]
    done = subprocess.run(
        [script, "extract", *args, "--store", store],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert f"features of {PER_CLASS * len(CLASSES)} images" in done.stdout
    assert any(store.iterdir())

    from skclipens import CLIPFeatures
    from skclipens._store import FeatureStore

    before = len(FeatureStore(store))
    paths = sorted(str(p) for p in digit_folder.rglob("*.*"))
    clip = CLIPFeatures(["skclipens-zoo/rn"], cache=store).fit()
    stored = clip.transform(paths)
    plain = CLIPFeatures(["skclipens-zoo/rn"]).fit().transform(paths)
    np.testing.assert_allclose(
        stored.embeddings["skclipens-zoo/rn"], plain.embeddings["skclipens-zoo/rn"], atol=1e-6
    )
    assert len(FeatureStore(store)) == before  # read back, nothing new encoded

    status, _, stderr = run_cli(
        *evaluate_args(digit_folder, tmp_path / "out"), "--store", store, "--backbones", args[-1]
    )
    assert status == 0, stderr
    assert len(FeatureStore(store)) == before


def test_evaluate_digits_in_process(tmp_path, capsys):
    assert main(["evaluate", "--shots", "1", "--seeds", "1", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "results.json").read_text())
    assert result["dataset"]["name"] == "digits"
    held_out = len(load_digits_set())
    assert result["dataset"]["pool_images"] + result["dataset"]["test_images"] == held_out
    clean = result["conditions"]["clean"]
    assert min(clean["backbones"].values()) > 0.9  # the zoo on digits it never trained on
    assert "digits: 10 classes" in capsys.readouterr().out


def test_evaluate_perturb(digit_folder, tmp_path):
    from skclipens._perturb import perturbation_conditions

    args = [
        "evaluate",
        "--data",
        digit_folder,
        "--shots",
        "1",
        "--seeds",
        "1",
        "--perturb",
        "--backbones",
        "skclipens-zoo/rn,skclipens-zoo/vit-p4",
        "--out",
        tmp_path,
    ]
    assert main([str(a) for a in args]) == 0
    result = json.loads((tmp_path / "results.json").read_text())
    names = ["clean"] + [name for name, _, _ in perturbation_conditions()]
    assert list(result["conditions"]) == names
    with open(tmp_path / "results.csv", newline="") as f:
        assert {r["condition"] for r in csv.DictReader(f)} == {*names, "mean"}
    mean = result["mean_over_conditions"]
    per_condition = [result["conditions"][n]["methods"][CONTROLLER]["1"]["mean"] for n in names]
    assert mean["methods"][CONTROLLER]["1"]["mean"] == pytest.approx(np.mean(per_condition))
    bests = [max(result["conditions"][n]["backbones"].values()) for n in names]
    assert mean["best_per_condition"] == pytest.approx(np.mean(bests))
    assert mean["gain"]["1"]["mean"] == pytest.approx(np.mean(per_condition) - np.mean(bests))
    accuracy = {n: result["conditions"][n]["backbones"]["skclipens-zoo/rn"] for n in names}
    assert accuracy["noise-3"] < accuracy["clean"]  # the perturbations do perturb
    with Image.open(tmp_path / "robustness.png") as img:
        assert img.format == "PNG"


def results_of(out, *args):
    """Run ``main(["evaluate", *args, "--shots", "1", "--seeds", "1", "--out", out])``;
    return what it wrote to results.json."""
    argv = ["evaluate", *args, "--shots", "1", "--seeds", "1", "--out", out]
    assert main([str(a) for a in argv]) == 0
    return json.loads((out / "results.json").read_text())


def test_separate_test_folder_and_classnames_file(digit_folder, tmp_path):
    test_folder = write_digit_folder(
        tmp_path / "test", per_class=3, classes={"zero": 0, "seven": 7}, start=PER_CLASS
    )
    names = tmp_path / "names.txt"
    names.write_text("zero the digit 0\none digit one\nseven seven\nunused whatever\n")
    result = results_of(
        tmp_path / "out", "--data", digit_folder, "--test", test_folder, "--classnames", names
    )
    data = result["dataset"]
    assert data["classes"] == ["digit one", "seven", "the digit 0"]  # label order: folders
    assert data["pool_images"] == PER_CLASS * len(CLASSES) and data["test_images"] == 6
    assert data["split"] is None


def test_classnames_json(digit_folder, tmp_path):
    names = tmp_path / "names.json"
    names.write_text(json.dumps({"zero": "nought", "one": "one", "seven": "seven"}))
    result = results_of(tmp_path / "out", "--data", digit_folder, "--classnames", names)
    assert result["dataset"]["classes"] == ["one", "seven", "nought"]


def test_warnings_are_one_line(digit_folder, tmp_path, capsys):
    args = ["--data", digit_folder, "--backbones", "skclipens-zoo/rn,skc-tiny-vit"]
    results_of(tmp_path, *args)
    err = capsys.readouterr().err
    assert "skclipens: warning: backbone 'skc-tiny-vit' names no weights" in err
    assert "_clip_features.py" not in err  # no source location


def test_missing_matplotlib_skips_plots(digit_folder, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("skclipens._plots.plots_available", lambda: False)
    args = evaluate_args(digit_folder, tmp_path)
    assert main([str(a) for a in args]) == 0
    assert "plots skipped: matplotlib is not installed" in capsys.readouterr().out
    assert (tmp_path / "results.json").is_file() and not list(tmp_path.glob("*.png"))


# ------------------------------------------------------------------------ bad input


def test_non_image_files_are_skipped_with_a_count(digit_folder, tmp_path, capsys):
    data = write_digit_folder(tmp_path / "data")
    (data / "README.txt").write_text("not an image")
    (data / "one" / "notes.txt").write_text("not an image")
    (data / "one" / ".DS_Store").write_bytes(b"\0\1")
    assert main([str(a) for a in evaluate_args(data, tmp_path / "out")]) == 0
    assert "skipped 3 file(s) not images or not in a class folder" in capsys.readouterr().out
    result = json.loads((tmp_path / "out" / "results.json").read_text())
    assert len(result["dataset"]["skipped"]) == 3
    assert result["dataset"]["pool_images"] + result["dataset"]["test_images"] == 24


def test_corrupt_images_are_listed_and_left_out(tmp_path, capsys):
    data = write_digit_folder(tmp_path / "data")
    (data / "one" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    good = next((data / "zero").glob("*.jpg"))
    (data / "zero" / "truncated.jpg").write_bytes(good.read_bytes()[:200])
    assert main([str(a) for a in evaluate_args(data, tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "left out 2 corrupt image(s)" in out
    assert "broken.png" in out and "truncated.jpg" in out
    corrupt = json.loads((tmp_path / "out" / "results.json").read_text())["dataset"]["corrupt"]
    assert sorted(Path(c["path"]).name for c in corrupt) == ["broken.png", "truncated.jpg"]
    assert all(c["reason"] for c in corrupt)


def test_missing_folder(tmp_path, capsys):
    line = fails(capsys, "evaluate", "--data", tmp_path / "nope", "--out", tmp_path)
    assert "does not exist" in line and "nope" in line


def test_empty_folder(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    line = fails(capsys, "evaluate", "--data", tmp_path / "empty", "--out", tmp_path)
    assert "no class subfolders" in line


def test_class_folder_without_images(tmp_path, capsys):
    data = write_digit_folder(tmp_path / "data")
    (data / "eight").mkdir()
    (data / "eight" / "notes.txt").write_text("no images here")
    line = fails(capsys, "evaluate", "--data", data, "--out", tmp_path)
    assert "eight" in line and "no readable images" in line


def test_fewer_images_than_shots(digit_folder, tmp_path, capsys):
    line = fails(capsys, "evaluate", "--data", digit_folder, "--shots", "1,8", "--out", tmp_path)
    assert "fewer than the 8 shots" in line and "at most 4" in line


def test_unknown_backbone(digit_folder, tmp_path, capsys):
    line = fails(
        capsys,
        "evaluate",
        "--data",
        digit_folder,
        "--backbones",
        "ViT-B-33:openai",
        "--out",
        tmp_path,
    )
    assert "no model 'ViT-B-33'" in line and "ViT-B-32" in line
    line = fails(capsys, "evaluate", "--backbones", "skclipens-zoo/vit-p16", "--out", tmp_path)
    assert "the zoo has no backbone" in line
    line = fails(capsys, "evaluate", "--backbones", "zoo,skclipens-zoo/rn", "--out", tmp_path)
    assert "names ['skclipens-zoo/rn'] more than once" in line


def test_openai_weights_offline_fail_in_one_line(tmp_path):
    assert len(OPENAI) == 9
    status, _, stderr = run_cli("evaluate", "--backbones", "openai", "--out", tmp_path)
    assert status == 1
    [line] = stderr.strip().splitlines()  # open_clip's own log line is held back
    assert line.startswith("skclipens: error: backbone 'RN50:openai'")
    assert "HF_HUB_OFFLINE=1" in line and "local-dir:" in line


@pytest.mark.parametrize(
    "args, message",
    [
        (["--shots", "1,x"], "--shots takes whole numbers"),
        (["--shots", "0,1"], "positive whole numbers"),
        (["--seeds", "0"], "--seeds must be at least 1"),
        (["--split", "1.5"], "between 0 and 1"),
        (["--templates", "nope"], "neither one of auto, openai, simple, zoo nor a file"),
        (["--batch-size", "0"], "--batch-size must be at least 1"),
        (["--test", "x"], "go with a --data folder"),
        (["--device", "cuda:99"], "device 'cuda:99' is not available on this machine"),
    ],
)
def test_bad_options(args, message, tmp_path, capsys):
    assert message in fails(capsys, "evaluate", *args, "--out", tmp_path)


def test_bad_templates_file(digit_folder, tmp_path, capsys):
    templates = tmp_path / "t.txt"
    templates.write_text("a photo of a {}.\nno placeholder here\n")
    line = fails(
        capsys, "evaluate", "--data", digit_folder, "--templates", templates, "--out", tmp_path
    )
    assert "no placeholder here" in line


def test_classnames_file_missing_a_folder(digit_folder, tmp_path, capsys):
    names = tmp_path / "names.json"
    names.write_text(json.dumps({"zero": "zero"}))
    line = fails(
        capsys, "evaluate", "--data", digit_folder, "--classnames", names, "--out", tmp_path
    )
    assert "no name for the class folder(s) one, seven" in line


def test_test_folder_with_unknown_class(digit_folder, tmp_path, capsys):
    test_folder = write_digit_folder(tmp_path / "test", per_class=2, classes={"two": 2})
    line = fails(
        capsys, "evaluate", "--data", digit_folder, "--test", test_folder, "--out", tmp_path
    )
    assert "classes the training data lacks: two" in line


def test_out_that_cannot_be_a_folder(digit_folder, tmp_path, capsys):
    (tmp_path / "file").write_text("")
    line = fails(capsys, *evaluate_args(digit_folder, tmp_path / "file" / "x"))
    assert "cannot create that folder" in line


def test_extract_needs_a_store(digit_folder, capsys):
    assert "needs --store" in fails(capsys, "extract", digit_folder)


def test_command_line_failure_is_one_line(tmp_path):
    status, stdout, stderr = run_cli("evaluate", "--data", tmp_path / "nope", "--out", tmp_path)
    assert status == 1
    assert stderr.strip().splitlines() == [
        f"skclipens: error: data folder {str(tmp_path / 'nope')!r} does not exist."
    ]
