"""Async benchmark runner: concurrency limit, per-provider rate limits, retries, cache, resume, ledger.

One call runs a task against several providers::

    from course_utils.bench import run_benchmark, load_mini_vqa, TransformersProvider
    result = run_benchmark(load_mini_vqa(), [TransformersProvider("blip_vqa_base")], "bench_runs/demo")
    result.table()      # one dict per model: accuracy, cost_per_1k, p50/p95 latency, ...

* Requests run concurrently (``concurrency``), each provider behind its own rate limiter
  (``rate_limits={"openai": 500}`` requests per minute); local models get batches.
* Rate limits (429, honouring ``Retry-After``), 5xx, timeouts and malformed bodies are retried
  with exponential backoff and full jitter; after ``max_retries`` the item is recorded as an
  error and the run goes on. Client errors (400, 401, 403...) are not retried. A model the API
  rejects (retired or unknown) is asked once: its first request goes alone, and after a rejection
  its other items are recorded with the same error without any request.
* Every finished item is committed to ``<run_dir>/run.sqlite`` (SQLite WAL) as it completes,
  and every paid answer to the response cache before that: a run killed at any moment and
  started again with the same ``run_dir`` loses no finished item and repeats no paid call.
* The ledger records per item: output, latency, tokens, cost (from the dated pricing table) and
  whether it came from the cache; per model: the task's metrics, p50/p95 latency, cost per 1K
  images and the money actually spent in this run.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .cache import ResponseCache, cache_key, connect
from .cost import PricingTable, estimate_image_tokens, estimate_text_tokens
from .providers import GenerationParams, Provider, ProviderError, ProviderRequest, ProviderResponse
from .tasks import BenchItem, Task

__all__ = ["run_benchmark", "arun_benchmark", "estimate_cost", "RunResult", "RunStore", "load_run",
           "RateLimiter", "DEFAULT_RUNS_DIR"]

DEFAULT_RUNS_DIR = Path("bench_runs")

_RESULT_COLUMNS = ("identity", "item_id", "status", "output", "input_tokens", "output_tokens", "latency_s",
                   "amortised_s", "cost_usd", "paid_usd", "price_status", "cached", "attempts", "error",
                   "image_hash", "prompt", "finished_at")


# --------------------------------------------------------------------------- durable run store


class RunStore:
    """The durable record of one run: ``<run_dir>/run.sqlite`` (meta, providers, one row per item)."""

    def __init__(self, run_dir: Path, create: bool = False):
        self.run_dir = Path(run_dir)
        path = self.run_dir / "run.sqlite"
        if not create and not path.exists():
            raise FileNotFoundError(f"No run at {self.run_dir} (no run.sqlite). List runs with "
                                    "`course-utils bench list` or start one with `course-utils bench run`.")
        self.conn = connect(path)
        self.conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        self.conn.execute("CREATE TABLE IF NOT EXISTS providers (identity TEXT PRIMARY KEY, info TEXT)")
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS results (identity TEXT, item_id TEXT, status TEXT, output TEXT, "
            "input_tokens INTEGER, output_tokens INTEGER, latency_s REAL, amortised_s REAL, cost_usd REAL, "
            "paid_usd REAL, price_status TEXT, cached INTEGER, attempts INTEGER, error TEXT, image_hash TEXT, "
            "prompt TEXT, finished_at REAL, PRIMARY KEY (identity, item_id))")

    def get_meta(self) -> dict[str, Any]:
        return {k: json.loads(v) for k, v in self.conn.execute("SELECT key, value FROM meta")}

    def set_meta(self, **values: Any) -> None:
        for k, v in values.items():
            self.conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (k, json.dumps(v)))

    def add_provider(self, info: Mapping[str, Any]) -> None:
        self.conn.execute("INSERT OR REPLACE INTO providers VALUES (?, ?)", (info["identity"], json.dumps(info)))

    def provider_identities(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT identity FROM providers ORDER BY rowid")]

    def provider_info(self, identity: str) -> dict[str, Any]:
        row = self.conn.execute("SELECT info FROM providers WHERE identity = ?", (identity,)).fetchone()
        return json.loads(row[0]) if row else {}

    def write(self, record: Mapping[str, Any]) -> None:
        """Commit one item's record (autocommit in WAL mode: it survives a kill once this returns)."""
        self.conn.execute(f"INSERT OR REPLACE INTO results VALUES ({', '.join('?' * len(_RESULT_COLUMNS))})",
                          tuple(record.get(c) for c in _RESULT_COLUMNS))

    def done_ids(self, identity: str, include_errors: bool = False) -> set[str]:
        query = "SELECT item_id FROM results WHERE identity = ?" + ("" if include_errors else " AND status = 'ok'")
        return {r[0] for r in self.conn.execute(query, (identity,))}

    def records(self, identity: str | None = None) -> list[dict[str, Any]]:
        query = f"SELECT {', '.join(_RESULT_COLUMNS)} FROM results"
        rows = self.conn.execute(query + (" WHERE identity = ?" if identity else "") + " ORDER BY rowid",
                                 (identity,) if identity else ())
        return [dict(zip(_RESULT_COLUMNS, r)) for r in rows]

    def close(self) -> None:
        self.conn.close()


