"""Model catalogue, dated prices, per-model image tokens and today's provider behaviour.

Oracles: the worked examples printed on the providers' vision pages (stored copies, read
2026-12-01), hand-worked arithmetic, and the loopback server, which emulates the APIs' answers
(404 for a shut-down model, 400 naming temperature, thinking that eats the output budget) and
reports token usage by the documented rules.
"""

from __future__ import annotations

import math

import pytest

from course_utils.bench import (
    AnthropicProvider,
    GeminiProvider,
    OpenAIProvider,
    PricingTable,
    estimate_cost,
    load_mini_vqa,
    run_benchmark,
)
from course_utils.bench.catalog import load_catalog
from course_utils.bench.cost import estimate_image_tokens
from course_utils.bench.fakeserver import FakeAPIServer
from course_utils.bench.image_tokens import anthropic_tokens, openai_patch_tokens, openai_tile_tokens

KEY = "sk-test-catalog"


# --------------------------------------------------------------------------- catalogue and prices


def test_catalogue_is_dated_sourced_and_defaults_are_current():
    cat = load_catalog()
    assert cat.meta["read_on"] == "2026-12-01" and cat.meta["command"] == "course-utils bench models"
    seen = set()
    for e in cat.entries:
        assert (e.provider, e.model) not in seen
        seen.add((e.provider, e.model))
        assert e.status in ("active", "deprecated", "retired", "unknown"), e
        assert e.source.startswith("https://") and e.read_on == "2026-12-01" and e.source_note, e
        if e.status == "deprecated":
            assert e.shutdown_date and e.shutdown_date > "2026-12-01", e   # still callable today
        if e.status == "retired" and e.shutdown_date:
            assert e.shutdown_date <= "2026-12-01", e
        if e.image_tokens is not None:
            assert e.image_tokens["source"].startswith("https://") and "verified" in e.image_tokens, e
    table = PricingTable.load()
    for provider in ("openai", "anthropic", "gemini"):
        default = cat.find(provider, cat.default(provider))
        assert default is not None and default.status == "active" and default.image_tokens is not None
        price = table.lookup(provider, default.model)
        assert price is not None and price.lifecycle == "active"
    # Price rows and catalogue agree on each model's lifecycle; retired models keep their (marked) row.
    for p in table.prices:
        entry = cat.find(p.provider, p.model)
        assert entry is not None and entry.status == p.lifecycle, p.model
    assert {p.model for p in table.prices if p.lifecycle == "retired"} >= {"gemini-2.5-flash", "claude-3-5-haiku"}


def test_price_lookup_is_exact_or_an_explicit_alias():
    table = PricingTable.load()
    assert table.lookup("openai", "gpt-5.4-mini") is None          # never priced as gpt-5
    assert table.lookup("openai", "gpt-5-2025-08-07").model == "gpt-5"
    assert table.lookup("openai", "gpt-5-mini").model == "gpt-5-mini"
    assert table.lookup("openai", "gpt-6-luna-2026") is None         # an unlisted snapshot has no price
    assert table.lookup("anthropic", "claude-haiku-4-5-20251001").model == "claude-haiku-4-5"
    assert table.lookup("anthropic", "claude-sonnet-5-5") is None
    cat = load_catalog()
    assert cat.find("openai", "gpt-5.4-mini") is None and cat.find("openai", "gpt-4o-mini-2024-07-18").model == "gpt-4o-mini"


# --------------------------------------------------------------------------- image tokens: documented examples


def test_openai_worked_examples():
    # Vision guide, GPT-4o tile rule: 1024x1024 high -> 765; 2048x4096 high -> 1105; 4096x8192 low -> 85.
    assert openai_tile_tokens(1024, 1024, "high") == 765
    assert openai_tile_tokens(2048, 4096, "high") == 1105
    assert openai_tile_tokens(4096, 8192, "low") == 85
    # Patch rule: 1024x1024 -> 1024 patches; 1800x2400 -> 1452 (shrunk to 1056x1408 = 33x44 patches).
    assert openai_patch_tokens(1024, 1024) == 1024
    assert openai_patch_tokens(1800, 2400) == 1452
    # Per model, not per provider: the same image and detail on gpt-4o, gpt-4o-mini, gpt-4.1-mini.
    assert estimate_image_tokens("openai", 1024, 1024, "high", model="gpt-4o") == 765
    assert estimate_image_tokens("openai", 1024, 1024, "high", model="gpt-4o-mini") == 2833 + 4 * 5667
    assert estimate_image_tokens("openai", 1024, 1024, "low", model="gpt-4o-mini") == 2833
    assert estimate_image_tokens("openai", 1024, 1024, model="gpt-4.1-mini") == math.ceil(1024 * 1.62)
    assert estimate_image_tokens("openai", 1800, 2400, model="gpt-4.1-nano") == math.ceil(1452 * 2.46)
    # gpt-6 family (unverified constants, marked so in the catalogue): 1.2 x patches, 'high' capped at 2500.
    assert estimate_image_tokens("openai", 1024, 1024, "high", model="gpt-6-luna") == math.ceil(1024 * 1.2)
    assert estimate_image_tokens("openai", 2560, 1440, "high", model="gpt-6-luna") == math.ceil(2442 * 1.2)
    assert estimate_image_tokens("openai", 2560, 1440, "auto", model="gpt-6-luna") == math.ceil(80 * 45 * 1.2)


