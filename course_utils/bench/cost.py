"""Cost ledger: a dated pricing table kept as data, user overrides, and pre-run estimates.

The shipped table (``course_utils/data/bench/pricing.json``) records for every price its source
URL, the date it was read and a ``status``: ``"verified"`` (read on that date), ``"unverified"``
(not re-read; check it) or ``"user"`` (your override). Costs computed from unverified prices are
flagged in results and reports. Override with a JSON file or a dict::

    table = PricingTable.load(overrides={"openai:gpt-4o-mini": {"input_per_mtok": 0.15,
                                                                "output_per_mtok": 0.6}})
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["Price", "PricingTable", "estimate_image_tokens", "estimate_text_tokens", "FREE"]


@dataclass(frozen=True)
class Price:
    """Price of one model.

    Attributes:
        provider: ``"openai"``, ``"anthropic"``, ``"gemini"``, ``"local"``...
        model: Model name or prefix.
        input_per_mtok: USD per million input tokens (image tokens included).
        output_per_mtok: USD per million output tokens.
        per_image: USD per image on top of tokens (0 for current token-priced APIs).
        source: URL where the price is published.
        read_on: ISO date the price was read there, or None.
        status: ``"verified"``, ``"unverified"``, ``"user"`` or ``"free"``.
        usd_per_hour: Machine price for local models (cost = latency x price / 3600).
    """

    provider: str
    model: str
    input_per_mtok: float = 0.0
    output_per_mtok: float = 0.0
    per_image: float = 0.0
    source: str = ""
    read_on: str | None = None
    status: str = "unverified"
    usd_per_hour: float = 0.0
    note: str = ""

    def cost(self, input_tokens: int, output_tokens: int, images: int = 1, seconds: float = 0.0) -> float:
        """USD for one call with this usage."""
        return (input_tokens * self.input_per_mtok + output_tokens * self.output_per_mtok) / 1e6 \
            + images * self.per_image + seconds * self.usd_per_hour / 3600

    @property
    def trusted(self) -> bool:
        """True for verified, user-given or free prices."""
        return self.status in ("verified", "user", "free")


FREE = Price("local", "*", status="free", source="local model", note="open weights on your machine")


def _default_path() -> Any:
    return resources.files("course_utils").joinpath("data/bench/pricing.json")


@dataclass
class PricingTable:
    """Prices by ``provider:model`` with longest-prefix lookup.

    Attributes:
        prices: The entries.
        meta: The file's header (currency, unit, the date the table was written, notes).
    """

    prices: list[Price]
    meta: dict[str, Any]

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None,
             overrides: Mapping[str, Mapping[str, Any]] | None = None) -> PricingTable:
        """Load the shipped table (or ``path``) and apply overrides.

        Args:
            path: A JSON file in the shipped format; ``None`` = the shipped table.
            overrides: ``{"provider:model": {"input_per_mtok": ..., "output_per_mtok": ..., ...}}``;
                their status becomes ``"user"``. A JSON file path with that mapping also works.

        Raises:
            ValueError: an override has unknown fields or negative prices (message names them).
        """
        text = Path(path).read_text("utf-8") if path is not None else _default_path().read_text("utf-8")
        data = json.loads(text)
        fields = set(Price.__dataclass_fields__)
        prices = [Price(**{k: v for k, v in p.items() if k in fields}) for p in data.get("prices", [])]
        meta = {k: v for k, v in data.items() if k != "prices"}
        table = cls(prices, meta)
        if isinstance(overrides, (str, os.PathLike)):
            overrides = json.loads(Path(overrides).read_text("utf-8"))
        for key, values in (overrides or {}).items():
            table.set(key, **values)
        return table

    def set(self, key: str, **values: Any) -> Price:
        """Add or replace the price of ``"provider:model"`` (status ``"user"`` unless given)."""
        provider, _, model = key.partition(":")
        if not model:
            raise ValueError(f"Price key {key!r} must be 'provider:model', e.g. 'openai:gpt-4o-mini'.")
        unknown = set(values) - set(Price.__dataclass_fields__)
        if unknown:
            raise ValueError(f"Unknown price fields {sorted(unknown)}; use input_per_mtok, output_per_mtok, "
                             "per_image, usd_per_hour, source, read_on.")
        for name in ("input_per_mtok", "output_per_mtok", "per_image", "usd_per_hour"):
            if name in values and (not isinstance(values[name], (int, float)) or values[name] < 0
                                   or math.isnan(values[name])):
                raise ValueError(f"{key}: {name} must be a non-negative number, got {values[name]!r}.")
        values.setdefault("status", "user")
        new = Price(provider, model, **values)
        self.prices = [p for p in self.prices if (p.provider, p.model) != (provider, model)] + [new]
        return new

    def lookup(self, provider: str, model: str) -> Price | None:
        """The entry whose model is the longest prefix of ``model`` for this provider, else None."""
        matches = [p for p in self.prices if p.provider == provider and model.startswith(p.model)]
        if not matches:
            return None
        return max(matches, key=lambda p: (len(p.model), p.status == "user"))

    def price_for(self, description: Mapping[str, Any]) -> Price | None:
        """Price for a provider description (:meth:`Provider.describe`); local models are free."""
        provider, model = description["provider"], description["model"]
        if provider == "local":
            return replace(FREE, model=model, usd_per_hour=float(description.get("usd_per_hour") or 0.0))
        if provider == "replay":
            of_provider, _, of_model = str(description.get("of", "")).partition(":")
            return self.lookup(of_provider, of_model)
        return self.lookup(provider, model)


# --------------------------------------------------------------------------- estimates


def estimate_text_tokens(text: str) -> int:
    """Rough token count of English text (about 4 characters per token)."""
    return max(1, math.ceil(len(text) / 4))


def estimate_image_tokens(provider: str, width: int, height: int, detail: str = "auto") -> int:
    """Approximate input tokens for one image, from each provider's documented rule.

    * OpenAI (GPT-4o family): ``low`` = 85; otherwise fit in 2048x2048, shortest side to 768,
      then 85 + 170 per 512 px tile.
    * Anthropic: about ``width * height / 750`` (after fitting in 1568 px on the long side).
    * Gemini: 258 per image up to 384 px on both sides, else 258 per 768 px tile.
    * Others: 0 (local models have no per-token price).
    """
    if provider in ("openai", "openai_compatible", "replay"):
        if detail == "low":
            return 85
        scale = min(1.0, 2048 / max(width, height))
        w, h = width * scale, height * scale
        scale = min(1.0, 768 / min(w, h))
        w, h = w * scale, h * scale
        return 85 + 170 * math.ceil(w / 512) * math.ceil(h / 512)
    if provider == "anthropic":
        scale = min(1.0, 1568 / max(width, height))
        return math.ceil(width * scale * height * scale / 750)
    if provider == "gemini":
        if width <= 384 and height <= 384:
            return 258
        return 258 * math.ceil(width / 768) * math.ceil(height / 768)
    return 0
