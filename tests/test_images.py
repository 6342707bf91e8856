"""Tests for skclipens._images: image inputs to RGB PIL images, validation and cache keys."""

import io
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from skclipens._images import (
    ImageLoadError,
    check_images,
    image_identity,
    iter_images,
    load_image,
)


def pixels(img):
    """The image as an int array of shape (H, W, 3)."""
    assert isinstance(img, Image.Image)
    assert img.mode == "RGB"
    return np.asarray(img).astype(int)


def save(img, path, **kwargs):
    img.save(path, **kwargs)
    return path


def rgb_image():
    """A 3x2 (W x H) RGB image with six distinct pixels."""
    data = np.array(
        [[[255, 0, 0], [0, 255, 0], [0, 0, 255]], [[10, 20, 30], [40, 50, 60], [70, 80, 90]]],
        dtype=np.uint8,
    )
    return Image.fromarray(data), data


def encoded(img, fmt="PNG", **kwargs):
    buffer = io.BytesIO()
    img.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def truncate(path):
    data = Path(path).read_bytes()
    Path(path).write_bytes(data[: len(data) // 2])
    return path


@pytest.fixture(autouse=True)
def _strict_truncation(monkeypatch):
    # PIL's default; a test elsewhere setting it must not hide truncation here.
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", False)


# --- files -------------------------------------------------------------------------------


@pytest.mark.parametrize("as_path", [str, Path])
def test_png_file_exact_pixels(tmp_path, as_path):
    img, data = rgb_image()
    path = save(img, tmp_path / "a.png")
    out = load_image(as_path(path))
    assert out.size == (3, 2)
    np.testing.assert_array_equal(pixels(out), data)


def test_jpeg_file(tmp_path):
    path = save(Image.new("RGB", (16, 8), (200, 40, 10)), tmp_path / "a.jpg", quality=95)
    out = load_image(path)
    assert out.size == (16, 8)
    assert np.abs(pixels(out) - [200, 40, 10]).max() <= 4


def test_grayscale_file(tmp_path):
    data = np.array([[0, 77], [128, 255]], dtype=np.uint8)
    path = save(Image.fromarray(data), tmp_path / "g.png")
    assert Image.open(path).mode == "L"
    np.testing.assert_array_equal(pixels(load_image(path)), np.stack([data] * 3, axis=-1))


def test_rgba_file_composited_onto_white(tmp_path):
    data = np.array([[[10, 20, 30, 0], [10, 20, 30, 255], [0, 0, 0, 128]]], dtype=np.uint8)
    path = save(Image.fromarray(data, mode="RGBA"), tmp_path / "a.png")
    out = pixels(load_image(path))
    assert out[0, 0].tolist() == [255, 255, 255]  # fully transparent: white, not (10, 20, 30)
    assert out[0, 1].tolist() == [10, 20, 30]  # opaque: unchanged
    assert np.all(np.abs(out[0, 2] - 127) <= 1)  # half black over white


def test_palette_with_transparency(tmp_path):
    img = Image.new("P", (2, 1))
    img.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    img.putpixel((0, 0), 0)
    img.putpixel((1, 0), 1)
    path = save(img, tmp_path / "p.png", transparency=0)
    reopened = Image.open(path)
    assert reopened.mode == "P" and "transparency" in reopened.info
    out = pixels(load_image(path))
    assert out[0, 0].tolist() == [255, 255, 255]  # transparent red index: white
    assert out[0, 1].tolist() == [0, 255, 0]


def test_palette_without_transparency(tmp_path):
    img = Image.new("P", (1, 1))
    img.putpalette([12, 34, 56] + [0] * 765)
    path = save(img, tmp_path / "p.png")
    assert pixels(load_image(path))[0, 0].tolist() == [12, 34, 56]


def test_cmyk_jpeg(tmp_path):
    path = save(Image.new("CMYK", (8, 8), (0, 255, 255, 0)), tmp_path / "c.jpg", quality=95)
    assert Image.open(path).mode == "CMYK"
    out = pixels(load_image(path))
    assert out.shape == (8, 8, 3)
    assert np.abs(out - [255, 0, 0]).max() <= 8  # no cyan, full magenta and yellow: red


def test_16bit_grayscale_png(tmp_path):
    data = np.array([[0, 257 * 100], [65535, 257 * 7 + 100]], dtype=np.uint16)
    path = save(Image.fromarray(data), tmp_path / "g16.png")
    assert Image.open(path).mode == "I;16"
    out = pixels(load_image(path))
    assert out[..., 0].tolist() == [[0, 100], [255, 7]]
    assert (out[..., 0] == out[..., 2]).all()


def test_bilevel_image(tmp_path):
    img = Image.new("1", (2, 1), 0)
    img.putpixel((1, 0), 1)
    path = save(img, tmp_path / "b.png")
    assert Image.open(path).mode == "1"
    assert pixels(load_image(path))[0].tolist() == [[0, 0, 0], [255, 255, 255]]


@pytest.mark.parametrize("suffix", ["png", "jpg"])
@pytest.mark.parametrize("orientation", [6, 8])
def test_exif_orientation_applied(tmp_path, suffix, orientation):
    img = Image.new("RGB", (40, 20), (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, 8, 8))  # red block at the stored top-left
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = save(img, tmp_path / f"o.{suffix}", exif=exif)
    assert Image.open(path).size == (40, 20)
    for source in (path, Path(path).read_bytes(), Image.open(path)):
        out = load_image(source)
        assert out.size == (20, 40)
        red = pixels(out)[..., 0] > 128
        # orientation 6 turns the image clockwise: top-left goes to top-right; 8 to bottom-left.
        corner = (0, 19) if orientation == 6 else (39, 0)
        assert red[corner], (orientation, source.__class__)
        assert red.sum() < 100


def test_result_is_independent_of_the_file(tmp_path):
    img, data = rgb_image()
    path = save(img, tmp_path / "a.png")
    out = load_image(path)
    os.remove(path)
    np.testing.assert_array_equal(pixels(out), data)


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd")
def test_no_file_handle_leaks(tmp_path):
    good = save(Image.new("RGB", (4, 4)), tmp_path / "a.png")
    bad = truncate(save(Image.new("RGB", (64, 64)), tmp_path / "t.jpg"))
    junk = tmp_path / "junk.png"
    junk.write_text("not an image")
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(20):
        load_image(good)
        for path in (bad, junk):
            with pytest.raises(ImageLoadError):
                load_image(path)
    assert len(os.listdir("/proc/self/fd")) == before


# --- PIL images ----------------------------------------------------------------------------


def test_pil_image_returns_a_new_image():
    img, data = rgb_image()
    out = load_image(img)
    assert out is not img
    out.putpixel((0, 0), (1, 2, 3))
    assert img.getpixel((0, 0)) == (255, 0, 0)
    np.testing.assert_array_equal(np.asarray(img), data)


def test_pil_la_and_ycbcr():
    la = Image.fromarray(np.array([[[50, 0], [50, 255]]], dtype=np.uint8), mode="LA")
    assert pixels(load_image(la))[0].tolist() == [[255, 255, 255], [50, 50, 50]]
    ycbcr = Image.new("RGB", (2, 2), (0, 200, 0)).convert("YCbCr")
    assert np.abs(pixels(load_image(ycbcr)) - [0, 200, 0]).max() <= 3


@pytest.mark.parametrize(
    ("mode", "values", "expected"),
    [
        ("I", [[0, 100], [200, 255]], [[0, 100], [200, 255]]),  # fits 8 bit: as is
        ("I", [[0, 257 * 10], [257 * 200, 65535]], [[0, 10], [200, 255]]),  # 16-bit range
        ("I", [[-100, 0], [50, 410]], [[0, 50], [75, 255]]),  # outside 0..65535: min-max
        ("F", [[0.0, 99.6], [-3.0, 255.0]], [[0, 100], [0, 255]]),  # fits: rounded, clipped
        ("F", [[0.0, 70000.0], [35000.0, 140000.0]], [[0, 128], [64, 255]]),  # min-max
    ],
)
def test_pil_int32_and_float_modes(mode, values, expected):
    dtype = np.int32 if mode == "I" else np.float32
    img = Image.fromarray(np.array(values, dtype=dtype))
    assert img.mode == mode
    out = pixels(load_image(img))
    assert out[..., 1].tolist() == expected


def test_truncated_lazy_pil_image_is_an_image_load_error(tmp_path):
    path = truncate(save(Image.new("RGB", (64, 64), (9, 9, 9)), tmp_path / "t.png"))
    lazy = Image.open(path)  # opening reads the header only
    with pytest.raises(ImageLoadError, match=r"image 1 \(PIL image\)"):
        load_image(lazy, position=1)


# --- NumPy arrays ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("array", "expected"),
    [
        (np.array([[0, 128, 255]], dtype=np.uint8), [[0] * 3, [128] * 3, [255] * 3]),
        (np.array([[[0], [128], [255]]], dtype=np.uint8), [[0] * 3, [128] * 3, [255] * 3]),
        (
            np.array([[[1, 2, 3], [4, 5, 6], [7, 8, 9]]], dtype=np.uint8),
            [[1, 2, 3], [4, 5, 6], [7, 8, 9]],
        ),
        (
            np.array([[[1, 2, 3, 255], [4, 5, 6, 0], [0, 0, 0, 51]]], dtype=np.uint8),
            [[1, 2, 3], [255, 255, 255], [204, 204, 204]],
        ),
        (np.array([[0.0, 0.2, 1.0]], dtype=np.float32), [[0] * 3, [51] * 3, [255] * 3]),
        (np.array([[0.0, 0.5, 1.0]], dtype=np.float64), [[0] * 3, [128] * 3, [255] * 3]),
        (
            np.array([[[1.0, 0.0, 0.2], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]], dtype=np.float32),
            [[255, 0, 51], [0, 255, 0], [0, 0, 255]],
        ),
        (np.array([[-1e-7, 1 + 1e-7, 0.4]]), [[0] * 3, [255] * 3, [102] * 3]),  # tolerance
        (np.array([[0, 257 * 3, 65535]], dtype=np.uint16), [[0] * 3, [3] * 3, [255] * 3]),
        (np.array([[0, 257 * 3, 65535]], dtype=">u2"), [[0] * 3, [3] * 3, [255] * 3]),
        (np.array([[False, True, False]]), [[0] * 3, [255] * 3, [0] * 3]),
    ],
)
def test_array_inputs(array, expected):
    np.testing.assert_array_equal(pixels(load_image(array)), np.array([expected]))


def test_non_contiguous_array():
    base = np.arange(2 * 6 * 3, dtype=np.uint8).reshape(2, 6, 3)
    view = base[:, ::2]
    np.testing.assert_array_equal(pixels(load_image(view)), view)


@pytest.mark.parametrize(
    ("array", "match"),
    [
        (np.full((2, 2), 1.5), r"found range \[1\.5, 1\.5\]"),
        (np.array([[-0.25, 0.5]], dtype=np.float32), r"found range \[-0\.25, 0\.5\]"),
        (np.array([[0.5, 255.0]]), r"\[0, 1\].*found range \[0\.5, 255\]"),
        (np.array([[0.5, np.nan]]), "NaN or infinite"),
        (np.array([[0.5, np.inf]]), "NaN or infinite"),
        (np.zeros((2, 2, 2), dtype=np.uint8), r"\(H, W, 3\)"),
        (np.zeros((2, 2, 3, 1), dtype=np.uint8), r"\(H, W, 3\)"),
        (np.zeros(5, dtype=np.uint8), r"\(H, W, 3\)"),
        (np.zeros((2, 2), dtype=np.int64), "uint8"),
        (np.zeros((2, 2), dtype=np.uint32), "uint8"),
        (np.zeros((2, 2), dtype=object), "uint8"),
        (np.zeros((0, 3), dtype=np.uint8), "empty"),
    ],
)
def test_invalid_arrays(array, match):
    with pytest.raises(ValueError, match=match) as info:
        load_image(array, position=7)
    assert "image 7" in str(info.value)
    assert isinstance(info.value, ImageLoadError)


# --- bytes ------------------------------------------------------------------------------------


@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview])
def test_bytes_inputs(wrap):
    img, data = rgb_image()
    out = load_image(wrap(encoded(img)))
    np.testing.assert_array_equal(pixels(out), data)


