"""extract_features against timm's / transformers' own outputs; save/load; multi-crop views."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from course_utils.dino import MultiCrop
from course_utils.features import (
    FeatureMismatchError,
    Features,
    extract_features,
    load_features,
    save_features,
)
from course_utils.images import sample_image
from course_utils.models import load_dinov2, load_model


@pytest.fixture(scope="module")
def dino_reg():
    return load_dinov2("dinov2_vits14_reg", tiny=True, device="cpu")


@pytest.fixture(scope="module")
def photos():
    # Mixed sizes on purpose: the cat is 300x451, the coffee 400x600, the camera grayscale 512x512.
    return [sample_image("chelsea"), sample_image("coffee"), sample_image("camera")]


def test_matches_timm_forward_intermediates(dino_reg, photos):
    """CLS and patch grid equal timm's own split of the final-norm tokens (registers dropped)."""
    model, preprocess = dino_reg
    assert model.num_prefix_tokens == 5  # CLS + 4 registers
    feats = extract_features(dino_reg, photos, batch_size=2)
    x = preprocess.batch(photos)
    with torch.no_grad():
        _, inter = model.forward_intermediates(x, indices=1, norm=True, return_prefix_tokens=True)
    spatial, prefix = inter[0]  # (B, D, h, w), (B, 5, D)
    assert feats.grid == (16, 16) == tuple(model.patch_embed.grid_size)
    torch.testing.assert_close(feats.patches, spatial.permute(0, 2, 3, 1), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(feats.cls, prefix[:, 0], rtol=1e-5, atol=1e-5)
    assert feats.model_name == "dinov2_vits14_reg" and feats.tiny and feats.patch_size == 14


def test_batching_does_not_change_features(dino_reg, photos):
    """Batch size 1 and 3 give the same features (no cross-talk between images in a batch)."""
    a = extract_features(dino_reg, photos, batch_size=1)
    b = extract_features(dino_reg, photos, batch_size=3)
    torch.testing.assert_close(a.cls, b.cls, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(a.patches, b.patches, rtol=1e-4, atol=1e-5)


def test_directory_paths_and_tensor_inputs_agree(dino_reg, photos, tmp_path):
    """A directory, a list of paths, PIL images and a preprocessed tensor give the same result."""
    for i, img in enumerate(photos):
        Image.fromarray(img).save(tmp_path / f"{i}.png")
    from_dir = extract_features(dino_reg, tmp_path)
    from_paths = extract_features(dino_reg, sorted(tmp_path.glob("*.png")))
    from_pil = extract_features(dino_reg, [Image.fromarray(im) for im in photos])
    from_tensor = extract_features(dino_reg, dino_reg.preprocess.batch(photos))
    assert [n.rsplit("/", 1)[-1] for n in from_dir.names] == ["0.png", "1.png", "2.png"]
    for other in (from_paths, from_pil, from_tensor):
        torch.testing.assert_close(other.cls, from_dir.cls, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(other.patches, from_dir.patches, rtol=1e-5, atol=1e-5)


def test_dino_v1_grid_is_14x14():
    """DINO ViT-S/16 at 224 px: 14 x 14 patches, one prefix token."""
    model = load_dinov2("dino_vits16", tiny=True, device="cpu")
    feats = extract_features(model, [sample_image("horse")])
    x = model.preprocess.batch([sample_image("horse")])
    with torch.no_grad():
        tokens = model.model.forward_features(x)  # (1, 197, D)
    assert feats.patches.shape[1:3] == (14, 14)
    torch.testing.assert_close(feats.patches.reshape(1, 196, -1), tokens[:, 1:], rtol=1e-5, atol=1e-5)


def test_hf_dinov2_matches_pooler_and_sequence():
    """transformers Dinov2Model: CLS equals its pooler output; patches are the token sequence in raster order."""
    loaded = load_model("dinov2_small_hf", tiny=True, device="cpu")
    imgs = [sample_image("rocket"), sample_image("flower")]
    feats = extract_features(loaded, imgs)
    with torch.no_grad():
        out = loaded.model(pixel_values=loaded.preprocess.batch(imgs))
    torch.testing.assert_close(feats.cls, out.pooler_output, rtol=1e-5, atol=1e-5)
    h, w = feats.grid
    assert (h, w) == (16, 16)
    torch.testing.assert_close(feats.patches[1, 3, 7], out.last_hidden_state[1, 1 + 3 * w + 7], rtol=1e-5, atol=1e-5)


def test_save_load_round_trip_records_model(dino_reg, photos, tmp_path):
    feats = extract_features(dino_reg, dict(zip(["cat", "coffee", "camera"], photos)))
    path = save_features(feats, tmp_path / "db")
    assert path.suffix == ".npz"
    back = load_features(path, expect_model=dino_reg)
    assert back.model_name == "dinov2_vits14_reg" and back.tiny and back.names == ["cat", "coffee", "camera"]
    assert back.grid == feats.grid and back.input_size == feats.input_size
    assert torch.equal(back.cls, feats.cls) and torch.equal(back.patches, feats.patches)
    with pytest.raises(FeatureMismatchError, match="re-extract"):
        load_features(path, expect_model="dinov2_vits14")


def test_mixing_models_is_an_error(dino_reg, photos):
    a = extract_features(dino_reg, photos[:1])
    b = extract_features(load_dinov2("dinov2_vits14", tiny=True, device="cpu"), photos[:1])
    with pytest.raises(FeatureMismatchError, match="different models"):
        Features.concat([a, b])
    both = Features.concat([a, a])
    assert len(both) == 2 and torch.equal(both[1].cls, a.cls)


def test_bad_inputs_have_clear_errors(dino_reg):
    with pytest.raises(ValueError, match="No images"):
        extract_features(dino_reg, [])
    with pytest.raises(ValueError, match="batch_size"):
        extract_features(dino_reg, [sample_image("coins")], batch_size=0)
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        extract_features(dino_reg, torch.zeros(3, 224, 224))
    with pytest.raises(TypeError, match="load_dinov2"):
        extract_features("dinov2_vits14", [sample_image("coins")])


# --------------------------------------------------------------------------- multi-crop


def test_multicrop_views_are_the_recorded_crops():
    """Without photometric changes each view is exactly the PIL resized crop of its box (then flipped)."""
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as TF

    img = sample_image("chelsea")
    mc = MultiCrop(n_local=4, photometric=False)
    views = mc(img, seed=3)
    assert len(views.global_views) == 2 and len(views.local_views) == 4
    pil = Image.fromarray(img)
    area = img.shape[0] * img.shape[1]
    for view, box, flip, size, (lo, hi) in zip(
            views.views, np.concatenate([views.global_boxes, views.local_boxes]), views.flipped,
            [224] * 2 + [96] * 4, [mc.global_scale] * 2 + [mc.local_scale] * 4):
        x0, y0, x1, y1 = (int(v) for v in box)
        assert 0 <= x0 < x1 <= img.shape[1] and 0 <= y0 < y1 <= img.shape[0]
        assert lo * 0.97 <= (x1 - x0) * (y1 - y0) / area <= hi * 1.03
        expected = TF.resized_crop(pil, y0, x0, y1 - y0, x1 - x0, [size, size], InterpolationMode.BICUBIC,
                                   antialias=True)
        if flip:
            expected = TF.hflip(expected)
        np.testing.assert_array_equal(view, np.asarray(expected))


def test_multicrop_is_seeded_and_leaves_global_rng_alone():
    img = sample_image("astronaut")
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = MultiCrop(n_local=2)(img, seed=7)
    after = torch.rand(1)
    b = MultiCrop(n_local=2)(img, seed=7)
    assert torch.equal(before, after)
    assert all(np.array_equal(u, v) for u, v in zip(a.views, b.views))
    assert a.local_views[0].shape == (96, 96, 3) and a.global_views[0].dtype == np.uint8
    with pytest.raises(ValueError, match="global_scale"):
        MultiCrop(global_scale=(0.0, 1.0))