# --------------------------------------------------------------------------- rate limiting


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
    """

    def __init__(self, rpm: float | None = None):
        if rpm is not None and rpm <= 0:
            raise ValueError(f"rate limit must be a positive number of requests per minute, got {rpm}.")
        self.interval = 60.0 / rpm if rpm else 0.0
        self._next = 0.0
        self._blocked_until = 0.0
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
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


def _backoff(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with full jitter: uniform(0, min(cap, base * 2**attempt))."""
    return rng.uniform(0, min(cap, base * 2 ** attempt))


# --------------------------------------------------------------------------- results


def _percentile(values: Sequence[float], q: float) -> float | None:
    return float(np.percentile(np.asarray(values, dtype=float), q)) if values else None


@dataclass
class RunResult:
    """A finished (or partly finished) run, read back from its store.

    Attributes:
        run_dir: Where the run lives.
        task: The task that was run.
        providers: Descriptions of the providers (no secrets).
        records: One dict per (provider, item).
        summary: One row per provider (see :meth:`table`).
        stats: Counters of this invocation (calls made, cache hits, retries, spent).
    """

    run_dir: Path
    task: Task
    providers: list[dict[str, Any]]
    records: list[dict[str, Any]]
    summary: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)

    def table(self) -> list[dict[str, Any]]:
        """One plain dict per model, ready for the assignment (no DataFrame needed).

        Keys: ``model``, ``provider``, ``label``, ``open_source``, ``task``, ``metric`` (name of the
        primary metric), ``score`` (its value), ``accuracy`` (VQA accuracy, None for captioning),
        ``CIDEr``/``BLEU-4``/``METEOR``/``ROUGE-L`` (captioning), ``cost_per_1k`` (USD per 1000
        images at the listed price, cache hits counted at their original cost), ``p50_latency_s``,
        ``p95_latency_s``, ``n_items``, ``n_ok``, ``n_errors``, ``n_cached``, ``spent_usd`` (paid in
        this run), ``total_cost_usd``, ``price_status``, ``random_weights``.
        """
        return [dict(row) for row in self.summary]

    def item_records(self, identity: str | None = None) -> list[dict[str, Any]]:
        """Per-item rows (output, latency, tokens, cost, cached, error, per-item score)."""
        return [r for r in self.records if identity is None or r["identity"] == identity]

    def __repr__(self) -> str:
        rows = ", ".join(f"{r['label']}: {r['metric']}={_fmt(r['score'])}" for r in self.summary)
        return f"RunResult({str(self.run_dir)!r}, {self.task.name}, {rows})"


