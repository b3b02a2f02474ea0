"""CLI, reports, pricing table and the local (tiny BLIP) provider, offline."""

from __future__ import annotations

import json

import pytest

from course_utils.bench import (
    GenerationParams,
    PricingTable,
    TransformersProvider,
    load_mini_captions,
    load_mini_vqa,
    run_benchmark,
)
from course_utils.bench.cost import estimate_image_tokens
from course_utils.cli import main


def test_pricing_table_is_dated_sourced_and_honest():
    table = PricingTable.load()
    assert table.meta["table_written_on"] and table.meta["status_note"]
    for p in table.prices:
        assert p.source.startswith("https://"), p
        assert p.status in ("verified", "unverified")
        assert (p.read_on is not None) == (p.status == "verified"), f"{p.model}: verified prices need read_on"
    # Longest prefix wins; overrides become 'user' prices.
    assert table.lookup("openai", "gpt-4o-mini-2024-07-18").model == "gpt-4o-mini"
    assert table.lookup("anthropic", "claude-haiku-4-5-20251001").model == "claude-haiku-4-5"
    assert table.lookup("openai", "no-such-model") is None
    table.set("openai:gpt-4o-mini", input_per_mtok=0.5, output_per_mtok=1.0)
    price = table.lookup("openai", "gpt-4o-mini")
    assert price.status == "user" and price.cost(1_000_000, 500_000) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="non-negative"):
        table.set("openai:x", input_per_mtok=-1)
    with pytest.raises(ValueError, match="Unknown price fields"):
        table.set("openai:x", per_token=1)


def test_image_token_rules_hand_worked():
    # OpenAI: 1024x1024 -> shortest side 768 -> 768x768 -> 2x2 tiles -> 85 + 4*170.
    assert estimate_image_tokens("openai", 1024, 1024) == 765
    assert estimate_image_tokens("openai", 1024, 1024, detail="low") == 85
    assert estimate_image_tokens("anthropic", 750, 1000) == 1000
    assert estimate_image_tokens("gemini", 300, 300) == 258
    assert estimate_image_tokens("gemini", 1000, 700) == 258 * 2
    assert estimate_image_tokens("local", 1000, 700) == 0


def _single_item_outputs(provider, task):
    import asyncio

    from course_utils.bench.runner import _request

    async def go():
        return [await provider.generate(_request(it, task.kind, 768), GenerationParams()) for it in task.items]
    return [r.text for r in asyncio.run(go())]


@pytest.mark.slow
def test_tiny_blip_batched_equals_unbatched_and_cache_saves(tmp_path):
    """Batching changes nothing in the answers (oracle: one image at a time); a rerun is all cache hits."""
    task = load_mini_vqa().subset(6)
    batched = TransformersProvider("blip_vqa_base", tiny=True, batch_size=4, device="cpu")
    result = run_benchmark(task, [batched], tmp_path / "a", progress=False)
    outputs = [r["output"] for r in sorted(result.item_records(), key=lambda r: [it.item_id for it in task.items]
                                           .index(r["item_id"]))]
    single = TransformersProvider("blip_vqa_base", tiny=True, batch_size=1, device="cpu")
    assert outputs == _single_item_outputs(single, task)
    assert all(outputs), "tiny models still produce words"
    row = result.table()[0]
    assert row["random_weights"] and row["cost_per_1k"] == 0.0 and row["price_status"] == "free"
    again = run_benchmark(task, [TransformersProvider("blip_vqa_base", tiny=True)], tmp_path / "b", progress=False)
    assert again.stats["calls"] == 0 and again.stats["cache_hits"] == len(task)


@pytest.mark.slow
def test_cli_run_report_list_prices(tmp_path, capsys):
    run_dir = tmp_path / "runs" / "caps"
    assert main(["bench", "run", "--task", "mini_captions", "--provider", "local:blip_caption_base", "--tiny",
                 "--limit", "4", "--run-dir", str(run_dir), "--no-progress", "--no-meteor"]) == 0
    out = capsys.readouterr().out
    assert "CIDEr" in out and "RANDOM WEIGHTS" in out
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary[0]["n_ok"] == 4 and summary[0]["metric"] == "CIDEr"
    assert main(["bench", "report", str(run_dir), "--no-meteor"]) == 0
    html = (run_dir / "report" / "report.html").read_text()
    assert "RANDOM WEIGHTS" in html and "cost_per_1k" in html
    assert (run_dir / "report" / "report.pdf").read_bytes()[:5] == b"%PDF-"
    assert main(["bench", "list", str(tmp_path / "runs")]) == 0
    assert "caps" in capsys.readouterr().out
    assert main(["bench", "prices"]) == 0
    assert "unverified" in capsys.readouterr().out
    assert main(["bench", "run", "--task", "mini_vqa", "--provider", "local:blip_vqa_base", "--tiny",
                 "--dry-run", "--run-dir", str(tmp_path / "runs" / "dry")]) == 0
    assert "25 calls" in capsys.readouterr().out
    assert main(["bench", "report", str(tmp_path / "nothing")]) == 2


def test_cli_missing_key_is_a_clear_exit(monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(SystemExit, match="ANTHROPIC_API_KEY"):
        main(["bench", "run", "--provider", "anthropic:claude-haiku-4-5", "--dry-run"])


def test_caption_task_scoring_uses_pycocoevalcap_fallback():
    task = load_mini_captions()
    preds = {it.item_id: it.references[0] for it in task.items}
    out = task.score(preds, use_java=False)
    assert out["BLEU-1"] > 0.9 and out["CIDEr"] > 1.0 and out["n_scored"] == 12
    assert set(out["per_item"]) == {it.item_id for it in task.items}