def test_bytes_jpeg():
    out = load_image(encoded(Image.new("RGB", (5, 4), (0, 0, 250)), "JPEG", quality=95))
    assert out.size == (5, 4)
    assert np.abs(pixels(out) - [0, 0, 250]).max() <= 4


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"definitely not an image", "not a recognised image"),
        (b"", "not a recognised image"),
        (encoded(Image.new("RGB", (64, 64), (3, 4, 5)))[:60], "corrupt or truncated"),
    ],
)
def test_bad_bytes(data, match):
    with pytest.raises(ImageLoadError, match=match) as info:
        load_image(data, position=2)
    assert str(info.value).startswith("image 2 (bytes): ")


# --- file errors ------------------------------------------------------------------------------


def assert_load_error(path, reason):
    with pytest.raises(ImageLoadError) as info:
        load_image(path, position=2)
    message = str(info.value)
    assert message.startswith(f"image 2 ({str(path)!r}): "), message
    assert reason in message
    return message


def test_missing_file_message(tmp_path):
    path = tmp_path / "x.png"
    message = assert_load_error(path, "file not found")
    assert message == f"image 2 ({str(path)!r}): file not found"
    with pytest.raises(ImageLoadError, match="file not found") as info:
        load_image(str(path))
    assert str(info.value) == f"{str(path)!r}: file not found"  # no position: no "image"