def test_anthropic_and_gemini_worked_examples():
    # Claude vision page: 200x200 ~54, 1000x1000 ~1334, 1092x1092 ~1590 tokens (tokens = w*h/750).
    assert anthropic_tokens(200, 200) == 54
    assert anthropic_tokens(1000, 1000) == 1334
    assert anthropic_tokens(1092, 1092) == 1590
    # The page's "not resized" sizes are not resized; a 4000x3000 photo is, to at most 1568 px long.
    for w, h in [(1092, 1092), (951, 1268), (896, 1344), (819, 1456), (784, 1568)]:
        assert anthropic_tokens(w, h) == math.ceil(w * h / 750)
    assert anthropic_tokens(4000, 3000) <= math.ceil(1568 * 784 / 750)
    assert estimate_image_tokens("anthropic", 1000, 1000, model="claude-haiku-4-5") == 1334
    # Gemini 2.x: 258 up to 384x384, else 258 per 768 px tile; Gemini 3: fixed per media_resolution.
    assert estimate_image_tokens("gemini", 384, 384, model="gemini-2.5-flash") == 258
    assert estimate_image_tokens("gemini", 1000, 700, model="gemini-2.5-flash") == 2 * 258
    assert estimate_image_tokens("gemini", 1000, 700, model="gemini-3.5-flash-lite") == 1120
    assert estimate_image_tokens("gemini", 100, 100, model="gemini-3.5-flash-lite") == 1120


# --------------------------------------------------------------------------- against the loopback server


@pytest.fixture(scope="module")
def task():
    return load_mini_vqa().subset(5)


@pytest.mark.parametrize("make", [
    lambda url: OpenAIProvider("gpt-6-luna", api_key=KEY, base_url=url + "/v1", timeout=5, image_detail="high"),
    lambda url: OpenAIProvider("gpt-4o-mini", api_key=KEY, base_url=url + "/v1", timeout=5, image_detail="low"),
    lambda url: AnthropicProvider("claude-haiku-4-5", api_key=KEY, base_url=url, timeout=5),
    lambda url: GeminiProvider("gemini-3.5-flash-lite", api_key=KEY, base_url=url, timeout=5),
], ids=["gpt-6-luna-high", "gpt-4o-mini-low", "claude-haiku-4-5", "gemini-3.5-flash-lite"])
def test_estimate_equals_the_tokens_the_api_reports(make, task, tmp_path):
    with FakeAPIServer(usage="documented") as server:
        provider = make(server.url)
        est = estimate_cost(task, [provider], run_dir=tmp_path / "run", cache=False)[0]
        result = run_benchmark(task, [provider], tmp_path / "run", progress=False, cache=False)
    reported = sum(r["input_tokens"] for r in result.item_records())
    assert est["n_to_call"] == len(task) and est["est_input_tokens"] == reported > 0
    assert est["price_status"] in ("verified", "unverified")
    entry = load_catalog().find(provider.provider, provider.model)
    assert est["image_rule"].startswith(entry.image_tokens["rule"])
    assert ("(unverified)" in est["image_rule"]) == (not entry.image_tokens["verified"])


def test_image_detail_is_in_the_cache_key_and_the_estimate(task, tmp_path):
    """OpenAI low and high image detail: separate cache entries (no shared answers) and different costs."""
    with FakeAPIServer(usage="documented") as server:
        low = OpenAIProvider("gpt-4o", api_key=KEY, base_url=server.openai_url, timeout=5, image_detail="low")
        high = OpenAIProvider("gpt-4o", api_key=KEY, base_url=server.openai_url, timeout=5, image_detail="high")
        run_benchmark(task, [low], tmp_path / "low", progress=False)
        e_low, e_high = (estimate_cost(task, [p], run_dir=tmp_path / "x")[0] for p in (low, high))
        second = run_benchmark(task, [high], tmp_path / "high", progress=False)
        assert server.total == 2 * len(task) and second.stats["cache_hits"] == 0
        assert [s["detail"] for s in server.seen] == ["low"] * len(task) + ["high"] * len(task)
    assert e_low["n_cached"] == len(task) and e_high["n_cached"] == 0       # the low run's cache is not high's
    assert e_high["est_input_tokens"] > 0 and e_low["est_input_tokens"] == 0


