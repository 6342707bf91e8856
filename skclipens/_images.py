"""Turning user image inputs into RGB PIL images.

An image input is one of:

- a file path, as ``str`` or any ``os.PathLike``;
- encoded image file content, as ``bytes``, ``bytearray`` or ``memoryview``;
- a ``PIL.Image.Image``;
- a NumPy array of shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), of dtype
  uint8, uint16 (scaled to 8 bit by dividing by 257), bool (False/True become
  0/255) or float with values in [0, 1].

``load_image`` turns one input into a fully loaded RGB image,
``iter_images`` does so lazily over a collection, ``check_images`` validates a
collection cheaply (types, files that exist and are readable) before any
expensive work starts, and ``image_identity`` gives a content key for a
feature cache.

Conversions to RGB:

- transparency (alpha channels, RGBA arrays, palette or PNG ``tRNS``
  transparency) is composited onto a white background;
- 16-bit modes (``I;16``, ``I;16B``, ...) are divided by 257;
- 32-bit integer ``I`` and float ``F`` images: NaN becomes 0; values are used
  as they are when the largest is at most 255 (negatives clipped to 0), are
  divided by 257 when they lie in 0..65535 (16-bit data), and are otherwise
  rescaled linearly from their own [min, max] to [0, 255];
- every other mode (``1``, ``L``, ``P``, ``CMYK``, ``YCbCr``, ...) goes through
  ``Image.convert("RGB")``;
- the EXIF orientation of files, bytes and PIL images is applied.

Truncated files are errors: images are fully decoded with ``Image.load()``.
This module never sets ``PIL.ImageFile.LOAD_TRUNCATED_IMAGES``; if an
application sets it to True, PIL pads truncated images instead of failing and
this module cannot tell.
"""

import hashlib
import io
import os
import stat
from collections.abc import Sequence
from functools import partial

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = ["ImageLoadError", "check_images", "image_identity", "iter_images", "load_image"]

ACCEPTED_TYPES = (
    "a file path (str or os.PathLike), bytes/bytearray/memoryview holding an encoded "
    "image file, a PIL.Image.Image or a NumPy array"
)
ACCEPTED_ARRAYS = (
    "shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) and dtype uint8, uint16, bool "
    "or float with values in [0, 1]"
)
_FLOAT_TOLERANCE = 1e-6
_ALPHA_MODES = {"RGBA", "RGBa", "LA", "La", "PA"}
_16BIT_MODES = {"I;16", "I;16L", "I;16B", "I;16N"}


class ImageLoadError(ValueError):
    """An image input could not be read or decoded (or is not a valid image array).

    ``where`` describes the input (``image 3 ('/tmp/x.png')``), ``reason`` what
    is wrong with it; the message is ``"{where}: {reason}"``.
    """

    def __init__(self, where, reason):
        super().__init__(f"{where}: {reason}")
        self.where, self.reason = where, reason

    def __reduce__(self):
        return type(self), (self.where, self.reason)


def _is_path(image):
    return isinstance(image, (str, os.PathLike))


def _is_bytes(image):
    return isinstance(image, (bytes, bytearray, memoryview))


def _where(image, position):
    """Describe an input for error messages: ``image 3 ('/tmp/x.png')`` or ``'/tmp/x.png'``."""
    if _is_path(image):
        what = repr(os.fsdecode(image))
    elif _is_bytes(image):
        what = "bytes"
    elif isinstance(image, Image.Image):
        what = "PIL image"
    elif isinstance(image, np.ndarray):
        what = f"array of shape {image.shape} and dtype {image.dtype}"
    else:
        what = type(image).__name__
    return what if position is None else f"image {position} ({what})"


def _type_error(image, position):
    at = "" if position is None else f"image {position}: "
    return TypeError(
        f"{at}unsupported image type {type(image).__name__}; expected {ACCEPTED_TYPES}"
    )


