"""Image input tokens per model family, from each provider's documented rule.

Every rule is a small pure function of the image size (and the request's ``detail`` /
``media_resolution`` setting). Which rule a model uses, with its constants, comes from the model
catalogue (``course_utils/data/bench/models.json``); each catalogue entry records where the rule was
read and whether it could be checked. The rules:

* ``openai_tile`` (GPT-4o family): ``low`` costs the base tokens; otherwise fit in 2048x2048, shortest
  side to 768, then base + tile tokens per 512 px square. Base/tile are per model (gpt-4o 85/170,
  gpt-4o-mini 2833/5667).
* ``openai_patch`` (GPT-4.1-mini/nano, o4-mini and later patch models): 32 px patches covering the image,
  scaled down to a patch budget when over it, times a per-model multiplier.
* ``anthropic``: about ``width * height / 750`` after the image is scaled down to the model's limits.
* ``gemini_tile`` (Gemini 2.x): 258 tokens for an image up to 384 px on both sides, else 258 per
  768x768 tile.
* ``gemini_fixed`` (Gemini 3.x): a fixed number of tokens per image for each ``media_resolution``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["openai_tile_tokens", "openai_patch_tokens", "anthropic_tokens", "gemini_tile_tokens",
           "gemini_fixed_tokens", "tokens_for_rule", "DEFAULT_RULES"]

_EPS = 1e-9


def openai_tile_tokens(width: int, height: int, detail: str = "auto", base: int = 85, tile: int = 170) -> int:
    """Tokens of one image for the GPT-4o-style tile rule (``auto`` is treated as ``high``)."""
    if detail == "low":
        return base
    scale = min(1.0, 2048 / max(width, height))
    w, h = width * scale, height * scale
    scale = min(1.0, 768 / min(w, h))
    w, h = w * scale, h * scale
    return base + tile * math.ceil(w / 512 - _EPS) * math.ceil(h / 512 - _EPS)


def openai_patch_tokens(width: int, height: int, budget: int | None = 1536, multiplier: float = 1.0,
                        patch: int = 32) -> int:
    """Tokens of one image for the 32 px patch rule.

    Steps (as the vision guide numbers them): count the patches covering the image; if more than
    ``budget``, shrink by ``sqrt(patch^2 * budget / (w * h))`` and again so the width or height
    fits a whole number of patches; count the patches of the shrunk image; multiply.

    Args:
        width, height: Image size in pixels.
        budget: Most patches per image (``None``: no cap).
        multiplier: The model's factor from image tokens to billed tokens.
        patch: Patch side in pixels.
    """
    raw = math.ceil(width / patch) * math.ceil(height / patch)
    if budget is not None and raw > budget:
        r = math.sqrt(patch * patch * budget / (width * height))
        fw, fh = width * r / patch, height * r / patch
        r *= min(math.floor(fw) / fw, math.floor(fh) / fh)
        raw = math.ceil(width * r / patch - _EPS) * math.ceil(height * r / patch - _EPS)
    return math.ceil(raw * multiplier - _EPS)


def anthropic_tokens(width: int, height: int, max_long_edge: int = 1568, max_pixels: int = 1568 * 784) -> int:
    """``ceil(w * h / 750)`` after scaling the image down (aspect kept) to the model's limits."""
    scale = min(1.0, max_long_edge / max(width, height), math.sqrt(max_pixels / (width * height)))
    return math.ceil(width * scale * height * scale / 750 - _EPS)


def gemini_tile_tokens(width: int, height: int, per_tile: int = 258, small: int = 384, tile: int = 768) -> int:
    """Gemini 2.x: ``per_tile`` for an image up to ``small`` px on both sides, else per ``tile`` px tile."""
    if width <= small and height <= small:
        return per_tile
    return per_tile * math.ceil(width / tile) * math.ceil(height / tile)


def gemini_fixed_tokens(media_resolution: str | None, tokens: Mapping[str, int]) -> int:
    """Gemini 3.x: a fixed count per image for the request's ``media_resolution`` (``None``: default)."""
    key = (media_resolution or "default").lower().replace("media_resolution_", "")
    if key not in tokens:
        raise ValueError(f"media_resolution {media_resolution!r} not in the catalogue rule ({sorted(tokens)}).")
    return int(tokens[key])


#: Rules used when only the provider is known (the families whose worked examples the pages give).
DEFAULT_RULES: dict[str, dict[str, Any]] = {
    "openai": {"rule": "openai_tile", "base": 85, "tile": 170},
    "openai_compatible": {"rule": "openai_tile", "base": 85, "tile": 170},
    "anthropic": {"rule": "anthropic"},
    "gemini": {"rule": "gemini_tile"},
}


def tokens_for_rule(rule: Mapping[str, Any], width: int, height: int, detail: str = "auto",
                    media_resolution: str | None = None) -> int:
    """Apply one catalogue rule (a dict with ``"rule"`` and its constants) to an image size."""
    kind = rule.get("rule")
    if kind == "openai_tile":
        return openai_tile_tokens(width, height, detail, int(rule.get("base", 85)), int(rule.get("tile", 170)))
    if kind == "openai_patch":
        budgets = rule.get("budget", 1536)
        if isinstance(budgets, Mapping):  # per detail level; a missing level uses "auto"
            budget = budgets.get(detail, budgets.get("auto"))
        else:
            budget = budgets
        return openai_patch_tokens(width, height, budget, float(rule.get("multiplier", 1.0)))
    if kind == "anthropic":
        return anthropic_tokens(width, height, int(rule.get("max_long_edge", 1568)),
                                int(rule.get("max_pixels", 1568 * 784)))
    if kind == "gemini_tile":
        return gemini_tile_tokens(width, height, int(rule.get("per_tile", 258)))
    if kind == "gemini_fixed":
        return gemini_fixed_tokens(media_resolution, rule["tokens"])
    raise ValueError(f"Unknown image-token rule {kind!r}.")