def test_directory(tmp_path):
    assert_load_error(tmp_path, "directory")


def test_text_file_named_png(tmp_path):
    path = tmp_path / "fake.png"
    path.write_text("hello, I am text")
    assert_load_error(path, "not a recognised image file")


@pytest.mark.parametrize("suffix", ["png", "jpg"])
def test_truncated_files(tmp_path, suffix):
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, size=(64, 64, 3), dtype=np.uint8)  # does not compress away
    path = save(Image.fromarray(noise), tmp_path / f"t.{suffix}")
    load_image(path)  # the whole file is fine
    truncate(path)
    assert_load_error(path, "corrupt or truncated")


def test_module_does_not_set_load_truncated_images(tmp_path):
    import runpy

    import skclipens._images as module

    namespace = runpy.run_path(module.__file__)  # a fresh import, flag False (fixture)
    path = truncate(save(Image.new("RGB", (64, 64), (1, 2, 3)), tmp_path / "t.png"))
    with pytest.raises(namespace["ImageLoadError"]):
        namespace["load_image"](path)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_unreadable_file(tmp_path, monkeypatch):
    # Root reads every file whatever its mode, so the permission check is made
    # to fail by saying no to it, which runs the same path as a real denial.
    import skclipens._images as images

    path = save(Image.new("RGB", (2, 2)), tmp_path / "locked.png")
    monkeypatch.setattr(images.os, "access", lambda p, mode: not str(p).endswith("locked.png"))
    assert_load_error(path, "permission denied")
    with pytest.raises(ImageLoadError, match="image 0 .*permission denied"):
        check_images([path])


