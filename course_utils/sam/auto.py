"""SAM "everything mode": segment-anything's ``SamAutomaticMaskGenerator`` with presets that fit the hardware."""

from __future__ import annotations

from typing import Any

from segment_anything import SamAutomaticMaskGenerator, SamPredictor

from ..images import load_image
from .session import SamSession

__all__ = ["AUTO_PRESETS", "AutoMasks", "auto_masks"]

#: Settings of :func:`auto_masks` on top of ``SamAutomaticMaskGenerator``'s defaults (which were chosen
#: for ViT-H on a GPU). ``points_per_batch`` is an upper bound: it is lowered for large images so that
#: one batch of full-resolution mask logits stays within ``mask_budget_mb``.
AUTO_PRESETS: dict[str, dict[str, Any]] = {
    # 16 x 16 = 256 prompts instead of 1024: 4x fewer decoder runs, so a ViT-B run on a laptop CPU
    # takes about the encoder time plus a minute instead of many minutes; fewer, larger masks.
    "cpu": {"points_per_side": 16, "points_per_batch": 32, "crop_n_layers": 0, "mask_budget_mb": 512},
    # segment-anything's defaults (32 x 32 prompts); batches of 64 prompts = 192 mask logits at image
    # resolution, capped at 4 GB so that ViT-H (2.5 GB of weights) fits a 16 GB card with headroom.
    "gpu": {"points_per_side": 32, "points_per_batch": 64, "crop_n_layers": 0, "mask_budget_mb": 4096},
}


class AutoMasks(list):
    """The records :func:`auto_masks` returns (a list of segment-anything's dicts), with ``random_weights``.

    Attributes:
        random_weights: True when the model that made the masks had random weights (tiny mode).
    """

    random_weights: bool = False


def _points_per_batch(limit: int, image_shape: tuple[int, ...], budget_mb: float) -> int:
    # One prompt yields 3 float32 mask logits at full image resolution (plus their bool copies).
    per_point = 3 * image_shape[0] * image_shape[1] * (4 + 1)
    return int(max(1, min(limit, budget_mb * 1e6 // per_point)))


def auto_masks(session_or_model: Any, image: Any, preset: str = "cpu", **overrides: Any) -> AutoMasks:
    """"Everything mode": segment-anything's ``SamAutomaticMaskGenerator`` with presets that fit the hardware.

    Args:
        session_or_model: A :class:`SamSession` (its embedding cache is used and its current image is
            restored afterwards) or a SAM model (``load_sam(...)``).
        image: HWC uint8 RGB image (anything ``load_image`` accepts).
        preset: ``"cpu"`` (16x16 prompt grid, batches of at most 32), ``"gpu"`` (segment-anything's
            defaults: 32x32 grid, batches of at most 64) or ``"auto"`` (by the model's device).
        **overrides: Any ``SamAutomaticMaskGenerator`` argument (``pred_iou_thresh``,
            ``stability_score_thresh``, ``points_per_side``, ``min_mask_region_area``...).

    Returns:
        segment-anything's records (``segmentation`` bool (H, W), ``area``, ``bbox`` XYWH,
        ``predicted_iou``, ``stability_score``, ``point_coords``, ``crop_box``), sorted by area, largest
        first, as an :class:`AutoMasks` list (``records.random_weights``); draw them with
        ``viz.overlay_masks(image, records)``.
    """
    session = session_or_model if isinstance(session_or_model, SamSession) else SamSession(session_or_model)
    if not isinstance(session.predictor, SamPredictor):
        raise TypeError("auto_masks runs segment-anything's SamAutomaticMaskGenerator: use a SAM model "
                        "(load_sam('sam_vit_b')); SAM 2 / EdgeTAM sessions take point and box prompts.")
    if preset == "auto":
        preset = "gpu" if session.device.type == "cuda" else "cpu"
    if preset not in AUTO_PRESETS:
        raise ValueError(f"Unknown preset {preset!r}; choose 'cpu', 'gpu' or 'auto'.")
    rgb = load_image(image)
    settings = {**AUTO_PRESETS[preset], **overrides}
    budget = settings.pop("mask_budget_mb")
    settings["points_per_batch"] = _points_per_batch(int(settings["points_per_batch"]), rgb.shape, budget)
    if settings.get("output_mode", "binary_mask") != "binary_mask":
        raise ValueError("auto_masks returns binary masks; call SamAutomaticMaskGenerator directly for RLE output.")
    generator = SamAutomaticMaskGenerator(session.model, **settings)
    generator.predictor = session.predictor  # cached set_image for the image and its crops
    previous = session.image
    try:
        records = generator.generate(rgb)
    finally:
        session.reset_image()
        if previous is not None:  # restore the session's image (a cache hit)
            session.set_image(previous)
    records.sort(key=lambda r: -int(r["area"]))
    out = AutoMasks(records)
    out.random_weights = session.random_weights
    return out
