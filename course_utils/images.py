"""Image loading and the week's real sample photos.

Every image leaves this module as an HWC ``uint8`` RGB numpy array, whatever it came in as:
a path, a URL, raw bytes, a PIL image (any mode) or a numpy array (grayscale, float, RGBA...).
"""

from __future__ import annotations

import contextlib
import io
import os
import threading
import urllib.request
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = ["load_image", "sample_image", "sample_images", "SAMPLES", "SampleInfo", "ImageLoadError"]

#: Refuse images above this many pixels (about 16k x 12k); pass ``max_pixels`` to change it.
DEFAULT_MAX_PIXELS = 200_000_000
#: Refuse downloads above this many bytes.
MAX_DOWNLOAD_BYTES = 100 * 1024 * 1024

_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}


class ImageLoadError(ValueError):
    """An input could not be turned into an RGB image; the message says why and what to do."""


def load_image(src: Any, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Load anything image-like as an HWC uint8 RGB array.

    Args:
        src: A file path (str or Path), an ``http(s)://`` URL, raw encoded bytes, a PIL image or
            a numpy array (HxW, HxWx1, HxWx3 or HxWx4; uint8, uint16, bool or float in [0, 1]).
        max_pixels: Largest accepted width*height, to refuse decompression bombs. PIL's own guard
            (``PIL.Image.MAX_IMAGE_PIXELS``) follows it during this call, so a larger value really
            admits a larger image; PIL's setting is unchanged afterwards.

    Returns:
        (H, W, 3) uint8 RGB array. EXIF orientation is applied; transparency (alpha channel,
        palette transparency, or the single transparent colour of a grayscale / RGB PNG's tRNS
        chunk) is composited onto a white background; 16-bit and float images are rescaled to 0..255.

    Raises:
        FileNotFoundError: The path does not exist.
        ImageLoadError: The input is not an image, is truncated, is too large or has an
            unsupported layout. The message names the fix.
    """
    if isinstance(src, np.ndarray):
        return _array_to_rgb(src)
    if isinstance(src, Image.Image):
        return _pil_to_rgb(src, max_pixels)
    if isinstance(src, (bytes, bytearray, memoryview)):
        return _open_bytes(bytes(src), "<bytes>", max_pixels)
    if isinstance(src, (str, os.PathLike)):
        text = os.fspath(src)
        if text.startswith(("http://", "https://")):
            return _open_bytes(_download(text), text, max_pixels)
        path = Path(text).expanduser()
        if not path.exists():
            raise FileNotFoundError(f"No image at {path}. Check the path, or use sample_image(name) "
                                    f"for a bundled photo ({', '.join(SAMPLES)}).")
        if path.is_dir():
            raise ImageLoadError(f"{path} is a directory; pass one image file (or list its files).")
        return _open_bytes(path.read_bytes(), str(path), max_pixels)
    if hasattr(src, "detach") and hasattr(src, "numpy"):
        raise ImageLoadError("Got a torch tensor. Convert it first, e.g. "
                             "(t.permute(1, 2, 0).clamp(0, 1) * 255).byte().numpy() for a CHW float tensor.")
    raise ImageLoadError(f"Cannot load an image from {type(src).__name__}; pass a path, URL, bytes, "
                         "PIL image or numpy array.")


def _download(url: str) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": "course_utils"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            data = response.read(MAX_DOWNLOAD_BYTES + 1)
    except OSError as exc:
        raise ImageLoadError(f"Could not download {url}: {exc}. Check the URL and your connection, or "
                             "download the file and pass its path.") from exc
    if len(data) > MAX_DOWNLOAD_BYTES:
        raise ImageLoadError(f"{url} is larger than {MAX_DOWNLOAD_BYTES // 2**20} MB; download it yourself "
                             "and pass a smaller copy.")
    return data


def _open_bytes(data: bytes, name: str, max_pixels: int) -> np.ndarray:
    try:
        with _pil_pixel_limit(max_pixels), Image.open(io.BytesIO(data)) as img:
            _check_size(img.size, name, max_pixels)
            return _pil_to_rgb(img, max_pixels)  # decodes here, so damaged data is caught below
    except UnidentifiedImageError as exc:
        raise ImageLoadError(f"{name} is not an image file PIL can read (PNG, JPEG, TIFF, WebP, ...).") from exc
    except Image.DecompressionBombError as exc:  # PIL's guard, set to 2 * max_pixels by _pil_pixel_limit
        raise ImageLoadError(f"{name} has more than max_pixels={max_pixels} pixels ({exc}); resize it first "
                             "or pass a larger max_pixels.") from exc
    except OSError as exc:  # PIL reports truncated or damaged data as OSError
        raise ImageLoadError(f"{name} is truncated or damaged ({exc}); download or export it again.") from exc


_PIL_LIMIT_LOCK = threading.Lock()


@contextlib.contextmanager
def _pil_pixel_limit(max_pixels: int) -> Iterator[None]:
    """Make PIL's decompression-bomb guard follow ``max_pixels`` for one decode, then restore it.

    PIL refuses images above ``2 * Image.MAX_IMAGE_PIXELS`` (about 179 Mpx by default) and warns
    above ``Image.MAX_IMAGE_PIXELS``; our own :func:`_check_size` gives the error, so the warning is
    silenced. The lock serialises load_image's own decodes; PIL's setting is restored on exit.
    """
    with _PIL_LIMIT_LOCK:
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = max_pixels
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _check_size(size: tuple[int, int], name: str, max_pixels: int) -> None:
    width, height = size
    if width * height > max_pixels:
        raise ImageLoadError(f"{name} has {width}x{height} pixels, more than max_pixels={max_pixels}; "
                             "resize it first or pass a larger max_pixels.")
    if width == 0 or height == 0:
        raise ImageLoadError(f"{name} is empty ({width}x{height}).")


def _pil_to_rgb(img: Image.Image, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    _check_size(img.size, "image", max_pixels)
    key = img.info.get("transparency")
    rawmode = _rawmode(img)  # before anything loads the pixels (loading clears ``img.tile``)
    img = ImageOps.exif_transpose(img)
    mode = img.mode
    keyed = _colour_key_mask(img, key, rawmode) if mode != "P" else None
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        rgb = _array_to_rgb(np.asarray(img))
    else:
        if mode == "P" and "transparency" in img.info:
            img = img.convert("RGBA")
        elif mode == "P":
            img = img.convert("RGB")
        if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
            rgba = img.convert("RGBA")
            background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            img = Image.alpha_composite(background, rgba)
        rgb = np.ascontiguousarray(np.asarray(img.convert("RGB"), dtype=np.uint8))
    if keyed is not None and keyed.any():
        rgb = rgb.copy()
        rgb[keyed] = 255  # fully transparent pixels composited on white
    return rgb


def _rawmode(img: Image.Image) -> str | None:
    """How the file stores its samples (e.g. ``"L;2"``, ``"RGB;16B"``), while PIL still knows it."""
    tile = getattr(img, "tile", None)
    if tile:
        args = tile[0][3]
        return args if isinstance(args, str) else (args[0] if args and isinstance(args[0], str) else None)
    return None


#: PIL widens 2/4-bit grayscale samples to 0..255; a tRNS key is in the file's sample scale.
_KEY_SCALE = {"L;2": 85, "L;4": 17}


def _colour_key_mask(img: Image.Image, key: Any, rawmode: str | None) -> np.ndarray | None:
    """(H, W) bool: the pixels equal to a single-colour transparency key (PNG tRNS in L, 1, I;16, RGB).

    16-bit RGB PNGs are decoded by PIL to their high bytes, so the key is compared at that precision.
    """
    if key is None or isinstance(key, (bytes, bytearray)):
        return None
    arr = np.asarray(img)
    if img.mode == "RGB" and isinstance(key, (tuple, list)) and len(key) == 3:
        want = np.array([int(k) >> 8 if rawmode == "RGB;16B" else int(k) for k in key], dtype=np.int64)
        return (arr.astype(np.int64) == want).all(axis=-1)
    if img.mode in ("1", "L", "I", "I;16", "I;16B", "I;16L", "I;16N") and isinstance(key, (int, np.integer)):
        if img.mode == "1":
            return arr.astype(np.int64) * 255 == int(key)  # PIL reports a 1-bit key as 0 or 255
        return arr.astype(np.int64) == int(key) * _KEY_SCALE.get(rawmode or "", 1)
    return None


def _array_to_rgb(arr: np.ndarray) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.ndim == 3 and arr.shape[0] in (1, 3, 4) and arr.shape[-1] not in (1, 3, 4):
        raise ImageLoadError(f"Array of shape {arr.shape} looks channel-first (CHW); pass "
                             "arr.transpose(1, 2, 0) so that it is HWC.")
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] not in (3, 4)):
        raise ImageLoadError(f"Array of shape {arr.shape} is not an image; expected HxW, HxWx3 or HxWx4.")
    if arr.size == 0:
        raise ImageLoadError("Array is empty.")
    arr = _to_uint8(arr)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=-1)
    if arr.shape[-1] == 4:
        alpha = arr[..., 3:4].astype(np.float32) / 255.0
        arr = np.round(arr[..., :3] * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
    return np.ascontiguousarray(arr)


def _to_uint8(arr: np.ndarray) -> np.ndarray:
    if arr.dtype.byteorder not in ("=", "|"):  # e.g. ">u2" from PIL's "I;16B" (big-endian TIFF)
        arr = arr.astype(arr.dtype.newbyteorder("="))
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == bool:
        return arr.astype(np.uint8) * 255
    if np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all():
            raise ImageLoadError("Float image contains NaN or inf; clean it (np.nan_to_num) first.")
        lo, hi = float(arr.min()), float(arr.max())
        if lo >= 0.0 and hi <= 1.0:
            return np.round(arr * 255.0).astype(np.uint8)
        if lo >= 0.0 and hi <= 255.0:
            return np.round(arr).astype(np.uint8)
        return np.round((arr - lo) / max(hi - lo, 1e-12) * 255.0).astype(np.uint8)
    if arr.dtype == np.uint16:
        return np.round(arr.astype(np.float32) / 257.0).astype(np.uint8)
    if np.issubdtype(arr.dtype, np.integer):
        lo, hi = int(arr.min()), int(arr.max())
        if lo >= 0 and hi <= 255:
            return arr.astype(np.uint8)
        if lo >= 0 and hi <= 65535:
            return np.round(arr.astype(np.float32) / 257.0).astype(np.uint8)
        return np.round((arr - lo) / max(hi - lo, 1) * 255.0).astype(np.uint8)
    raise ImageLoadError(f"Unsupported array dtype {arr.dtype}.")


def list_image_files(directory: str | os.PathLike) -> list[Path]:
    """Return the image files of a directory (not recursive), sorted by name."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory} is not a directory.")
    return sorted(p for p in directory.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)


