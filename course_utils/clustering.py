"""Unsupervised segmentation from patch features: k-means, PCA-to-RGB and co-segmentation.

All functions take patch features on the patch grid, (h, w, D) for one image or (B, h, w, D) for
several (a :class:`~course_utils.features.Features` works too), and return results on the same
grid (this module draws nothing: :func:`course_utils.viz.overlay_labels`,
:func:`course_utils.viz.rgb_grid_to_image` and :func:`course_utils.viz.cosegmentation_overlays` upsample
them onto the photos).

The heavy lifting is scikit-learn (``KMeans``, ``PCA``); what is written here is the lesson:
L2-normalise DINO features (their geometry is cosine), cluster patches of several images
*jointly* so that cluster ids mean the same thing in every image, and use the first principal
component to separate foreground from background (Oquab et al. 2023, DINOv2, Fig. 1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["cluster_patches", "pca_rgb", "foreground_mask", "cosegment", "Cosegmentation"]


def _as_grid_features(patch_features: Any) -> tuple[np.ndarray, bool]:
    """-> (B, h, w, D) float32 array and whether the input was a single image."""
    from .features import Features

    if isinstance(patch_features, Features):
        patch_features = patch_features.patches
    if hasattr(patch_features, "detach"):
        patch_features = patch_features.detach().float().cpu().numpy()
    arr = np.asarray(patch_features, dtype=np.float32)
    if arr.ndim == 3:
        return arr[None], True
    if arr.ndim == 4:
        return arr, False
    raise ValueError(f"Patch features must be (h, w, D) or (B, h, w, D), got shape {arr.shape}. "
                     "Pass features.patches (not features.cls).")


def _l2n(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def _check_k(k: int, n_points: int, what: str = "patches") -> None:
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}.")
    if k > n_points:
        raise ValueError(f"k={k} is larger than the number of {what} ({n_points}); choose k <= {n_points} "
                         "(or cluster several images jointly).")


def _kmeans(x: np.ndarray, k: int, seed: int, n_init: int) -> np.ndarray:
    from sklearn.cluster import KMeans

    labels = KMeans(n_clusters=k, random_state=seed, n_init=n_init).fit_predict(x)
    # Canonical ids: 0 is the largest cluster (ties: first in raster order), so that colours are stable.
    ids, first, counts = np.unique(labels, return_index=True, return_counts=True)
    order = ids[np.lexsort((first, -counts))]
    remap = np.empty(k, dtype=np.int64)
    remap[order] = np.arange(len(order))
    return remap[labels]


def cluster_patches(patch_features: Any, k: int, seed: int = 0, normalize: bool = True,
                    n_init: int = 4) -> np.ndarray:
    """k-means on patch features; several images are clustered jointly.

    Args:
        patch_features: (h, w, D) for one image or (B, h, w, D) for several (numpy, torch or
            :class:`~course_utils.features.Features`).
        k: Number of clusters, 1 <= k <= number of patches.
        seed: ``random_state`` of scikit-learn's ``KMeans``: the same seed gives the same labels.
        normalize: L2-normalise each patch feature first (cosine geometry, as DINO features are
            compared).
        n_init: k-means restarts.

    Returns:
        (h, w) int64 label grid for one image, (B, h, w) for several. Label 0 is the largest
        cluster, 1 the next and so on.

    Raises:
        ValueError: wrong shape, or ``k`` larger than the number of patches.
    """
    feats, single = _as_grid_features(patch_features)
    B, h, w, D = feats.shape
    _check_k(k, B * h * w)
    x = feats.reshape(-1, D)
    labels = _kmeans(_l2n(x) if normalize else x, int(k), seed, n_init).reshape(B, h, w)
    return labels[0] if single else labels


def _fit_pca(x: np.ndarray, n: int, seed: int = 0) -> Any:
    from sklearn.decomposition import PCA

    if x.shape[0] < n:
        raise ValueError(f"PCA with {n} components needs at least {n} patches, got {x.shape[0]}.")
    return PCA(n_components=n, svd_solver="full", random_state=seed).fit(x)


def _fit_groups(groups: Any, B: int) -> list[np.ndarray]:
    """Indices of the images that share one PCA fit: all together, one per image, or by label."""
    if groups is None or (isinstance(groups, str) and groups == "joint"):
        return [np.arange(B)]
    if isinstance(groups, str):
        if groups == "image":
            return [np.array([b]) for b in range(B)]
        raise ValueError(f"groups must be 'joint', 'image' or one label per image, got {groups!r}.")
    labels = list(groups)
    if len(labels) != B:
        raise ValueError(f"groups has {len(labels)} labels for {B} images; give one label per image "
                         "(images with the same label share one PCA), or 'image' / 'joint'.")
    order = list(dict.fromkeys(labels))  # first appearance
    return [np.array([b for b, lab in enumerate(labels) if lab == g]) for g in order]


def _foreground_joint(feats: np.ndarray, threshold: float) -> np.ndarray:
    B, h, w, D = feats.shape
    x = _l2n(feats.reshape(-1, D))
    pc1 = _fit_pca(x, 1).transform(x)[:, 0].reshape(B, h, w)
    border = np.zeros((h, w), dtype=bool)
    border[0, :] = border[-1, :] = border[:, 0] = border[:, -1] = True
    if (~border).any() and pc1[:, border].mean() > pc1[:, ~border].mean():
        pc1 = -pc1  # the border (background) should have the low values
    mask = pc1 > threshold * (pc1.std() + 1e-12)
    for b in range(B):
        if not mask[b].any():
            mask[b].flat[np.argmax(pc1[b])] = True
    return mask


def foreground_mask(patch_features: Any, threshold: float = 0.0, groups: Any = None) -> np.ndarray:
    """Foreground patches from the first principal component of the patch features.

    The first component of DINO/DINOv2 patch features usually separates the main object from
    the background. Its sign is arbitrary, so it is oriented with a border prior: the border
    patches of the images are mostly background.

    Args:
        patch_features: (h, w, D) or (B, h, w, D).
        threshold: Patches whose (centred) first component exceeds ``threshold`` times its
            standard deviation are foreground.
        groups: Which images share one PCA: ``None`` / ``"joint"`` (all of them), ``"image"``
            (each image alone) or one label per image (same label = one joint fit, e.g. the two
            motorbike photos). A joint fit over unrelated photos spends PC1 on what tells the
            photos apart instead of object vs background.

    Returns:
        Bool (h, w) or (B, h, w) mask; never empty (the top patch per image is kept at least).
    """
    feats, single = _as_grid_features(patch_features)
    mask = np.zeros(feats.shape[:3], dtype=bool)
    for idx in _fit_groups(groups, feats.shape[0]):
        mask[idx] = _foreground_joint(feats[idx], threshold)
    return mask[0] if single else mask


def _pca_rgb_joint(feats: np.ndarray, fg: np.ndarray | None, seed: int) -> np.ndarray:
    B, h, w, D = feats.shape
    x = _l2n(feats.reshape(-1, D))
    keep = np.ones(len(x), dtype=bool) if fg is None else fg.reshape(-1)
    n_comp = min(3, D)
    comps = _fit_pca(x[keep], n_comp, seed).transform(x)
    lo = comps[keep].min(axis=0)
    hi = comps[keep].max(axis=0)
    scaled = np.clip((comps - lo) / np.maximum(hi - lo, 1e-12), 0, 1)
    if n_comp < 3:
        scaled = np.concatenate([scaled, np.zeros((len(x), 3 - n_comp))], axis=1)
    rgb = np.round(scaled * 255).astype(np.uint8)
    rgb[~keep] = 0
    return rgb.reshape(B, h, w, 3)


def pca_rgb(patch_features: Any, foreground: np.ndarray | None = None, seed: int = 0,
            groups: Any = None) -> np.ndarray:
    """Map the first three principal components of patch features to RGB (DINOv2 paper, Fig. 1).

    Each component is min-max scaled to 0..255 and used as R, G, B. Images fitted together share
    one PCA, so the same colour means the same kind of part in all of them; that only helps when
    they show the same kind of object.

    Args:
        patch_features: (h, w, D) or (B, h, w, D).
        foreground: Optional bool mask (h, w) / (B, h, w): the PCA is fitted on foreground
            patches only and the background is drawn black, as in the paper's figure.
        seed: PCA ``random_state``.
        groups: Which images share one PCA: ``None`` / ``"joint"`` (all, the default),
            ``"image"`` (each image alone: its result equals a PCA fitted on that image only) or
            one label per image (e.g. ``["cat", "moto", "moto"]``: the motorbike pair together).

    Returns:
        (h, w, 3) or (B, h, w, 3) uint8 RGB on the patch grid; upsample with
        :func:`course_utils.viz.rgb_grid_to_image`.
    """
    feats, single = _as_grid_features(patch_features)
    B, h, w, D = feats.shape
    fg = None
    if foreground is not None:
        fg = np.asarray(foreground, dtype=bool)
        if fg.size != B * h * w:
            raise ValueError(f"foreground has {fg.size} entries for {B * h * w} patches; pass a bool mask of shape "
                             f"{(h, w) if single else (B, h, w)}.")
        fg = fg.reshape(B, h, w)
    rgb = np.zeros((B, h, w, 3), dtype=np.uint8)
    for idx in _fit_groups(groups, B):
        rgb[idx] = _pca_rgb_joint(feats[idx], None if fg is None else fg[idx], seed)
    return rgb[0] if single else rgb


@dataclass
class Cosegmentation:
    """Result of :func:`cosegment`.

    Attributes:
        labels: (B, h, w) int64: joint k-means cluster of each foreground patch, -1 on background.
        foreground: (B, h, w) bool foreground patches.
        shared: Cluster ids present in the foreground of every image (sorted).
        shares: (B, k) float: fraction of each image's foreground patches in each cluster.
        images: The images (HWC uint8) when :func:`cosegment` was given images, else empty.
        random_weights: True when the features came from random weights (tiny mode).
    """

    labels: np.ndarray
    foreground: np.ndarray
    shared: list[int]
    shares: np.ndarray
    images: list[np.ndarray] = field(default_factory=list)
    random_weights: bool = False

    @property
    def shared_mask(self) -> np.ndarray:
        """(B, h, w) bool: patches in a shared cluster (the co-segmented object)."""
        return np.isin(self.labels, self.shared)

    def label_grids(self, shared_only: bool = False) -> np.ndarray:
        """(B, h, w) labels to colour: every foreground cluster, or only the shared ones (others -1).

        :func:`course_utils.viz.cosegmentation_overlays` draws them over the images.
        """
        return np.where(self.shared_mask, self.labels, -1) if shared_only else self.labels


def cosegment(images_or_features: Any, k: int, model: Any = None, seed: int = 0,
              foreground: np.ndarray | None = None, min_share: float = 0.05) -> Cosegmentation:
    """Co-segmentation: clusters of object parts shared by the foreground of several images.

    Steps: DINOv2 patch features of every image; foreground from the first principal
    component (:func:`foreground_mask`, unless given); joint k-means over the foreground
    patches of all images; a cluster is *shared* when it holds at least ``min_share`` of the
    foreground of every image (e.g. the wheels and the body of the two motorcycle photos).

    Args:
        images_or_features: A list of images (then pass ``model``) or patch features
            (B, h, w, D) / :class:`~course_utils.features.Features`.
        k: Number of part clusters (1 <= k <= number of foreground patches).
        model: A model from ``load_dinov2`` when images are given.
        seed: k-means seed.
        foreground: Optional (B, h, w) bool mask to use instead of the PCA foreground.
        min_share: Minimum fraction of each image's foreground a shared cluster must cover.

    Returns:
        :class:`Cosegmentation` (labels on the patch grid; ``viz.cosegmentation_overlays(result)`` draws it).

    Raises:
        ValueError: fewer than two images, no model for images, or ``k`` too large.
    """
    from .features import Features, extract_features
    from .tiny import is_random

    images: list[np.ndarray] = []
    random_weights = is_random(images_or_features, model)
    if isinstance(images_or_features, Features) or hasattr(images_or_features, "shape"):
        patches = images_or_features
    else:
        from .images import load_image

        images = [load_image(im) for im in images_or_features]
        if model is None:
            raise ValueError("cosegment(images, k) needs model=load_dinov2(...) to extract features "
                             "(or pass patch features instead of images).")
        if len(images) == 0:
            raise ValueError("No images given: pass at least two images.")
        features = extract_features(model, images)
        patches, random_weights = features.patches, features.random_weights
    feats, single = _as_grid_features(patches)
    if single or len(feats) < 2:
        raise ValueError("cosegment needs at least two images; use cluster_patches for one image.")
    B, h, w, D = feats.shape
    fg = foreground_mask(feats) if foreground is None else np.asarray(foreground, dtype=bool).reshape(B, h, w)
    x = _l2n(feats[fg])
    _check_k(k, len(x), "foreground patches")
    fg_labels = _kmeans(x, int(k), seed, n_init=4)
    labels = np.full((B, h, w), -1, dtype=np.int64)
    labels[fg] = fg_labels
    shares = np.zeros((B, k))
    for b in range(B):
        lab = labels[b][fg[b]]
        shares[b] = np.bincount(lab, minlength=k) / max(len(lab), 1)
    shared = [int(c) for c in np.flatnonzero((shares >= min_share).all(axis=0))]
    return Cosegmentation(labels, fg, shared, shares, images, random_weights)
