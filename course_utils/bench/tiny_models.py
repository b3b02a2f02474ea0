"""Tiny, randomly initialised BLIP captioning / VQA models with an offline word-level tokenizer.

Used by :func:`course_utils.models.load_model` in tiny mode for ``blip_caption_base`` and
``blip_vqa_base``: the same transformers classes (``BlipForConditionalGeneration``,
``BlipForQuestionAnswering``) and the same 384 px / 16 px patch input as the real checkpoints,
but two 32-wide layers per tower and a BERT WordPiece tokenizer whose vocabulary is built here
from the mini benchmark set (no hub download). Their outputs are random words.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources
from typing import Any

__all__ = ["tiny_blip", "tiny_blip_tokenizer", "TINY_GENERATE_KWARGS"]

_SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]"]
_EXTRA_WORDS = "a an the is are this that what how many color picture photo of on in with and there".split()

#: Generation settings that keep random tiny models from emitting only special tokens.
TINY_GENERATE_KWARGS: dict[str, Any] = {"min_new_tokens": 2,
                                        "bad_words_ids": [[i] for i in (0, 1, 2, 4, 5)]}


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


def tiny_blip_tokenizer() -> Any:
    """A BERT WordPiece tokenizer over the mini set's words, built offline (``[DEC]`` is BOS)."""
    import transformers as tf

    vocab = {w: i for i, w in enumerate(_vocabulary())}
    tok = tf.BertTokenizer(vocab=vocab, do_lower_case=True)
    tok.add_special_tokens({"bos_token": "[DEC]"})
    return tok


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
    raise NotImplementedError(f"No tiny variant for {arch}; tiny captioning/VQA models exist for "
                              "blip_caption_base and blip_vqa_base.")
