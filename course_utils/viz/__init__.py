"""Drawing for the labs: overlays, heatmaps, masks, points, boxes, labels, and the figures of each lab.

* :mod:`.core` - colours, overlays, points / boxes / patch grid, :func:`show_images`, the random-weights
  note (:func:`mark_random`, :func:`finish`) and Korean fonts (:func:`use_korean_font`);
* :mod:`.vit` - attention maps and rollout, retrieval gallery, few-shot curve, co-segmentation,
  data efficiency;
* :mod:`.sam` - SAM prompt predictions and SAM 3 concept results.

This package draws only: it imports no model code and no torch at import time, and reads whether a
figure shows random weights from the data it is given (``random_weights`` of attention maps,
features, predictions...), never from a global switch. Importing it changes no matplotlib setting
(call :func:`use_korean_font` for that).
"""

from __future__ import annotations

from .core import (
    draw_boxes,
    draw_patch_grid,
    draw_points,
    finish,
    korean_font,
    label_colors,
    mark_random,
    overlay_heatmap,
    overlay_labels,
    overlay_mask,
    overlay_masks,
    rgb_grid_to_image,
    show_images,
    upsample_map,
    use_korean_font,
)
from .sam import show_concept, show_sam_prediction
from .vit import (
    attention_explorer,
    attention_overlay,
    cosegmentation_overlays,
    plot_data_efficiency,
    plot_few_shot,
    show_attention,
    show_attention_heads,
    show_retrieval,
)

__all__ = [
    "upsample_map", "overlay_heatmap", "overlay_mask", "overlay_masks", "draw_points", "draw_boxes",
    "draw_patch_grid", "mark_random", "show_images", "label_colors", "overlay_labels", "rgb_grid_to_image",
    "use_korean_font", "korean_font", "finish",
    "attention_overlay", "show_attention", "show_attention_heads", "attention_explorer", "show_retrieval",
    "plot_few_shot", "cosegmentation_overlays", "plot_data_efficiency",
    "show_sam_prediction", "show_concept",
]
