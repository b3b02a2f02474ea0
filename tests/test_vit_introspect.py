"""ViT introspection in one place: kind, token layout and input size agree with what the models really do."""

from __future__ import annotations

import pytest
import timm
import torch
from torch import nn
from transformers import Dinov2Config, Dinov2Model, ViTConfig, ViTModel

from course_utils import vit_introspect as vi


def _timm(**kwargs) -> nn.Module:
    torch.manual_seed(0)
    return timm.create_model("vit_small_patch16_224", pretrained=False, img_size=32, embed_dim=24, depth=1,
                             num_heads=2, **kwargs).eval()


def _tokens(model: nn.Module, h: int, w: int) -> int:
    x = torch.randn(1, 3, h, w)
    with torch.no_grad():
        if vi.is_hf(model):
            return int(model(pixel_values=x).last_hidden_state.shape[1])
        return int(model.forward_features(x).shape[1])


HF_SMALL = {"hidden_size": 24, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 48}


def test_is_hf_tells_transformers_from_timm_and_from_modules_that_merely_hold_a_config():
    class HasConfig(nn.Module):
        config = {"patch_size": 16}  # not a transformers config

    assert vi.is_hf(ViTModel(ViTConfig(image_size=32, patch_size=16, **HF_SMALL)))
    assert not vi.is_hf(_timm())
    assert not vi.is_hf(HasConfig())


@pytest.mark.parametrize("kind, size", [("timm_fixed", (32, 32)), ("timm_dynamic", (48, 32)),
                                        ("timm_pad", (40, 24)), ("hf_vit", (32, 32)), ("hf_dinov2", (28, 42))])
def test_token_layout_matches_the_tokens_the_model_makes(kind, size):
    model = {
        "timm_fixed": lambda: _timm(),
        "timm_dynamic": lambda: _timm(dynamic_img_size=True, reg_tokens=2, class_token=True),
        "timm_pad": lambda: _timm(dynamic_img_size=True, dynamic_img_pad=True),
        "hf_vit": lambda: ViTModel(ViTConfig(image_size=32, patch_size=16, **HF_SMALL)).eval(),
        "hf_dinov2": lambda: Dinov2Model(Dinov2Config(image_size=28, patch_size=14, **HF_SMALL)).eval(),
    }[kind]()
    prefix, (h, w) = vi.token_layout(model, *size)
    assert prefix + h * w == _tokens(model, *size)
    if kind == "timm_dynamic":
        assert prefix == 3  # CLS + 2 registers
    if kind == "timm_pad":
        assert (h, w) == (3, 2)  # 40x24 padded up to 48x32


def test_fixed_size_models_name_the_fix():
    with pytest.raises(ValueError, match=r"takes 32x32 inputs, got 48x48.*preprocess"):
        vi.token_layout(_timm(), 48, 48)
    with pytest.raises(ValueError, match="takes 32x32 inputs"):
        vi.token_layout(ViTModel(ViTConfig(image_size=32, patch_size=16, **HF_SMALL)), 48, 48)
    with pytest.raises(ValueError, match="multiple of the patch size"):
        vi.token_layout(_timm(dynamic_img_size=True), 40, 32)
    assert vi.fixed_input_size(_timm(dynamic_img_size=True)) is None
    assert vi.fixed_input_size(Dinov2Model(Dinov2Config(image_size=28, patch_size=14, **HF_SMALL))) is None


def test_unwrap_reads_a_loaded_model_and_a_bare_module():
    from course_utils.models import load_vit

    loaded = load_vit("vit_small", tiny=True, device="cpu")
    got = vi.unwrap(loaded)
    assert got.module is loaded.model and got.preprocess is loaded.preprocess and got.random_weights
    assert got.name == "vit_small"
    bare = vi.unwrap(_timm())
    assert bare.preprocess is None and not bare.random_weights and bare.name == "VisionTransformer"
    with pytest.raises(TypeError, match="load_dinov2"):
        vi.unwrap("dinov2_vits14", "a model from load_dinov2(...)")


def test_matching_preprocess_resizes_to_the_size_the_model_was_built_for():
    model = _timm()
    prep = vi.matching_preprocess(model)
    assert prep.input_size == (32, 32) and prep(torch.zeros(3, 50, 70).numpy().transpose(1, 2, 0)).shape == (3, 32, 32)
    assert vi.matching_preprocess(model, prep) is prep
