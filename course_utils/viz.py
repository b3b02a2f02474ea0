"""Drawing helpers shared by the labs: overlays, heatmaps, masks, points, boxes, labels.

Inputs follow the kit's contracts: images are HWC uint8 RGB, points (x, y) pixels, boxes XYXY,
masks bool HxW. Functions return new arrays (they never draw into the caller's image) or
matplotlib / plotly figures. Any figure made from a tiny (random) model must carry
:func:`mark_random` so that nobody mistakes it for a trained model's output.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .models import RANDOM_WEIGHTS_NOTE, is_random, is_tiny


def use_korean_font() -> str | None:
    """Make matplotlib draw Korean text (titles, labels) instead of empty boxes.

    Registers the NanumGothic fonts shipped in the ``koreanize-matplotlib`` package (its files only:
    importing that package needs ``distutils``, gone in Python 3.12) and puts them first in
    ``font.family``, DejaVu Sans after for the rest. Called when this module is imported.

    Returns:
        The font family name, or None when the fonts are not installed.
    """
    import importlib.util
    from pathlib import Path

    import matplotlib
    from matplotlib import font_manager

    spec = importlib.util.find_spec("koreanize_matplotlib")
    if spec is None or not spec.submodule_search_locations:
        return None
    fonts = sorted((Path(list(spec.submodule_search_locations)[0]) / "fonts").glob("NanumGothic*.ttf"))
    for font in fonts:
        font_manager.fontManager.addfont(str(font))
    if not fonts:
        return None
    matplotlib.rcParams["font.family"] = ["NanumGothic", "DejaVu Sans"]
    matplotlib.rcParams["axes.unicode_minus"] = False
    return "NanumGothic"


__all__ = [
    "upsample_map", "overlay_heatmap", "overlay_mask", "overlay_masks", "draw_points", "draw_boxes",
    "draw_patch_grid", "mark_random", "show_images", "label_colors",
]


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


def mark_random(fig: Any, model: Any = None, tiny: bool | None = None) -> Any:
    """Label a matplotlib or plotly figure as made with random weights when that is so.

    Args:
        fig: matplotlib ``Figure`` or plotly ``Figure``.
        model: A model or :class:`~course_utils.models.LoadedModel`; its tiny flag decides.
        tiny: Decide explicitly; ``None`` uses ``model`` if given, else ``COURSE_UTILS_TINY``.

    Returns:
        The same figure.
    """
    random = tiny if tiny is not None else (is_random(model) if model is not None else is_tiny())
    if not random:
        return fig
    if hasattr(fig, "add_annotation"):  # plotly
        fig.add_annotation(text=RANDOM_WEIGHTS_NOTE, xref="paper", yref="paper", x=0.5, y=1.08,
                           showarrow=False, font={"color": "red", "size": 13})
    else:  # matplotlib
        fig.text(0.5, 0.995, RANDOM_WEIGHTS_NOTE, ha="center", va="top", color="red", fontsize=10,
                 fontweight="bold")
    return fig


def show_images(images: list[np.ndarray], titles: list[str] | None = None, ncols: int = 4,
                size: float = 3.0, model: Any = None, tiny: bool | None = False) -> Any:
    """Show images in a grid with optional titles; returns the matplotlib figure.

    ``tiny=False`` by default because plain photos are not model outputs; pass ``model=`` or
    ``tiny=None`` for figures that show model outputs.
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
    random = tiny if model is None else is_random(model)
    random = is_tiny() if random is None else random
    fig.tight_layout(rect=(0, 0, 1, 0.94) if random else (0, 0, 1, 1))  # room for the random-weights note
    return mark_random(fig, tiny=random)


# --------------------------------------------------------------------------- DINOv2 features (issue 4)


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


def _layout(fig: Any, model: Any = None, tiny: bool | None = None) -> Any:
    """tight_layout that leaves room at the top for the RANDOM WEIGHTS note, then mark_random."""
    random = tiny if tiny is not None else (is_random(model) if model is not None else is_tiny())
    fig.tight_layout(rect=(0, 0, 1, 0.95 if random else 1))
    return mark_random(fig, model=model, tiny=tiny)


