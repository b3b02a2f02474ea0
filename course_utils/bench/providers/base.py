"""What every provider shares: the request and response types, API keys, the base classes.

:class:`Provider` is the one interface (image + prompt -> text with token usage);
:class:`APIProvider` is the set-up the hosted APIs share (key, endpoint, catalogue entry, the
temperature fallback), with every SDK failure classified by the one table in
:mod:`course_utils.bench.errors`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from ..cache import cache_key
from ..errors import ProviderError, classify

__all__ = ["GenerationParams", "ProviderRequest", "ProviderResponse", "Secret", "resolve_api_key", "Provider",
           "APIProvider", "provider_cache_key"]



@dataclass(frozen=True)
class GenerationParams:
    """Generation settings that are part of the cache key.

    Attributes:
        max_tokens: Upper bound on output tokens.
        temperature: 0.0 for deterministic (cacheable) runs; ``None`` leaves the provider default.
    """

    max_tokens: int = 64
    temperature: float | None = 0.0

    @property
    def deterministic(self) -> bool:
        """True when repeated calls should give the same answer (then results may be cached)."""
        return self.temperature == 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ProviderRequest:
    """One call: an image (encoded bytes) and a prompt.

    Attributes:
        item_id: The benchmark item (for logs and replay).
        kind: ``"caption"`` or ``"vqa"``.
        prompt: Full prompt for chat models.
        question: Bare question for VQA models that take only the question (BLIP).
        image: Encoded image bytes (JPEG).
        image_hash: sha256 of ``image``.
        mime_type: MIME type of ``image``.
    """

    item_id: str
    kind: str
    prompt: str
    question: str | None
    image: bytes
    image_hash: str
    mime_type: str = "image/jpeg"

    def __repr__(self) -> str:
        return f"ProviderRequest({self.item_id!r}, {self.kind}, {len(self.image)} image bytes)"


@dataclass(frozen=True)
class ProviderResponse:
    """What a provider returned: text and the token usage it reported."""

    text: str
    input_tokens: int = 0
    output_tokens: int = 0
    model: str = ""


class Secret:
    """An API key that never shows itself in ``repr``, ``str``, f-strings or logs."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        """The key itself, only to hand to an SDK client."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return "***"

    def __reduce__(self) -> Any:
        raise TypeError("API keys are not picklable (they must never be written anywhere).")


def resolve_api_key(names: Sequence[str]) -> Secret | None:
    """The first key found in the environment variables ``names``, else in Colab secrets, else None."""
    for name in names:
        value = os.environ.get(name)
        if value:
            return Secret(value)
    try:  # Colab: Secrets panel (the key icon), never typed into a cell.
        from google.colab import userdata  # type: ignore[import-not-found]
    except ImportError:
        return None
    for name in names:
        try:
            value = userdata.get(name)
        except Exception:  # noqa: BLE001 - missing secret or notebook access not granted
            continue
        if value:
            return Secret(value)
    return None


def _missing_key(provider: str, names: Sequence[str]) -> RuntimeError:
    return RuntimeError(
        f"No API key for {provider}: set the environment variable {names[0]} (e.g. in your shell or a .env you "
        f"never commit), or in Colab add a secret named {names[0]} (key icon in the left bar) and allow this "
        "notebook to read it. Never type the key into a cell.")


# --------------------------------------------------------------------------- base class