@pytest.mark.parametrize("value", [3, 2.5, None, True, [1, 2], (1, 2), {"a": 1}, object()])
def test_unsupported_types(value):
    with pytest.raises(TypeError, match="image 4: unsupported image type") as info:
        load_image(value, position=4)
    message = str(info.value)
    assert type(value).__name__ in message
    assert "PIL.Image.Image" in message and "os.PathLike" in message and "bytes" in message
    with pytest.raises(TypeError, match="^unsupported image type"):
        load_image(value)


# --- iter_images ------------------------------------------------------------------------------


def test_iter_images_over_a_batch_array():
    batch = np.arange(4 * 2 * 3 * 3, dtype=np.uint8).reshape(4, 2, 3, 3)
    out = list(iter_images(batch))
    assert len(out) == 4
    for img, expected in zip(out, batch, strict=True):
        np.testing.assert_array_equal(pixels(img), expected)


def test_iter_images_over_a_grayscale_batch():
    batch = np.linspace(0, 1, 3 * 2 * 2).reshape(3, 2, 2)
    out = list(iter_images(batch))
    assert len(out) == 3
    assert pixels(out[2])[1, 1].tolist() == [255, 255, 255]


def test_iter_images_is_lazy_and_names_the_position(tmp_path):
    good = save(Image.new("RGB", (2, 2), (1, 2, 3)), tmp_path / "a.png")
    stream = iter_images([good, Image.new("L", (2, 2), 9), tmp_path / "missing.png", good])
    assert pixels(next(stream))[0, 0].tolist() == [1, 2, 3]
    assert pixels(next(stream))[0, 0].tolist() == [9, 9, 9]
    with pytest.raises(ImageLoadError, match=r"^image 2 \(.*missing\.png'\): file not found"):
        next(stream)


