"""PCA-RGB and the PC1 foreground per image or per group, against scikit-learn fitted on each group."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.decomposition import PCA

from course_utils.clustering import foreground_mask, pca_rgb


def _features(seed: int = 0) -> np.ndarray:
    """Four 'photos' whose patch features live in different subspaces (like unrelated pictures)."""
    rng = np.random.default_rng(seed)
    B, h, w, D = 4, 6, 7, 32
    feats = rng.normal(size=(B, h, w, D)).astype(np.float32)
    feats[0] += 6 * rng.normal(size=D)  # image 0 sits far from the others: a joint PC1 separates it
    return feats


def _sklearn_rgb(x: np.ndarray) -> np.ndarray:
    """The oracle: L2-normalise, sklearn PCA(3) fitted on exactly these patches, min-max to 0..255."""
    flat = x.reshape(-1, x.shape[-1]).astype(np.float32)
    flat = flat / np.maximum(np.linalg.norm(flat, axis=-1, keepdims=True), 1e-12)
    comps = PCA(n_components=3, svd_solver="full", random_state=0).fit(flat).transform(flat)
    scaled = (comps - comps.min(0)) / (comps.max(0) - comps.min(0))
    return np.round(scaled * 255).astype(np.uint8).reshape(*x.shape[:-1], 3)


def test_per_image_pca_equals_sklearn_fitted_on_that_image_alone():
    feats = _features()
    rgb = pca_rgb(feats, groups="image")
    for b in range(len(feats)):
        np.testing.assert_array_equal(rgb[b], _sklearn_rgb(feats[b]))
        np.testing.assert_array_equal(rgb[b], pca_rgb(feats[b]))
    joint = pca_rgb(feats)  # the default joint fit differs: its axes are shared by all four images
    assert not np.array_equal(joint[1], rgb[1])


def test_groups_fit_the_labelled_images_together():
    feats = _features(1)
    labels = ["cat", "moto", "moto", "astronaut"]
    rgb = pca_rgb(feats, groups=labels)
    np.testing.assert_array_equal(rgb[[1, 2]], _sklearn_rgb(feats[[1, 2]]))
    np.testing.assert_array_equal(rgb[0], _sklearn_rgb(feats[0]))
    np.testing.assert_array_equal(rgb[3], _sklearn_rgb(feats[3]))


def test_per_image_foreground_equals_single_image_calls():
    feats = _features(2)
    masks = foreground_mask(feats, groups="image")
    for b in range(len(feats)):
        np.testing.assert_array_equal(masks[b], foreground_mask(feats[b]))


def test_foreground_and_groups_together_and_errors():
    feats = _features(3)
    fg = foreground_mask(feats, groups="image")
    rgb = pca_rgb(feats, foreground=fg, groups="image")
    assert (rgb[~fg] == 0).all()
    np.testing.assert_array_equal(rgb[2], pca_rgb(feats[2], foreground=fg[2]))
    with pytest.raises(ValueError, match="one label per image"):
        pca_rgb(feats, groups=["a", "b"])
    with pytest.raises(ValueError, match="'joint', 'image'"):
        foreground_mask(feats, groups="category")
