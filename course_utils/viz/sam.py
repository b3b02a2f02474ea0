"""Figures of the SAM lab: point / box prompt predictions and SAM 3 concept-prompt results.

They draw what they are given (a ``SamPrediction`` or masks, a ``ConceptResult``); the random-weights
note is read from that data (:func:`~course_utils.viz.core.finish`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .core import draw_boxes, draw_points, finish, label_colors, overlay_mask, with_korean_font

__all__ = ["show_sam_prediction", "show_concept"]


@with_korean_font
def show_sam_prediction(image: np.ndarray, masks: Any, scores: Any = None, points: Any = None, labels: Any = None,
                        box: Any = None, title: str | None = None, size: float = 3.2, data: Any = None) -> Any:
    """One panel per SAM mask with its predicted IoU, the prompts drawn on top.

    Args:
        image: HWC uint8 RGB.
        masks: A :class:`~course_utils.sam.SamPrediction` (``session.predict(...)``: its masks, scores and
            ``random_weights`` are used), or (M, H, W) / (H, W) bool masks.
        scores: (M,) predicted IoU, shown in the panel titles; the best panel is starred. Default: the
            prediction's scores.
        points: (N, 2) (x, y) pixel points; ``labels`` (N,) 1 = foreground (green), 0 = background (red).
        box: One XYXY pixel box or None.
        title: A caption under the panels.
        data: What bare masks were computed from (a prediction, a session...), for the note.

    Returns:
        The matplotlib figure (with the random-weights note when the prediction is random).
    """
    import matplotlib.pyplot as plt

    prediction = masks if hasattr(masks, "masks") and hasattr(masks, "scores") else None
    if prediction is not None:
        masks = prediction.masks
        scores = prediction.scores if scores is None else scores
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
    return finish(fig, prediction, data, bottom=0.06 if title else 0.0)


@with_korean_font
def show_concept(image: np.ndarray, result: Any, max_instances: int = 12, size: float = 4.0,
                 title: str | None = None) -> Any:
    """SAM 3 concept-prompt result: all instance masks and boxes on the image, plus a score bar chart.

    Args:
        image: HWC uint8 RGB (the image given to ``segment_concept``).
        result: A :class:`~course_utils.concept.ConceptResult` (masks, boxes, scores, best first).
        max_instances: Draw at most this many (the best-scoring ones).

    Returns:
        The matplotlib figure, with the random-weights note when ``result.random_weights``.
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
    return finish(fig, result, bottom=0.05 if title else 0.0)
