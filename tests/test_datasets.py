"""Image folders and class-name files for the command line (its end-to-end tests: test_cli)."""

import json

import numpy as np
import pytest
from PIL import Image

from skclipens._datasets import (
    ImageSet,
    load_digits_set,
    read_classnames,
    scan_image_folder,
    split_set,
)


def _image(path, value=128):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (value, 0, 0)).save(path)


def test_scan_labels_follow_sorted_folders_and_nest(tmp_path):
    _image(tmp_path / "b_cls" / "1.png")
    _image(tmp_path / "a" / "deep" / "er" / "2.png")
    _image(tmp_path / "a" / "3.png")
    (tmp_path / ".hidden").mkdir()
    _image(tmp_path / ".hidden" / "4.png")
    found = scan_image_folder(tmp_path)
    assert found.classnames == ["a", "b cls"]  # underscores read as spaces
    assert found.labels.tolist() == [0, 0, 1]
    assert [p.rsplit("/", 1)[-1] for p in found.images] == ["3.png", "2.png", "1.png"]
    assert found.counts() == {"a": 2, "b cls": 1}


def test_classnames_json_and_text(tmp_path):
    (tmp_path / "m.json").write_text(json.dumps({"n01": "tench", "n02": " goldfish "}))
    assert read_classnames(tmp_path / "m.json") == {"n01": "tench", "n02": "goldfish"}
    (tmp_path / "m.txt").write_text("n01 tench, Tinca tinca\n\nn02 goldfish\n")
    assert read_classnames(tmp_path / "m.txt") == {"n01": "tench, Tinca tinca", "n02": "goldfish"}


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("bad.json", "{not json", "not valid JSON"),
        ("list.json", "[1, 2]", "one JSON object"),
        ("bad.txt", "n01 tench\nlonely\n", "line 2: expected 'FOLDER CLASS NAME'"),
    ],
)
def test_bad_classnames_files(tmp_path, name, text, message):
    (tmp_path / name).write_text(text)
    with pytest.raises(ValueError, match=message):
        read_classnames(tmp_path / name)
    with pytest.raises(ValueError, match="does not exist"):
        read_classnames(tmp_path / "missing.json")


def test_a_file_given_as_the_folder(tmp_path):
    _image(tmp_path / "x.png")
    with pytest.raises(ValueError, match="is not a folder"):
        scan_image_folder(tmp_path / "x.png")


def test_split_is_stratified_and_disjoint():
    digits = load_digits_set()
    pool, test = split_set(digits, 0.25)
    assert len(pool) + len(test) == len(digits)
    assert abs(len(test) - 0.25 * len(digits)) <= 1
    for part in (pool, test):
        counts = np.bincount(part.labels, minlength=10)
        assert counts.min() > 0
    assert pool.images.shape[1:] == (32, 32, 3)


def test_split_refuses_what_cannot_be_split():
    labels = np.array([0, 0, 0, 1])
    image_set = ImageSet("x", np.zeros((4, 2, 2, 3), np.uint8), labels, ["a", "b"])
    with pytest.raises(ValueError, match="'b' have fewer than 2 images"):
        split_set(image_set, 0.5)
    labels = np.array([0, 0, 1, 1])
    image_set = ImageSet("x", np.zeros((4, 2, 2, 3), np.uint8), labels, ["a", "b"])
    with pytest.raises(ValueError, match="fewer images than the 2 classes"):
        split_set(image_set, 0.2)


def test_a_corrupt_image_is_left_out_with_its_reason_even_when_its_name_has_a_colon(tmp_path):
    _image(tmp_path / "a" / "good.png")
    (tmp_path / "a" / "shot: 1.png").write_bytes(b"not a png")
    found = scan_image_folder(tmp_path)
    assert [p.rsplit("/", 1)[-1] for p in found.images] == ["good.png"]
    [(path, reason)] = found.corrupt
    assert path.endswith("shot: 1.png")
    assert "shot" not in reason and "1.png" not in reason and reason  # the reason, not the name
