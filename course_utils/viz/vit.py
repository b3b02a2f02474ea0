"""Figures of the ViT / DINO labs: attention maps and rollout, retrieval galleries, few-shot curves,
co-segmentation overlays and the data-efficiency plot.

These functions draw what they are given (an :class:`~course_utils.attention.AttentionMaps`, search
results, a ``FewShotResult``...) and compute nothing of the model: the attention rollout comes from
``maps.rollout_map`` (:mod:`course_utils.rollout`) or is passed in. The random-weights note is read
from the data (:func:`~course_utils.viz.core.finish`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import tiny
from .core import finish, note_room, overlay_heatmap, overlay_labels, with_korean_font

__all__ = ["attention_overlay", "show_attention", "show_attention_heads", "attention_explorer", "show_retrieval",
           "plot_few_shot", "cosegmentation_overlays", "plot_data_efficiency"]


# --------------------------------------------------------------------------- attention maps


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


@with_korean_font
def show_attention(image: np.ndarray, maps: Any, layers: Any = (0, 5, -1), head: int | None = None,
                   rollout: Any = True, head_fusion: str = "mean", discard_ratio: float = 0.0, query: int = 0,
                   batch: int = 0, size: float = 3.0, alpha: float = 0.6) -> Any:
    """The image, the attention of a few layers and the attention rollout, side by side.

    Args:
        image: HWC uint8 RGB, the image the model saw.
        maps: :class:`~course_utils.attention.AttentionMaps` (its ``random_weights`` decides the note).
        layers: 0-based block indices (``(0, 5, 11)`` are the lecture's "layers 1, 6 and 12").
        head: One head, or None for the mean of heads.
        rollout: True for a rollout panel (``maps.rollout_map(head_fusion, discard_ratio, query, batch)``),
            False for none, or an (h, w) rollout map already computed (``course_utils.rollout.rollout_map``).
        head_fusion, discard_ratio: Rollout settings (also used in the panel title).
        query: 0 for CLS, 1.. for register tokens.

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt

    layers = [layers] if isinstance(layers, int) else list(layers)
    panels = [(image, "input")]
    who = _query_name(maps, query)
    heads = "mean of heads" if head is None else f"head {head}"
    for layer in layers:
        idx = maps._layer_index(layer)
        panels.append((attention_overlay(image, maps, idx, head, query, batch, alpha),
                       f"layer {idx + 1} (index {idx})\n{who} -> patches, {heads}"))
    if rollout is not False and rollout is not None:
        heat = (maps.rollout_map(head_fusion=head_fusion, discard_ratio=discard_ratio, query=query, batch=batch)
                if rollout is True else np.asarray(rollout))
        panels.append((overlay_heatmap(image, heat, alpha=alpha, cmap="inferno"),
                       f"rollout ({head_fusion}, discard {discard_ratio:g})\n{who} -> patches, all layers"))
    fig, axes = plt.subplots(1, len(panels), figsize=(size * len(panels), size + 0.7), squeeze=False)
    for ax, (img, title) in zip(axes[0], panels):
        ax.imshow(img)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    return finish(fig, maps)


@with_korean_font
def show_attention_heads(image: np.ndarray, maps: Any, layer: int = -1, query: int = 0, batch: int = 0,
                         ncols: int = 6, size: float = 2.2, alpha: float = 0.6) -> Any:
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
    height = fig.get_figheight()
    room = note_room(fig) if tiny.is_random(maps) else 0.0  # the note goes above the title
    fig.suptitle(f"layer {idx + 1} (index {idx}): {_query_name(maps, query)} -> patches, every head",
                 fontsize=10, y=1 - 0.25 / height - room)
    return finish(fig, maps, top=1 - 0.55 / height - room)


def attention_explorer(image: np.ndarray, maps: Any, batch: int = 0, alpha: float = 0.6, width: int = 360) -> Any:
    """Interactive view: choose layer, head and query token (or the rollout) with widgets.

    Args:
        image: HWC uint8 RGB, the image the model saw.
        maps: :class:`~course_utils.attention.AttentionMaps` (its ``random_weights`` adds the note).
        width: Displayed width in pixels.

    Returns:
        An ``ipywidgets.VBox``; display it as the last expression of a cell. ``box.controls``
        holds the widgets (``layer``, ``head``, ``query``, ``rollout``) and ``box.current_image``
        the HWC uint8 image shown now.
    """
    import io

    import ipywidgets as widgets
    from PIL import Image

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
    if tiny.is_random(maps):
        parts.append(widgets.HTML(f"<b style='color:red'>{tiny.NOTE}</b>"))
    box = widgets.VBox([*parts, widgets.HBox([layer, head]), widgets.HBox([query, use_rollout]), picture, caption])
    box.controls = {"layer": layer, "head": head, "query": query, "rollout": use_rollout}

    def update(_: Any = None) -> None:
        h = None if head.value == -1 else int(head.value)
        if use_rollout.value:
            heat = maps.rollout_map(query=query.value, batch=batch)
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


# --------------------------------------------------------------------------- DINO features


def _numpy(x: Any, dtype: Any = None) -> np.ndarray:
    return np.asarray(x.detach().cpu() if hasattr(x, "detach") else x, dtype=dtype)


@with_korean_font
def show_retrieval(query_images: list[np.ndarray], db_images: list[np.ndarray], scores: Any, indices: Any,
                   query_labels: Any = None, db_labels: Any = None, k: int | None = None,
                   size: float = 1.8, data: Any = None) -> Any:
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
        data: The ``FeatureIndex`` or ``Features`` the scores come from (their ``random_weights``
            decides the note).

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt

    scores = _numpy(scores, float)
    indices = _numpy(indices)
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
    return finish(fig, data)


@with_korean_font
def plot_few_shot(result: Any, title: str | None = None) -> Any:
    """Accuracy vs labelled examples per class (a ``FewShotResult``), one line per classifier.

    Returns:
        The matplotlib figure (the note when ``result.random_weights``).
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
    return finish(fig, result)


def cosegmentation_overlays(result: Any, images: list[np.ndarray] | None = None, shared_only: bool = False,
                            alpha: float = 0.55) -> list[np.ndarray]:
    """Colour overlays (HWC uint8) of a :class:`~course_utils.clustering.Cosegmentation`, one per image.

    Background patches stay uncoloured; each cluster keeps its colour in every image.

    Args:
        result: What ``cosegment`` returned.
        images: The images (needed when ``cosegment`` got features, not images).
        shared_only: Colour only the clusters shared by all images.
        alpha: Opacity of the colours.

    Raises:
        RuntimeError: no images given and none stored in ``result``.
    """
    images = images if images is not None else result.images
    if not images:
        raise RuntimeError("No images stored: call cosegmentation_overlays(images=[...], result=result) with the "
                           "images the features came from.")
    labels = result.label_grids(shared_only)
    return [overlay_labels(np.asarray(img), lab, alpha=alpha) for img, lab in zip(images, labels)]


@with_korean_font
def plot_data_efficiency(rows: Sequence[dict[str, Any]], ax: Any = None) -> Any:
    """Test accuracy vs training-set size (log x), mean +- std over seeds, from ``run_data_efficiency`` rows.

    Returns:
        The matplotlib figure (no random-weights note: the rows say the models were trained).
    """
    import matplotlib.pyplot as plt

    from ..data_efficiency import MODEL_LABELS, summarize_data_efficiency

    if ax is None:
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
    else:
        fig = ax.figure
    summary = summarize_data_efficiency(rows)
    for kind, s in summary.items():
        params = next(r["params"] for r in rows if r["model"] == kind)
        ax.errorbar(s["n_train"], s["mean"], yerr=s["std"], marker="o", capsize=3,
                    label=f"{MODEL_LABELS.get(kind, kind)}, {params / 1e3:.1f}k params")
    runs = int(max(max(s["runs"]) for s in summary.values()))
    steps = rows[0]["steps"] if rows else 0
    ax.set_xscale("log")
    ax.set_xlabel("training images (scikit-learn digits, 8x8)")
    ax.set_ylabel("test accuracy (540 held-out images)")
    ax.set_title(f"Measured here: {runs} seed(s), {steps} steps each, trained from scratch", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right")
    return finish(fig, list(rows))