def _fmt(value: Any) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _summarise(task: Task, providers: list[dict[str, Any]], records: list[dict[str, Any]],
               use_java: bool | None, meteor: bool) -> list[dict[str, Any]]:
    rows = []
    for info in providers:
        mine = [r for r in records if r["identity"] == info["identity"]]
        ok = [r for r in mine if r["status"] == "ok"]
        # Every model is scored on the same items: an error counts as an empty answer.
        predictions = {it.item_id: "" for it in task.items}
        predictions.update({r["item_id"]: r["output"] or "" for r in ok})
        if ok:
            scores = task.score(predictions, use_java=use_java, meteor=meteor)
        else:
            scores = {"per_item": {}, "notes": ["no successful item"]}
        for r in mine:
            r["score"] = scores.get("per_item", {}).get(r["item_id"])
        costs = [r["cost_usd"] for r in ok]
        known = [c for c in costs if c is not None]
        lat = [r["latency_s"] for r in ok if r["latency_s"] is not None]
        metric = task.primary_metric
        row = {
            "model": info["model"], "provider": info["provider"], "label": info["label"],
            "identity": info["identity"], "open_source": bool(info["open_source"]), "task": task.name,
            "metric": metric, "score": scores.get(metric) if ok else None,
            "accuracy": scores.get("accuracy") if (ok and task.kind == "vqa") else None,
            "cost_per_1k": (1000 * sum(known) / len(known)) if known and len(known) == len(costs) else None,
            "p50_latency_s": _percentile(lat, 50), "p95_latency_s": _percentile(lat, 95),
            "n_items": len(task.items), "n_ok": len(ok), "n_errors": sum(r["status"] == "error" for r in mine),
            "n_cached": sum(bool(r["cached"]) for r in ok),
            "spent_usd": sum(r["paid_usd"] or 0.0 for r in mine),
            "total_cost_usd": sum(known) if known else None,
            "price_status": ok[0]["price_status"] if ok else None,
            "random_weights": bool(info.get("random_weights")),
            "notes": scores.get("notes", []),
        }
        if task.kind == "caption":
            for key in ("BLEU-1", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr"):
                row[key] = scores.get(key) if ok else None
        else:
            row["by_answer_type"] = scores.get("by_answer_type", {})
        rows.append(row)
    return rows


def _write_summary(run_dir: Path, rows: list[dict[str, Any]], records: list[dict[str, Any]]) -> None:
    """Plain JSON exports next to the store (atomic replace), for graders and other tools."""
    for name, payload in (("summary.json", rows), ("items.json", records)):
        tmp = run_dir / (name + ".tmp")
        tmp.write_text(json.dumps(payload, indent=1, ensure_ascii=False, default=str), "utf-8")
        os.replace(tmp, run_dir / name)


def load_run(run_dir: str | os.PathLike[str], use_java: bool | None = None, meteor: bool = True) -> RunResult:
    """Read a run back (finished or not) and score it.

    Raises:
        FileNotFoundError: ``run_dir`` holds no run.
    """
    store = RunStore(Path(run_dir))
    try:
        task = _stored_task(store.get_meta())
        providers = [store.provider_info(i) for i in store.provider_identities()]
        records = store.records()
    finally:
        store.close()
    summary = _summarise(task, providers, records, use_java, meteor)
    return RunResult(Path(run_dir), task, providers, records, summary)


def _stored_task(meta: Mapping[str, Any]) -> Task:
    """The run's task as recorded in its meta: every item the run has ever covered."""
    from .tasks import load_task

    if meta.get("task_source") == "builtin" or "items" not in meta:
        return load_task(meta["task"]).subset(ids=meta["item_ids"])
    return _task_from_meta(meta)


def _task_from_meta(meta: Mapping[str, Any]) -> Task:
    items = [BenchItem(d["item_id"], d["image"], d["prompt"], tuple(d["references"]), d.get("question"),
                       d.get("answer_type")) for d in meta["items"]]
    return Task(meta["task"], meta["kind"], items, meta.get("licence", ""))


# --------------------------------------------------------------------------- the run


@dataclass
class _Ctx:
    store: RunStore
    cache: ResponseCache | None
    params: GenerationParams
    pricing: PricingTable
    max_retries: int
    backoff_base: float
    backoff_max: float
    request_timeout: float | None
    semaphore: asyncio.Semaphore
    rng: random.Random
    stats: dict[str, Any]
    bar: Any
    on_record: Callable[[dict[str, Any]], None] | None
    provider_slots: dict[str, asyncio.Semaphore] = field(default_factory=dict)
    #: identity -> the error that makes every further call to that model pointless (a rejected model).
    fatal: dict[str, ProviderError] = field(default_factory=dict)


def provider_cache_key(provider: Provider, prompt: str, image_hash: str, params: GenerationParams) -> str:
    """The response-cache key: identity, prompt, image and every setting that changes the answer."""
    return cache_key(provider.identity, prompt, image_hash, {**params.as_dict(), **provider.request_settings()})


def _request(item: BenchItem, kind: str, max_side: int) -> ProviderRequest:
    data, digest = item.encoded(max_side)
    return ProviderRequest(item.item_id, kind, item.prompt, item.question, data, digest)


async def _call_with_retries(provider: Provider, limiter: RateLimiter, requests: list[ProviderRequest],
                             ctx: _Ctx) -> tuple[list[ProviderResponse] | None, float, int, str | None]:
    """Run one call (a batch for local models) with retries; returns (responses, seconds, attempts, error)."""
    error: ProviderError | None = None
    own = ctx.provider_slots.get(provider.identity)
    attempt = -1
    for attempt in range(ctx.max_retries + 1):
        if provider.identity in ctx.fatal:
            error = ctx.fatal[provider.identity]
            return None, 0.0, attempt, f"{error.kind}: {error}"
        async with ctx.semaphore, (own if own is not None else contextlib.nullcontext()):
            await limiter.acquire()  # last wait before the call: its start slot is when the request goes out
            start = time.perf_counter()
            ctx.stats["calls"] += 1
            try:
                if len(requests) == 1 and provider.batch_size == 1:
                    coro: Any = provider.generate(requests[0], ctx.params)
                else:
                    coro = provider.generate_batch(requests, ctx.params)
                result = await (asyncio.wait_for(coro, ctx.request_timeout) if ctx.request_timeout else coro)
                responses = result if isinstance(result, list) else [result]
                if len(responses) != len(requests):
                    raise ProviderError(f"{len(responses)} answers for {len(requests)} requests", "malformed", True)
                return responses, time.perf_counter() - start, attempt + 1, None
            except ProviderError as exc:
                error = exc
            except asyncio.TimeoutError:
                error = ProviderError(f"no answer within {ctx.request_timeout} s", "timeout", True)
            except Exception as exc:  # noqa: BLE001 - a bug in one item must not stop the run
                error = ProviderError(f"{type(exc).__name__}: {str(exc)[:300]}", "unexpected", False)
        ctx.stats["errors_" + error.kind] = ctx.stats.get("errors_" + error.kind, 0) + 1
        if error.kind == "model":
            ctx.fatal.setdefault(provider.identity, error)
            ctx.stats.setdefault("fatal", {})[provider.identity] = str(error)
        if not error.retryable or attempt == ctx.max_retries:
            break
        ctx.stats["retries"] += 1
        if error.retry_after is not None:
            limiter.block_for(error.retry_after)
            delay = error.retry_after + ctx.rng.uniform(0, 0.1 * max(error.retry_after, 0.1))
        else:
            delay = _backoff(attempt, ctx.backoff_base, ctx.backoff_max, ctx.rng)
        await asyncio.sleep(delay)
    assert error is not None
    return None, 0.0, attempt + 1, f"{error.kind}: {error}"


async def _run_unit(provider: Provider, info: dict[str, Any], limiter: RateLimiter, items: list[BenchItem],
                    requests: list[ProviderRequest], keys: list[str | None], ctx: _Ctx) -> None:
    responses, seconds, attempts, error = await _call_with_retries(provider, limiter, requests, ctx)
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
        if ctx.on_record is not None:
            ctx.on_record(record)
        if ctx.bar is not None:
            ctx.bar.update(1)


def _prepare(task: Task, run_dir: Path, providers: Sequence[Provider], params: GenerationParams,
             resume: bool) -> RunStore:
    store = RunStore(run_dir, create=True)
    meta = store.get_meta()
    wanted = {"task": task.name, "kind": task.kind, "item_ids": [it.item_id for it in task.items],
              "params": params.as_dict()}
    if meta:
        if not resume:
            store.close()
            raise FileExistsError(f"{run_dir} already holds a run; pass resume=True (CLI: --resume) to continue "
                                  "it, or choose a new run directory.")
        diff = [k for k in ("task", "kind", "params") if meta.get(k) != wanted[k]]
        if diff:
            store.close()
            raise ValueError(f"{run_dir} was started with a different {', '.join(diff)} "
                             f"({ {k: meta.get(k) for k in diff} }); resume it with the same settings or use a "
                             "new run directory. Nothing was changed.")
        # The run keeps every item it has covered: a resume with a subset runs only that subset, but
        # the stored item list (and so every report of the run) stays the union of all items.
        known = set(meta["item_ids"])
        wanted["item_ids"] = meta["item_ids"] + [i for i in wanted["item_ids"] if i not in known]
        by_id = {it.item_id: it for it in _stored_task(meta).items}
        by_id.update({it.item_id: it for it in task.items})  # this call's definitions win
        task = Task(task.name, task.kind, [by_id[i] for i in wanted["item_ids"]], task.licence)
    from .tasks import load_task

    try:
        builtin = [it.item_id for it in load_task(task.name).items]
        source = "builtin" if set(wanted["item_ids"]) <= set(builtin) else "inline"
    except KeyError:
        source = "inline"
    extra: dict[str, Any] = {"task_source": source, "licence": task.licence}
    if source == "inline":
        extra["items"] = [{"item_id": it.item_id, "image": it.image, "prompt": it.prompt,
                           "references": list(it.references), "question": it.question,
                           "answer_type": it.answer_type} for it in task.items]
    store.set_meta(**wanted, **extra, created=meta.get("created", time.time()))
    for p in providers:
        store.add_provider(p.describe())
    return store


async def arun_benchmark(task: Task, providers: Sequence[Provider], run_dir: str | os.PathLike[str] | None = None,
                         *, params: GenerationParams | None = None, concurrency: int = 8,
                         rate_limits: Mapping[str, float] | None = None, max_retries: int = 4,
                         backoff_base: float = 0.5, backoff_max: float = 30.0,
                         request_timeout: float | None = None, cache: bool | str | os.PathLike[str] = True,
                         pricing: PricingTable | None = None, resume: bool = True, progress: bool = True,
                         max_side: int = 768, score: bool = True, use_java: bool | None = None,
                         meteor: bool = True, seed: int = 0,
                         on_record: Callable[[dict[str, Any]], None] | None = None) -> RunResult:
    """Run ``task`` on every provider; the async core of :func:`run_benchmark` (same arguments).

    Args:
        task: Items to run (:func:`~course_utils.bench.tasks.load_mini_vqa`...).
        providers: Providers to compare.
        run_dir: The run's folder (created); ``None`` = ``bench_runs/<task>-<timestamp>``.
        params: Generation settings (default 64 tokens, temperature 0: deterministic, cacheable).
        concurrency: Requests in flight at once, over all providers.
        rate_limits: Requests per minute, by provider name (``"openai"``) or identity.
        max_retries: Retries after the first attempt for 429/5xx/timeouts/malformed bodies.
        backoff_base, backoff_max: Full-jitter exponential backoff (seconds), when no Retry-After.
        request_timeout: Extra wall-clock limit per call (the SDK timeouts apply anyway).
        cache: True = ``<run_dir>/../cache.sqlite``; a path = that file; False = no cache.
        pricing: Price table (default: the shipped, dated table).
        resume: Continue an existing run in ``run_dir`` (skips finished items, retries errors).
            ``task`` may be a subset of the run's items or add new ones: only its unfinished items
            are run, and the run (its summary, ``load_run``, the report) covers the union of all
            items it has ever had, so ``n_items``, ``n_ok``, score, cost and latency agree.
        progress: Show a tqdm progress bar.
        max_side: Longest image side sent to the models.
        score: Compute metrics at the end (set False for speed benchmarks).
        use_java, meteor: Passed to the captioning metrics.
        seed: Seed of the backoff jitter.
        on_record: Called with every finished record (e.g. to live-update a plot).

    Returns:
        A :class:`RunResult`.
    """
    params = params or GenerationParams()
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}.")
    if not providers:
        raise ValueError("Give at least one provider, e.g. TransformersProvider('blip_vqa_base').")
    identities = [p.identity for p in providers]
    if len(set(identities)) != len(identities):
        raise ValueError(f"Two providers share an identity ({identities}); each model once per run.")
    run_path = Path(run_dir) if run_dir is not None else \
        DEFAULT_RUNS_DIR / f"{task.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    store = _prepare(task, run_path, providers, params, resume)
    response_cache: ResponseCache | None = None
    if cache and params.deterministic:
        response_cache = ResponseCache(run_path.parent / "cache.sqlite" if cache is True else Path(cache))
    stats: dict[str, Any] = {"calls": 0, "retries": 0, "cache_hits": 0, "skipped_done": 0, "spent_usd": 0.0,
                             "to_run": 0}
    ctx = _Ctx(store, response_cache, params, pricing or PricingTable.load(), max_retries, backoff_base,
               backoff_max, request_timeout, asyncio.Semaphore(concurrency), random.Random(seed), stats, None,
               on_record)
    started = time.perf_counter()
    units: list[Any] = []
    try:
        for provider in providers:
            info = provider.describe()
            done = store.done_ids(provider.identity)
            stats["skipped_done"] += sum(it.item_id in done for it in task.items)
            pending = [it for it in task.items if it.item_id not in done]
            batch: list[tuple[BenchItem, ProviderRequest, str | None]] = []
            limiter = RateLimiter((rate_limits or {}).get(provider.identity) or
                                  (rate_limits or {}).get(provider.provider))
            for item in pending:
                req = _request(item, task.kind, max_side)
                key = provider_cache_key(provider, req.prompt, req.image_hash, params) \
                    if response_cache is not None else None
                hit = response_cache.get(key) if (response_cache is not None and key is not None) else None
                if hit is not None:
                    stats["cache_hits"] += 1
                    price = ctx.pricing.price_for(info)
                    store.write({"identity": provider.identity, "item_id": item.item_id, "status": "ok",
                                 "output": hit["output"], "input_tokens": hit["input_tokens"],
                                 "output_tokens": hit["output_tokens"], "latency_s": hit["latency_s"],
                                 "amortised_s": hit["amortised_s"], "cost_usd": hit["cost_usd"], "paid_usd": 0.0,
                                 "price_status": price.status if price else "unknown", "cached": 1,
                                 "attempts": 0, "image_hash": req.image_hash, "prompt": req.prompt,
                                 "finished_at": time.time()})
                    continue
                batch.append((item, req, key))
                if len(batch) >= provider.batch_size:
                    units.append((provider, info, limiter, batch))
                    batch = []
            if batch:
                units.append((provider, info, limiter, batch))
        stats["to_run"] = sum(len(u[3]) for u in units)
        busy = {u[0].identity: u[0] for u in units}
        for provider in busy.values():
            if provider.max_concurrency:
                ctx.provider_slots[provider.identity] = asyncio.Semaphore(provider.max_concurrency)
        await asyncio.gather(*[p.prepare() for p in busy.values()])
        if progress and stats["to_run"]:
            from tqdm.auto import tqdm

            ctx.bar = tqdm(total=stats["to_run"], desc=f"bench {task.name}", unit="item")
        def run(unit: Any) -> Any:
            p, info, lim, batch = unit
            return _run_unit(p, info, lim, [b[0] for b in batch], [b[1] for b in batch], [b[2] for b in batch], ctx)

        # Each hosted model's first request goes alone: a model the API rejects then costs one request.
        first: dict[str, Any] = {}
        for unit in units:
            if unit[0].provider not in ("local", "replay"):
                first.setdefault(unit[0].identity, unit)
        await asyncio.gather(*[run(u) for u in first.values()])
        await asyncio.gather(*[run(u) for u in units if not any(u is f for f in first.values())])
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
    if not score:
        store = RunStore(run_path)
        try:
            run_task = _stored_task(store.get_meta())
            records = store.records()
            infos = [store.provider_info(i) for i in store.provider_identities()]
        finally:
            store.close()
        return RunResult(run_path, run_task, infos, records, [], stats)
    result = load_run(run_path, use_java=use_java, meteor=meteor)
    result.stats = stats
    _write_summary(run_path, result.summary, result.records)
    return result


