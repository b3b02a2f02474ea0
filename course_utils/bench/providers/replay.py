"""Replay: serve the responses an earlier run recorded, so a run can be re-scored or graded offline."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import ProviderError
from ..store import RunStore
from .base import GenerationParams, Provider, ProviderRequest, ProviderResponse

__all__ = ["ReplayProvider"]


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
