"""Video object segmentation scores as the DAVIS 2017 benchmark defines them: J, F and J&F.

* **J** (region similarity) is the IoU of the predicted and true masks; DAVIS counts a frame where both
  masks are empty as J = 1.
* **F** (contour accuracy) compares the two masks' one-pixel boundary maps: precision is the share of
  predicted boundary pixels within ``r`` pixels of a true boundary pixel, recall the converse, and
  F = 2PR / (P + R). The tolerance is ``r = ceil(bound_th * ||(H, W)||)`` pixels with ``bound_th = 0.008``
  (3 px at 480 x 854) and "within" means inside a disk of radius ``r`` (a morphological dilation).
  A boundary pixel is a pixel whose value differs from its right, lower or lower-right neighbour, so a
  k x k square has exactly 4k boundary pixels (the ring offset half a pixel towards the origin).
  Edge cases as DAVIS: both boundaries empty -> P = R = 1; only the prediction's empty -> P = 1, R = 0;
  only the truth's empty -> P = 0, R = 1; P + R = 0 -> F = 0.
* **J&F** is the mean of the clip's mean J and mean F.

Written from the definitions in davisvideochallenge/davis2017-evaluation ``davis2017/metrics.py``
(read 2026-12-01); tests/test_video.py checks them on hand-worked masks.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["jaccard", "boundary_map", "boundary_tolerance", "f_measure", "evaluate_masks"]


def _pair(pred: Any, gt: Any) -> tuple[np.ndarray, np.ndarray]:
    p, g = np.asarray(pred).astype(bool), np.asarray(gt).astype(bool)
    if p.shape != g.shape:
        raise ValueError(f"Predicted mask {p.shape} and ground truth {g.shape} must have the same shape.")
    return p, g


def jaccard(pred: Any, gt: Any) -> float:
    """Region similarity J = |pred & gt| / |pred | gt| of two (H, W) bool masks; 1.0 if both are empty."""
    p, g = _pair(pred, gt)
    union = np.logical_or(p, g).sum()
    return 1.0 if union == 0 else float(np.logical_and(p, g).sum() / union)


def boundary_map(mask: Any) -> np.ndarray:
    """(H, W) bool map of the pixels whose value differs from the right, lower or lower-right neighbour
    (pixels beyond the image count as background; the last row compares to the right only, the last column
    to the pixel below only, and the bottom-right pixel is never a boundary), as DAVIS does."""
    m = np.asarray(mask).astype(bool)
    right = np.zeros_like(m)
    down = np.zeros_like(m)
    diag = np.zeros_like(m)
    right[:, :-1] = m[:, 1:]
    down[:-1, :] = m[1:, :]
    diag[:-1, :-1] = m[1:, 1:]
    b = (m ^ right) | (m ^ down) | (m ^ diag)
    b[-1, :] = m[-1, :] ^ right[-1, :]
    b[:, -1] = m[:, -1] ^ down[:, -1]
    b[-1, -1] = False
    return b


def boundary_tolerance(shape: tuple[int, ...], bound_th: float = 0.008) -> int:
    """Tolerance radius in pixels: ``bound_th`` itself if >= 1, else ceil(bound_th * image diagonal)."""
    if bound_th >= 1:
        return int(bound_th)
    return int(math.ceil(bound_th * math.hypot(shape[0], shape[1])))


def _dilate(bmap: np.ndarray, radius: int) -> np.ndarray:
    from scipy.ndimage import binary_dilation
    from skimage.morphology import disk

    if radius <= 0:
        return bmap
    return binary_dilation(bmap, structure=disk(radius).astype(bool))


def f_measure(pred: Any, gt: Any, bound_th: float = 0.008) -> float:
    """Boundary F-measure of two (H, W) bool masks with the DAVIS tolerance (see the module docstring)."""
    p, g = _pair(pred, gt)
    pb, gb = boundary_map(p), boundary_map(g)
    n_p, n_g = int(pb.sum()), int(gb.sum())
    if n_p == 0 and n_g == 0:
        precision = recall = 1.0
    elif n_p == 0:
        precision, recall = 1.0, 0.0
    elif n_g == 0:
        precision, recall = 0.0, 1.0
    else:
        radius = boundary_tolerance(p.shape, bound_th)
        precision = float((pb & _dilate(gb, radius)).sum() / n_p)
        recall = float((gb & _dilate(pb, radius)).sum() / n_g)
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def evaluate_masks(pred: Any, gt: Any, skip_first_last: bool = False,
                   bound_th: float = 0.008) -> dict[str, Any]:
    """J, F and J&F of one object over a clip.

    Args:
        pred: (T, H, W) bool predicted masks.
        gt: (T, H, W) bool true masks.
        skip_first_last: Leave out the first and last frame, as DAVIS's semi-supervised protocol does
            (the first frame is the given annotation there).
        bound_th: Boundary tolerance (fraction of the diagonal, or pixels if >= 1).

    Returns:
        ``{"J": per-frame J (T',), "F": per-frame F (T',), "J_mean", "F_mean", "JF_mean"}``.
    """
    p, g = _pair(pred, gt)
    if p.ndim != 3:
        raise ValueError(f"evaluate_masks takes (T, H, W) stacks of masks, got shape {p.shape}.")
    if skip_first_last:
        if len(p) < 3:
            raise ValueError("skip_first_last needs at least 3 frames.")
        p, g = p[1:-1], g[1:-1]
    j = np.array([jaccard(a, b) for a, b in zip(p, g)])
    f = np.array([f_measure(a, b, bound_th) for a, b in zip(p, g)])
    return {"J": j, "F": f, "J_mean": float(j.mean()), "F_mean": float(f.mean()),
            "JF_mean": float((j.mean() + f.mean()) / 2)}
