"""The computed views the integrated dashboard shows, without any widget code.

Each view does its expensive step once (one forward pass, one feature extraction) and then
answers the dashboard's cheap questions (another layer, another head, another k) from memory.
The widget layer (:mod:`course_utils.widgets.app`) only calls these views and shows the
HWC uint8 pictures they return, so the same logic is tested here without a browser.

A view carries ``random_weights`` copied from the model it was computed with
(:func:`course_utils.tiny.is_random`); ``tiny`` is the same flag under its older name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .images import load_image
from .models import LoadedModel, to_numpy_image
from .tiny import is_random
from .viz import overlay_heatmap, overlay_labels, rgb_grid_to_image

__all__ = ["VitAttentionView", "DinoView", "input_to_image_coords"]


def _model_input(loaded: LoadedModel, image: np.ndarray) -> tuple[Any, np.ndarray]:
    """Preprocess one image; returns the (1, 3, H, W) tensor and the picture the model sees."""
    if loaded.preprocess is None:
        raise ValueError(f"{loaded.name} has no image preprocessing; use a ViT or DINO model.")
    x = loaded.preprocess(image)
    seen = to_numpy_image(x, loaded.preprocess.config["mean"], loaded.preprocess.config["std"])
    return x[None].to(loaded.device), seen


def input_to_image_coords(points: np.ndarray, image_shape: tuple[int, ...], input_size: tuple[int, int],
                          crop_pct: float = 1.0) -> np.ndarray:
    """Map (x, y) pixels of the model input back to the original image.

    timm's eval transform resizes the shorter side to ``input / crop_pct`` and centre-crops
    ``input_size``; this inverts that geometry.

    Args:
        points: (N, 2) (x, y) pixels in the model input.
        image_shape: Shape of the original HWC image.
        input_size: (H, W) of the model input.
        crop_pct: The transform's crop fraction.

    Returns:
        (N, 2) float (x, y) pixels in the original image, clipped to it.
    """
    height, width = image_shape[:2]
    in_h, in_w = input_size
    resized_short = int(np.floor(min(in_h, in_w) / crop_pct))
    scale = min(height, width) / resized_short
    resized_h, resized_w = round(height / scale), round(width / scale)
    top, left = (resized_h - in_h) / 2, (resized_w - in_w) / 2
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    out = np.stack([(pts[:, 0] + left) * scale, (pts[:, 1] + top) * scale], axis=1)
    return np.clip(out, 0, [width - 1, height - 1])


@dataclass
class VitAttentionView:
    """Attention of one image through one ViT: per layer/head maps and rollout, as overlays.

    Build with :meth:`compute` (one forward pass); then every method is cheap.
    """

    seen: np.ndarray  # (H, W, 3) uint8: the model's input picture (after resize + crop)
    maps: Any  # course_utils.attention.AttentionMaps
    random_weights: bool  # the model had random weights (tiny mode)

    @classmethod
    def compute(cls, loaded: LoadedModel, image: Any) -> VitAttentionView:
        from .attention import capture_attention

        x, seen = _model_input(loaded, load_image(image))
        return cls(seen, capture_attention(loaded.model, x), is_random(loaded))

    @property
    def tiny(self) -> bool:
        """The same as ``random_weights``."""
        return self.random_weights

    @property
    def num_layers(self) -> int:
        return self.maps.num_layers

    @property
    def num_heads(self) -> int:
        return self.maps.num_heads

    def head_overlay(self, layer: int, head: int | None = None) -> np.ndarray:
        """CLS-to-patch attention of ``layer`` (0-based) and ``head`` (None: mean) over the input."""
        return overlay_heatmap(self.seen, self.maps.patch_map(layer=layer, head=head))

    def rollout_overlay(self, head_fusion: str = "mean", discard_ratio: float = 0.0) -> np.ndarray:
        """Attention rollout (CLS row) over the input picture."""
        from .rollout import rollout_map

        return overlay_heatmap(self.seen, rollout_map(self.maps, head_fusion, discard_ratio))


@dataclass
class DinoView:
    """DINOv2 patch features of one image plus a small gallery for nearest neighbours."""

    image: np.ndarray  # original HWC uint8 image
    seen: np.ndarray  # model input picture
    features: Any  # course_utils.features.Features: index 0 is the image, then the gallery
    gallery_names: list[str]
    random_weights: bool  # the model had random weights (tiny mode)
    crop_pct: float
    _labels: dict[tuple[int, int], np.ndarray] = field(default_factory=dict, repr=False)

    @classmethod
    def compute(cls, loaded: LoadedModel, image: Any, gallery: Mapping[str, Any] | None = None,
                progress: bool | None = None) -> DinoView:
        from .features import extract_features

        image = load_image(image)
        gallery = dict(gallery or {})
        _, seen = _model_input(loaded, image)
        feats = extract_features(loaded, [image, *gallery.values()], names=["query", *gallery],
                                 progress=progress)
        return cls(image, seen, feats, list(gallery), is_random(loaded),
                   float(loaded.preprocess.config.get("crop_pct", 1.0)))

    @property
    def tiny(self) -> bool:
        """The same as ``random_weights``."""
        return self.random_weights

    @property
    def grid(self) -> tuple[int, int]:
        return tuple(self.features.patches.shape[1:3])  # type: ignore[return-value]

    def pca_picture(self) -> np.ndarray:
        """First three principal components of the patch features as RGB, at input size."""
        from .clustering import pca_rgb

        return rgb_grid_to_image(pca_rgb(self.features.patches[0].numpy()), self.seen.shape[:2])

    def labels(self, k: int, seed: int = 0) -> np.ndarray:
        """k-means label grid (h, w) of the image's patches (cached per k)."""
        from .clustering import cluster_patches

        if (k, seed) not in self._labels:
            self._labels[(k, seed)] = cluster_patches(self.features.patches[0].numpy(), k, seed=seed)
        return self._labels[(k, seed)]

    def kmeans_overlay(self, k: int, seed: int = 0) -> np.ndarray:
        return overlay_labels(self.seen, self.labels(k, seed))

    def neighbours(self, k: int = 5) -> list[tuple[str, float]]:
        """The gallery images most similar to the image (cosine of CLS features), best first."""
        from .retrieval import build_index, search

        if not self.gallery_names:
            return []
        index = build_index(self.features.cls[1:])
        scores, idx = search(index, self.features.cls[:1], k=min(k, len(self.gallery_names)))
        return [(self.gallery_names[int(i)], float(s)) for s, i in zip(scores[0], idx[0])]

    def cluster_seed_points(self, k: int, positive: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Point prompts for SAM from the k-means clusters: one point per cluster.

        The point of a cluster is its most typical patch (the patch whose normalised feature is
        closest to the cluster's mean direction), so it always lies inside the cluster even when
        the cluster is ring-shaped. The chosen cluster's point is positive (label 1), the
        others negative (0).

        Returns:
            coords (k', 2) float (x, y) pixels of the original image, labels (k',) int.
        """
        labels = self.labels(k, seed)
        if not 0 <= positive < k:
            raise ValueError(f"positive cluster {positive} is out of range 0..{k - 1}.")
        feats = self.features.patches[0].numpy().reshape(-1, self.features.patches.shape[-1])
        feats = feats / np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-12)
        flat = labels.reshape(-1)
        h, w = self.grid
        in_h, in_w = self.seen.shape[:2]
        points, point_labels = [], []
        for c in np.unique(flat):
            members = np.flatnonzero(flat == c)
            mean = feats[members].mean(0)
            best = members[int(np.argmax(feats[members] @ mean))]
            row, col = divmod(int(best), w)
            points.append(((col + 0.5) * in_w / w, (row + 0.5) * in_h / h))
            point_labels.append(1 if c == positive else 0)
        coords = input_to_image_coords(np.array(points), self.image.shape, (in_h, in_w), self.crop_pct)
        return coords.astype(np.float32), np.array(point_labels, dtype=np.int64)
