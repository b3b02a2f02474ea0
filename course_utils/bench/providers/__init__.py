"""Providers: one interface (image + prompt -> text with token usage) over APIs and local models.

* :class:`OpenAIProvider`, :class:`AnthropicProvider`, :class:`GeminiProvider`: the official
  async SDKs (``openai``, ``anthropic``, ``google-genai``) with their own retries switched off
  (the runner retries, so every HTTP call is counted once).
* :class:`OpenAICompatibleProvider`: any server speaking the OpenAI chat-completions API by base
  URL (vLLM, Ollama, LM Studio, llama.cpp server).
* :class:`TransformersProvider`: local open models (BLIP on CPU; BLIP-2 / LLaVA on a GPU), batched,
  with tiny random variants in tiny mode.
* :class:`ReplayProvider`: serves the responses recorded by an earlier run, so a run can be
  re-scored or graded offline.

API keys come from an environment variable or Colab secrets (``google.colab.userdata``); they
are held by a :class:`Secret` whose ``repr``/``str`` are redacted and are never written to the
cache, results or reports.

Modules: :mod:`.base` (request/response types, keys, :class:`Provider`, the hosted-API base),
:mod:`.openai`, :mod:`.anthropic`, :mod:`.gemini`, :mod:`.local` (transformers; its prompt formats are
data), :mod:`.replay`, :mod:`.registry` (:func:`make_provider`). Every name is re-exported here.
"""

from ..errors import ProviderError
from .anthropic import AnthropicProvider
from .base import (
    APIProvider,
    GenerationParams,
    Provider,
    ProviderRequest,
    ProviderResponse,
    Secret,
    provider_cache_key,
    resolve_api_key,
)
from .gemini import GeminiProvider
from .local import TransformersProvider
from .openai import OpenAICompatibleProvider, OpenAIProvider
from .registry import make_provider
from .replay import ReplayProvider

__all__ = [
    "GenerationParams", "ProviderRequest", "ProviderResponse", "ProviderError", "Secret", "resolve_api_key",
    "Provider", "OpenAIProvider", "OpenAICompatibleProvider", "AnthropicProvider", "GeminiProvider",
    "TransformersProvider", "ReplayProvider", "make_provider", "APIProvider", "provider_cache_key",
]
