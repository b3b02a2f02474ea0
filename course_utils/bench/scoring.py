"""Scoring a run: per-model metrics, latency percentiles and cost, read back from its store.

:func:`load_run` reads any run (finished or not) and scores it with the task's metrics; every model
is scored on the same items (an error counts as an empty answer). :class:`RunResult` is what
``run_benchmark`` returns and what the reports draw.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .store import RunStore, stored_task
from .tasks import Task

__all__ = ["RunResult", "load_run", "summarise", "write_summary", "stored_result"]


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


def summarise(task: Task, providers: list[dict[str, Any]], records: list[dict[str, Any]],
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


def write_summary(run_dir: Path, rows: list[dict[str, Any]], records: list[dict[str, Any]]) -> None:
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
        task = stored_task(store.get_meta())
        providers = [store.provider_info(i) for i in store.provider_identities()]
        records = store.records()
    finally:
        store.close()
    summary = summarise(task, providers, records, use_java, meteor)
    return RunResult(Path(run_dir), task, providers, records, summary)


def stored_result(run_dir: Path, stats: dict[str, Any] | None = None) -> RunResult:
    """The run's records without scoring them (``summary`` stays empty)."""
    store = RunStore(run_dir)
    try:
        task = stored_task(store.get_meta())
        records = store.records()
        infos = [store.provider_info(i) for i in store.provider_identities()]
    finally:
        store.close()
    return RunResult(run_dir, task, infos, records, [], dict(stats or {}))
