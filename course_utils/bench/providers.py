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
"""

from __future__ import annotations

import asyncio
import base64
import os
import threading
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .errors import ProviderError, classify

__all__ = [
    "GenerationParams", "ProviderRequest", "ProviderResponse", "ProviderError", "Secret", "resolve_api_key",
    "Provider", "OpenAIProvider", "OpenAICompatibleProvider", "AnthropicProvider", "GeminiProvider",
    "TransformersProvider", "ReplayProvider", "make_provider",
]


# --------------------------------------------------------------------------- data types


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


# --------------------------------------------------------------------------- OpenAI and compatible


class _APIProvider(Provider):
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
        from .catalog import load_catalog

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




class OpenAIProvider(_APIProvider):
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


# --------------------------------------------------------------------------- Anthropic


class AnthropicProvider(_APIProvider):
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


# --------------------------------------------------------------------------- Gemini


class GeminiProvider(_APIProvider):
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


# --------------------------------------------------------------------------- local transformers


class TransformersProvider(Provider):
    """A local open model through transformers, run in a worker thread, batched.

    Args:
        name: Registry name: ``blip_caption_base``, ``blip_vqa_base`` (CPU OK), ``blip2_opt_2.7b``,
            ``llava_1.5_7b`` (GPU; pass ``dtype="float16"`` or ``load_in_8bit=True``).
        tiny: Tiny random variant (BLIP only); ``None`` follows ``COURSE_UTILS_TINY``.
        device: ``"cpu"``, ``"cuda"``...
        batch_size: Images per forward pass.
        usd_per_hour: Optional price of the machine (e.g. a rented GPU) to put local runs in the
            cost ledger; 0 by default (the electricity of a laptop is not counted).
        dtype, load_in_8bit: Passed to :func:`course_utils.models.load_captioner`.
    """

    provider = "local"
    open_source = True
    max_concurrency = 1  # one forward pass at a time; batching gives the parallelism

    def __init__(self, name: str = "blip_vqa_base", tiny: bool | None = None, device: str | None = None,
                 batch_size: int = 8, usd_per_hour: float = 0.0, dtype: str | None = None,
                 load_in_8bit: bool = False, seed: int = 0):
        from ..models import get_spec, is_tiny

        spec = get_spec(name)
        if spec.family not in ("captioner", "vqa"):
            raise ValueError(f"{name!r} is not a captioning/VQA model; use blip_caption_base, blip_vqa_base, "
                             "blip2_opt_2.7b or llava_1.5_7b.")
        self.spec = spec
        self.model = name
        # Licences follow the weights: BLIP-2 (OPT) and LLaVA (Llama 2) are open weights, not open source.
        self.open_source = bool(spec.open_source) if spec.open_source is not None else True
        self.tiny = is_tiny(tiny)
        self.random_weights = self.tiny
        self.device = device
        self.batch_size = max(1, int(batch_size))
        self.usd_per_hour = float(usd_per_hour)
        self._load_kwargs = {"dtype": dtype, "load_in_8bit": load_in_8bit, "seed": seed}
        self._loaded: Any = None
        self._lock = threading.Lock()  # not an asyncio.Lock: the provider may serve several event loops

    @property
    def identity(self) -> str:
        return f"local:{self.model}{'-TINY-RANDOM' if self.tiny else ''}"

    @property
    def label(self) -> str:
        return f"{self.model}{' (tiny random)' if self.tiny else ''} (local)"

    def load(self) -> Any:
        """Load the model now (otherwise it loads on the first call)."""
        if self._loaded is None:
            from ..models import load_captioner, load_vqa

            loader = load_vqa if self.spec.family == "vqa" else load_captioner
            self._loaded = loader(self.model, tiny=self.tiny, device=self.device, **self._load_kwargs)
        return self._loaded

    def _run_batch(self, requests: Sequence[ProviderRequest], params: GenerationParams) -> list[ProviderResponse]:
        if self.spec.arch == "BlipForQuestionAnswering" and len(requests) > 1:
            # BLIP VQA's generate() attends to every question token including padding (its mask is all
            # ones), so padded batches change answers. Batch only questions of equal token length.
            tokenizer = self.load().processor.tokenizer
            groups: dict[int, list[int]] = {}
            for i, r in enumerate(requests):
                groups.setdefault(len(tokenizer(r.question or r.prompt)["input_ids"]), []).append(i)
            if len(groups) > 1:
                out: list[ProviderResponse | None] = [None] * len(requests)
                for idx in groups.values():
                    for i, resp in zip(idx, self._run_group([requests[i] for i in idx], params)):
                        out[i] = resp
                return [r for r in out if r is not None]
        return self._run_group(requests, params)

    def _run_group(self, requests: Sequence[ProviderRequest], params: GenerationParams) -> list[ProviderResponse]:
        import io

        import torch
        from PIL import Image

        from ..tiny.vlm import tiny_generate_kwargs

        lm = self.load()
        images = [Image.open(io.BytesIO(r.image)).convert("RGB") for r in requests]
        arch = self.spec.arch or ""
        tokenizer = getattr(lm.processor, "tokenizer", lm.processor)
        decoder_only = arch in ("Blip2ForConditionalGeneration", "LlavaForConditionalGeneration")
        texts: list[str] | None = None
        if arch == "BlipForQuestionAnswering":
            texts = [r.question or r.prompt for r in requests]
        elif arch == "Blip2ForConditionalGeneration":
            texts = [f"Question: {r.question} Answer:" if r.kind == "vqa" else "" for r in requests]
        elif arch == "LlavaForConditionalGeneration":
            texts = [f"USER: <image>\n{r.prompt} ASSISTANT:" for r in requests]
        if decoder_only:
            tokenizer.padding_side = "left"  # batched generation with a decoder-only LM
        kwargs: dict[str, Any] = {"images": images, "return_tensors": "pt"}
        if texts is not None and (any(texts) or decoder_only):
            kwargs.update(text=texts, padding=True)
        inputs = dict(lm.processor(**kwargs))
        inputs.pop("token_type_ids", None)
        device = next(lm.model.parameters()).device
        dtype = next(lm.model.parameters()).dtype
        inputs = {k: (v.to(device, dtype) if k == "pixel_values" else v.to(device)) for k, v in inputs.items()}
        gen_kwargs: dict[str, Any] = {"max_new_tokens": params.max_tokens, "do_sample": False}
        if self.tiny:
            gen_kwargs.update(tiny_generate_kwargs(tokenizer))
        with torch.inference_mode():
            out = lm.model.generate(**inputs, **gen_kwargs)
        prompt_len = 0
        if decoder_only and "input_ids" in inputs:
            n = inputs["input_ids"].shape[1]
            if out.shape[1] >= n and torch.equal(out[:, :n].to(inputs["input_ids"].device), inputs["input_ids"]):
                prompt_len = n  # the decoder returned prompt + answer: keep the answer
        pad = getattr(tokenizer, "pad_token_id", None)
        in_tokens = inputs["attention_mask"].sum(dim=1).tolist() if "attention_mask" in inputs else [0] * len(images)
        responses = []
        for i, row in enumerate(out):
            new = row[prompt_len:]
            text = tokenizer.decode(new, skip_special_tokens=True).strip()
            n_out = int((new != pad).sum()) if pad is not None else int(new.numel())
            responses.append(ProviderResponse(text, int(in_tokens[i]), n_out, self.model))
        return responses

    async def prepare(self) -> None:
        await asyncio.to_thread(self.load)

    async def generate_batch(self, requests: Sequence[ProviderRequest],
                             params: GenerationParams) -> list[ProviderResponse]:
        return await asyncio.to_thread(self._locked_batch, list(requests), params)

    def _locked_batch(self, requests: list[ProviderRequest], params: GenerationParams) -> list[ProviderResponse]:
        with self._lock:  # one forward pass at a time on this model
            return self._run_batch(requests, params)

    async def generate(self, request: ProviderRequest, params: GenerationParams) -> ProviderResponse:
        return (await self.generate_batch([request], params))[0]

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "tiny": self.tiny, "usd_per_hour": self.usd_per_hour}


# --------------------------------------------------------------------------- replay


class ReplayProvider(Provider):
    """Serve recorded responses (from a run directory or a list of records) without any network.

    Records are matched by ``(image_hash, prompt)``; a request with no record raises a
    non-retryable :class:`ProviderError`. Recorded token counts are returned, so costs can be
    recomputed with another pricing table.

    Args:
        records: Dicts with ``image_hash``, ``prompt``, ``output`` and optionally
            ``input_tokens``, ``output_tokens``.
        of: Identity of the recorded provider (e.g. ``"openai:gpt-4o-mini"``).
        model: Model name for tables (defaults to the part of ``of`` after the colon).
        open_source: As the recorded model.
    """

    provider = "replay"

    def __init__(self, records: Sequence[Mapping[str, Any]], of: str, model: str | None = None,
                 open_source: bool = False):
        self.of = of
        self.model = model or of.split(":", 1)[-1]
        self.open_source = open_source
        self._table = {(r["image_hash"], r["prompt"]): r for r in records if r.get("output") is not None}

    @classmethod
    def from_run(cls, run_dir: str | os.PathLike[str], identity: str | None = None) -> ReplayProvider:
        """Replay what provider ``identity`` answered in the run at ``run_dir`` (the only one if None)."""
        from .runner import RunStore

        store = RunStore(Path(run_dir))
        try:
            identities = store.provider_identities()
            if identity is None:
                if len(identities) != 1:
                    raise ValueError(f"{run_dir} has several providers {identities}; pass identity=one of them.")
                identity = identities[0]
            if identity not in identities:
                raise KeyError(f"{identity!r} is not in {run_dir}; it has {identities}.")
            info = store.provider_info(identity)
            return cls(store.records(identity), of=identity, model=info.get("model"),
                       open_source=bool(info.get("open_source")))
        finally:
            store.close()

    @property
    def identity(self) -> str:
        return f"replay:{self.of}"

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "of": self.of}

    @property
    def label(self) -> str:
        return f"{self.model} (replay of {self.of.split(':', 1)[0]})"

    async def generate(self, request: ProviderRequest, params: GenerationParams) -> ProviderResponse:
        record = self._table.get((request.image_hash, request.prompt))
        if record is None:
            raise ProviderError(f"no recorded response for item {request.item_id!r}", "client", False)
        return ProviderResponse(str(record["output"]), int(record.get("input_tokens") or 0),
                                int(record.get("output_tokens") or 0), self.model)


# --------------------------------------------------------------------------- factory


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