class Provider:
    """Base class: subclasses implement :meth:`generate` (and optionally :meth:`generate_batch`).

    Attributes:
        provider: Short provider name used in tables (``"openai"``, ``"anthropic"``...).
        model: Model name as the provider knows it.
        open_source: Whether the weights are openly available (for the decision tree).
        batch_size: Items per :meth:`generate_batch` call (1 for APIs).
        random_weights: True for tiny random local models (figures get marked).
    """

    provider: str = "base"
    model: str = ""
    open_source: bool = False
    batch_size: int = 1
    random_weights: bool = False
    #: Calls in flight at once for this provider (None: only the runner's global limit applies).
    max_concurrency: int | None = None

    @property
    def identity(self) -> str:
        """Cache/ledger identity: provider and model (and endpoint for compatible servers); never a key."""
        return f"{self.provider}:{self.model}"

    @property
    def label(self) -> str:
        """Row label for tables and plots."""
        return f"{self.model} ({self.provider})"

    def request_settings(self) -> dict[str, Any]:
        """Provider settings that change the answer (OpenAI ``image_detail``, thinking levels...).

        They are part of the cache key and of the run record, and the dry-run estimate uses them.
        """
        return {}

    async def generate(self, request: ProviderRequest, params: GenerationParams) -> ProviderResponse:
        raise NotImplementedError

    async def generate_batch(self, requests: Sequence[ProviderRequest],
                             params: GenerationParams) -> list[ProviderResponse]:
        """Default: one call per request, in order."""
        return [await self.generate(r, params) for r in requests]

    def describe(self) -> dict[str, Any]:
        """Public description for run records (no secrets)."""
        return {"identity": self.identity, "provider": self.provider, "model": self.model,
                "open_source": self.open_source, "batch_size": self.batch_size,
                "random_weights": self.random_weights, "label": self.label, "settings": self.request_settings()}

    async def prepare(self) -> None:
        """Expensive one-time setup (model loading) done before any call is timed."""

    async def aclose(self) -> None:
        """Release clients/connections."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.identity!r})"




def provider_cache_key(provider: Provider, prompt: str, image_hash: str, params: GenerationParams) -> str:
    """The response-cache key: identity, prompt, image and every setting that changes the answer."""
    return cache_key(provider.identity, prompt, image_hash, {**params.as_dict(), **provider.request_settings()})


# --------------------------------------------------------------------------- hosted APIs


class APIProvider(Provider):
    """Shared set-up of the hosted-API providers: the key, the endpoint and their identity."""

    def __init__(self, model: str, api_key: Secret | str | None, base_url: str | None, timeout: float,
                 key_env: Sequence[str]):
        self.model = model
        key = Secret(api_key) if isinstance(api_key, str) else api_key
        key = key or resolve_api_key(key_env)
        if key is None:
            raise _missing_key(self.provider, key_env)
        self._key = key
        self.base_url = base_url
        self.timeout = timeout
        self._client: Any = None
        from ..catalog import load_catalog

        #: The catalogue entry of this model (None: not listed; nothing is assumed about it).
        self.entry = load_catalog().find(self.provider, model)
        # False once the API (or the catalogue) says the model rejects `temperature`.
        self._temperature_ok: bool | None = self.entry.temperature if self.entry is not None else None
        if self.entry is not None and self.entry.status == "retired" and base_url is None:
            warnings.warn(load_catalog().describe(self.provider, model), stacklevel=3)

    def _error(self, exc: BaseException) -> ProviderError | None:
        return classify(self.sdk, exc, self.provider, self.model, self.timeout)

    async def _send(self, call: Any, temperature: float | None) -> Any:
        """``await call(temperature_or_None)``; a 400 naming temperature resends once without it, and remembers.

        Whether a model takes ``temperature`` is decided by the API's answer (or the catalogue),
        never by the SDK's signature.
        """
        use = temperature is not None and self._temperature_ok is not False
        try:
            return await call(temperature if use else None)
        except Exception as exc:  # noqa: BLE001 - classified below; unknown errors re-raised
            err = self._error(exc)
            if err is None:
                raise
            if not (use and err.kind == "client" and err.names_temperature):
                raise err from exc
        self._temperature_ok = False
        try:
            return await call(None)
        except Exception as exc:  # noqa: BLE001
            err = self._error(exc)
            if err is None:
                raise
            raise err from exc

    @property
    def identity(self) -> str:
        # A non-default endpoint is part of the identity: answers of a test server never feed the real cache.
        return f"{self.provider}:{self.model}" + (f"@{self.base_url}" if self.base_url else "")

    @property
    def label(self) -> str:
        host = f" @ {self.base_url.split('//')[-1].split('/')[0]}" if self.base_url else ""
        return f"{self.model} ({self.provider}{host})"

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out["catalog_status"] = self.entry.status if self.entry is not None else "not in catalogue"
        return out

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.identity!r}, api_key={self._key!r})"
