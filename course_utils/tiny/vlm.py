"""Tiny, randomly initialised captioning / VQA models with an offline word-level tokenizer.

Used by :func:`course_utils.models.load_model` in tiny mode: the same transformers classes as the
real checkpoints (``BlipForConditionalGeneration``, ``BlipForQuestionAnswering``,
``Blip2ForConditionalGeneration`` with an OPT decoder, ``LlavaForConditionalGeneration`` with a
CLIP vision tower and a Llama decoder) and the same processors and prompt formats, but two 32-wide
layers per tower and a BERT WordPiece tokenizer whose vocabulary is built here from the mini
benchmark set (no hub download). Their outputs are random words.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources
from typing import Any

__all__ = ["tiny_blip", "tiny_blip2", "tiny_llava", "tiny_model", "tiny_blip_tokenizer", "tiny_generate_kwargs"]

_SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]"]
_EXTRA_WORDS = "a an the is are this that what how many color picture photo of on in with and there".split()

@lru_cache(maxsize=1)
def _vocabulary() -> tuple[str, ...]:
    words: set[str] = set(_EXTRA_WORDS)
    root = resources.files("course_utils").joinpath("data/bench")
    for name in ("mini_captions.json", "mini_vqa.json"):
        data = json.loads(root.joinpath(name).read_text("utf-8"))
        texts: list[str] = []
        for refs in data.get("captions", {}).values():
            texts.extend(refs)
        for q in data.get("questions", []):
            texts.append(q["question"])
            texts.extend(q["answers"])
        for text in texts:
            words.update(re.findall(r"[a-z0-9]+", text.lower()))
    return tuple(_SPECIAL + sorted(words))


def tiny_blip_tokenizer(extra: tuple[str, ...] = ()) -> Any:
    """A BERT WordPiece tokenizer over the mini set's words, built offline (``[DEC]`` is BOS).

    Args:
        extra: Additional special tokens (e.g. ``"<image>"`` for BLIP-2 / LLaVA).
    """
    import transformers as tf

    vocab = {w: i for i, w in enumerate(_vocabulary() + tuple(extra))}
    tok = tf.BertTokenizer(vocab=vocab, do_lower_case=True)
    tok.add_special_tokens({"bos_token": "[DEC]", **({"additional_special_tokens": list(extra)} if extra else {})})
    return tok


def tiny_generate_kwargs(tokenizer: Any) -> dict[str, Any]:
    """Generation settings for random tiny models: at least two tokens, no special token but [SEP] (EOS)."""
    banned = sorted(set(tokenizer.all_special_ids) - {tokenizer.sep_token_id})
    return {"min_new_tokens": 2, "bad_words_ids": [[i] for i in banned]}


def tiny_blip(arch: str) -> tuple[Any, Any]:
    """Build a tiny random ``BlipForConditionalGeneration`` or ``BlipForQuestionAnswering`` and its processor.

    Args:
        arch: The transformers class name from the registry entry.

    Returns:
        ``(model, BlipProcessor)``; seed torch before calling for reproducible weights.
    """
    import transformers as tf

    tok = tiny_blip_tokenizer()
    processor = tf.BlipProcessor(tf.BlipImageProcessor(size={"height": 384, "width": 384}), tok)
    width = 32
    config = tf.BlipConfig(
        vision_config={"hidden_size": width, "num_hidden_layers": 2, "num_attention_heads": 2,
                       "intermediate_size": 2 * width, "image_size": 384, "patch_size": 16},
        text_config={"vocab_size": len(tok), "hidden_size": width, "num_hidden_layers": 2, "num_attention_heads": 2,
                     "intermediate_size": 2 * width, "encoder_hidden_size": width, "max_position_embeddings": 64,
                     "bos_token_id": tok.bos_token_id, "sep_token_id": tok.sep_token_id,
                     "eos_token_id": tok.sep_token_id, "pad_token_id": tok.pad_token_id},
        projection_dim=width)
    if arch == "BlipForConditionalGeneration":
        return tf.BlipForConditionalGeneration(config), processor
    if arch == "BlipForQuestionAnswering":
        return tf.BlipForQuestionAnswering(config), processor
    raise NotImplementedError(f"No tiny BLIP variant for {arch}.")


def _small(**extra: Any) -> dict[str, Any]:
    return {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64, **extra}


def tiny_blip2() -> tuple[Any, Any]:
    """Tiny random ``Blip2ForConditionalGeneration`` (ViT + Q-Former + OPT decoder) and ``Blip2Processor``."""
    import transformers as tf

    tok = tiny_blip_tokenizer(("<image>",))
    image_id = tok.convert_tokens_to_ids("<image>")
    processor = tf.Blip2Processor(tf.BlipImageProcessor(size={"height": 224, "width": 224}), tok, num_query_tokens=4)
    config = tf.Blip2Config(
        vision_config=_small(image_size=224, patch_size=14),
        qformer_config=_small(encoder_hidden_size=32, vocab_size=len(tok)),
        text_config={"model_type": "opt", "vocab_size": len(tok), "hidden_size": 32, "num_hidden_layers": 2,
                     "num_attention_heads": 2, "ffn_dim": 64, "word_embed_proj_dim": 32, "max_position_embeddings": 128,
                     "bos_token_id": tok.cls_token_id, "eos_token_id": tok.sep_token_id,
                     "pad_token_id": tok.pad_token_id},
        num_query_tokens=4, image_token_index=image_id)
    return tf.Blip2ForConditionalGeneration(config), processor


def tiny_llava() -> tuple[Any, Any]:
    """Tiny random ``LlavaForConditionalGeneration`` (CLIP vision + projector + Llama) and ``LlavaProcessor``."""
    import transformers as tf

    tok = tiny_blip_tokenizer(("<image>",))
    image_id = tok.convert_tokens_to_ids("<image>")
    image_processor = tf.CLIPImageProcessor(size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224})
    processor = tf.LlavaProcessor(image_processor=image_processor, tokenizer=tok, patch_size=14,
                                  vision_feature_select_strategy="default", image_token="<image>",
                                  num_additional_image_tokens=1)
    config = tf.LlavaConfig(
        vision_config={"model_type": "clip_vision_model", **_small(image_size=224, patch_size=14, projection_dim=32)},
        text_config={"model_type": "llama", "vocab_size": len(tok), "num_key_value_heads": 2,
                     "max_position_embeddings": 512, "bos_token_id": tok.cls_token_id,
                     "eos_token_id": tok.sep_token_id, "pad_token_id": tok.pad_token_id, **_small()},
        image_token_index=image_id, vision_feature_layer=-1, vision_feature_select_strategy="default")
    return tf.LlavaForConditionalGeneration(config), processor


def tiny_model(arch: str) -> tuple[Any, Any]:
    """``(model, processor)`` of the tiny random variant of a registry architecture."""
    if arch in ("BlipForConditionalGeneration", "BlipForQuestionAnswering"):
        return tiny_blip(arch)
    if arch == "Blip2ForConditionalGeneration":
        return tiny_blip2()
    if arch == "LlavaForConditionalGeneration":
        return tiny_llava()
    raise NotImplementedError(f"No tiny variant for {arch}; tiny models exist for BLIP, BLIP-2 and LLaVA.")
