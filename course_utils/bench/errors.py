"""Failed API calls, classified once for all three SDKs (openai, anthropic, google-genai).

:data:`SDK_ERRORS` is the one table from an SDK's exception classes to the runner's kinds;
:func:`classify` applies it, reads the HTTP status and ``Retry-After``, and recognises the two
answers that need more than a retry decision: a request rejected because of its **model** (retired,
unknown or not available to the key: one clear error naming the catalogue, never retried) and a
400 naming **temperature** (the provider then resends once without it).
"""

from __future__ import annotations

import asyncio
import email.utils
import re
import time
from typing import Any

__all__ = ["ProviderError", "SDK_ERRORS", "classify", "status_error", "parse_retry_after"]


class ProviderError(RuntimeError):
    """A failed call, classified for the runner's retry logic.

    Attributes:
        kind: ``"rate_limit"``, ``"server"``, ``"timeout"``, ``"connection"``, ``"malformed"``,
            ``"client"`` (4xx other than 408/409/429: not retried), ``"model"`` (the API rejected the
            model id: not retried, and the runner calls that model no more) or ``"empty"`` (the
            answer budget was spent before any text: not retried).
        retryable: Whether the runner should try again.
        retry_after: Seconds the server asked us to wait (``Retry-After``), if any.
        status: HTTP status code, if any.
        names_temperature: The API's message names the ``temperature`` parameter.
    """

    def __init__(self, message: str, kind: str, retryable: bool, retry_after: float | None = None,
                 status: int | None = None, names_temperature: bool = False):
        super().__init__(message)
        self.kind = kind
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status
        self.names_temperature = names_temperature


#: Per SDK: (exception class name found in the exception's MRO, kind), first match wins. Timeout
#: comes before connection (the SDKs' timeout errors subclass their connection errors). google-genai
#: raises its own APIError for HTTP statuses and the transport's (httpx or its fork) errors otherwise.
SDK_ERRORS: dict[str, tuple[tuple[str, str], ...]] = {
    "openai": (("APITimeoutError", "timeout"), ("APIConnectionError", "connection"), ("APIStatusError", "status"),
               ("APIResponseValidationError", "malformed"), ("JSONDecodeError", "malformed"), ("ValueError", "malformed")),
    "anthropic": (("APITimeoutError", "timeout"), ("APIConnectionError", "connection"), ("APIStatusError", "status"),
                  ("APIResponseValidationError", "malformed"), ("JSONDecodeError", "malformed"),
                  ("ValueError", "malformed")),
    "gemini": (("APIError", "status"), ("TimeoutException", "timeout"), ("TimeoutError", "timeout"),
               ("TransportError", "connection"), ("ConnectionError", "connection"), ("JSONDecodeError", "malformed"),
               ("ValueError", "malformed")),
}

_MODEL_WORDS = re.compile(r"not[ _]found|does not exist|no longer|deprecated|retired|shut ?down|unknown|invalid|"
                          r"not supported|unsupported|not available|decommission", re.I)


def parse_retry_after(headers: Any) -> float | None:
    """Seconds from ``retry-after-ms`` / ``retry-after`` (number or HTTP date), else None."""
    if headers is None:
        return None
    try:
        ms = headers.get("retry-after-ms")
        if ms is not None:
            return max(0.0, float(ms) / 1000)
        value = headers.get("retry-after")
    except Exception:  # noqa: BLE001 - odd header objects
        return None
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - time.time())


def status_error(status: int, message: str, headers: Any = None) -> ProviderError:
    """Classify an HTTP status: 429 / 5xx / 408 / 409 retried, other 4xx not."""
    if status == 429:
        return ProviderError(message, "rate_limit", True, parse_retry_after(headers), status)
    if status >= 500:
        return ProviderError(message, "server", True, parse_retry_after(headers), status)
    if status in (408, 409):
        return ProviderError(message, "timeout" if status == 408 else "server", True, None, status)
    return ProviderError(message, "client", False, None, status,
                         names_temperature="temperature" in message.lower())


def _rejects_model(status: int, message: str, model: str) -> bool:
    if "temperature" in message.lower():
        return False
    if status == 404:
        return True  # the three APIs answer an unknown or shut-down model id with 404
    return status in (400, 403, 410) and model.lower() in message.lower() and bool(_MODEL_WORDS.search(message))


def classify(sdk: str, exc: BaseException, provider: str, model: str, timeout: float) -> ProviderError | None:
    """The :class:`ProviderError` for an exception of SDK ``sdk`` (``None``: not an API failure; re-raise).

    Args:
        sdk: ``"openai"``, ``"anthropic"`` or ``"gemini"`` (a key of :data:`SDK_ERRORS`).
        exc: What the SDK raised.
        provider, model: For the message of a rejected model.
        timeout: The client's timeout in seconds (for the message).
    """
    names = {c.__name__ for c in type(exc).__mro__}
    kind = "timeout" if isinstance(exc, asyncio.TimeoutError) else None
    if kind is None:
        kind = next((k for name, k in SDK_ERRORS[sdk] if name in names), None)
    if kind is None:
        return None
    if kind == "timeout":
        return ProviderError(f"timeout after {timeout} s", "timeout", True)
    if kind == "connection":
        return ProviderError(f"connection failed: {exc}", "connection", True)
    if kind == "malformed":
        return ProviderError(f"malformed response: {str(exc)[:300]}", "malformed", True)
    status = int(getattr(exc, "status_code", None) or getattr(exc, "code", None) or 0)
    headers = getattr(getattr(exc, "response", None), "headers", None)
    text = str(exc)[:300]
    if _rejects_model(status, text, model):
        from .catalog import load_catalog

        return ProviderError(
            f"{provider} rejected the model {model!r} (HTTP {status}: {text}). Not retried: the model is retired, "
            f"unknown or not available to your key. {load_catalog().describe(provider, model)}", "model", False,
            None, status)
    return status_error(status, f"HTTP {status}: {text}", headers)
