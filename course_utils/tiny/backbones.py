"""Tiny configurations of the vision backbones: timm ViTs, transformers ViT / DINOv2, segment-anything SAM.

Each keeps what the labs look at (depth, heads, patch size, prefix and register tokens, the patch grid,
SAM's predictor path) and shrinks only the width, so a tiny model is the same architecture family at a
fraction of the size. torch and transformers are imported inside the functions.
"""

from __future__ import annotations

from typing import Any

__all__ = ["timm_kwargs", "SAM_ENCODER", "hf_vit", "hf_dinov2", "hf_model"]

#: segment-anything encoder settings of the tiny SAM (2 blocks of width 32, the second one global).
SAM_ENCODER: dict[str, Any] = {"encoder_embed_dim": 32, "encoder_depth": 2, "encoder_num_heads": 2,
                               "encoder_global_attn_indexes": [1]}

_VLM_ARCHS = ("BlipForConditionalGeneration", "BlipForQuestionAnswering", "Blip2ForConditionalGeneration",
              "LlavaForConditionalGeneration")


def timm_kwargs(heads: int, **extra: Any) -> dict[str, Any]:
    """``timm.create_model`` overrides of a tiny ViT: same depth, heads, patch size and prefix / register
    tokens as the published model; only the width shrinks (4 channels per head)."""
    return {"embed_dim": 4 * heads, **extra}


def hf_vit() -> tuple[Any, Any]:
    """A random ``ViTForImageClassification`` (ViT-B/16 layout, 48 wide) and its ``ViTImageProcessor``."""
    import transformers as tf

    config = tf.ViTConfig(hidden_size=48, num_hidden_layers=12, num_attention_heads=12,
                          intermediate_size=192, image_size=224, patch_size=16, num_labels=1000)
    return tf.ViTForImageClassification(config), tf.ViTImageProcessor()


def hf_dinov2() -> tuple[Any, Any]:
    """A random ``Dinov2Model`` (ViT-S/14 layout, 48 wide) and the ``BitImageProcessor`` facebook/dinov2-small
    publishes (resize 256, centre crop 224, ImageNet mean / std)."""
    import transformers as tf

    config = tf.Dinov2Config(hidden_size=48, num_hidden_layers=12, num_attention_heads=6,
                             mlp_ratio=4, image_size=224, patch_size=14)
    processor = tf.BitImageProcessor(size={"shortest_edge": 256}, crop_size={"height": 224, "width": 224},
                                     do_center_crop=True, image_mean=[0.485, 0.456, 0.406],
                                     image_std=[0.229, 0.224, 0.225], do_convert_rgb=True)
    return tf.Dinov2Model(config), processor


def hf_model(arch: str, name: str = "") -> tuple[Any, Any]:
    """``(model, processor)``: the tiny random variant of the transformers class ``arch``.

    Args:
        arch: The registry entry's transformers class name (``ViTForImageClassification``, ``Dinov2Model``,
            ``Sam3Model``, BLIP / BLIP-2 / LLaVA classes).
        name: The registry name, for the error message.

    Raises:
        NotImplementedError: there is no tiny variant of ``arch``.
    """
    if arch == "ViTForImageClassification":
        return hf_vit()
    if arch == "Dinov2Model":
        return hf_dinov2()
    if arch == "Sam3Model":
        from .sam3 import tiny_sam3  # small Sam3Config + offline tokenizer

        return tiny_sam3()
    if arch in _VLM_ARCHS:
        from .vlm import tiny_model  # word-level tokenizer built offline

        return tiny_model(arch)
    raise NotImplementedError(f"No tiny variant for {name or arch}; tiny captioning/VQA models exist for the BLIP, "
                              "BLIP-2 and LLaVA entries.")
