"""Dry run: what a run would cost before anything is spent (no request is made).

Next to :mod:`.cost` (the dated prices and the token estimates it uses): items already in the
response cache or finished in the run cost nothing; input tokens come from each model's catalogue
image-token rule plus about 4 characters per text token.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .cache import ResponseCache
from .config import DEFAULT_RUNS_DIR
from .cost import PricingTable, estimate_image_tokens, estimate_text_tokens
from .providers.base import GenerationParams, Provider, provider_cache_key
from .store import RunStore
from .tasks import Task

__all__ = ["estimate_cost"]


def _image_rule(provider: Provider) -> str:
    """Which image-token rule the estimate used, and whether a page confirmed it (for the dry-run row)."""
    from .catalog import load_catalog
    from .image_tokens import DEFAULT_RULES

    if provider.provider in ("local", "replay"):
        return "none" if provider.provider == "local" else "as recorded"
    entry = load_catalog().find(provider.provider, provider.model)
    if entry is not None and entry.image_tokens:
        rule = entry.image_tokens
        return f"{rule['rule']}{'' if rule.get('verified') else ' (unverified)'}"
    fallback = DEFAULT_RULES.get(provider.provider)
    return f"{fallback['rule']} (model not in catalogue: provider reference rule)" if fallback else "none"


def _image_tokens(provider: Provider, width: int, height: int) -> int:
    """The image tokens a provider's model will be billed for, by its catalogue rule and settings."""
    name, model = provider.provider, provider.model
    if name == "replay":
        name, _, model = str(getattr(provider, "of", "")).partition(":")
        model = model.split("@", 1)[0]
    detail = str(provider.request_settings().get("image_detail", "auto"))
    return estimate_image_tokens(name, width, height, detail=detail, model=model)


def estimate_cost(task: Task, providers: Sequence[Provider], *, params: GenerationParams | None = None,
                  cache: bool | str | os.PathLike[str] = True, run_dir: str | os.PathLike[str] | None = None,
                  pricing: PricingTable | None = None, max_side: int = 768,
                  expected_output_tokens: int = 12) -> list[dict[str, Any]]:
    """Estimate what a run would cost before spending anything (no request is made).

    Items already in the response cache (or finished in ``run_dir``) cost nothing. Input
    tokens come from each provider's documented image-token rule plus about 4 characters per
    text token; output tokens are given as an expected value and as the ``max_tokens`` bound.

    Returns:
        One dict per provider: ``label``, ``n_items``, ``n_cached``, ``n_to_call``,
        ``est_input_tokens``, ``est_cost_usd`` (expected), ``max_cost_usd`` (every answer at
        ``max_tokens``), ``est_cost_per_1k``, ``price_status``, ``image_rule`` (the catalogue rule
        used, marked ``(unverified)`` when no official page confirmed it).
    """
    from PIL import Image

    params = params or GenerationParams()
    pricing = pricing or PricingTable.load()
    cache_path = None
    if cache and params.deterministic:
        base = Path(run_dir).parent if run_dir is not None else DEFAULT_RUNS_DIR
        cache_path = base / "cache.sqlite" if cache is True else Path(cache)
    rc = ResponseCache(cache_path) if cache_path is not None and cache_path.exists() else None
    done: dict[str, set[str]] = {}
    if run_dir is not None and (Path(run_dir) / "run.sqlite").exists():
        store = RunStore(Path(run_dir))
        try:
            done = {i: store.done_ids(i) for i in store.provider_identities()}
        finally:
            store.close()
    rows = []
    try:
        for provider in providers:
            info = provider.describe()
            price = pricing.price_for(info)
            n_cached = 0
            tokens_in = 0
            n_call = 0
            for item in task.items:
                data, digest = item.encoded(max_side)
                key = provider_cache_key(provider, item.prompt, digest, params)
                if item.item_id in done.get(provider.identity, set()) or (rc is not None and rc.contains(key)):
                    n_cached += 1
                    continue
                with Image.open(io.BytesIO(data)) as im:
                    w, h = im.size
                tokens_in += _image_tokens(provider, w, h) + estimate_text_tokens(item.prompt)
                n_call += 1
            est = price.cost(tokens_in, n_call * expected_output_tokens, n_call) if price else None
            worst = price.cost(tokens_in, n_call * params.max_tokens, n_call) if price else None
            rows.append({"label": provider.label, "identity": provider.identity, "n_items": len(task.items),
                         "n_cached": n_cached, "n_to_call": n_call, "est_input_tokens": tokens_in,
                         "est_cost_usd": est, "max_cost_usd": worst,
                         "est_cost_per_1k": (1000 * est / n_call) if (est is not None and n_call) else None,
                         "price_status": price.status if price else "unknown",
                         "price_source": price.source if price else None,
                         "image_rule": _image_rule(provider)})
    finally:
        if rc is not None:
            rc.close()
    return rows
