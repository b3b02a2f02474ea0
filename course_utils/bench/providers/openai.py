"""OpenAI chat completions (and any OpenAI-compatible server) through the official async SDK."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

from ..errors import ProviderError
from .base import APIProvider, GenerationParams, ProviderRequest, ProviderResponse, Secret, resolve_api_key

__all__ = ["OpenAIProvider", "OpenAICompatibleProvider"]


class OpenAIProvider(APIProvider):
    """OpenAI chat completions through the official async SDK.

    Args:
        model: e.g. ``"gpt-6-luna"`` (see ``course-utils bench models``). A model that rejects
            ``temperature`` gets the request again without it (once; then remembered).
        api_key: A :class:`Secret` or string; ``None`` reads ``key_env`` / Colab secrets.
        base_url: Override the endpoint (tests point it at a loopback server).
        timeout: Seconds per request (the SDK's own retries are off: ``max_retries=0``).
        key_env: Environment variable / Colab secret names to look in.
        max_tokens_field: ``"max_completion_tokens"`` (current OpenAI models) or ``"max_tokens"``.
        image_detail: ``"low"``, ``"high"`` or ``"auto"`` (OpenAI image tokens depend on it; part of
            the cache key and of the dry-run estimate).
        reasoning_effort: ``"none"``, ``"low"``... for reasoning models; ``"catalog"`` (default) takes
            the catalogue's setting for short answers (e.g. ``"none"`` for gpt-6-luna), ``None`` sends none.
    """

    provider = "openai"
    sdk = "openai"

    def __init__(self, model: str = "gpt-6-luna", api_key: Secret | str | None = None,
                 base_url: str | None = None, timeout: float = 60.0,
                 key_env: Sequence[str] = ("OPENAI_API_KEY",), max_tokens_field: str = "max_completion_tokens",
                 image_detail: str = "auto", open_source: bool = False, reasoning_effort: str | None = "catalog"):
        super().__init__(model, api_key, base_url, timeout, key_env)
        if image_detail not in ("low", "high", "auto", "original"):
            raise ValueError(f"image_detail must be 'low', 'high', 'auto' or 'original', got {image_detail!r}.")
        self.max_tokens_field = max_tokens_field
        self.image_detail = image_detail
        self.open_source = open_source
        if reasoning_effort == "catalog":
            short = (self.entry.short_answers or {}) if self.entry is not None else {}
            reasoning_effort = short.get("reasoning_effort")
        self.reasoning_effort = reasoning_effort

    def _get_client(self) -> Any:
        if self._client is None:
            import openai

            self._client = openai.AsyncOpenAI(api_key=self._key.reveal(), base_url=self.base_url,
                                              timeout=self.timeout, max_retries=0)
        return self._client

    def request_settings(self) -> dict[str, Any]:
        out: dict[str, Any] = {"image_detail": self.image_detail}
        if self.reasoning_effort is not None:
            out["reasoning_effort"] = self.reasoning_effort
        return out

    async def generate(self, request: ProviderRequest, params: GenerationParams) -> ProviderResponse:
        url = f"data:{request.mime_type};base64,{base64.b64encode(request.image).decode()}"
        kwargs: dict[str, Any] = {self.max_tokens_field: params.max_tokens}
        if self.reasoning_effort is not None:
            kwargs["reasoning_effort"] = self.reasoning_effort
        messages = [{"role": "user", "content": [
            {"type": "text", "text": request.prompt},
            {"type": "image_url", "image_url": {"url": url, "detail": self.image_detail}}]}]

        async def call(temperature: float | None) -> Any:
            extra = {} if temperature is None else {"temperature": temperature}
            return await self._get_client().chat.completions.create(model=self.model, messages=messages,
                                                                    **kwargs, **extra)

        resp = await self._send(call, params.temperature)
        try:
            choice = resp.choices[0]
            text = choice.message.content
            usage = resp.usage
            if usage is None or not (text is None or isinstance(text, str)):
                raise TypeError("no message content or no usage")
        except (AttributeError, IndexError, TypeError, ValueError) as exc:
            raise ProviderError(f"malformed response: {exc}", "malformed", True) from exc
        if not text and getattr(choice, "finish_reason", None) == "length":
            raise ProviderError(
                f"empty answer: {self.model} spent all {params.max_tokens} output tokens before answering (reasoning). "
                "Raise max_tokens, or set reasoning_effort='none' / 'low' if the model supports it.", "empty", False)
        if not isinstance(text, str):
            raise ProviderError("malformed response: no message content", "malformed", True)
        return ProviderResponse(text.strip(), int(usage.prompt_tokens), int(usage.completion_tokens),
                                str(getattr(resp, "model", "") or self.model))


class OpenAICompatibleProvider(OpenAIProvider):
    """Any OpenAI-compatible chat-completions server (vLLM, Ollama, LM Studio...) by base URL.

    Args:
        model: The served model name, e.g. ``"llava-hf/llava-1.5-7b-hf"`` or ``"llava:7b"``.
        base_url: e.g. ``"http://127.0.0.1:8000/v1"`` (vLLM) or ``"http://127.0.0.1:11434/v1"`` (Ollama).
        api_key: Local servers usually ignore it; ``None`` reads ``OPENAI_COMPATIBLE_API_KEY`` and
            falls back to the placeholder ``"EMPTY"``.
        open_source: Whether the served model's weights are open (default True).
        provider_name: Label for tables (default ``"openai_compatible"``).
    """

    def __init__(self, model: str, base_url: str, api_key: Secret | str | None = None, timeout: float = 120.0,
                 open_source: bool = True, provider_name: str = "openai_compatible",
                 max_tokens_field: str = "max_tokens"):
        key = api_key or resolve_api_key(["OPENAI_COMPATIBLE_API_KEY"]) or Secret("EMPTY")
        super().__init__(model, key, base_url, timeout, max_tokens_field=max_tokens_field, open_source=open_source,
                         reasoning_effort=None)
        self.provider = provider_name

    @property
    def identity(self) -> str:
        return f"{self.provider}:{self.model}@{self.base_url}"
