"""Tiny configurations of SAM 2.1 (Hiera) and EdgeTAM (RepViT) for transformers, as plain settings.

:mod:`course_utils.sam2_models` builds the transformers configs from these (``tiny_config``): the same
classes as the published checkpoints (``Sam2VideoModel`` / ``Sam2Model``, ``EdgeTamVideoModel`` /
``EdgeTamModel``), at 256 px with narrow widths, one memory-attention layer and few memory slots. Nothing
here imports torch or transformers.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SIZE", "FPN_HIDDEN", "REPVIT_CHANNELS", "repvit_backbone", "hiera_backbone", "prompt_encoder",
           "mask_decoder", "video_memory"]

#: Input side in pixels (the published models take 1024 x 1024).
SIZE = 256
#: FPN width. It must stay above 64: transformers hard-wires a 64-wide memory and splits object pointers by it.
FPN_HIDDEN = 128
#: Channels of the tiny RepViT stages, deepest first (as EdgeTamVisionConfig wants them).
REPVIT_CHANNELS = [64, 32, 16, 8]


def repvit_backbone() -> dict[str, Any]:
    """``TimmWrapperConfig`` arguments of EdgeTAM's tiny backbone: RepViT-M0.9, one block per stage, 8-64 wide."""
    return {"architecture": "repvit_m0_9", "model_args": {
        "in_chans": 3, "features_only": True, "out_indices": [0, 1, 2, 3], "embed_dim": (8, 16, 32, 64),
        "depth": (1, 1, 1, 1)}}


def hiera_backbone() -> dict[str, Any]:
    """``Sam2HieraDetConfig`` arguments of SAM 2.1's tiny Hiera: 5 blocks over 4 stages (one global), 8-64 wide."""
    return {"blocks_per_stage": [1, 1, 2, 1], "global_attention_blocks": [3], "embed_dim_per_stage": [8, 16, 32, 64],
            "num_attention_heads_per_stage": [1, 1, 1, 1], "hidden_size": 8, "window_size_per_stage": [8, 4, 4, 4],
            "image_size": [SIZE, SIZE]}


def prompt_encoder() -> dict[str, Any]:
    """Prompt-encoder config arguments (same class for SAM 2.1 and EdgeTAM)."""
    return {"hidden_size": FPN_HIDDEN, "image_size": SIZE}


def mask_decoder() -> dict[str, Any]:
    """Mask-decoder config arguments: 128 wide, 2 heads."""
    return {"hidden_size": FPN_HIDDEN, "mlp_dim": 64, "num_attention_heads": 2, "iou_head_hidden_dim": 32}


def video_memory(edgetam: bool) -> dict[str, Any]:
    """Top-level video-model config arguments: one memory-attention layer, 3 memory slots, 4 object pointers
    (and for EdgeTAM a 16-latent perceiver with one layer)."""
    ff = "memory_attention_mlp_hidden_size" if edgetam else "memory_attention_feed_forward_hidden_size"
    extra: dict[str, Any] = {
        "image_size": SIZE, "memory_attention_hidden_size": FPN_HIDDEN, "memory_attention_num_layers": 1, ff: 64,
        "memory_encoder_hidden_size": FPN_HIDDEN,
        "memory_encoder_output_channels": 64,  # 64 is hard-wired in transformers' memory attention
        "mask_downsampler_embed_dim": FPN_HIDDEN, "memory_fuser_embed_dim": FPN_HIDDEN,
        "memory_fuser_intermediate_dim": 64, "num_maskmem": 3, "max_object_pointers_in_encoder": 4,
        "memory_attention_rope_feat_sizes": [SIZE // 16, SIZE // 16]}
    if edgetam:
        extra.update(perceiver_resampler_num_latents=16, perceiver_resampler_num_latents_2d=16,
                     perceiver_resampler_mlp_intermediate_size=64, perceiver_resampler_num_layers=1,
                     memory_attention_rope_k_sizes=[4, 4])
    return extra
