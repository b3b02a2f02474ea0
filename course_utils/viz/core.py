"""Drawing basics: colours, overlays, points, boxes, the random-weights note, Korean fonts, image grids.

Inputs follow the kit's contracts: images are HWC uint8 RGB, points (x, y) pixels, boxes XYXY,
masks bool HxW. Functions return new arrays (they never draw into the caller's image) or
matplotlib / plotly figures. Nothing heavy is imported at import time (numpy only; matplotlib,
PIL, scipy and torch when a function needs them) and no model is imported: whether a figure shows
random weights is read from the data it draws (:func:`finish` -> :func:`course_utils.tiny.stamp`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any, TypeVar

import numpy as np

from .. import tiny

__all__ = [
    "upsample_map", "overlay_heatmap", "overlay_mask", "overlay_masks", "draw_points", "draw_boxes",
    "draw_patch_grid", "mark_random", "show_images", "label_colors", "overlay_labels", "rgb_grid_to_image",
    "use_korean_font", "korean_font", "finish",
]

_F = TypeVar("_F", bound=Callable[..., Any])
_KOREAN_FAMILY = ["NanumGothic", "DejaVu Sans"]


def _register_korean_fonts() -> bool:
    """Add the NanumGothic files of ``koreanize-matplotlib`` to matplotlib's font list (no setting changes).

    Only the package's font files are used: importing that package needs ``distutils``, gone in Python 3.12.
    """
    import importlib.util
    from pathlib import Path

    from matplotlib import font_manager

    spec = importlib.util.find_spec("koreanize_matplotlib")
    if spec is None or not spec.submodule_search_locations:
        return False
    fonts = sorted((Path(list(spec.submodule_search_locations)[0]) / "fonts").glob("NanumGothic*.ttf"))
    known = {f.fname for f in font_manager.fontManager.ttflist}
    for font in fonts:
        if str(font) not in known:
            font_manager.fontManager.addfont(str(font))
    return bool(fonts)


def use_korean_font() -> str | None:
    """Make matplotlib draw Korean text (titles, labels) instead of empty boxes, from now on.

    Registers the NanumGothic fonts shipped in the ``koreanize-matplotlib`` package and puts them first
    in ``font.family`` (DejaVu Sans after for the rest): a global matplotlib setting, changed only when
    this is called (the labs call it in their first cell). The figure functions of :mod:`course_utils.viz`
    do not need it: they draw their text under :func:`korean_font` and leave the settings alone.

    Returns:
        The font family name, or None when the fonts are not installed.
    """
    import matplotlib

    if not _register_korean_fonts():
        return None
    matplotlib.rcParams["font.family"] = list(_KOREAN_FAMILY)
    matplotlib.rcParams["axes.unicode_minus"] = False
    return "NanumGothic"


@contextmanager
def korean_font() -> Iterator[None]:
    """Within the block, new matplotlib text uses NanumGothic (Korean) when installed; the two font settings
    are put back after.

    Only ``font.family`` and ``axes.unicode_minus`` are restored, not every setting as ``rc_context`` does:
    the first figure of a kernel resolves pyplot's backend and turns ``interactive`` on (the inline
    backend), and resetting that would stop Jupyter from showing the figures of later cells.
    """
    import matplotlib

    if not _register_korean_fonts():
        yield
        return
    keys = ("font.family", "axes.unicode_minus")
    saved = {k: matplotlib.rcParams[k] for k in keys}
    matplotlib.rcParams.update({"font.family": list(_KOREAN_FAMILY), "axes.unicode_minus": False})
    try:
        yield
    finally:
        matplotlib.rcParams.update(saved)


def with_korean_font(func: _F) -> _F:
    """Decorator: run a figure function under :func:`korean_font` (its titles may be Korean)."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with korean_font():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


# --------------------------------------------------------------------------- the random-weights note


def finish(fig: Any, *data: Any, bottom: float = 0.0, top: float = 1.0) -> Any:
    """Lay a matplotlib figure out and put the random-weights note on it when ``data`` is random.

    The one rule every figure function of :mod:`course_utils.viz` follows: ``tight_layout`` within
    ``(bottom, top)`` of the figure height, leaving a strip at the top for the note when any of
    ``data`` (the results drawn) has random weights (:func:`course_utils.tiny.is_random`), then
    :func:`course_utils.tiny.stamp`.

    Returns:
        ``fig``.
    """
    if tiny.is_random(*data):
        top = min(top, 1 - note_room(fig))
    fig.tight_layout(rect=(0, bottom, 1, top))
    return tiny.stamp(fig, *data)


def note_room(fig: Any) -> float:
    """Share of the figure height the note needs at the top (about 0.3 inch)."""
    return min(0.3, 0.3 / max(float(fig.get_figheight()), 1e-6))


