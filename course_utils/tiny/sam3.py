"""A small random SAM 3 (``Sam3Model``) and its processor, built offline for tiny mode.

Same modules as the released model (ViT + FPN, CLIP text encoder, geometry encoder, DETR encoder /
decoder, mask decoder), 32 wide, at 112 px, with a CLIP tokenizer that has one token per character
(no merges, no download). Its masks are meaningless.
"""

from __future__ import annotations

from typing import Any

#: SAM 3's text encoder reads at most this many tokens (the processor pads to it).
MAX_TEXT_TOKENS = 32

__all__ = ["tiny_sam3", "MAX_TEXT_TOKENS"]


def _tiny_tokenizer() -> Any:
    """A CLIP byte-level BPE tokenizer with no merges (one token per character), built offline."""
    import transformers as tf
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    chars = list(bytes_to_unicode().values())
    vocab = {c: i for i, c in enumerate(chars + [c + "</w>" for c in chars])}
    vocab.update({"<|startoftext|>": len(vocab), "<|endoftext|>": len(vocab) + 1})
    return tf.CLIPTokenizer(vocab=vocab, merges=[])


def tiny_sam3() -> tuple[Any, Any]:
    """A small random ``Sam3Model`` (same modules: ViT + FPN, CLIP text, geometry, DETR, mask decoder) and
    a ``Sam3Processor`` at 112 px with an offline tokenizer."""
    import transformers as tf

    tokenizer = _tiny_tokenizer()
    vit = {"model_type": "sam3_vit_model", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
           "num_attention_heads": 2, "image_size": 112, "patch_size": 14, "window_size": 4,
           "global_attn_indexes": [1], "pretrain_image_size": 56}
    small = {"hidden_size": 32, "num_attention_heads": 2, "intermediate_size": 64, "num_layers": 1}
    config = tf.Sam3Config(
        vision_config={"backbone_config": vit, "fpn_hidden_size": 32,
                       "backbone_feature_sizes": [[32, 32], [16, 16], [8, 8]]},
        text_config={"vocab_size": len(tokenizer), "hidden_size": 32, "intermediate_size": 64, "projection_dim": 32,
                     "num_hidden_layers": 1, "num_attention_heads": 2, "max_position_embeddings": MAX_TEXT_TOKENS,
                     "bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id,
                     "pad_token_id": tokenizer.pad_token_id},
        geometry_encoder_config=dict(small), detr_encoder_config=dict(small),
        detr_decoder_config={**small, "num_queries": 20},
        mask_decoder_config={"hidden_size": 32, "num_attention_heads": 2},
    )
    image_processor = tf.Sam3ImageProcessor(size={"height": 112, "width": 112}, mask_size={"height": 32, "width": 32})
    return tf.Sam3Model(config), tf.Sam3Processor(image_processor=image_processor, tokenizer=tokenizer)