def test_iter_images_accepts_a_generator(tmp_path):
    paths = [save(Image.new("RGB", (1, 1), (i, 0, 0)), tmp_path / f"{i}.png") for i in range(3)]
    out = [pixels(img)[0, 0, 0] for img in iter_images(p for p in paths)]
    assert out == [0, 1, 2]


def test_iter_images_rejects_a_single_image_at_once(tmp_path):
    with pytest.raises(ValueError, match="pass a list"):
        iter_images(str(tmp_path / "a.png"))  # raised before iterating


# --- check_images -----------------------------------------------------------------------------


def test_check_images_finds_a_missing_file_at_position_5(tmp_path):
    paths = [save(Image.new("RGB", (2, 2)), tmp_path / f"{i}.png") for i in range(8)]
    paths[5] = tmp_path / "gone.png"
    with pytest.raises(ImageLoadError, match=r"^image 5 \(.*gone\.png'\): file not found"):
        check_images(paths)
    check_images(paths[:5] + paths[6:])


def test_check_images_does_not_decode(tmp_path, monkeypatch):
    corrupt = truncate(save(Image.new("RGB", (64, 64), (5, 5, 5)), tmp_path / "c.jpg"))
    good = save(Image.new("RGB", (4, 4)), tmp_path / "g.png")

    def no_open(*args, **kwargs):
        raise AssertionError("check_images must not open images")

    with monkeypatch.context() as patch:
        patch.setattr(Image, "open", no_open)
        check_images([good, corrupt, Path(good)])
    with pytest.raises(ImageLoadError, match="image 1 .*corrupt or truncated"):
        list(iter_images([good, corrupt]))


def test_check_images_mixed_inputs(tmp_path):
    path = save(Image.new("RGB", (2, 2)), tmp_path / "a.png")
    images = [
        path,
        str(path),
        encoded(Image.new("RGB", (2, 2))),
        bytearray(b"xx"),
        Image.new("L", (2, 2)),
        np.zeros((2, 2, 3), dtype=np.uint8),
        np.ones((2, 2), dtype=np.float32),
    ]
    check_images(images)
    check_images(tuple(images))
    objects = np.empty(len(images), dtype=object)
    objects[:] = images
    check_images(objects)