def mark_random(fig: Any, *data: Any, model: Any = None, tiny: bool | None = None) -> Any:
    """Label a matplotlib or plotly figure as made with random weights when ``data`` says so.

    Args:
        fig: matplotlib ``Figure`` or plotly ``Figure``.
        *data: What the figure shows or was computed from: results with ``random_weights``
            (attention maps, features, predictions...), a loaded model, benchmark rows, or a bool.
        model, tiny: Deprecated spellings of ``data`` (``mark_random(fig, model=m)`` is
            ``mark_random(fig, m)``); kept for old call sites.

    Returns:
        The same figure (see :func:`course_utils.tiny.stamp`; the note is put on once).
    """
    if model is not None or tiny is not None:
        warnings.warn("mark_random(fig, model=..., tiny=...) is deprecated: pass what the figure shows, "
                      "mark_random(fig, result).", DeprecationWarning, stacklevel=2)
        data = (*data, model, bool(tiny) if tiny is not None else None)
    return _stamp(fig, *data)


_stamp = tiny.stamp  # mark_random's keyword "tiny" shadows the module inside it


# --------------------------------------------------------------------------- colours and overlays


def label_colors(n: int, seed: int = 0) -> np.ndarray:
    """``n`` distinct RGB colours (uint8, (n, 3)); tab20 first, then seeded random ones."""
    import matplotlib

    base = (np.array(matplotlib.colormaps["tab20"].colors) * 255).round().astype(np.uint8)
    if n <= len(base):
        return base[:n]
    rng = np.random.default_rng(seed)
    return np.concatenate([base, rng.integers(0, 256, size=(n - len(base), 3), dtype=np.uint8)])


def upsample_map(values: np.ndarray, size: tuple[int, int], mode: str = "bilinear") -> np.ndarray:
    """Resize a (h, w) map to ``size`` = (H, W) with torch interpolation ("bilinear" or "nearest")."""
    import torch
    import torch.nn.functional as F

    t = torch.as_tensor(np.asarray(values, dtype=np.float32))[None, None]
    kwargs = {"align_corners": False} if mode == "bilinear" else {}
    return F.interpolate(t, size=size, mode=mode, **kwargs)[0, 0].numpy()


def _normalise(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float32)
    lo, hi = float(values.min()), float(values.max())
    return (values - lo) / (hi - lo) if hi > lo else np.zeros_like(values)


def overlay_heatmap(image: np.ndarray, heat: np.ndarray, alpha: float = 0.5, cmap: str = "jet",
                    normalise: bool = True) -> np.ndarray:
    """Blend a heatmap (any (h, w), upsampled to the image) over an HWC uint8 image.

    Returns:
        (H, W, 3) uint8 RGB.
    """
    import matplotlib

    height, width = image.shape[:2]
    heat = np.asarray(heat, dtype=np.float32)
    if heat.shape != (height, width):
        heat = upsample_map(heat, (height, width))
    heat = _normalise(heat) if normalise else np.clip(heat, 0, 1)
    colored = matplotlib.colormaps[cmap](heat)[..., :3] * 255
    return np.round((1 - alpha) * image.astype(np.float32) + alpha * colored).astype(np.uint8)


def overlay_mask(image: np.ndarray, mask: np.ndarray, color: Any = (30, 144, 255), alpha: float = 0.5,
                 outline: bool = True) -> np.ndarray:
    """Tint the pixels of a bool HxW mask in ``color`` and (optionally) outline it."""
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != image.shape[:2]:
        raise ValueError(f"Mask shape {mask.shape} does not match image {image.shape[:2]}.")
    out = image.astype(np.float32).copy()
    col = np.asarray(color, dtype=np.float32)
    out[mask] = (1 - alpha) * out[mask] + alpha * col
    if outline:
        from scipy import ndimage

        edge = mask & ~ndimage.binary_erosion(mask, iterations=2)
        out[edge] = col
    return np.round(out).astype(np.uint8)


def overlay_masks(image: np.ndarray, masks: Any, alpha: float = 0.5, seed: int = 0) -> np.ndarray:
    """Draw many masks in distinct colours, largest first so that small ones stay visible.

    Args:
        masks: (M, H, W) bool array, list of bool arrays, or SAM's list of dicts with "segmentation".
    """
    arrays = [m["segmentation"] if isinstance(m, dict) else m for m in masks]
    arrays = sorted((np.asarray(m, dtype=bool) for m in arrays), key=lambda m: -int(m.sum()))
    colors = label_colors(len(arrays), seed)
    out = image.copy()
    for mask, col in zip(arrays, colors):
        out = overlay_mask(out, mask, tuple(int(c) for c in col), alpha=alpha, outline=True)
    return out


