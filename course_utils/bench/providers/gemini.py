"""Gemini models through the official ``google-genai`` SDK (``client.aio``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import ProviderError
from .base import APIProvider, GenerationParams, ProviderRequest, ProviderResponse, Secret

__all__ = ["GeminiProvider"]


class GeminiProvider(APIProvider):
    """Gemini models through the official ``google-genai`` SDK (``client.aio``).

    Args:
        model: e.g. ``"gemini-3.5-flash-lite"`` (see ``course-utils bench models``).
        api_key: A :class:`Secret` or string; ``None`` reads ``GEMINI_API_KEY`` / ``GOOGLE_API_KEY`` /
            Colab secrets.
        base_url: Endpoint override (``HttpOptions(base_url=...)``; tests).
        timeout: Seconds per request (SDK retries off: one attempt).
        thinking: ``google.genai.types.ThinkingConfig`` fields. Models that think by default spend
            ``max_output_tokens`` on thinking and answer nothing; ``"catalog"`` (default) takes the
            catalogue's short-answer setting (``{"thinking_level": "minimal"}`` for Gemini 3 Flash,
            ``{"thinking_budget": 0}`` for 2.5 Flash); ``None`` sends none.
    """

    provider = "gemini"
    sdk = "gemini"

    def __init__(self, model: str = "gemini-3.5-flash-lite", api_key: Secret | str | None = None,
                 base_url: str | None = None, timeout: float = 60.0,
                 key_env: Sequence[str] = ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
                 thinking: Mapping[str, Any] | str | None = "catalog"):
        super().__init__(model, api_key, base_url, timeout, key_env)
        if thinking == "catalog":
            thinking = (self.entry.short_answers or None) if self.entry is not None else None
        if isinstance(thinking, str):
            raise ValueError("thinking must be a dict such as {'thinking_level': 'minimal'}, None or 'catalog'.")
        self.thinking: dict[str, Any] | None = dict(thinking) if thinking else None

    def _get_client(self) -> Any:
        if self._client is None:
            from google import genai
            from google.genai import types

            options = types.HttpOptions(base_url=self.base_url, timeout=int(self.timeout * 1000),
                                        retry_options=types.HttpRetryOptions(attempts=1))
            self._client = genai.Client(api_key=self._key.reveal(), http_options=options)
        return self._client

    def request_settings(self) -> dict[str, Any]:
        return {"thinking": dict(self.thinking)} if self.thinking else {}

    def _config(self, params: GenerationParams, temperature: float | None) -> Any:
        from google.genai import types

        thinking = types.ThinkingConfig(**self.thinking) if self.thinking else None
        return types.GenerateContentConfig(max_output_tokens=params.max_tokens, temperature=temperature,
                                           thinking_config=thinking)

    async def generate(self, request: ProviderRequest, params: GenerationParams) -> ProviderResponse:
        from google.genai import types

        contents = [types.Part.from_bytes(data=request.image, mime_type=request.mime_type), request.prompt]

        async def call(temperature: float | None) -> Any:
            return await self._get_client().aio.models.generate_content(
                model=self.model, contents=contents, config=self._config(params, temperature))

        resp = await self._send(call, params.temperature)
        try:
            usage = resp.usage_metadata
            if usage is None:
                raise TypeError("no usage metadata")
            text = resp.text
            thoughts = int(getattr(usage, "thoughts_token_count", 0) or 0)
            out_tokens = int(usage.candidates_token_count or 0) + thoughts
            finish = str(getattr((resp.candidates or [None])[0], "finish_reason", "") or "")
        except (AttributeError, IndexError, TypeError, ValueError) as exc:
            raise ProviderError(f"malformed response: {exc}", "malformed", True) from exc
        if not text and "MAX_TOKENS" in finish:
            raise ProviderError(
                f"empty answer: {self.model} spent its {params.max_tokens} output tokens on thinking ({thoughts} "
                "thinking tokens). Pass thinking={'thinking_level': 'minimal'} (Gemini 3) or "
                "{'thinking_budget': 0} (Gemini 2.5 Flash), or raise max_tokens.", "empty", False)
        if not isinstance(text, str):
            raise ProviderError("malformed response: no text", "malformed", True)
        return ProviderResponse(text.strip(), int(usage.prompt_token_count or 0), out_tokens,
                                str(getattr(resp, "model_version", "") or self.model))

    async def aclose(self) -> None:
        if self._client is not None:
            try:
                await self._client.aio.aclose()
            except Exception:  # noqa: BLE001 - older SDKs have no aclose
                pass
            self._client = None