@pytest.mark.parametrize(
    ("bad", "error", "match"),
    [
        (42, TypeError, r"image 3: unsupported image type int"),
        ([np.zeros((2, 2))], TypeError, r"image 3: unsupported image type list"),
        (np.full((2, 2), 2.0), ImageLoadError, r"image 3 .*found range \[2, 2\]"),
        (np.zeros((2, 2), dtype=np.int16), ImageLoadError, r"image 3 .*uint8"),
        (b"", ImageLoadError, r"image 3 \(bytes\): empty bytes"),
        (memoryview(b""), ImageLoadError, r"image 3 \(bytes\): empty bytes"),
    ],
)
def test_check_images_bad_element(tmp_path, bad, error, match):
    good = save(Image.new("RGB", (2, 2)), tmp_path / "a.png")
    with pytest.raises(error, match=match):
        check_images([good, good, good, bad, good])


def test_check_images_directory(tmp_path):
    with pytest.raises(ImageLoadError, match=r"image 0 .*directory"):
        check_images([tmp_path])


@pytest.mark.parametrize(
    "single",
    ["a.png", Path("a.png"), b"\x89PNG", bytearray(b"x"), Image.new("RGB", (2, 2))],
)
def test_check_images_rejects_a_single_image(single):
    with pytest.raises(ValueError, match=r"pass a list, e\.g\. \[image\]"):
        check_images(single)