def draw_points(image: np.ndarray, points: Any, labels: Any = None, radius: int | None = None) -> np.ndarray:
    """Draw (x, y) pixel points: label 1 green star-like dot, label 0 red, white rim."""
    from PIL import Image, ImageDraw

    pts = np.asarray(points, dtype=float).reshape(-1, 2)
    labs = np.ones(len(pts), dtype=int) if labels is None else np.asarray(labels).reshape(-1)
    radius = radius or max(4, round(min(image.shape[:2]) / 60))
    pil = Image.fromarray(image)
    draw = ImageDraw.Draw(pil)
    for (x, y), lab in zip(pts, labs):
        fill = (0, 200, 0) if lab == 1 else (230, 0, 0)
        draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=fill, outline=(255, 255, 255),
                     width=max(1, radius // 3))
    return np.asarray(pil)


def draw_boxes(image: np.ndarray, boxes: Any, color: Any = (0, 255, 0), width: int = 3) -> np.ndarray:
    """Draw XYXY pixel boxes."""
    from PIL import Image, ImageDraw

    pil = Image.fromarray(image)
    draw = ImageDraw.Draw(pil)
    for x0, y0, x1, y1 in np.asarray(boxes, dtype=float).reshape(-1, 4):
        draw.rectangle([x0, y0, x1, y1], outline=tuple(color), width=width)
    return np.asarray(pil)


def draw_patch_grid(image: np.ndarray, patch_size: int, color: Any = (255, 255, 255)) -> np.ndarray:
    """Draw the ViT patch grid (lines every ``patch_size`` pixels) on an image."""
    out = image.copy()
    out[::patch_size, :] = color
    out[:, ::patch_size] = color
    out[-1, :] = color
    out[:, -1] = color
    return out

def overlay_labels(image: np.ndarray, labels: np.ndarray, alpha: float = 0.5, colors: Any = None,
                   seed: int = 0) -> np.ndarray:
    """Colour an HWC uint8 image by a label grid (k-means clusters on the patch grid).

    Args:
        image: (H, W, 3) uint8 RGB.
        labels: (h, w) int label grid (any size; upsampled with nearest neighbour). Negative
            labels (e.g. -1 for background) are left uncoloured.
        alpha: Opacity of the colours.
        colors: (k, 3) uint8 colours per label; default :func:`label_colors`.
        seed: Seed for extra colours beyond the 20 of tab20.

    Returns:
        (H, W, 3) uint8 RGB.
    """
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"labels must be one (h, w) grid, got shape {labels.shape}; loop over images.")
    height, width = image.shape[:2]
    grid = upsample_map(labels.astype(np.float32), (height, width), mode="nearest").round().astype(np.int64)
    n = int(grid.max()) + 1 if grid.size else 0
    palette = np.asarray(colors, dtype=np.float32) if colors is not None else label_colors(max(n, 1), seed)
    if len(palette) < n:
        raise ValueError(f"{len(palette)} colours for {n} labels; pass more colours.")
    out = image.astype(np.float32).copy()
    keep = grid >= 0
    out[keep] = (1 - alpha) * out[keep] + alpha * np.asarray(palette, dtype=np.float32)[grid[keep]]
    return np.round(out).astype(np.uint8)


def rgb_grid_to_image(rgb: np.ndarray, size: tuple[int, int], mode: str = "nearest") -> np.ndarray:
    """Upsample an (h, w, 3) uint8 patch-grid picture (e.g. ``pca_rgb``) to ``size`` = (H, W)."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[-1] != 3:
        raise ValueError(f"Expected an (h, w, 3) grid, got shape {rgb.shape}; loop over images.")
    channels = [upsample_map(rgb[..., c].astype(np.float32), size, mode=mode) for c in range(3)]
    return np.clip(np.round(np.stack(channels, axis=-1)), 0, 255).astype(np.uint8)


@with_korean_font
def show_images(images: list[np.ndarray], titles: list[str] | None = None, ncols: int = 4,
                size: float = 3.0, data: Any = None) -> Any:
    """Show images in a grid with optional titles; returns the matplotlib figure.

    Args:
        images: HWC uint8 RGB (or (H, W) grey) images.
        titles: One title per image (Korean is fine).
        ncols: Images per row.
        size: Inches per image.
        data: What the images were computed from (attention maps, features, a prediction, a
            loaded model...). The figure carries the random-weights note when it has
            ``random_weights``; a grid of plain photos has none.
    """
    import matplotlib.pyplot as plt

    n = len(images)
    ncols = max(1, min(ncols, n))
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + 0.3), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for i, img in enumerate(images):
        ax = axes.ravel()[i]
        ax.imshow(img, cmap="gray" if np.asarray(img).ndim == 2 else None)
        if titles:
            ax.set_title(titles[i], fontsize=9)
    return finish(fig, data)

