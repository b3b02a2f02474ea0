"""The model catalogue: which hosted models take images today, their status and image-token rule.

Data in ``course_utils/data/bench/models.json`` (``course-utils bench models`` prints it). Each
entry records the page it was read from and the date; entries and rules that could not be checked
on an official page say so (``verified: false``). Lookup is exact or through an entry's explicit
aliases (dated snapshots); an unknown model gets ``None``, never a neighbour's entry.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

from .image_tokens import DEFAULT_RULES, tokens_for_rule

__all__ = ["ModelEntry", "Catalog", "load_catalog", "image_tokens", "CATALOG_HINT"]

CATALOG_HINT = ("the model catalogue course_utils/data/bench/models.json (run `course-utils bench models` to see the "
                "current models, their status and where that was read)")


@dataclass(frozen=True)
class ModelEntry:
    """One hosted model.

    Attributes:
        provider: ``"openai"``, ``"anthropic"`` or ``"gemini"``.
        model: The API model id.
        aliases: Other ids that name the same model (dated snapshots).
        status: ``"active"``, ``"deprecated"`` (callable until ``shutdown_date``), ``"retired"`` or ``"unknown"``.
        shutdown_date: ISO date of the (announced) shutdown, if any.
        replacement: The provider's recommended replacement, if given.
        image_tokens: The image-token rule (``{"rule": ..., constants..., "verified": bool, "source": url}``).
        temperature: ``False`` if the model rejects ``temperature``, ``True`` if it accepts it, ``None`` unknown.
        short_answers: SDK settings that keep a thinking model's short answers from coming back empty
            (``{"thinking_level": "minimal"}``, ``{"thinking_budget": 0}``, ``{"reasoning_effort": "none"}``).
        source, source_note, read_on, verified: Where and when the entry was read, and whether an
            official page confirmed it.
    """

    provider: str
    model: str
    status: str
    aliases: tuple[str, ...] = ()
    shutdown_date: str | None = None
    replacement: str | None = None
    image_input: bool = True
    image_tokens: Mapping[str, Any] | None = None
    temperature: bool | None = None
    short_answers: Mapping[str, Any] | None = None
    source: str = ""
    source_note: str = ""
    read_on: str = ""
    verified: bool = False
    note: str = ""

    @property
    def callable(self) -> bool:
        """False for retired models (requests to them fail)."""
        return self.status != "retired"


@dataclass
class Catalog:
    """All entries, with the file's header (``read_on``, ``defaults``...)."""

    entries: list[ModelEntry]
    meta: dict[str, Any] = field(default_factory=dict)

    def find(self, provider: str, model: str) -> ModelEntry | None:
        """The entry whose id or explicit alias is ``model`` (exact match), else None."""
        for e in self.entries:
            if e.provider == provider and (model == e.model or model in e.aliases):
                return e
        return None

    def default(self, provider: str) -> str:
        """The kit's default (current, inexpensive) model for ``provider``."""
        return str(self.meta["defaults"][provider])

    def of(self, provider: str) -> list[ModelEntry]:
        return [e for e in self.entries if e.provider == provider]

    def describe(self, provider: str, model: str) -> str:
        """One line for an error or warning: the entry's status and the catalogue's command."""
        entry = self.find(provider, model)
        current = ", ".join(e.model for e in self.of(provider) if e.status == "active") or "none listed"
        if entry is None:
            return (f"{provider}:{model} is not in {CATALOG_HINT}; current {provider} models there: {current}.")
        when = f" (shutdown {entry.shutdown_date})" if entry.shutdown_date else ""
        repl = f"; replacement: {entry.replacement}" if entry.replacement else ""
        return (f"{provider}:{model} is {entry.status}{when}{repl} according to {CATALOG_HINT}, read {entry.read_on}; "
                f"current {provider} models there: {current}.")


def _entry(raw: Mapping[str, Any]) -> ModelEntry:
    fields = set(ModelEntry.__dataclass_fields__)
    values = {k: v for k, v in raw.items() if k in fields}
    values["aliases"] = tuple(values.get("aliases") or ())
    return ModelEntry(**values)


@lru_cache(maxsize=1)
def _shipped() -> Catalog:
    data = json.loads(resources.files("course_utils").joinpath("data/bench/models.json").read_text("utf-8"))
    return Catalog([_entry(m) for m in data["models"]], {k: v for k, v in data.items() if k != "models"})


def load_catalog() -> Catalog:
    """The shipped catalogue (parsed once per process)."""
    return _shipped()


def image_tokens(provider: str, width: int, height: int, detail: str = "auto", model: str | None = None,
                 media_resolution: str | None = None) -> int:
    """Input tokens of one image for ``model`` (its catalogue rule), or the provider's reference rule.

    Args:
        provider: ``"openai"``, ``"anthropic"``, ``"gemini"``, ``"openai_compatible"``; others cost 0.
        width, height: Size of the image as sent (after the runner's resize).
        detail: OpenAI ``image_detail`` (``"low"``, ``"high"``, ``"auto"``).
        model: Model id; ``None`` or a model without a catalogue rule uses the provider's reference
            rule (GPT-4o tiles, Claude pixels/750, Gemini 2.x tiles).
        media_resolution: Gemini 3 media resolution (``None``: the default).
    """
    rule: Mapping[str, Any] | None = None
    if model is not None:
        entry = load_catalog().find(provider, model)
        rule = entry.image_tokens if entry is not None else None
    if rule is None:
        rule = DEFAULT_RULES.get(provider)
    if rule is None:
        return 0
    return tokens_for_rule(rule, width, height, detail, media_resolution)
