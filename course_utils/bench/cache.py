"""SQLite response cache: a rerun pays nothing for what it already has.

Keyed by provider identity, model, prompt, image hash and generation parameters. Only
deterministic settings (temperature 0) are cached: sampling at a higher temperature is meant to
give a new answer each time. API keys are never part of a key or a row.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

__all__ = ["ResponseCache", "cache_key", "connect"]


def connect(path: Path) -> sqlite3.Connection:
    """Open a SQLite file for durable small writes (WAL journal, autocommit)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=30, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    # WAL + NORMAL: a committed row survives the process being killed at any moment (only an OS crash or
    # power loss can drop the last commits, which a resumed run then simply repeats).
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def cache_key(identity: str, prompt: str, image_hash: str, params: dict[str, Any]) -> str:
    """sha256 over the canonical JSON of everything that determines a deterministic answer."""
    payload = json.dumps({"identity": identity, "prompt": prompt, "image": image_hash, "params": params},
                         sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


class ResponseCache:
    """Responses by :func:`cache_key`, in one SQLite file (safe to share between runs and processes).

    Args:
        path: The database file (created with its folder).
    """

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self._conn = connect(self.path)
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, identity TEXT, prompt TEXT, "
            "image_hash TEXT, params TEXT, output TEXT, input_tokens INTEGER, output_tokens INTEGER, "
            "latency_s REAL, amortised_s REAL, cost_usd REAL, created REAL)")
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored response for ``key``, or None (counts hits and misses)."""
        row = self._conn.execute(
            "SELECT output, input_tokens, output_tokens, latency_s, amortised_s, cost_usd FROM responses "
            "WHERE key = ?", (key,)).fetchone()
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        return dict(zip(("output", "input_tokens", "output_tokens", "latency_s", "amortised_s", "cost_usd"), row))

    def contains(self, key: str) -> bool:
        """True if ``key`` is cached (does not count as a hit)."""
        return self._conn.execute("SELECT 1 FROM responses WHERE key = ?", (key,)).fetchone() is not None

    def put(self, key: str, identity: str, prompt: str, image_hash: str, params: dict[str, Any], output: str,
            input_tokens: int, output_tokens: int, latency_s: float, amortised_s: float,
            cost_usd: float | None) -> None:
        """Store a response (committed before returning: it survives the process being killed)."""
        self._conn.execute(
            "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (key, identity, prompt, image_hash, json.dumps(params, sort_keys=True), output, input_tokens,
             output_tokens, latency_s, amortised_s, cost_usd, time.time()))

    def __len__(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        self._conn.close()

    def __repr__(self) -> str:
        return f"ResponseCache({str(self.path)!r}, hits={self.hits}, misses={self.misses})"
