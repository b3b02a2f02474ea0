"""Claude models through the official async ``anthropic`` SDK (messages API)."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

from ..errors import ProviderError
from .base import APIProvider, GenerationParams, ProviderRequest, ProviderResponse, Secret

__all__ = ["AnthropicProvider"]


class AnthropicProvider(APIProvider):
    """Claude models through the official async ``anthropic`` SDK (messages API).

    Args:
        model: e.g. ``"claude-haiku-4-5"``.
        api_key: A :class:`Secret` or string; ``None`` reads ``ANTHROPIC_API_KEY`` / Colab secrets.
        base_url: Endpoint override (tests).
        timeout: Seconds per request (SDK retries off).

    Models that reject ``temperature`` (the catalogue says which; otherwise the API's 400 naming it)
    get requests without it.
    """

    provider = "anthropic"
    sdk = "anthropic"

    def __init__(self, model: str = "claude-haiku-4-5", api_key: Secret | str | None = None,
                 base_url: str | None = None, timeout: float = 60.0,
                 key_env: Sequence[str] = ("ANTHROPIC_API_KEY",)):
        super().__init__(model, api_key, base_url, timeout, key_env)

    def _get_client(self) -> Any:
        if self._client is None:
            import anthropic

            self._client = anthropic.AsyncAnthropic(api_key=self._key.reveal(), base_url=self.base_url,
                                                    timeout=self.timeout, max_retries=0)
        return self._client

    async def generate(self, request: ProviderRequest, params: GenerationParams) -> ProviderResponse:
        messages = [{"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": request.mime_type,
                                         "data": base64.b64encode(request.image).decode()}},
            {"type": "text", "text": request.prompt}]}]

        async def call(temperature: float | None) -> Any:
            # Recent SDKs dropped `temperature` from create()'s signature while older models still take it:
            # send it in the body and let the API's answer decide (see _send).
            extra = {} if temperature is None else {"extra_body": {"temperature": temperature}}
            return await self._get_client().messages.create(model=self.model, max_tokens=params.max_tokens,
                                                            messages=messages, **extra)

        resp = await self._send(call, params.temperature)
        try:
            texts = [b.text for b in resp.content if getattr(b, "type", None) == "text"]
            if not texts:
                raise TypeError("no text block")
            return ProviderResponse("".join(texts).strip(), int(resp.usage.input_tokens),
                                    int(resp.usage.output_tokens), str(getattr(resp, "model", "") or self.model))
        except (AttributeError, IndexError, TypeError, ValueError) as exc:
            raise ProviderError(f"malformed response: {exc}", "malformed", True) from exc