def load_images(srcs: Iterable[Any] | str | os.PathLike) -> list[np.ndarray]:
    """Load several images; a directory path loads every image file inside it."""
    if isinstance(srcs, (str, os.PathLike)) and Path(srcs).is_dir():
        srcs = list_image_files(srcs)
    return [load_image(s) for s in srcs]


# --------------------------------------------------------------------------- sample photos


@dataclass(frozen=True)
class SampleInfo:
    """Where a bundled photo comes from."""

    name: str
    package: str  # "scikit-image" or "scikit-learn"
    file: str
    description: str
    source: str
    licence: str


SAMPLES: dict[str, SampleInfo] = {
    s.name: s
    for s in [
        SampleInfo("chelsea", "scikit-image", "chelsea.png", "Chelsea the cat",
                   "Stefan van der Walt, via scikit-image", "CC0"),
        SampleInfo("astronaut", "scikit-image", "astronaut.png", "Astronaut Eileen Collins",
                   "NASA Great Images, via scikit-image", "Public domain"),
        SampleInfo("coffee", "scikit-image", "coffee.png", "A coffee cup on a saucer",
                   "Rachel Michetti (Pikolo Espresso Bar), via scikit-image", "CC0"),
        SampleInfo("rocket", "scikit-image", "rocket.jpg", "Falcon 9 launch carrying DSCOVR",
                   "SpaceX Photos, via scikit-image", "Public domain"),
        SampleInfo("motorcycle_left", "scikit-image", "motorcycle_left.png", "Motorcycle, left stereo view",
                   "Middlebury 2014 stereo benchmark (Scharstein et al.), via scikit-image",
                   "Middlebury stereo data, free for research and teaching with citation"),
        SampleInfo("motorcycle_right", "scikit-image", "motorcycle_right.png", "Motorcycle, right stereo view",
                   "Middlebury 2014 stereo benchmark (Scharstein et al.), via scikit-image",
                   "Middlebury stereo data, free for research and teaching with citation"),
        SampleInfo("horse", "scikit-image", "horse.png", "Black-and-white horse silhouette",
                   "Andreas Preuss (openclipart), via scikit-image", "CC0"),
        SampleInfo("coins", "scikit-image", "coins.png", "Greek coins from Pompeii (grayscale)",
                   "Brooklyn Museum Collection, via scikit-image", "No known copyright restrictions"),
        SampleInfo("camera", "scikit-image", "camera.png", "A photographer with a camera (grayscale)",
                   "Lav Varshney, via scikit-image", "CC0"),
        SampleInfo("hubble", "scikit-image", "hubble_deep_field.jpg", "Hubble eXtreme Deep Field",
                   "NASA / HubbleSite, via scikit-image", "Public domain"),
        SampleInfo("china", "scikit-learn", "china.jpg", "A Chinese temple",
                   "danielbuechele on Flickr, via scikit-learn", "CC BY 2.0"),
        SampleInfo("flower", "scikit-learn", "flower.jpg", "A flower",
                   "vultilion on Flickr, via scikit-learn", "CC BY 2.0"),
    ]
}


def _sample_path(info: SampleInfo) -> Path:
    if info.package == "scikit-image":
        import skimage.data

        return Path(skimage.data.__file__).parent / info.file
    import sklearn.datasets

    return Path(sklearn.datasets.__file__).parent / "images" / info.file


def sample_image(name: str) -> np.ndarray:
    """Return one bundled real photo as an HWC uint8 RGB array.

    Args:
        name: A key of :data:`SAMPLES`, e.g. ``"chelsea"`` (the cat) or ``"motorcycle_left"``.
    """
    if name not in SAMPLES:
        raise KeyError(f"Unknown sample image {name!r}; choose one of: {', '.join(SAMPLES)}.")
    path = _sample_path(SAMPLES[name])
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; reinstall {SAMPLES[name].package} "
                                f"(pip install --force-reinstall {SAMPLES[name].package}).")
    return load_image(path)


def sample_images(names: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """Return bundled real photos by name (all of them by default), as HWC uint8 RGB arrays.

    See :data:`SAMPLES` for each photo's source and licence.
    """
    return {name: sample_image(name) for name in (names if names is not None else SAMPLES)}
