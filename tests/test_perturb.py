"""The evaluation's perturbations: deterministic, size-preserving, harder with each level."""

import numpy as np
import pytest
from PIL import Image

from skclipens._perturb import PERTURBATIONS, perturb_image, perturbation_conditions


@pytest.fixture(scope="module")
def photo():
    """A 48x40 RGB image with structure at several scales."""
    y, x = np.mgrid[0:40, 0:48]
    pixels = np.stack([x * 5, y * 6, ((x // 6 + y // 6) % 2) * 255], axis=-1)
    return Image.fromarray(pixels.astype(np.uint8))


def _distance(a, b):
    return float(np.abs(np.asarray(a, float) - np.asarray(b, float)).mean())


@pytest.mark.parametrize("kind", list(PERTURBATIONS))
def test_each_perturbation_keeps_size_and_mode_and_is_deterministic(photo, kind):
    for level in (1, 2, 3):
        out = perturb_image(photo, kind, level, seed=3, position=7)
        assert out.size == photo.size and out.mode == "RGB"
        again = perturb_image(photo, kind, level, seed=3, position=7)
        np.testing.assert_array_equal(np.asarray(out), np.asarray(again))


@pytest.mark.parametrize("kind", list(PERTURBATIONS))
def test_each_level_moves_the_image_further(photo, kind):
    distances = [_distance(photo, perturb_image(photo, kind, level)) for level in (1, 2, 3)]
    assert 0 < distances[0] < distances[1] < distances[2]


def test_random_parts_depend_on_seed_and_position(photo):
    a = perturb_image(photo, "noise", 2, seed=0, position=0)
    assert _distance(a, perturb_image(photo, "noise", 2, seed=0, position=1)) > 0
    assert _distance(a, perturb_image(photo, "noise", 2, seed=1, position=0)) > 0


def test_conditions_and_unknown_kind(photo):
    names = [name for name, _, _ in perturbation_conditions()]
    assert len(names) == 3 * len(PERTURBATIONS) == len(set(names))
    with pytest.raises(ValueError, match="unknown perturbation 'snow'; known: noise, blur"):
        perturb_image(photo, "snow", 1)
