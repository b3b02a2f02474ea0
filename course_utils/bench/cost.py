"""Cost ledger: a dated pricing table kept as data, user overrides, and pre-run estimates.

The shipped table (``course_utils/data/bench/pricing.json``) records for every price its source
URL, the date it was read, a ``status`` (``"verified"``: on a stored copy of the official page that
day; ``"unverified"``: not confirmed there, see its note; ``"user"``: your override) and the model's
``lifecycle`` (``active`` / ``deprecated`` / ``retired`` / ``unknown``; retired rows stay so old runs keep
their cost). A model id matches a row exactly or through the row's explicit ``aliases``; there is no
prefix matching. Costs computed from unverified prices are flagged in results and reports.
Override with a JSON file or a dict::

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
        model: Model id (matched exactly, or through ``aliases``).
        input_per_mtok: USD per million input tokens (image tokens included).
        output_per_mtok: USD per million output tokens.
        per_image: USD per image on top of tokens (0 for current token-priced APIs).
        source: URL where the price is published.
        read_on: ISO date the price was read there, or None.
        status: ``"verified"``, ``"unverified"``, ``"user"`` or ``"free"``.
        usd_per_hour: Machine price for local models (cost = latency x price / 3600).
        aliases: Other ids priced by this row (dated snapshots), listed explicitly.
        lifecycle: ``"active"``, ``"deprecated"``, ``"retired"`` or ``"unknown"`` (see the model catalogue).
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
    aliases: tuple[str, ...] = ()
    lifecycle: str = "active"

    def matches(self, model: str) -> bool:
        """True if ``model`` is this row's id or one of its explicit aliases."""
        return model == self.model or model in self.aliases

    def cost(self, input_tokens: int, output_tokens: int, images: int = 1, seconds: float = 0.0) -> float:
        """USD for one call with this usage."""
        return (input_tokens * self.input_per_mtok + output_tokens * self.output_per_mtok) / 1e6 \
            + images * self.per_image + seconds * self.usd_per_hour / 3600


FREE = Price("local", "*", status="free", source="local model", note="open weights on your machine")


def _default_path() -> Any:
    return resources.files("course_utils").joinpath("data/bench/pricing.json")


@dataclass
class PricingTable:
    """Prices by ``provider:model``, looked up exactly or through each row's explicit aliases.

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
        prices = [Price(**{k: (tuple(v) if k == "aliases" else v) for k, v in p.items() if k in fields})
                  for p in data.get("prices", [])]
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
        if "aliases" in values:
            values["aliases"] = tuple(values["aliases"])
        new = Price(provider, model, **values)
        self.prices = [p for p in self.prices if (p.provider, p.model) != (provider, model)] + [new]
        return new

    def lookup(self, provider: str, model: str) -> Price | None:
        """The row for exactly ``model`` (or naming it among its aliases) for this provider, else None.

        A user row for the id wins over a shipped alias row. Never a prefix: ``gpt-5.4-mini`` has no
        price unless a row names it.
        """
        exact = [p for p in self.prices if p.provider == provider and p.model == model]
        if exact:
            return max(exact, key=lambda p: p.status == "user")
        aliased = [p for p in self.prices if p.provider == provider and model in p.aliases]
        return aliased[0] if aliased else None

    def price_for(self, description: Mapping[str, Any]) -> Price | None:
        """Price for a provider description (:meth:`Provider.describe`); local models are free."""
        provider, model = description["provider"], description["model"]
        if provider == "local":
            return replace(FREE, model=model, usd_per_hour=float(description.get("usd_per_hour") or 0.0))
        if provider == "replay":
            of_provider, _, of_model = str(description.get("of", "")).partition(":")
            return self.lookup(of_provider, of_model.split("@", 1)[0])   # identity may carry "@endpoint"
        return self.lookup(provider, model)


# --------------------------------------------------------------------------- estimates


def estimate_text_tokens(text: str) -> int:
    """Rough token count of English text (about 4 characters per token)."""
    return max(1, math.ceil(len(text) / 4))


def estimate_image_tokens(provider: str, width: int, height: int, detail: str = "auto",
                          model: str | None = None, media_resolution: str | None = None) -> int:
    """Input tokens for one image, from the documented rule of the model's family.

    With ``model``, the rule and constants come from the model catalogue (per model, not per
    provider: gpt-4o-mini's tiles cost 33x gpt-4o's, the patch models have their own multipliers).
    Without it, the provider's reference family: GPT-4o tiles (``low`` = 85; else fit in 2048,
    shortest side 768, 85 + 170 per 512 px tile), Claude ``w * h / 750`` after fitting in 1568 px,
    Gemini 2.x 258 per image up to 384 px else per 768 px tile. Other providers: 0.
    """
    from .catalog import image_tokens

    return image_tokens(provider, width, height, detail, model, media_resolution)
