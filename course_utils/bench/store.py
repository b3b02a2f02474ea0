"""The durable record of a run: ``<run_dir>/run.sqlite`` (meta, providers, one row per finished item).

Next to the response cache (:mod:`.cache`, same SQLite settings): every finished item is committed
as it completes, so a run killed at any moment and started again with the same ``run_dir`` loses no
finished item. :func:`open_run` creates or resumes a run and decides which items it covers;
:func:`stored_task` reads the task back. Providers are recorded by their public description (a
dict), so this module knows nothing of provider classes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .cache import connect
from .tasks import BenchItem, Task, load_task

__all__ = ["RunStore", "RESULT_COLUMNS", "open_run", "stored_task"]

#: The columns of one item's record, in the order of the ``results`` table.
RESULT_COLUMNS = ("identity", "item_id", "status", "output", "input_tokens", "output_tokens", "latency_s",
                  "amortised_s", "cost_usd", "paid_usd", "price_status", "cached", "attempts", "error",
                  "image_hash", "prompt", "finished_at")


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
        self.conn.execute(f"INSERT OR REPLACE INTO results VALUES ({', '.join('?' * len(RESULT_COLUMNS))})",
                          tuple(record.get(c) for c in RESULT_COLUMNS))

    def done_ids(self, identity: str, include_errors: bool = False) -> set[str]:
        query = "SELECT item_id FROM results WHERE identity = ?" + ("" if include_errors else " AND status = 'ok'")
        return {r[0] for r in self.conn.execute(query, (identity,))}

    def records(self, identity: str | None = None) -> list[dict[str, Any]]:
        query = f"SELECT {', '.join(RESULT_COLUMNS)} FROM results"
        rows = self.conn.execute(query + (" WHERE identity = ?" if identity else "") + " ORDER BY rowid",
                                 (identity,) if identity else ())
        return [dict(zip(RESULT_COLUMNS, r)) for r in rows]

    def close(self) -> None:
        self.conn.close()


def stored_task(meta: Mapping[str, Any]) -> Task:
    """The run's task as recorded in its meta: every item the run has ever covered."""
    if meta.get("task_source") == "builtin" or "items" not in meta:
        return load_task(meta["task"]).subset(ids=meta["item_ids"])
    items = [BenchItem(d["item_id"], d["image"], d["prompt"], tuple(d["references"]), d.get("question"),
                       d.get("answer_type")) for d in meta["items"]]
    return Task(meta["task"], meta["kind"], items, meta.get("licence", ""))


def open_run(task: Task, run_dir: Path, providers: Sequence[Mapping[str, Any]], params: Mapping[str, Any],
             resume: bool) -> RunStore:
    """Create the run in ``run_dir``, or resume the one there; returns its open store.

    Args:
        task: The items asked for in this call.
        run_dir: The run's folder.
        providers: Each provider's public description (``Provider.describe()``).
        params: The generation settings (``GenerationParams.as_dict()``); a resumed run must match.
        resume: Whether an existing run may be continued.

    The stored item list is the union of every item the run has ever had (this call's definitions
    win): a resume with a subset runs only that subset, and the run's reports still cover all items.

    Raises:
        FileExistsError: ``run_dir`` holds a run and ``resume`` is False (nothing changed).
        ValueError: the run there was started with another task, kind or params (nothing changed).
    """
    store = RunStore(run_dir, create=True)
    meta = store.get_meta()
    wanted = {"task": task.name, "kind": task.kind, "item_ids": [it.item_id for it in task.items],
              "params": dict(params)}
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
        known = set(meta["item_ids"])
        wanted["item_ids"] = meta["item_ids"] + [i for i in wanted["item_ids"] if i not in known]
        by_id = {it.item_id: it for it in stored_task(meta).items}
        by_id.update({it.item_id: it for it in task.items})  # this call's definitions win
        task = Task(task.name, task.kind, [by_id[i] for i in wanted["item_ids"]], task.licence)
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
    for info in providers:
        store.add_provider(info)
    return store
