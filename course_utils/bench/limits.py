"""Rate limits and retries of the runner's calls.

* :class:`RateLimiter`: at most ``rpm`` request starts per minute, spaced evenly, and a pause of
  every start after a server's ``Retry-After``.
* :func:`call_with_retries`: one call (a batch for local models) retried with ``tenacity``: 429
  (honouring ``Retry-After``), 5xx, timeouts and malformed bodies are retried with exponential
  backoff and full jitter from the run's seeded random source; client errors are not; after
  ``max_retries`` the error is returned for the ledger. Every attempt that reaches the provider is
  counted in the run's ``stats["calls"]`` and every wait in ``stats["retries"]``.

Both wait with ``asyncio.sleep`` and read the event loop's clock, so a loop on a virtual clock
(the tests) runs them exactly and instantly.

Why the rate limiter is not ``aiolimiter``: its leaky bucket (1.3.0) wakes a waiter with a timer
set for the exact moment the bucket has drained, then re-measures the level; when floating-point
rounding leaves a residue (about 1e-16 of a request) it sets the next timer for the same instant.
On a real clock time has moved on by then and the spin ends; on the virtual clock the tests use
(time moves only to the next timer in the future) it never ends. Measured here: ``AsyncLimiter(1,
0.1)`` (600 requests/min) gave starts at 0, 0.1, 0.2, 0.3 s and then looped forever at 0.4 s. It
also has no way to pause every start after a ``Retry-After``. The limiter below is a start-time
schedule of a few lines that needs neither.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Sequence
from typing import Any

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from .config import RunContext
from .errors import ProviderError
from .providers.base import Provider, ProviderRequest, ProviderResponse

__all__ = ["RateLimiter", "backoff", "call_with_retries"]


def _now() -> float:
    """The event loop's clock (what ``asyncio.sleep`` counts in); ``time.monotonic`` outside a loop."""
    try:
        return asyncio.get_running_loop().time()
    except RuntimeError:
        return time.monotonic()


class RateLimiter:
    """Spaces request starts to at most ``rpm`` per minute and pauses everything after a Retry-After.

    Call :meth:`acquire` immediately before the request goes out (after any other wait, such as a
    concurrency slot): the slot it hands out is a start time, and a request that waits elsewhere
    after taking it would fire late, back to back with the ones behind it.

    Args:
        rpm: Requests per minute; ``None`` = no limit (only Retry-After pauses apply).
    """

    def __init__(self, rpm: float | None = None):
        if rpm is not None and rpm <= 0:
            raise ValueError(f"rate limit must be a positive number of requests per minute, got {rpm}.")
        self.interval = 60.0 / rpm if rpm else 0.0
        self._next = 0.0
        self._blocked_until = 0.0
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        """Wait for this request's start slot: the next free one, and none before a Retry-After ends."""
        async with self._lock:
            now = _now()
            start = max(now, self._next, self._blocked_until)
            self._next = start + self.interval
        delay = start - _now()
        if delay > 0:
            await asyncio.sleep(delay)

    def block_for(self, seconds: float) -> None:
        """No new request starts for ``seconds`` (a server asked us to back off)."""
        self._blocked_until = max(self._blocked_until, _now() + seconds)


def backoff(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with full jitter: uniform(0, min(cap, base * 2**attempt)); ``attempt`` from 0."""
    return rng.uniform(0, min(cap, base * 2 ** attempt))


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, ProviderError) and exc.retryable


async def _attempt(provider: Provider, limiter: RateLimiter, requests: Sequence[ProviderRequest],
                   ctx: RunContext) -> tuple[list[ProviderResponse], float]:
    """One call under the concurrency slots and the rate limit; every failure becomes a ProviderError."""
    own = ctx.provider_slots.get(provider.identity)
    timeout = ctx.config.request_timeout
    async with ctx.semaphore, (own if own is not None else contextlib.nullcontext()):
        await limiter.acquire()  # last wait before the call: its start slot is when the request goes out
        start = time.perf_counter()
        ctx.stats["calls"] += 1
        try:
            if len(requests) == 1 and provider.batch_size == 1:
                coro: Any = provider.generate(requests[0], ctx.params)
            else:
                coro = provider.generate_batch(requests, ctx.params)
            result = await (asyncio.wait_for(coro, timeout) if timeout else coro)
            responses = result if isinstance(result, list) else [result]
            if len(responses) != len(requests):
                raise ProviderError(f"{len(responses)} answers for {len(requests)} requests", "malformed", True)
            return responses, time.perf_counter() - start
        except ProviderError as exc:
            error = exc
        except asyncio.TimeoutError:
            error = ProviderError(f"no answer within {timeout} s", "timeout", True)
        except Exception as exc:  # noqa: BLE001 - a bug in one item must not stop the run
            error = ProviderError(f"{type(exc).__name__}: {str(exc)[:300]}", "unexpected", False)
    ctx.stats["errors_" + error.kind] = ctx.stats.get("errors_" + error.kind, 0) + 1
    if error.kind == "model":
        ctx.fatal.setdefault(provider.identity, error)
        ctx.stats.setdefault("fatal", {})[provider.identity] = str(error)
    raise error


async def call_with_retries(provider: Provider, limiter: RateLimiter, requests: Sequence[ProviderRequest],
                            ctx: RunContext) -> tuple[list[ProviderResponse] | None, float, int, str | None]:
    """Run one call (a batch for local models) with retries.

    Returns:
        ``(responses, seconds, attempts, error)``: the responses and the latency of the attempt that
        succeeded, or ``None``, 0.0 and ``"<kind>: <message>"`` of the last failure. A model the API
        rejected (``ctx.fatal``) is not called again: its pending calls end with that error.
    """
    cfg = ctx.config
    attempts = cfg.max_retries + 1

    def wait(state: RetryCallState) -> float:
        if state.attempt_number >= attempts:  # tenacity asks before it stops: no jitter drawn for nothing
            return 0.0
        error = state.outcome.exception() if state.outcome is not None else None
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            return retry_after + ctx.rng.uniform(0, 0.1 * max(retry_after, 0.1))
        return backoff(state.attempt_number - 1, cfg.backoff_base, cfg.backoff_max, ctx.rng)

    def before_sleep(state: RetryCallState) -> None:
        ctx.stats["retries"] += 1
        error = state.outcome.exception() if state.outcome is not None else None
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            limiter.block_for(retry_after)  # nobody else starts before the server said so

    retrying = AsyncRetrying(stop=stop_after_attempt(attempts), wait=wait, retry=retry_if_exception(_retryable),
                             before_sleep=before_sleep, sleep=asyncio.sleep, reraise=True)
    made = 0
    try:
        async for attempt in retrying:
            fatal = ctx.fatal.get(provider.identity)
            if fatal is not None:
                return None, 0.0, made, f"{fatal.kind}: {fatal}"
            made = attempt.retry_state.attempt_number
            with attempt:
                responses, seconds = await _attempt(provider, limiter, requests, ctx)
                return responses, seconds, made, None
    except ProviderError as error:
        return None, 0.0, made, f"{error.kind}: {error}"
    raise AssertionError("tenacity stopped without a result or an error")  # pragma: no cover
