"""capture_attention equals attention computed independently, leaves models untouched, and
explains bad input."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import timm
import torch
import transformers as tf

from course_utils.attention import AttentionMaps, attention_blocks, capture_attention
from course_utils.models import load_model

TIMM_MODELS = ["vit_base", "deit_small", "dino_vits16", "dinov2_vits14", "dinov2_vits14_reg"]


def _all_hooks(model: torch.nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def _timm_eager_reference(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """timm's own non-fused path: fused_attn=False on a copy, read the softmax at attn_drop."""
    ref = copy.deepcopy(model)
    weights = []
    for block in ref.blocks:
        block.attn.fused_attn = False
        block.attn.attn_drop.register_forward_hook(lambda m, a, out: weights.append(out))
    with torch.no_grad():
        ref(x)
    return torch.stack(weights, dim=1)


@pytest.fixture(scope="module")
def image_batch():
    g = torch.Generator().manual_seed(0)
    return torch.randn(2, 3, 224, 224, generator=g)


@pytest.mark.parametrize("name", TIMM_MODELS)
def test_timm_fused_capture_equals_eager_softmax(name, image_batch):
    loaded = load_model(name, tiny=True)
    model = loaded.model
    assert all(b.attn.fused_attn for b in model.blocks), "the test is meant for fused (SDPA) models"
    with torch.no_grad():
        before = model(image_batch)
    maps = capture_attention(loaded, image_batch)
    expected = _timm_eager_reference(model, image_batch)
    torch.testing.assert_close(maps.attn, expected, rtol=1e-4, atol=1e-6)
    # rows are probability distributions
    torch.testing.assert_close(maps.attn.sum(-1), torch.ones(maps.attn.shape[:-1]))
    # the model is left exactly as it was, and its output was not changed by the capture
    assert _all_hooks(model) == 0
    assert all(b.attn.fused_attn for b in model.blocks)
    torch.testing.assert_close(maps.output, before, rtol=0, atol=0)
    with torch.no_grad():
        torch.testing.assert_close(model(image_batch), before, rtol=0, atol=0)
    # layout: CLS (+ registers) and the patch grid
    spec_prefix = 5 if name.endswith("_reg") else 1
    grid = (16, 16) if name.startswith("dinov2") else (14, 14)
    assert maps.num_prefix_tokens == spec_prefix and maps.grid == grid
    assert maps.attn.shape == (2, len(model.blocks), model.blocks[0].attn.num_heads,
                               spec_prefix + grid[0] * grid[1], spec_prefix + grid[0] * grid[1])
    assert attention_blocks(model) == len(model.blocks)