def run_benchmark(task: Task, providers: Sequence[Provider], run_dir: str | os.PathLike[str] | None = None,
                  **kwargs: Any) -> RunResult:
    """Run a benchmark synchronously (works inside Jupyter, where an event loop is already running).

    See :func:`arun_benchmark` for the arguments.
    """
    coro = arun_benchmark(task, providers, run_dir, **kwargs)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # Jupyter: run the loop in a helper thread
        return pool.submit(asyncio.run, coro).result()


# --------------------------------------------------------------------------- dry run


def _image_rule(provider: Provider) -> str:
    """Which image-token rule the estimate used, and whether a page confirmed it (for the dry-run row)."""
    from .catalog import load_catalog
    from .image_tokens import DEFAULT_RULES

    if provider.provider in ("local", "replay"):
        return "none" if provider.provider == "local" else "as recorded"
    entry = load_catalog().find(provider.provider, provider.model)
    if entry is not None and entry.image_tokens:
        rule = entry.image_tokens
        return f"{rule['rule']}{'' if rule.get('verified') else ' (unverified)'}"
    fallback = DEFAULT_RULES.get(provider.provider)
    return f"{fallback['rule']} (model not in catalogue: provider reference rule)" if fallback else "none"


def _image_tokens(provider: Provider, width: int, height: int) -> int:
    """The image tokens a provider's model will be billed for, by its catalogue rule and settings."""
    name, model = provider.provider, provider.model
    if name == "replay":
        name, _, model = str(getattr(provider, "of", "")).partition(":")
        model = model.split("@", 1)[0]
    detail = str(provider.request_settings().get("image_detail", "auto"))
    return estimate_image_tokens(name, width, height, detail=detail, model=model)