def show_retrieval(query_images: list[np.ndarray], db_images: list[np.ndarray], scores: Any, indices: Any,
                   query_labels: Any = None, db_labels: Any = None, k: int | None = None,
                   size: float = 1.8, model: Any = None, tiny: bool | None = None) -> Any:
    """Gallery of retrieval results: one row per query, the query then its top-k neighbours.

    Args:
        query_images: HWC uint8 images of the queries.
        db_images: HWC uint8 images of the database (indexed by ``indices``).
        scores: (Q, k) similarities from ``search``.
        indices: (Q, k) database positions from ``search``.
        query_labels: Optional (Q,) labels; with ``db_labels`` a neighbour gets a green frame
            when its label matches the query's, red otherwise.
        db_labels: Optional (N,) labels of the database.
        k: Show only the first ``k`` neighbours.
        size: Inches per thumbnail.
        model: The model, to mark figures of random (tiny) models; or pass ``tiny``.

    Returns:
        The matplotlib figure (passed through :func:`mark_random`).
    """
    import matplotlib.pyplot as plt

    scores = np.asarray(scores.detach().cpu() if hasattr(scores, "detach") else scores, dtype=float)
    indices = np.asarray(indices.detach().cpu() if hasattr(indices, "detach") else indices)
    if scores.shape != indices.shape or scores.ndim != 2:
        raise ValueError(f"scores {scores.shape} and indices {indices.shape} must both be (Q, k) from search().")
    if len(query_images) != len(indices):
        raise ValueError(f"{len(query_images)} query images for {len(indices)} result rows.")
    k = indices.shape[1] if k is None else min(k, indices.shape[1])
    nq = len(query_images)
    fig, axes = plt.subplots(nq, k + 1, figsize=(size * (k + 1), size * nq + 0.4), squeeze=False)
    for q in range(nq):
        ax = axes[q, 0]
        ax.imshow(query_images[q])
        ax.set_title("query" + (f"\n{query_labels[q]}" if query_labels is not None else ""), fontsize=8,
                     fontweight="bold")
        for j in range(k):
            ax = axes[q, j + 1]
            i = int(indices[q, j])
            ax.imshow(db_images[i])
            title = f"#{j + 1} s={scores[q, j]:.3f}"
            if db_labels is not None:
                title += f"\n{db_labels[i]}"
            ax.set_title(title, fontsize=8)
            if query_labels is not None and db_labels is not None:
                color = "limegreen" if db_labels[i] == query_labels[q] else "red"
                for spine in ax.spines.values():
                    spine.set_edgecolor(color)
                    spine.set_linewidth(3)
        for ax in axes[q]:
            ax.set_xticks([])
            ax.set_yticks([])
    return _layout(fig, model=model, tiny=tiny)