def test_capture_equals_hand_computed_q_k_of_one_block():
    """Recompute softmax(q k^T / sqrt(d)) by hand from the block's own qkv weights."""
    torch.manual_seed(0)
    model = timm.create_model("vit_tiny_patch16_224", img_size=32, embed_dim=12, depth=3, num_heads=3,
                              reg_tokens=2, num_classes=5).eval()
    x = torch.randn(1, 3, 32, 32)
    block = model.blocks[1]
    seen = {}
    handle = block.norm1.register_forward_hook(lambda m, a, out: seen.setdefault("h", out))
    with torch.no_grad():
        model(x)
    handle.remove()
    h = seen["h"][0]  # (N, C)
    n, c = h.shape
    w, b = block.attn.qkv.weight, block.attn.qkv.bias
    qkv = (h @ w.T + b).reshape(n, 3, 3, c // 3)  # (N, 3, H, d)
    q, k = qkv[:, 0].transpose(0, 1), qkv[:, 1].transpose(0, 1)  # (H, N, d)
    by_hand = torch.softmax(q @ k.transpose(-2, -1) / (c // 3) ** 0.5, dim=-1)
    maps = capture_attention(model, x)
    assert maps.num_prefix_tokens == 3 and maps.grid == (2, 2)
    torch.testing.assert_close(maps.attn[0, 1], by_hand.detach(), rtol=1e-5, atol=1e-6)


def _hf_eager_reference(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """transformers' own attention weights: eager implementation + output_attentions=True."""
    old = model.config._attn_implementation
    model.set_attn_implementation("eager")
    try:
        with torch.no_grad():
            out = model(pixel_values=x, output_attentions=True)
    finally:
        model.set_attn_implementation(old)
    return torch.stack(out.attentions, dim=1)


def _tiny_dinov2_registers() -> torch.nn.Module:
    torch.manual_seed(0)
    config = tf.Dinov2WithRegistersConfig(hidden_size=24, num_hidden_layers=3, num_attention_heads=3,
                                          image_size=56, patch_size=14, num_register_tokens=4)
    return tf.Dinov2WithRegistersModel(config).eval()


@pytest.mark.parametrize("name", ["vit_base_hf", "dinov2_small_hf", "dinov2_registers"])
def test_hf_sdpa_capture_equals_eager_output_attentions(name, image_batch):
    model = _tiny_dinov2_registers() if name == "dinov2_registers" else load_model(name, tiny=True).model
    x = image_batch[:, :, :56, :56] if name == "dinov2_registers" else image_batch
    assert model.config._attn_implementation == "sdpa"
    with torch.no_grad():
        before = model(pixel_values=x)
    maps = capture_attention(model, x)
    assert model.config._attn_implementation == "sdpa" and _all_hooks(model) == 0
    expected = _hf_eager_reference(model, x)
    torch.testing.assert_close(maps.attn, expected, rtol=1e-4, atol=1e-6)
    leaf = "logits" if name == "vit_base_hf" else "last_hidden_state"
    torch.testing.assert_close(getattr(maps.output, leaf), getattr(before, leaf), rtol=0, atol=0)
    prefix = 5 if name == "dinov2_registers" else 1
    assert maps.num_prefix_tokens == prefix
    assert maps.grid == {"vit_base_hf": (14, 14), "dinov2_small_hf": (16, 16), "dinov2_registers": (4, 4)}[name]


def test_maps_for_display():
    g = torch.Generator().manual_seed(3)
    attn = torch.rand(1, 2, 3, 2 + 6, 8, generator=g).softmax(-1)  # CLS + 1 register + 2x3 grid
    maps = AttentionMaps(attn=attn, num_prefix_tokens=2, grid=(2, 3))
    np.testing.assert_allclose(maps.patch_map(layer=1, head=2), attn[0, 1, 2, 0, 2:].reshape(2, 3).numpy())
    np.testing.assert_allclose(maps.patch_map(layer=-1), attn[0, 1, :, 0, 2:].mean(0).reshape(2, 3).numpy(),
                               rtol=1e-6)
    np.testing.assert_allclose(maps.patch_map(layer=0, head=1, query=1),  # the register token's view
                               attn[0, 0, 1, 1, 2:].reshape(2, 3).numpy())
    np.testing.assert_allclose(maps.head_maps(layer=0), attn[0, 0, :, 0, 2:].reshape(3, 2, 3).numpy())
    np.testing.assert_allclose(maps.prefix_share(layer=0),
                               attn[0, 0].mean(0)[2:, :2].sum(-1).reshape(2, 3).numpy(), rtol=1e-6)
    assert maps.num_registers == 1 and maps.num_layers == 2 and maps.num_heads == 3
    with pytest.raises(IndexError, match="out of range.*0..1"):
        maps.patch_map(layer=2)
    with pytest.raises(IndexError, match="head 3"):
        maps.patch_map(layer=0, head=3)
    with pytest.raises(TypeError, match="int"):
        maps.layer(1.0)


def test_bad_input_is_explained():
    loaded = load_model("vit_base", tiny=True)
    with pytest.raises(ValueError, match=r"takes 224x224 inputs, got 160x160.*preprocess"):
        capture_attention(loaded, torch.randn(1, 3, 160, 160))
    with pytest.raises(TypeError, match="preprocess"):
        capture_attention(loaded, np.zeros((224, 224, 3), np.uint8))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        capture_attention(loaded, torch.zeros(1, 1, 3, 224, 224))
    with pytest.raises(TypeError, match="Vision Transformer"):
        capture_attention(timm.create_model("resnet18"), torch.randn(1, 3, 224, 224))
    with pytest.raises(TypeError, match="Vision Transformer"):
        capture_attention(torch.nn.Linear(3, 3), torch.randn(1, 3, 224, 224))
    hf = load_model("vit_base_hf", tiny=True)
    with pytest.raises(ValueError, match="takes 224x224 inputs"):
        capture_attention(hf, torch.randn(1, 3, 192, 192))
    # a single (3, H, W) image is accepted
    assert capture_attention(loaded, torch.randn(3, 224, 224)).attn.shape[0] == 1
    assert _all_hooks(loaded.model) == 0


def _small_maps(random_weights: bool = True) -> AttentionMaps:
    g = torch.Generator().manual_seed(4)
    attn = torch.rand(1, 3, 2, 2 + 12, 14, generator=g).softmax(-1)  # CLS + 1 register + 3x4 grid
    return AttentionMaps(attn=attn, num_prefix_tokens=2, grid=(3, 4), random_weights=random_weights)


def test_attention_figures_and_overlays():
    from course_utils.rollout import rollout_map
    from course_utils.viz import attention_overlay, overlay_heatmap, show_attention, show_attention_heads

    maps = _small_maps()
    image = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    direct = overlay_heatmap(image, maps.attn[0, 1, 1, 0, 2:].reshape(3, 4).numpy(), alpha=0.6, cmap="inferno")
    np.testing.assert_array_equal(attention_overlay(image, maps, layer=1, head=1), direct)
    fig = show_attention(image, maps, layers=(0, 2))
    assert len(fig.axes) == 4  # input, two layers, rollout
    assert fig.axes[3].images[0].get_array().shape == (48, 64, 3)
    np.testing.assert_array_equal(np.asarray(fig.axes[3].images[0].get_array()),
                                  overlay_heatmap(image, rollout_map(maps), alpha=0.6, cmap="inferno"))
    assert "layer 3 (index 2)" in fig.axes[2].get_title()
    assert any("RANDOM WEIGHTS" in t.get_text() for t in fig.texts)
    clean = show_attention(image, _small_maps(False), layers=0, rollout=False)
    assert len(clean.axes) == 2 and not any("RANDOM" in t.get_text() for t in clean.texts)
    grid = show_attention_heads(image, maps, layer=-1, query=1)
    assert sum(1 for ax in grid.axes if ax.images) == 2
    assert "register 1" in grid._suptitle.get_text()
    with pytest.raises(IndexError):
        show_attention(image, maps, layers=(3,))


def test_attention_explorer_follows_its_controls():
    from course_utils.rollout import rollout_map
    from course_utils.viz import attention_explorer, overlay_heatmap

    maps = _small_maps()
    image = np.random.default_rng(1).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    box = attention_explorer(image, maps)
    c = box.controls
    np.testing.assert_array_equal(box.current_image, overlay_heatmap(image, maps.patch_map(2), 0.6, "inferno"))
    c["layer"].value, c["head"].value, c["query"].value = 0, 1, 1
    np.testing.assert_array_equal(box.current_image,
                                  overlay_heatmap(image, maps.patch_map(0, 1, query=1), 0.6, "inferno"))
    c["rollout"].value = True
    np.testing.assert_array_equal(box.current_image,
                                  overlay_heatmap(image, rollout_map(maps, query=1), 0.6, "inferno"))
    assert c["layer"].disabled and box.children[0].value.count("RANDOM WEIGHTS") == 1


def test_dynamic_size_timm_model_gets_its_grid_from_the_input():
    torch.manual_seed(0)
    model = timm.create_model("vit_small_patch14_reg4_dinov2", img_size=224, embed_dim=24, depth=2, num_heads=6,
                              dynamic_img_size=True).eval()
    x = torch.randn(1, 3, 140, 98)
    maps = capture_attention(model, x)
    assert maps.grid == (10, 7) and maps.num_prefix_tokens == 5 and maps.num_tokens == 5 + 70
    torch.testing.assert_close(maps.attn, _timm_eager_reference(model, x), rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="multiple of the patch size"):
        capture_attention(model, torch.randn(1, 3, 141, 98))