def estimate_cost(task: Task, providers: Sequence[Provider], *, params: GenerationParams | None = None,
                  cache: bool | str | os.PathLike[str] = True, run_dir: str | os.PathLike[str] | None = None,
                  pricing: PricingTable | None = None, max_side: int = 768,
                  expected_output_tokens: int = 12) -> list[dict[str, Any]]:
    """Estimate what a run would cost before spending anything (no request is made).

    Items already in the response cache (or finished in ``run_dir``) cost nothing. Input
    tokens come from each provider's documented image-token rule plus about 4 characters per
    text token; output tokens are given as an expected value and as the ``max_tokens`` bound.

    Returns:
        One dict per provider: ``label``, ``n_items``, ``n_cached``, ``n_to_call``,
        ``est_input_tokens``, ``est_cost_usd`` (expected), ``max_cost_usd`` (every answer at
        ``max_tokens``), ``est_cost_per_1k``, ``price_status``, ``image_rule`` (the catalogue rule
        used, marked ``(unverified)`` when no official page confirmed it).
    """
    from PIL import Image

    params = params or GenerationParams()
    pricing = pricing or PricingTable.load()
    cache_path = None
    if cache and params.deterministic:
        base = Path(run_dir).parent if run_dir is not None else DEFAULT_RUNS_DIR
        cache_path = base / "cache.sqlite" if cache is True else Path(cache)
    rc = ResponseCache(cache_path) if cache_path is not None and cache_path.exists() else None
    done: dict[str, set[str]] = {}
    if run_dir is not None and (Path(run_dir) / "run.sqlite").exists():
        store = RunStore(Path(run_dir))
        try:
            done = {i: store.done_ids(i) for i in store.provider_identities()}
        finally:
            store.close()
    rows = []
    try:
        for provider in providers:
            info = provider.describe()
            price = pricing.price_for(info)
            n_cached = 0
            tokens_in = 0
            n_call = 0
            for item in task.items:
                data, digest = item.encoded(max_side)
                key = provider_cache_key(provider, item.prompt, digest, params)
                if item.item_id in done.get(provider.identity, set()) or (rc is not None and rc.contains(key)):
                    n_cached += 1
                    continue
                import io

                with Image.open(io.BytesIO(data)) as im:
                    w, h = im.size
                tokens_in += _image_tokens(provider, w, h) + estimate_text_tokens(item.prompt)
                n_call += 1
            est = price.cost(tokens_in, n_call * expected_output_tokens, n_call) if price else None
            worst = price.cost(tokens_in, n_call * params.max_tokens, n_call) if price else None
            rows.append({"label": provider.label, "identity": provider.identity, "n_items": len(task.items),
                         "n_cached": n_cached, "n_to_call": n_call, "est_input_tokens": tokens_in,
                         "est_cost_usd": est, "max_cost_usd": worst,
                         "est_cost_per_1k": (1000 * est / n_call) if (est is not None and n_call) else None,
                         "price_status": price.status if price else "unknown",
                         "price_source": price.source if price else None,
                         "image_rule": _image_rule(provider)})
    finally:
        if rc is not None:
            rc.close()
    return rows
