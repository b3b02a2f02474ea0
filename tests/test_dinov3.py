"""DINOv3 (timm Eva with RoPE, 4 registers, patch 16) through the kit's unchanged features / attention / retrieval code.

Oracles: timm's own forward (``forward_features`` / ``forward_intermediates``), timm's eager attention
softmax (the tensor its ``attn_drop`` receives when fused attention is off), scikit-learn's k-means
and exact cosine search by hand.
"""

from __future__ import annotations

import numpy as np
import pytest
import timm
import torch

from course_utils import models
from course_utils.attention import capture_attention
from course_utils.clustering import cluster_patches, pca_rgb
from course_utils.features import extract_features
from course_utils.images import sample_image
from course_utils.models import load_dinov2, load_dinov3
from course_utils.retrieval import build_index, search


@pytest.fixture(scope="module")
def dino3():
    return load_dinov3("dinov3_vits16", tiny=True, device="cpu")


@pytest.fixture(scope="module")
def photos():
    return [sample_image("chelsea"), sample_image("coffee"), sample_image("camera")]


@pytest.mark.parametrize("name, arch", [("dinov3_vits16", "vit_small_patch16_dinov3"),
                                        ("dinov3_vitb16", "vit_base_patch16_dinov3")])
def test_registry_rows_match_timm_architecture(name, arch):
    """Parameter counts equal timm's DINOv3 architecture (meta device); licence and tag recorded."""
    spec = models.REGISTRY[name]
    with torch.device("meta"):
        model = timm.create_model(spec.ref, pretrained=False)
    assert sum(p.numel() for p in model.parameters()) / 1e6 == pytest.approx(spec.params_m, abs=0.01)
    assert spec.ref.startswith(arch) and spec.ref.endswith(".lvd1689m")
    assert spec.licence == "DINOv3 License" and model.pretrained_cfg["license"] == "dinov3-license"


def test_tiny_dinov3_keeps_the_family(dino3):
    """Tiny DINOv3: same timm class, depth, heads, patch 16, CLS + 4 registers, RoPE, preprocessing from its cfg."""
    model, preprocess = dino3
    full = timm.create_model("vit_small_patch16_dinov3", pretrained=False, embed_dim=24)
    assert type(model) is type(full) and len(model.blocks) == 12 and model.blocks[0].attn.num_heads == 6
    assert model.num_prefix_tokens == 5 and model.reg_token.shape[1] == 4 and model.rope is not None
    assert tuple(model.patch_embed.patch_size) == (16, 16)
    cfg = timm.models.get_pretrained_cfg("vit_small_patch16_dinov3.lvd1689m").to_dict()
    assert preprocess.input_size == tuple(cfg["input_size"][1:]) == (256, 256)
    assert tuple(preprocess.config["mean"]) == tuple(cfg["mean"]) and preprocess.config["interpolation"] == "bicubic"
    assert dino3.tiny and "RANDOM" in dino3.weights_note