def _stat_file(path, where):
    """Return ``os.stat(path)`` of a readable regular file, or raise ImageLoadError."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ImageLoadError(where, "file not found") from None
    except OSError as exc:
        raise ImageLoadError(where, f"cannot access file ({exc})") from exc
    if stat.S_ISDIR(st.st_mode):
        raise ImageLoadError(where, "is a directory, not an image file")
    if not stat.S_ISREG(st.st_mode):
        raise ImageLoadError(where, "not a regular file")
    if not os.access(path, os.R_OK):
        raise ImageLoadError(where, "permission denied (file not readable)")
    return st


def _check_array(array, where, values=True):
    """Raise ImageLoadError unless ``array`` has an accepted shape, dtype (and range)."""
    kind, size = array.dtype.kind, array.dtype.itemsize
    shape_ok = array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (1, 3, 4))
    dtype_ok = kind in "bf" or (kind == "u" and size in (1, 2))
    if not (shape_ok and dtype_ok):
        raise ImageLoadError(where, f"an image array must have {ACCEPTED_ARRAYS}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ImageLoadError(where, "the image array is empty")
    if values and kind == "f":
        if not np.isfinite(array).all():
            raise ImageLoadError(where, "float image array has NaN or infinite values")
        low, high = float(array.min()), float(array.max())
        if low < -_FLOAT_TOLERANCE or high > 1 + _FLOAT_TOLERANCE:
            raise ImageLoadError(
                where,
                f"float image array values must be in [0, 1], found range [{low:g}, {high:g}]",
            )


def _array_to_rgb(array, where):
    _check_array(array, where)
    kind, size = array.dtype.kind, array.dtype.itemsize
    if kind == "b":
        data = array.astype(np.uint8) * 255
    elif kind == "u" and size == 2:
        data = np.rint(array / 257.0).astype(np.uint8)
    elif kind == "u":
        data = array
    else:
        data = np.rint(np.clip(array, 0.0, 1.0) * 255.0).astype(np.uint8)
    if data.ndim == 3 and data.shape[2] == 1:
        data = data[:, :, 0]
    img = Image.fromarray(np.ascontiguousarray(data))  # mode L, RGB or RGBA
    return _to_rgb(img, where)


def _scale_to_uint8(values):
    """Scale a float array from an ``I`` or ``F`` image to uint8 (see the module docstring)."""
    values = np.nan_to_num(values, nan=0.0)
    low, high = values.min(), values.max()
    if high <= 255:
        values = np.clip(values, 0, 255)
    elif low >= 0 and high <= 65535:
        values = values / 257.0
    else:
        values = (values - low) * (255.0 / (high - low))
    return np.rint(values).astype(np.uint8)


def _to_rgb(img, where):
    """Convert a loaded image of any mode to a new RGB image (see the module docstring)."""
    mode = img.mode
    if mode == "RGB" and "transparency" not in img.info:
        return img.copy()
    if mode in _16BIT_MODES:
        data = np.rint(np.asarray(img, dtype=np.float64) / 257.0).astype(np.uint8)
        return Image.fromarray(data).convert("RGB")
    if mode in ("I", "F"):
        return Image.fromarray(_scale_to_uint8(np.asarray(img, dtype=np.float64))).convert("RGB")
    if mode in _ALPHA_MODES or (
        mode in ("P", "L", "RGB") and img.info.get("transparency") is not None
    ):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    try:
        return img.convert("RGB")
    except ValueError as exc:
        raise ImageLoadError(where, f"unsupported image mode {mode!r} ({exc})") from exc


def _orient(img):
    """Apply the EXIF orientation; unreadable EXIF metadata is ignored."""
    try:
        return ImageOps.exif_transpose(img)
    except Exception:
        return img.copy()


def _reason(exc):
    if isinstance(exc, FileNotFoundError):
        return "file not found"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, UnidentifiedImageError):
        return "not a recognised image file"
    if isinstance(exc, Image.DecompressionBombError):
        return f"image too large ({exc})"
    return f"corrupt or truncated image ({type(exc).__name__}: {exc})"


def _decode(opener, where):
    """Open, fully decode and orient the image in the file that ``opener()`` returns."""
    try:
        with opener() as f, Image.open(f) as img:
            img.load()  # decodes everything, so truncated data fails here
            oriented = _orient(img)  # a new image, independent of the file
    except Exception as exc:  # PIL plugins raise many types on corrupt data
        raise ImageLoadError(where, _reason(exc)) from exc
    return _to_rgb(oriented, where)


def load_image(image, position=None):
    """Load one image input as a fully loaded RGB PIL image.

    Parameters
    ----------
    image : str, os.PathLike, bytes, bytearray, memoryview, PIL.Image.Image or ndarray
        A file path, encoded image file content, a PIL image or an image
        array (see the module docstring for the accepted arrays).
    position : int, default=None
        The position of the image in its collection, named in error messages.

    Returns
    -------
    PIL.Image.Image
        A new image in mode ``"RGB"``, independent of any file and of ``image``.

    Raises
    ------
    ImageLoadError
        If the file is missing, not a readable regular file, not an image,
        truncated or corrupt, or if an array has a wrong shape, dtype or range.
    TypeError
        If ``image`` is of an unsupported type.
    """
    where = _where(image, position)
    if _is_path(image):
        _stat_file(image, where)
        return _decode(partial(open, image, "rb"), where)
    if _is_bytes(image):
        return _decode(partial(io.BytesIO, bytes(image)), where)
    if isinstance(image, Image.Image):
        try:
            image.load()
            oriented = _orient(image)
        except Exception as exc:
            raise ImageLoadError(where, _reason(exc)) from exc
        return _to_rgb(oriented, where)
    if isinstance(image, np.ndarray):
        return _array_to_rgb(image, where)
    raise _type_error(image, position)


def _elements(images):
    """Return ``images`` as an iterable of image inputs, rejecting single images."""
    single = _is_path(images) or _is_bytes(images) or isinstance(images, Image.Image)
    if single:
        raise ValueError(
            f"images must be a collection of images, got a single image "
            f"({type(images).__name__}); pass a list, e.g. [image]"
        )
    if isinstance(images, np.ndarray):
        if images.dtype == object:
            if images.ndim != 1:
                raise ValueError(
                    f"an object array of images must be 1-D, got shape {images.shape}"
                )
        elif images.ndim == 2:
            raise ValueError(
                f"got a 2-D array of shape {images.shape}, a single HxW image: pass [image]; "
                "a numeric array of images has shape (N, H, W) or (N, H, W, C)"
            )
        elif images.ndim not in (3, 4):
            raise ValueError(
                "a numeric array of images must have shape (N, H, W) or (N, H, W, C), "
                f"got shape {images.shape}"
            )
    return images


def iter_images(images):
    """Lazily load a collection of image inputs, one RGB PIL image at a time.

    Parameters
    ----------
    images : iterable of image inputs, or ndarray of shape (N, H, W) or (N, H, W, C)
        The inputs ``load_image`` accepts. A numeric 3-D or 4-D array is a batch
        of N images along its first axis.

    Returns
    -------
    generator of PIL.Image.Image
        ``load_image(image, position=i)`` for each input, in order.

    Raises
    ------
    ValueError
        At once, if ``images`` is a single image rather than a collection.
    """
    elements = _elements(images)
    return (load_image(image, position=i) for i, image in enumerate(elements))


def check_images(images):
    """Validate a collection of image inputs cheaply, before any expensive work.

    Checks that every element is of an accepted type, that every path is an
    existing, readable regular file, that bytes are not empty and that arrays
    have an accepted shape, dtype and range. Files are not opened or decoded,
    so a corrupt file passes here and fails in ``load_image``.

    Parameters
    ----------
    images : list, tuple, sequence or ndarray of image inputs
        A list, tuple or other sequence, a 1-D object array, or a numeric
        array of shape (N, H, W) or (N, H, W, C) holding N images along its
        first axis (so an (H, W, 3) array would be read as H images: pass a
        single image as ``[image]``).

    Raises
    ------
    ValueError
        If ``images`` is a single image (a path, bytes, a PIL image or a 2-D
        array) rather than a collection.
    ImageLoadError
        If an element is a missing or unreadable file, empty bytes or an
        invalid array; the message names its position.
    TypeError
        If ``images`` is not a sequence (e.g. a one-shot generator), or an
        element is of an unsupported type.
    """
    elements = _elements(images)
    if not isinstance(elements, (Sequence, np.ndarray)):
        raise TypeError(
            "images must be a list, tuple, sequence or NumPy array that can be iterated "
            f"more than once, got {type(images).__name__}"
        )
    for position, image in enumerate(elements):
        where = _where(image, position)
        if _is_path(image):
            _stat_file(image, where)
        elif _is_bytes(image):
            if memoryview(image).nbytes == 0:
                raise ImageLoadError(where, "empty bytes")
        elif isinstance(image, np.ndarray):
            _check_array(image, where)
        elif not isinstance(image, Image.Image):
            raise _type_error(image, position)


def image_identity(image, position=None):
    """Return a key identifying an image input's content, for a feature cache.

    Parameters
    ----------
    image : str, os.PathLike, bytes, bytearray, memoryview, PIL.Image.Image or ndarray
        An image input.
    position : int, default=None
        The position of the image in its collection, named in error messages.

    Returns
    -------
    str
        For a path, ``"file:<resolved absolute path>:<size>:<mtime_ns>"``
        (from ``os.stat``; the file is not read, so the same content at two
        paths has two keys). For bytes, ``"bytes:"`` and the SHA-256 of the
        bytes. For a PIL image, ``"pil:"`` and the SHA-256 of its mode, size,
        pixel data, palette, transparency and EXIF orientation (everything
        that changes ``load_image``'s result). For an array, ``"array:"`` and
        the SHA-256 of its dtype, shape and C-ordered data.

    Raises
    ------
    ImageLoadError
        If a path is not an existing readable regular file, a PIL image cannot
        be loaded, or an array has an unaccepted shape or dtype.
    TypeError
        If ``image`` is of an unsupported type.
    """
    where = _where(image, position)
    if _is_path(image):
        st = _stat_file(image, where)
        path = os.path.realpath(os.fsdecode(image))
        return f"file:{path}:{st.st_size}:{st.st_mtime_ns}"
    if _is_bytes(image):
        return "bytes:" + hashlib.sha256(bytes(image)).hexdigest()
    if isinstance(image, Image.Image):
        digest = hashlib.sha256()
        try:
            pixels = image.tobytes()
            palette = image.palette.tobytes() if image.palette is not None else b""
            orientation = _orientation(image)
        except Exception as exc:
            raise ImageLoadError(where, _reason(exc)) from exc
        header = f"{image.mode}|{image.size}|{image.info.get('transparency')!r}|{orientation}|"
        for part in (header.encode(), palette, b"|", pixels):
            digest.update(part)
        return "pil:" + digest.hexdigest()
    if isinstance(image, np.ndarray):
        _check_array(image, where, values=False)
        digest = hashlib.sha256(f"{image.dtype.str}|{image.shape}|".encode())
        digest.update(np.ascontiguousarray(image).tobytes())
        return "array:" + digest.hexdigest()
    raise _type_error(image, position)


def _orientation(image):
    try:
        return image.getexif().get(0x0112)
    except Exception:  # unreadable EXIF is ignored by load_image too
        return None