def plot_few_shot(result: Any, title: str | None = None, model: Any = None, tiny: bool | None = None) -> Any:
    """Accuracy vs labelled examples per class (a ``FewShotResult``), one line per classifier.

    Returns:
        The matplotlib figure (passed through :func:`mark_random`).
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for name, acc in result.accuracy.items():
        std = result.std.get(name, np.zeros_like(acc))
        ax.errorbar(result.shots, acc, yerr=std, marker="o", capsize=3, label=name)
    if getattr(result, "n_classes", 0):
        ax.axhline(1.0 / result.n_classes, color="gray", ls="--", lw=1, label="chance")
    ax.set_xscale("log")
    ax.set_xticks(result.shots)
    ax.set_xticklabels([str(s) for s in result.shots])
    ax.set_xlabel("labelled examples per class (shots)")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    return _layout(fig, model=model, tiny=tiny)


__all__ += ["overlay_labels", "rgb_grid_to_image", "show_retrieval", "plot_few_shot"]


# --------------------------------------------------------------------------- attention maps (ViT lab)


def _maps_random(maps: Any, model: Any, tiny: bool | None) -> bool:
    if tiny is not None:
        return bool(tiny)
    if model is not None:
        return is_random(model)
    return bool(getattr(maps, "random_weights", False)) or is_tiny()


def _query_name(maps: Any, query: int) -> str:
    if query == 0:
        return "CLS"
    if 0 < query < maps.num_prefix_tokens:
        return f"register {query}"
    return f"token {query}"


def attention_overlay(image: np.ndarray, maps: Any, layer: int = -1, head: int | None = None, query: int = 0,
                      batch: int = 0, alpha: float = 0.6, cmap: str = "inferno") -> np.ndarray:
    """Overlay one layer's ``query``-to-patch attention (CLS by default) on the image.

    Args:
        image: HWC uint8 RGB, the image the model saw (e.g. ``to_numpy_image(x[0], mean, std)``,
            so that the crop matches the patch grid).
        maps: :class:`~course_utils.attention.AttentionMaps` from ``capture_attention``.
        layer: Block index, 0-based (negative counts from the end).
        head: Head index, or None for the mean of heads.
        query: 0 for CLS, 1.. for register tokens.
        batch: Which image of the batch.

    Returns:
        (H, W, 3) uint8 RGB (the map is bilinearly upsampled and min-max normalised).
    """
    return overlay_heatmap(image, maps.patch_map(layer, head, query, batch), alpha=alpha, cmap=cmap)


def show_attention(image: np.ndarray, maps: Any, layers: Any = (0, 5, -1), head: int | None = None,
                   rollout: bool = True, head_fusion: str = "mean", discard_ratio: float = 0.0, query: int = 0,
                   batch: int = 0, size: float = 3.0, alpha: float = 0.6, model: Any = None,
                   tiny: bool | None = None) -> Any:
    """The image, the attention of a few layers and the attention rollout, side by side.

    Args:
        image: HWC uint8 RGB, the image the model saw.
        maps: :class:`~course_utils.attention.AttentionMaps`.
        layers: 0-based block indices (``(0, 5, 11)`` are the lecture's "layers 1, 6 and 12").
        head: One head, or None for the mean of heads.
        rollout: Add the attention rollout panel (:func:`course_utils.rollout.rollout_map`).
        head_fusion, discard_ratio: Rollout settings.
        query: 0 for CLS, 1.. for register tokens.
        model, tiny: Decide the random-weights label (default: the maps' own flag).

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt

    from .rollout import rollout_map

    layers = [layers] if isinstance(layers, int) else list(layers)
    panels = [(image, "input")]
    who = _query_name(maps, query)
    heads = "mean of heads" if head is None else f"head {head}"
    for layer in layers:
        idx = maps._layer_index(layer)
        panels.append((attention_overlay(image, maps, idx, head, query, batch, alpha),
                       f"layer {idx + 1} (index {idx})\n{who} -> patches, {heads}"))
    if rollout:
        heat = rollout_map(maps, head_fusion=head_fusion, discard_ratio=discard_ratio, query=query, batch=batch)
        panels.append((overlay_heatmap(image, heat, alpha=alpha, cmap="inferno"),
                       f"rollout ({head_fusion}, discard {discard_ratio:g})\n{who} -> patches, all layers"))
    fig, axes = plt.subplots(1, len(panels), figsize=(size * len(panels), size + 0.7), squeeze=False)
    for ax, (img, title) in zip(axes[0], panels):
        ax.imshow(img)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    return mark_random(fig, tiny=_maps_random(maps, model, tiny))


def show_attention_heads(image: np.ndarray, maps: Any, layer: int = -1, query: int = 0, batch: int = 0,
                         ncols: int = 6, size: float = 2.2, alpha: float = 0.6, model: Any = None,
                         tiny: bool | None = None) -> Any:
    """Grid of every head of one block: ``query``-to-patch attention (CLS by default) per head.

    Each panel is normalised on its own, so compare *where* heads look, not how strongly.

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt

    idx = maps._layer_index(layer)
    per_head = maps.head_maps(idx, query, batch)  # (H, h, w)
    n = len(per_head)
    ncols = max(1, min(ncols, n))
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, (size + 0.3) * nrows + 0.5), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for h, heat in enumerate(per_head):
        ax = axes.ravel()[h]
        ax.imshow(overlay_heatmap(image, heat, alpha=alpha, cmap="inferno"))
        ax.set_title(f"head {h}", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.55 / fig.get_figheight()))
    fig.suptitle(f"layer {idx + 1} (index {idx}): {_query_name(maps, query)} -> patches, every head",
                 fontsize=10, y=1 - 0.25 / fig.get_figheight())
    return mark_random(fig, tiny=_maps_random(maps, model, tiny))


def attention_explorer(image: np.ndarray, maps: Any, batch: int = 0, alpha: float = 0.6, width: int = 360,
                       model: Any = None, tiny: bool | None = None) -> Any:
    """Interactive view: choose layer, head and query token (or the rollout) with widgets.

    Args:
        image: HWC uint8 RGB, the image the model saw.
        maps: :class:`~course_utils.attention.AttentionMaps`.
        width: Displayed width in pixels.

    Returns:
        An ``ipywidgets.VBox``; display it as the last expression of a cell. ``box.controls``
        holds the widgets (``layer``, ``head``, ``query``, ``rollout``) and ``box.current_image``
        the HWC uint8 image shown now.
    """
    import io

    import ipywidgets as widgets
    from PIL import Image

    from .rollout import rollout_map

    layer = widgets.IntSlider(value=maps.num_layers - 1, min=0, max=maps.num_layers - 1,
                              description="layer idx", continuous_update=False)
    head = widgets.Dropdown(options=[("mean", -1)] + [(str(h), h) for h in range(maps.num_heads)], value=-1,
                            description="head")
    query = widgets.Dropdown(options=[(_query_name(maps, q), q) for q in range(maps.num_prefix_tokens)],
                             value=0, description="query")
    use_rollout = widgets.Checkbox(value=False, description="rollout (all layers)")
    picture = widgets.Image(format="png", width=width)
    caption = widgets.HTML()
    parts: list[Any] = []
    if _maps_random(maps, model, tiny):
        parts.append(widgets.HTML(f"<b style='color:red'>{RANDOM_WEIGHTS_NOTE}</b>"))
    box = widgets.VBox([*parts, widgets.HBox([layer, head]), widgets.HBox([query, use_rollout]), picture, caption])
    box.controls = {"layer": layer, "head": head, "query": query, "rollout": use_rollout}

    def update(_: Any = None) -> None:
        h = None if head.value == -1 else int(head.value)
        if use_rollout.value:
            heat = rollout_map(maps, query=query.value, batch=batch)
            text = f"rollout: {_query_name(maps, query.value)} -> patches through all {maps.num_layers} layers"
        else:
            heat = maps.patch_map(layer.value, h, query.value, batch)
            text = (f"layer {layer.value + 1} (index {layer.value}), "
                    f"{'mean of heads' if h is None else f'head {h}'}: {_query_name(maps, query.value)} -> patches")
        layer.disabled = head.disabled = bool(use_rollout.value)
        shown = overlay_heatmap(image, heat, alpha=alpha, cmap="inferno")
        buffer = io.BytesIO()
        Image.fromarray(shown).save(buffer, format="png")
        picture.value = buffer.getvalue()
        caption.value = f"<small>{text}</small>"
        box.current_image = shown

    for control in (layer, head, query, use_rollout):
        control.observe(update, names="value")
    update()
    return box


__all__ += ["attention_overlay", "show_attention", "show_attention_heads", "attention_explorer"]


# --------------------------------------------------------------------------- SAM (issue 5)


def show_sam_prediction(image: np.ndarray, masks: Any, scores: Any = None, points: Any = None, labels: Any = None,
                        box: Any = None, model: Any = None, tiny: bool | None = None, title: str | None = None,
                        size: float = 3.2) -> Any:
    """One panel per SAM mask with its predicted IoU, the prompts drawn on top.

    Args:
        image: HWC uint8 RGB.
        masks: (M, H, W) or (H, W) bool masks (``SamSession.predict(...).masks``).
        scores: (M,) predicted IoU, shown in the panel titles; the best panel is starred.
        points: (N, 2) (x, y) pixel points; ``labels`` (N,) 1 = foreground (green), 0 = background (red).
        box: One XYXY pixel box or None.
        model: The SAM model or session (its tiny flag marks the figure); ``tiny`` decides explicitly.

    Returns:
        The matplotlib figure (marked with :func:`mark_random` for random weights).
    """
    import matplotlib.pyplot as plt

    masks = np.asarray(masks, dtype=bool)
    if masks.ndim == 2:
        masks = masks[None]
    if masks.shape[1:] != image.shape[:2]:
        raise ValueError(f"masks {masks.shape} do not match the image {image.shape[:2]}: pass the full-resolution "
                         "masks, not the low-res logits.")
    best = int(np.argmax(scores)) if scores is not None and len(masks) > 1 else None
    fig, axes = plt.subplots(1, len(masks), figsize=(size * len(masks) * image.shape[1] / image.shape[0] + 0.2,
                                                     size + 0.5), squeeze=False)
    for i, (ax, mask) in enumerate(zip(axes[0], masks)):
        panel = overlay_mask(image, mask)
        if box is not None:
            panel = draw_boxes(panel, np.asarray(box, dtype=float).reshape(1, 4))
        if points is not None and len(np.asarray(points).reshape(-1, 2)):
            panel = draw_points(panel, points, labels)
        ax.imshow(panel)
        ax.axis("off")
        text = f"mask {i}"
        if scores is not None:
            text += f" · IoU {float(np.asarray(scores).reshape(-1)[i]):.3f}" + (" ★" if i == best else "")
        ax.set_title(text, fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10, y=0.01, va="bottom")
    fig.tight_layout(rect=(0, 0.06 if title else 0, 1, 0.93))
    if tiny is None and model is not None and hasattr(model, "tiny") and not hasattr(model, "spec"):
        tiny = bool(model.tiny)  # a SamSession
    return mark_random(fig, model=model, tiny=tiny)


__all__ += ["show_sam_prediction"]


def show_concept(image: np.ndarray, result: Any, max_instances: int = 12, size: float = 4.0,
                 title: str | None = None) -> Any:
    """SAM 3 concept-prompt result: all instance masks and boxes on the image, plus a score bar chart.

    Args:
        image: HWC uint8 RGB (the image given to ``segment_concept``).
        result: A :class:`~course_utils.concept.ConceptResult` (masks, boxes, scores, best first).
        max_instances: Draw at most this many (the best-scoring ones).

    Returns:
        The matplotlib figure, marked RANDOM WEIGHTS when the result came from a tiny model.
    """
    import matplotlib.pyplot as plt

    n = min(len(result), int(max_instances))
    masks, boxes, scores = result.masks[:n], result.boxes[:n], result.scores[:n]
    if len(masks) and masks.shape[1:] != image.shape[:2]:
        raise ValueError(f"result masks {masks.shape[1:]} do not match the image {image.shape[:2]}.")
    colors = label_colors(n) if n else np.zeros((0, 3), dtype=np.uint8)
    panel = image.copy()
    # Largest mask first so that small ones stay visible; each instance keeps its colour (bar = mask = box).
    for i in sorted(range(n), key=lambda j: -int(masks[j].sum())):
        panel = overlay_mask(panel, masks[i], tuple(int(c) for c in colors[i]), alpha=0.45)
    for i in range(n):
        panel = draw_boxes(panel, boxes[i:i + 1], color=tuple(int(c) for c in colors[i]),
                           width=max(2, round(min(image.shape[:2]) / 150)))
    aspect = image.shape[1] / image.shape[0]
    fig, (ax, bar) = plt.subplots(1, 2, figsize=(size * aspect + size * 0.8, size + 0.4),
                                  gridspec_kw={"width_ratios": [aspect, 0.8]})
    ax.imshow(panel)
    ax.axis("off")
    shown = f" (best {n} shown)" if n < len(result) else ""
    ax.set_title(result.note.split(" - ")[0] + shown, fontsize=9)
    bar.barh(np.arange(n), scores, color=colors / 255.0)
    bar.set_yticks(np.arange(n), [f"#{i}" for i in range(n)], fontsize=8)
    bar.invert_yaxis()
    bar.axvline(result.threshold, color="k", linestyle="--", linewidth=1)
    bar.set_xlim(0, 1)
    bar.set_xlabel("score", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10, y=0.01, va="bottom")
    fig.tight_layout(rect=(0, 0.05 if title else 0, 1, 0.93))
    return mark_random(fig, tiny=bool(result.random_weights))


__all__ += ["show_concept"]


use_korean_font()