def test_features_equal_timm_forward(dino3, photos):
    """CLS and the 16x16 patch grid are timm's final-norm tokens with the 4 registers dropped."""
    model, preprocess = dino3
    feats = extract_features(dino3, photos, batch_size=2)
    x = preprocess.batch(photos)
    with torch.no_grad():
        tokens = model.forward_features(x)  # (B, 5 + 256, D)
        _, inter = model.forward_intermediates(x, indices=1, norm=True, return_prefix_tokens=True)
    spatial, prefix = inter[0]
    assert tokens.shape[1] == 5 + 16 * 16 and feats.grid == (16, 16) and feats.patch_size == 16
    torch.testing.assert_close(feats.cls, tokens[:, 0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(feats.patches.reshape(3, 256, -1), tokens[:, 5:], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(feats.patches, spatial.permute(0, 2, 3, 1), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(feats.cls, prefix[:, 0], rtol=1e-5, atol=1e-5)


def test_high_resolution_input_gives_a_larger_grid(dino3):
    """DINOv3 takes any multiple of 16 (RoPE, no fixed position table): 320x224 -> 20x14 patches."""
    x = torch.randn(1, 3, 320, 224)
    feats = extract_features(dino3, x)
    with torch.no_grad():
        tokens = dino3.model.forward_features(x)
    assert feats.grid == (20, 14) and feats.input_size == (320, 224)
    torch.testing.assert_close(feats.patches.reshape(1, 280, -1), tokens[:, 5:], rtol=1e-5, atol=1e-5)


def _eager_attention(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """timm's own softmax weights: fused attention off, read what each block feeds to attn_drop."""
    got, handles, fused = [], [], []
    for block in model.blocks:
        fused.append(block.attn.fused_attn)
        block.attn.fused_attn = False
        handles.append(block.attn.attn_drop.register_forward_hook(lambda m, i, o: got.append(o.detach())))
    try:
        with torch.no_grad():
            model.forward_features(x)
    finally:
        for block, f in zip(model.blocks, fused):
            block.attn.fused_attn = f
        for h in handles:
            h.remove()
    return torch.stack(got, dim=1)  # (B, L, H, N, N)


def test_attention_capture_includes_rope(dino3):
    """capture_attention on fused DINOv3 equals timm's eager softmax, which needs the RoPE rotation of q and k."""
    import copy

    model = copy.deepcopy(dino3.model)
    with torch.no_grad():  # sharpen the random attention so that the rotation visibly matters
        for block in model.blocks:
            block.attn.qkv.weight.mul_(25.0)
    assert model.blocks[0].attn.fused_attn  # the default fast path: no attention matrix is materialised
    x = torch.randn(2, 3, 256, 192)
    maps = capture_attention(model, x)
    ref = _eager_attention(model, x)
    assert maps.num_prefix_tokens == 5 and maps.grid == (16, 12)
    torch.testing.assert_close(maps.attn, ref, rtol=1e-4, atol=1e-5)
    # Without the rotation the first block's weights differ: the comparison can tell RoPE from no RoPE.
    attn = model.blocks[0].attn
    with torch.no_grad():
        tokens, _ = model._pos_embed(model.patch_embed(x))
        h = model.blocks[0].norm1(model.norm_pre(tokens))
        q, k, _ = attn.qkv(h).reshape(2, h.shape[1], 3, attn.num_heads, -1).permute(2, 0, 3, 1, 4)
        no_rope = ((q * attn.scale) @ k.transpose(-2, -1)).softmax(-1)
    assert (no_rope - ref[:, 0]).abs().max() > 0.05
    with torch.no_grad():  # the hooks leave the model's output untouched
        torch.testing.assert_close(maps.output, model(x))


def test_kmeans_pca_and_retrieval_run_unchanged(dino3, photos):
    """Clustering, PCA colours and cosine search take DINOv3 features as they take DINOv2's."""
    from sklearn.cluster import KMeans

    feats = extract_features(dino3, photos)
    labels = cluster_patches(feats.patches[0], k=3, seed=0)
    assert labels.shape == (16, 16) and set(np.unique(labels)) <= {0, 1, 2}
    flat = feats.patches[0].reshape(-1, feats.dim).numpy()
    ref = KMeans(3, n_init=4, random_state=0).fit(flat / np.linalg.norm(flat, axis=1, keepdims=True)).labels_
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(ref, labels.reshape(-1)) > 0.9
    rgb = pca_rgb(feats.patches[0])
    assert rgb.shape == (16, 16, 3)
    index = build_index(feats, labels=["cat", "coffee", "camera"])
    scores, idx = search(index, feats, k=2)
    unit = torch.nn.functional.normalize(feats.cls.double(), dim=1)
    cos = (unit @ unit.T).numpy()  # exact cosine by hand
    top = np.sort(cos, axis=1)[:, ::-1][:, :2]
    np.testing.assert_allclose(np.asarray(scores), top, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.take_along_axis(cos, np.asarray(idx), 1), top, rtol=1e-4, atol=1e-5)


def test_dinov2_and_dinov3_features_never_mix(dino3, photos):
    """A DINOv3 query cannot search a DINOv2 database (different models, and different grids)."""
    from course_utils.features import FeatureMismatchError

    v2 = extract_features(load_dinov2("dinov2_vits14_reg", tiny=True, device="cpu"), photos[:1])
    v3 = extract_features(dino3, photos[:1])
    with pytest.raises(FeatureMismatchError):
        v3.check_compatible(v2)


def test_load_dinov3_rejects_other_families():
    with pytest.raises(ValueError, match="load_dinov3 takes one of: dinov3_vits16, dinov3_vitb16"):
        load_dinov3("dinov2_vits14")


def test_pretrained_path_loads_a_timm_checkpoint_from_the_hub_cache(tmp_path, monkeypatch):
    """timm safetensors in the hub-cache layout (timm/<ref>) load through load_dinov3(tiny=False)."""
    from safetensors.torch import save_file

    monkeypatch.setenv("COURSE_UTILS_CACHE", str(tmp_path / "cache"))
    spec = models.register_model(models.ModelSpec(
        "test_dinov3_small", "dinov3", "timm", "vit_small_patch16_dinov3.lvd1689m", 0.1, 1, "DINOv3 License",
        arch="vit_small_patch16_dinov3", arch_kwargs={"embed_dim": 24, "depth": 2}))
    try:
        torch.manual_seed(2)
        source = timm.create_model(spec.ref, pretrained=False, **spec.arch_kwargs).eval()
        revision = "0123456789abcdef0123456789abcdef01234567"
        root = tmp_path / "cache" / "hf" / "models--timm--vit_small_patch16_dinov3.lvd1689m"
        snap = root / "snapshots" / revision
        snap.mkdir(parents=True)
        (root / "refs").mkdir()
        (root / "refs" / "main").write_text(revision)
        save_file(source.state_dict(), snap / "model.safetensors")
        (snap / "config.json").write_text("{}")
        loaded = load_dinov3("test_dinov3_small", tiny=False, device="cpu")
        assert not loaded.tiny and loaded.preprocess.input_size == (256, 256)
        x = torch.randn(1, 3, 256, 256)
        with torch.no_grad():
            torch.testing.assert_close(loaded.model.forward_features(x), source.forward_features(x))
    finally:
        models.REGISTRY.pop("test_dinov3_small")
