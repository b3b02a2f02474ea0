"""k-means patch segmentation, PCA-RGB, PCA foreground and co-segmentation on features with known answers."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from course_utils.clustering import cluster_patches, cosegment, foreground_mask, pca_rgb
from course_utils.viz import cosegmentation_overlays, overlay_labels, rgb_grid_to_image


def synthetic(labels: np.ndarray, dim: int = 32, noise: float = 0.05, seed: int = 0) -> np.ndarray:
    """Patch features = one random unit centre per label + small noise, with random per-patch scale."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(labels.max() + 1, dim))
    feats = centres[labels] + noise * rng.normal(size=labels.shape + (dim,))
    return (feats * rng.uniform(0.5, 3.0, size=labels.shape + (1,))).astype(np.float32)


def blocks(h: int = 8, w: int = 8) -> np.ndarray:
    lab = np.zeros((h, w), dtype=int)
    lab[: h // 2, w // 2:] = 1
    lab[h // 2:, : w // 2] = 2
    lab[h // 2:, w // 2:] = 3
    return lab


def test_recovers_known_partition_exactly():
    """Four known clusters on one 8x8 grid: ARI 1.0 (scale per patch is ignored thanks to L2 norm)."""
    truth = blocks()
    pred = cluster_patches(synthetic(truth), k=4, seed=0)
    assert pred.shape == (8, 8)
    assert adjusted_rand_score(truth.ravel(), pred.ravel()) == 1.0


def test_joint_clustering_shares_ids_across_images():
    """Several images are clustered jointly: the same part gets the same id in every image."""
    truth = np.stack([blocks(), np.rot90(blocks()), blocks()[::-1]])
    feats = synthetic(truth, seed=1)
    pred = cluster_patches(feats, k=4, seed=0)
    assert pred.shape == (3, 8, 8)
    assert adjusted_rand_score(truth.ravel(), pred.ravel()) == 1.0


def test_deterministic_and_largest_cluster_first():
    rng = np.random.default_rng(5)
    feats = rng.normal(size=(2, 6, 6, 16)).astype(np.float32)  # no structure: seed matters
    a = cluster_patches(feats, k=5, seed=3)
    b = cluster_patches(feats, k=5, seed=3)
    np.testing.assert_array_equal(a, b)
    counts = np.bincount(a.ravel(), minlength=5)
    assert list(counts) == sorted(counts, reverse=True)
    truth = np.zeros((6, 6), dtype=int)
    truth[:2] = 1  # cluster "1" is the small one: it must be relabelled 1, the big one 0
    np.testing.assert_array_equal(cluster_patches(synthetic(truth), k=2), truth)


def test_bad_k_and_shapes():
    feats = synthetic(blocks(2, 2))
    with pytest.raises(ValueError, match="larger than the number of patches"):
        cluster_patches(feats, k=5)
    with pytest.raises(ValueError, match="positive integer"):
        cluster_patches(feats, k=0)
    with pytest.raises(ValueError, match="features.patches"):
        cluster_patches(np.zeros((4, 16)), k=2)


def test_pca_rgb_channels_follow_principal_axes():
    """Data varying along three known orthogonal axes: R, G, B are affine in the 1st, 2nd, 3rd coordinate."""
    rng = np.random.default_rng(0)
    h = w = 10
    raw = rng.uniform(-1, 1, size=(h * w, 3))
    q = np.linalg.qr(raw - raw.mean(axis=0))[0]  # zero-mean, exactly uncorrelated columns
    coords = q * np.array([90.0, 30.0, 10.0])  # decreasing variance
    basis = np.linalg.qr(rng.normal(size=(64, 3)))[0].T  # (3, 64) orthonormal
    offset = rng.normal(size=64)
    offset -= basis.T @ (basis @ offset)  # orthogonal to the three axes
    offset *= 200 / np.linalg.norm(offset)  # long, so that L2-normalising barely bends the axes
    feats = (coords @ basis + offset).reshape(h, w, 64)
    rgb = pca_rgb(feats)
    assert rgb.shape == (h, w, 3) and rgb.dtype == np.uint8
    for c in range(3):
        channel = rgb[..., c].reshape(-1).astype(float)
        assert channel.min() == 0 and channel.max() == 255
        assert abs(np.corrcoef(channel, coords[:, c])[0, 1]) > 0.99


def test_pca_rgb_with_foreground_blacks_out_background():
    truth = blocks()
    fg = truth > 0
    rgb = pca_rgb(synthetic(truth), foreground=fg)
    assert (rgb[~fg] == 0).all() and rgb[fg].max() == 255
    with pytest.raises(ValueError, match="bool mask"):
        pca_rgb(synthetic(truth), foreground=fg[:4])


def test_foreground_is_the_object_not_the_border():
    """A centred object on a uniform background: PC1 thresholded and oriented by the border prior."""
    truth = np.zeros((2, 10, 10), dtype=int)
    truth[:, 3:7, 2:8] = 1
    truth[1, 3:7, 2:5] = 2  # two object parts in the second image
    feats = synthetic(truth, noise=0.02)
    for sign in (1, -1):  # the PCA sign is arbitrary; the answer must not depend on it
        np.testing.assert_array_equal(foreground_mask(sign * feats), truth > 0)


def test_cosegment_finds_the_shared_parts():
    """Parts 1 and 2 appear in both images, part 3 only in the first: only 1 and 2 are shared."""
    a = np.zeros((8, 8), dtype=int)
    b = np.zeros((8, 8), dtype=int)
    a[2:6, 1:4], a[2:6, 4:7], a[6:8, 2:6] = 1, 2, 3
    b[1:5, 3:6], b[5:7, 2:7] = 1, 2
    truth = np.stack([a, b])
    feats = synthetic(truth, noise=0.02, seed=4)
    result = cosegment(feats, k=3, foreground=truth > 0)
    assert len(result.shared) == 2
    np.testing.assert_array_equal(result.shared_mask, np.isin(truth, [1, 2]))
    fg = truth > 0
    assert adjusted_rand_score(truth[fg], result.labels[fg]) == 1.0
    assert (result.labels[~fg] == -1).all()
    np.testing.assert_allclose(result.shares.sum(axis=1), 1.0)


def test_cosegment_images_end_to_end_and_errors():
    from course_utils.images import sample_image
    from course_utils.models import load_dinov2

    model = load_dinov2("dinov2_vits14", tiny=True, device="cpu")
    imgs = [sample_image("motorcycle_left"), sample_image("motorcycle_right")]
    result = cosegment(imgs, k=3, model=model)
    assert result.labels.shape == (2, 16, 16) and result.foreground.any(axis=(1, 2)).all()
    overlays = cosegmentation_overlays(result)
    assert overlays[0].shape == imgs[0].shape and overlays[0].dtype == np.uint8
    with pytest.raises(ValueError, match="model=load_dinov2"):
        cosegment(imgs, k=3)
    with pytest.raises(ValueError, match="at least two images"):
        cosegment(synthetic(blocks()), k=2)
    with pytest.raises(ValueError, match="foreground patches"):
        cosegment(imgs, k=10_000, model=model)
    with pytest.raises(RuntimeError, match="overlays\\(images="):
        cosegmentation_overlays(cosegment(synthetic(np.stack([blocks(), blocks()])), k=2))


def test_overlay_labels_by_hand():
    """2x2 labels on a 4x4 image at alpha=1: each quadrant takes its colour, -1 stays untouched."""
    image = np.full((4, 4, 3), 7, dtype=np.uint8)
    colors = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255]], dtype=np.uint8)
    out = overlay_labels(image, np.array([[0, 1], [2, -1]]), alpha=1.0, colors=colors)
    np.testing.assert_array_equal(out[:2, :2], np.broadcast_to(colors[0], (2, 2, 3)))
    np.testing.assert_array_equal(out[:2, 2:], np.broadcast_to(colors[1], (2, 2, 3)))
    np.testing.assert_array_equal(out[2:, :2], np.broadcast_to(colors[2], (2, 2, 3)))
    np.testing.assert_array_equal(out[2:, 2:], image[2:, 2:])
    big = rgb_grid_to_image(np.arange(12, dtype=np.uint8).reshape(2, 2, 3), (4, 6))
    np.testing.assert_array_equal(big[0, 0], [0, 1, 2])
    np.testing.assert_array_equal(big[3, 5], [9, 10, 11])