def test_check_images_arrays():
    check_images(np.zeros((3, 4, 5), dtype=np.uint8))  # 3 grayscale 4x5 images
    check_images(np.zeros((3, 4, 5, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"single HxW image: pass \[image\]"):
        check_images(np.zeros((4, 5), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"\(N, H, W\) or \(N, H, W, C\)"):
        check_images(np.zeros((1, 2, 2, 3, 1), dtype=np.uint8))
    with pytest.raises(ValueError, match="1-D"):
        check_images(np.empty((2, 2), dtype=object))
    batch = np.zeros((3, 4, 5, 3), dtype=np.float32)
    batch[2, 1, 1, 0] = 3.0
    with pytest.raises(ImageLoadError, match=r"^image 2 .*found range \[0, 3\]"):
        check_images(batch)
    with pytest.raises(ImageLoadError, match=r"^image 0 .*\(H, W, 3\)"):
        check_images(np.zeros((3, 4, 5, 2), dtype=np.uint8))


def test_check_images_rejects_one_shot_iterators(tmp_path):
    path = save(Image.new("RGB", (2, 2)), tmp_path / "a.png")
    with pytest.raises(TypeError, match="more than once"):
        check_images(p for p in [path])
    with pytest.raises(TypeError, match="more than once"):
        check_images(iter([path]))


# --- image_identity ---------------------------------------------------------------------------


def test_identity_of_a_path(tmp_path, monkeypatch):
    path = save(Image.new("RGB", (2, 2)), tmp_path / "a.png")
    st = os.stat(path)
    key = image_identity(path)
    assert key == f"file:{os.path.realpath(path)}:{st.st_size}:{st.st_mtime_ns}"
    assert image_identity(str(path)) == key
    monkeypatch.chdir(tmp_path)
    assert image_identity("a.png") == key  # relative paths are resolved


def test_identity_changes_when_the_file_is_touched(tmp_path):
    path = save(Image.new("RGB", (2, 2)), tmp_path / "a.png")
    first = image_identity(path)
    assert image_identity(path) == first
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    assert image_identity(path) != first
    assert os.stat(path).st_size == st.st_size  # only the mtime changed


def test_identity_of_a_rewritten_file_with_new_size(tmp_path):
    path = save(Image.new("RGB", (2, 2)), tmp_path / "a.png")
    first = image_identity(path)
    mtime = os.stat(path).st_mtime_ns
    save(Image.new("RGB", (30, 30)), path)
    os.utime(path, ns=(mtime, mtime))  # same mtime, different size
    assert image_identity(path) != first


def test_identity_of_a_copy_is_path_based(tmp_path):
    path = save(Image.new("RGB", (2, 2)), tmp_path / "a.png")
    copy = tmp_path / "b.png"
    shutil.copy2(path, copy)
    assert os.stat(copy).st_mtime_ns == os.stat(path).st_mtime_ns
    assert image_identity(copy) != image_identity(path)
    assert image_identity(copy).startswith(f"file:{os.path.realpath(copy)}:")


@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview])
def test_identity_of_bytes(wrap):
    data = encoded(Image.new("RGB", (2, 2)))
    other = encoded(Image.new("RGB", (2, 2), (1, 0, 0)))
    key = image_identity(wrap(data))
    assert key.startswith("bytes:") and len(key) == len("bytes:") + 64
    assert key == image_identity(data)
    assert key != image_identity(wrap(other))


def test_identity_of_pil_images():
    a = Image.new("RGB", (2, 2), (1, 2, 3))
    assert image_identity(a).startswith("pil:")
    assert image_identity(a) == image_identity(Image.new("RGB", (2, 2), (1, 2, 3)))
    assert image_identity(a) != image_identity(Image.new("RGB", (2, 2), (1, 2, 4)))
    assert image_identity(a) != image_identity(Image.new("RGB", (4, 1), (1, 2, 3)))
    assert image_identity(a) != image_identity(Image.new("RGBA", (2, 2), (1, 2, 3, 255)))


def test_identity_of_pil_palette_images_includes_the_palette():
    a = Image.new("P", (2, 2), 0)
    a.putpalette([255, 0, 0] + [0] * 765)
    b = Image.new("P", (2, 2), 0)
    b.putpalette([0, 0, 255] + [0] * 765)
    assert a.tobytes() == b.tobytes()
    assert pixels(load_image(a))[0, 0].tolist() != pixels(load_image(b))[0, 0].tolist()
    assert image_identity(a) != image_identity(b)


def test_identity_of_arrays():
    a = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    key = image_identity(a)
    assert key.startswith("array:")
    assert key == image_identity(a.copy())
    assert key == image_identity(np.asfortranarray(a))  # same values, C-ordered bytes
    changed = a.copy()
    changed[0, 0, 0] = 99
    assert key != image_identity(changed)
    assert key != image_identity(a.reshape(2, 6))  # same bytes, other shape
    assert key != image_identity(a.astype(np.uint16))
    bools = np.zeros((2, 2), dtype=bool)
    assert image_identity(bools) != image_identity(bools.view(np.uint8))  # same bytes, dtype


def test_identity_prefix_differs_for_pil_and_array():
    data = np.zeros((2, 2, 3), dtype=np.uint8)
    pil_key = image_identity(Image.fromarray(data))
    array_key = image_identity(data)
    assert pil_key.split(":")[0] == "pil" and array_key.split(":")[0] == "array"
    assert pil_key.split(":")[1] != array_key.split(":")[1]


def test_identity_errors(tmp_path):
    with pytest.raises(ImageLoadError, match=r"^image 3 \(.*nope\.png'\): file not found"):
        image_identity(tmp_path / "nope.png", position=3)
    with pytest.raises(ImageLoadError, match="directory"):
        image_identity(tmp_path)
    with pytest.raises(TypeError, match="image 1: unsupported image type int"):
        image_identity(5, position=1)
    with pytest.raises(ImageLoadError, match=r"\(H, W, 3\)"):
        image_identity(np.zeros(4, dtype=np.uint8))
    with pytest.raises(ImageLoadError, match="uint8"):
        image_identity(np.zeros((2, 2), dtype=object))
