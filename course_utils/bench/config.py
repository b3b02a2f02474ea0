"""A run's settings (:class:`RunConfig`) and the state one invocation shares between its calls (:class:`RunContext`).

``run_benchmark(task, providers, run_dir, concurrency=4, ...)`` builds a :class:`RunConfig` from its
keyword arguments; ``run_benchmark(..., config=RunConfig(...))`` passes one directly (keywords given
as well replace its fields).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cache import ResponseCache
from .cost import PricingTable
from .errors import ProviderError
from .providers.base import GenerationParams
from .store import RunStore

__all__ = ["RunConfig", "RunContext", "DEFAULT_RUNS_DIR"]

#: Where runs go when no ``run_dir`` is given (``bench_runs/<task>-<timestamp>``), and their shared cache.
DEFAULT_RUNS_DIR = Path("bench_runs")


@dataclass(frozen=True)
class RunConfig:
    """How a benchmark runs.

    Attributes:
        params: Generation settings (default 64 tokens, temperature 0: deterministic, cacheable).
        concurrency: Requests in flight at once, over all providers.
        rate_limits: Requests per minute, by provider name (``"openai"``) or identity.
        max_retries: Retries after the first attempt for 429/5xx/timeouts/malformed bodies.
        backoff_base, backoff_max: Full-jitter exponential backoff (seconds), when no Retry-After.
        request_timeout: Extra wall-clock limit per call (the SDK timeouts apply anyway).
        cache: True = ``<run_dir>/../cache.sqlite``; a path = that file; False = no cache.
        pricing: Price table (default: the shipped, dated table).
        resume: Continue an existing run in ``run_dir`` (skips finished items, retries errors).
            The task may be a subset of the run's items or add new ones: only its unfinished items
            are run, and the run (its summary, ``load_run``, the report) covers the union of all
            items it has ever had, so ``n_items``, ``n_ok``, score, cost and latency agree.
        progress: Show a tqdm progress bar.
        max_side: Longest image side sent to the models.
        score: Compute metrics at the end (set False for speed benchmarks).
        use_java, meteor: Passed to the captioning metrics.
        seed: Seed of the backoff jitter.
        on_record: Called with every finished record (e.g. to live-update a plot).
    """

    params: GenerationParams = field(default_factory=GenerationParams)
    concurrency: int = 8
    rate_limits: Mapping[str, float] | None = None
    max_retries: int = 4
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    request_timeout: float | None = None
    cache: bool | str | os.PathLike[str] = True
    pricing: PricingTable | None = None
    resume: bool = True
    progress: bool = True
    max_side: int = 768
    score: bool = True
    use_java: bool | None = None
    meteor: bool = True
    seed: int = 0
    on_record: Callable[[dict[str, Any]], None] | None = None

    def __post_init__(self) -> None:
        if self.params is None:  # params=None (as the CLI and notebooks pass it) means the default
            object.__setattr__(self, "params", GenerationParams())
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {self.concurrency}.")
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {self.max_retries}.")

    @classmethod
    def build(cls, config: RunConfig | None = None, **settings: Any) -> RunConfig:
        """``config`` (or the defaults) with ``settings`` replacing its fields; unknown names are a TypeError."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(settings) - names)
        if unknown:
            raise TypeError(f"Unknown run setting(s) {unknown}; the settings are {sorted(names)}.")
        return dataclasses.replace(config, **settings) if config is not None else cls(**settings)

    def rate_limit_for(self, identity: str, provider: str) -> float | None:
        """Requests per minute for a provider: by its identity first, then by its provider name."""
        limits = self.rate_limits or {}
        return limits.get(identity) or limits.get(provider)


@dataclass
class RunContext:
    """What one invocation of the runner shares between its calls (built with named fields).

    Attributes:
        config: The run's settings.
        store: The run's durable record.
        cache: The response cache (None: not cached).
        pricing: The price table in use.
        semaphore: The global concurrency limit.
        rng: The seeded source of backoff jitter.
        stats: Counters of this invocation (calls, retries, cache hits, errors by kind, spent...).
        bar: The tqdm progress bar, if any.
        provider_slots: Per-provider concurrency limits (``Provider.max_concurrency``).
        fatal: identity -> the error that makes every further call to that model pointless (a rejected model).
    """

    config: RunConfig
    store: RunStore
    cache: ResponseCache | None
    pricing: PricingTable
    semaphore: asyncio.Semaphore
    rng: random.Random
    stats: dict[str, Any]
    bar: Any = None
    provider_slots: dict[str, asyncio.Semaphore] = field(default_factory=dict)
    fatal: dict[str, ProviderError] = field(default_factory=dict)

    @property
    def params(self) -> GenerationParams:
        return self.config.params
