"""Build a provider from a short spec such as ``openai:gpt-6-luna`` (used by the CLI)."""

from __future__ import annotations

from typing import Any

from .anthropic import AnthropicProvider
from .base import Provider
from .gemini import GeminiProvider
from .local import TransformersProvider
from .openai import OpenAICompatibleProvider, OpenAIProvider
from .replay import ReplayProvider

__all__ = ["make_provider"]


def make_provider(spec: str, **kwargs: Any) -> Provider:
    """Build a provider from a short spec (used by the CLI).

    Specs: ``openai:<model>``, ``anthropic:<model>``, ``gemini:<model>``, ``local:<registry name>``,
    ``compat:<model>@<base_url>`` (OpenAI-compatible server), ``replay:<run_dir>[#identity]``.
    """
    kind, _, rest = spec.partition(":")
    if not rest:
        raise ValueError(f"Provider spec {spec!r} must look like 'openai:gpt-4o-mini', 'local:blip_vqa_base', "
                         "'compat:MODEL@http://127.0.0.1:8000/v1' or 'replay:RUN_DIR'.")
    if kind == "openai":
        return OpenAIProvider(rest, **kwargs)
    if kind == "anthropic":
        return AnthropicProvider(rest, **kwargs)
    if kind == "gemini":
        return GeminiProvider(rest, **kwargs)
    if kind == "local":
        return TransformersProvider(rest, **kwargs)
    if kind == "compat":
        model, _, url = rest.rpartition("@")
        if not model or not url:
            raise ValueError(f"compat spec {spec!r} needs MODEL@BASE_URL, e.g. compat:llava:7b@http://127.0.0.1:11434/v1")
        return OpenAICompatibleProvider(model, url, **kwargs)
    if kind == "replay":
        run_dir, _, identity = rest.partition("#")
        return ReplayProvider.from_run(run_dir, identity or None)
    raise ValueError(f"Unknown provider kind {kind!r} in {spec!r}; use openai, anthropic, gemini, local, compat "
                     "or replay.")
