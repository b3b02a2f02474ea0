"""The run loop: every pending item of a task on every provider, concurrently, durably, resumably.

One call runs a task against several providers::

    from course_utils.bench import run_benchmark, load_mini_vqa, TransformersProvider
    result = run_benchmark(load_mini_vqa(), [TransformersProvider("blip_vqa_base")], "bench_runs/demo")
    result.table()      # one dict per model: accuracy, cost_per_1k, p50/p95 latency, ...

* Requests run concurrently (``concurrency``), each provider behind its own rate limiter
  (``rate_limits={"openai": 500}`` requests per minute); local models get batches. Limits and
  retries: :mod:`.limits`. A model the API rejects (retired or unknown) is asked once: its first
  request goes alone, and after a rejection its other items are recorded with the same error
  without any request.
* Every finished item is committed to ``<run_dir>/run.sqlite`` (:mod:`.store`) as it completes,
  and every paid answer to the response cache (:mod:`.cache`) before that: a run killed at any
  moment and started again with the same ``run_dir`` loses no finished item and repeats no paid call.
* The ledger records per item: output, latency, tokens, cost (from the dated pricing table) and
  whether it came from the cache; per model (:mod:`.scoring`): the task's metrics, p50/p95
  latency, cost per 1K images and the money actually spent in this run.
* The settings are one :class:`~course_utils.bench.config.RunConfig`; the dry-run estimate is
  :func:`~course_utils.bench.estimate.estimate_cost`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .cache import ResponseCache
from .config import DEFAULT_RUNS_DIR, RunConfig, RunContext
from .cost import PricingTable
from .estimate import estimate_cost
from .limits import RateLimiter, call_with_retries
from .providers.base import Provider, ProviderRequest, provider_cache_key
from .scoring import RunResult, load_run, stored_result, write_summary
from .store import RunStore, open_run
from .tasks import BenchItem, Task

__all__ = ["run_benchmark", "arun_benchmark", "estimate_cost", "RunResult", "RunStore", "RunConfig", "load_run",
           "RateLimiter", "DEFAULT_RUNS_DIR"]

#: Providers that run on this machine or from a record: no API can reject their model.
_OFFLINE = ("local", "replay")


def _request(item: BenchItem, kind: str, max_side: int) -> ProviderRequest:
    data, digest = item.encoded(max_side)
    return ProviderRequest(item.item_id, kind, item.prompt, item.question, data, digest)


async def _run_unit(provider: Provider, info: dict[str, Any], limiter: RateLimiter, items: list[BenchItem],
                    requests: list[ProviderRequest], keys: list[str | None], ctx: RunContext) -> None:
    """One call (one request, or one batch of a local model) and the records of its items."""
    responses, seconds, attempts, error = await call_with_retries(provider, limiter, requests, ctx)
    price = ctx.pricing.price_for(info)
    price_status = price.status if price is not None else "unknown"
    for i, (item, req) in enumerate(zip(items, requests)):
        record: dict[str, Any] = {"identity": info["identity"], "item_id": item.item_id, "image_hash": req.image_hash,
                                  "prompt": req.prompt, "attempts": attempts, "cached": 0,
                                  "price_status": price_status, "finished_at": time.time()}
        if responses is None:
            record.update(status="error", error=error, paid_usd=0.0)
        else:
            resp = responses[i]
            amortised = seconds / len(requests)
            cost = price.cost(resp.input_tokens, resp.output_tokens, 1, amortised) if price is not None else None
            record.update(status="ok", output=resp.text, input_tokens=resp.input_tokens,
                          output_tokens=resp.output_tokens, latency_s=seconds, amortised_s=amortised,
                          cost_usd=cost, paid_usd=cost or 0.0)
            ctx.stats["spent_usd"] += cost or 0.0
            if ctx.cache is not None and keys[i] is not None:
                # Cache first: a kill between these two writes still never pays twice.
                ctx.cache.put(keys[i], info["identity"], req.prompt, req.image_hash, ctx.params.as_dict(),
                              resp.text, resp.input_tokens, resp.output_tokens, seconds, amortised, cost)
        ctx.store.write(record)
        if ctx.config.on_record is not None:
            ctx.config.on_record(record)
        if ctx.bar is not None:
            ctx.bar.update(1)


def _cached_record(provider: Provider, item: BenchItem, req: ProviderRequest, hit: dict[str, Any],
                   price_status: str) -> dict[str, Any]:
    """The record of an item answered from the response cache (nothing paid)."""
    return {"identity": provider.identity, "item_id": item.item_id, "status": "ok", "output": hit["output"],
            "input_tokens": hit["input_tokens"], "output_tokens": hit["output_tokens"],
            "latency_s": hit["latency_s"], "amortised_s": hit["amortised_s"], "cost_usd": hit["cost_usd"],
            "paid_usd": 0.0, "price_status": price_status, "cached": 1, "attempts": 0,
            "image_hash": req.image_hash, "prompt": req.prompt, "finished_at": time.time()}


_Unit = tuple[Provider, dict[str, Any], RateLimiter, list[tuple[BenchItem, ProviderRequest, str | None]]]


def _plan(task: Task, providers: Sequence[Provider], ctx: RunContext) -> list[_Unit]:
    """Record what the cache already has; group the rest into calls (one item, or a local model's batch)."""
    cfg, stats = ctx.config, ctx.stats
    units: list[_Unit] = []
    for provider in providers:
        info = provider.describe()
        done = ctx.store.done_ids(provider.identity)
        stats["skipped_done"] += sum(it.item_id in done for it in task.items)
        batch: list[tuple[BenchItem, ProviderRequest, str | None]] = []
        limiter = RateLimiter(cfg.rate_limit_for(provider.identity, provider.provider))
        for item in (it for it in task.items if it.item_id not in done):
            req = _request(item, task.kind, cfg.max_side)
            key = provider_cache_key(provider, req.prompt, req.image_hash, cfg.params) \
                if ctx.cache is not None else None
            hit = ctx.cache.get(key) if (ctx.cache is not None and key is not None) else None
            if hit is not None:
                stats["cache_hits"] += 1
                price = ctx.pricing.price_for(info)
                ctx.store.write(_cached_record(provider, item, req, hit, price.status if price else "unknown"))
                continue
            batch.append((item, req, key))
            if len(batch) >= provider.batch_size:
                units.append((provider, info, limiter, batch))
                batch = []
        if batch:
            units.append((provider, info, limiter, batch))
    return units


async def _run_units(units: list[_Unit], ctx: RunContext) -> None:
    def run(unit: _Unit) -> Any:
        provider, info, limiter, batch = unit
        return _run_unit(provider, info, limiter, [b[0] for b in batch], [b[1] for b in batch],
                         [b[2] for b in batch], ctx)

    # Each hosted model's first request goes alone: a model the API rejects then costs one request.
    first: dict[str, _Unit] = {}
    for unit in units:
        if unit[0].provider not in _OFFLINE:
            first.setdefault(unit[0].identity, unit)
    await asyncio.gather(*[run(u) for u in first.values()])
    await asyncio.gather(*[run(u) for u in units if not any(u is f for f in first.values())])


async def arun_benchmark(task: Task, providers: Sequence[Provider], run_dir: str | os.PathLike[str] | None = None,
                         *, config: RunConfig | None = None, **settings: Any) -> RunResult:
    """Run ``task`` on every provider; the async core of :func:`run_benchmark` (same arguments).

    Args:
        task: Items to run (:func:`~course_utils.bench.tasks.load_mini_vqa`...).
        providers: Providers to compare.
        run_dir: The run's folder (created); ``None`` = ``bench_runs/<task>-<timestamp>``.
        config: The run's settings (:class:`~course_utils.bench.config.RunConfig`); default: its defaults.
        **settings: Any :class:`~course_utils.bench.config.RunConfig` field by name (``concurrency=4``,
            ``rate_limits={"openai": 500}``, ``max_retries``, ``cache``, ``pricing``, ``resume``,
            ``progress``, ``score``, ``seed``, ``on_record``...); they replace the fields of ``config``.

    Returns:
        A :class:`RunResult`.

    Raises:
        TypeError: an unknown setting (the message lists the settings).
        ValueError: no provider, two providers with one identity, bad settings, or a run in
            ``run_dir`` started with other settings (nothing is changed).
    """
    cfg = RunConfig.build(config, **settings)
    if not providers:
        raise ValueError("Give at least one provider, e.g. TransformersProvider('blip_vqa_base').")
    identities = [p.identity for p in providers]
    if len(set(identities)) != len(identities):
        raise ValueError(f"Two providers share an identity ({identities}); each model once per run.")
    run_path = Path(run_dir) if run_dir is not None else \
        DEFAULT_RUNS_DIR / f"{task.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    store = open_run(task, run_path, [p.describe() for p in providers], cfg.params.as_dict(), cfg.resume)
    response_cache: ResponseCache | None = None
    if cfg.cache and cfg.params.deterministic:
        response_cache = ResponseCache(run_path.parent / "cache.sqlite" if cfg.cache is True else Path(cfg.cache))
    stats: dict[str, Any] = {"calls": 0, "retries": 0, "cache_hits": 0, "skipped_done": 0, "spent_usd": 0.0,
                             "to_run": 0}
    ctx = RunContext(config=cfg, store=store, cache=response_cache, pricing=cfg.pricing or PricingTable.load(),
                     semaphore=asyncio.Semaphore(cfg.concurrency), rng=random.Random(cfg.seed), stats=stats)
    started = time.perf_counter()
    try:
        units = _plan(task, providers, ctx)
        stats["to_run"] = sum(len(u[3]) for u in units)
        busy = {u[0].identity: u[0] for u in units}
        for provider in busy.values():
            if provider.max_concurrency:
                ctx.provider_slots[provider.identity] = asyncio.Semaphore(provider.max_concurrency)
        await asyncio.gather(*[p.prepare() for p in busy.values()])
        if cfg.progress and stats["to_run"]:
            from tqdm.auto import tqdm

            ctx.bar = tqdm(total=stats["to_run"], desc=f"bench {task.name}", unit="item")
        await _run_units(units, ctx)
    finally:
        if ctx.bar is not None:
            ctx.bar.close()
        for provider in providers:
            try:
                await provider.aclose()
            except Exception:  # noqa: BLE001 - closing must not hide the run's outcome
                pass
        store.close()
        if response_cache is not None:
            response_cache.close()
    stats["seconds"] = time.perf_counter() - started
    if not cfg.score:
        return stored_result(run_path, stats)
    result = load_run(run_path, use_java=cfg.use_java, meteor=cfg.meteor)
    result.stats = stats
    write_summary(run_path, result.summary, result.records)
    return result


def run_benchmark(task: Task, providers: Sequence[Provider], run_dir: str | os.PathLike[str] | None = None,
                  *, config: RunConfig | None = None, **settings: Any) -> RunResult:
    """Run a benchmark synchronously (works inside Jupyter, where an event loop is already running).

    See :func:`arun_benchmark` for the arguments and :class:`~course_utils.bench.config.RunConfig`
    for every setting.
    """
    coro = arun_benchmark(task, providers, run_dir, config=config, **settings)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # Jupyter: run the loop in a helper thread
        return pool.submit(asyncio.run, coro).result()