@pytest.mark.parametrize("make, model", [
    (lambda url, m: OpenAIProvider(m, api_key=KEY, base_url=url + "/v1", timeout=5), "gpt-4.1-nano"),
    (lambda url, m: AnthropicProvider(m, api_key=KEY, base_url=url, timeout=5), "claude-3-5-haiku"),
    (lambda url, m: GeminiProvider(m, api_key=KEY, base_url=url, timeout=5), "gemini-2.5-flash"),
], ids=["openai", "anthropic", "gemini"])
def test_a_retired_model_is_one_request_and_one_clear_error(make, model, task, tmp_path):
    with FakeAPIServer(retired_models={model}) as server:
        result = run_benchmark(task, [make(server.url, model)], tmp_path / "run", progress=False, max_retries=4)
        assert server.total == 1 and server.statuses[404] == 1          # not five retries, not one per item
    errors = {r["error"] for r in result.item_records()}
    assert len(errors) == 1
    message = errors.pop()
    assert message.startswith("model:") and "course-utils bench models" in message and model in message
    assert "retired" in message and "current" in message
    assert list(result.stats["fatal"].values()) == [message.split(": ", 1)[1]]
    assert result.table()[0]["n_errors"] == len(task)


def test_anthropic_temperature_decided_by_the_api_answer_or_the_catalogue(task, tmp_path):
    n = len(task)
    with FakeAPIServer(no_temperature_models={"claude-sonnet-5", "claude-test-unlisted"}) as server:
        # Not in the catalogue: sent with temperature, the 400 names it, resent once without, then remembered.
        unlisted = AnthropicProvider("claude-test-unlisted", api_key=KEY, base_url=server.url, timeout=5)
        r1 = run_benchmark(task, [unlisted], tmp_path / "a", progress=False, cache=False)
        sent = [s["temperature_sent"] for s in server.seen]
        assert sent == [True, False] + [False] * (n - 1) and server.statuses[400] == 1
        assert all(r["status"] == "ok" for r in r1.item_records())
        server.reset_counts()
        # The catalogue says Sonnet 5 rejects temperature: no request carries it.
        run_benchmark(task, [AnthropicProvider("claude-sonnet-5", api_key=KEY, base_url=server.url, timeout=5)],
                      tmp_path / "b", progress=False, cache=False)
        assert [s["temperature_sent"] for s in server.seen] == [False] * n and server.total == n
        server.reset_counts()
        # Haiku 4.5 takes it (the deterministic runs stay deterministic).
        run_benchmark(task, [AnthropicProvider("claude-haiku-4-5", api_key=KEY, base_url=server.url, timeout=5)],
                      tmp_path / "c", progress=False, cache=False)
        assert [s["temperature_sent"] for s in server.seen] == [True] * n


def test_thinking_models_get_the_short_answer_setting(task, tmp_path):
    with FakeAPIServer(thinking_models={"gemini-3.5-flash-lite", "gpt-6-luna"}) as server:
        ok = run_benchmark(task, [GeminiProvider(api_key=KEY, base_url=server.url, timeout=5),
                                  OpenAIProvider(api_key=KEY, base_url=server.openai_url, timeout=5)],
                           tmp_path / "ok", progress=False, cache=False)
        assert all(r["status"] == "ok" and r["output"] == "yes" for r in ok.item_records())
        gem = [s for s in server.seen if s["api"] == "gemini"]
        assert all(str(s["thinking"]).lower().count("minimal") == 1 for s in gem)
        assert {s["thinking"] for s in server.seen if s["api"] == "openai"} == {"none"}
        server.reset_counts()
        # Without it the budget goes to thinking and the answer is empty: one clear, non-retried error.
        bare = [GeminiProvider(api_key=KEY, base_url=server.url, timeout=5, thinking=None),
                OpenAIProvider(api_key=KEY, base_url=server.openai_url, timeout=5, reasoning_effort=None)]
        empty = run_benchmark(task, bare, tmp_path / "empty", progress=False, cache=False, max_retries=3)
        assert server.total == 2 * len(task)
    for r in empty.item_records():
        assert r["status"] == "error" and r["error"].startswith("empty:"), r
    assert any("thinking_level" in r["error"] for r in empty.item_records())


def test_cli_models_and_prices_show_status_source_and_date(capsys):
    from course_utils.cli import main

    assert main(["bench", "models"]) == 0
    out = capsys.readouterr().out
    for text in ("gpt-6-luna", "claude-haiku-4-5", "gemini-3.5-flash-lite", "retired", "deprecated",
                 "shutdown 2026-12-11", "read 2026-12-01", "UNVERIFIED"):
        assert text in out, text
    assert main(["bench", "prices", "--verbose"]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.split()[:2] == ["gemini", "gemini-2.5-flash"])
    assert "retired" in line and "2026-12-01" in line and "https://ai.google.dev" in line
    assert "stored copy" in out
