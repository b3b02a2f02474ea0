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
        assert p.read_on == "2026-12-01" and p.note, f"{p.model}: every row says when and from which copy it was read"
        assert p.lifecycle in ("active", "deprecated", "retired", "unknown"), p
    # Exact ids or explicit aliases (dated snapshots); overrides become 'user' prices.
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
    assert "RANDOM WEIGHTS" in html and "cost_per_1k" in html and "Per-question errors" in html
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


def test_official_format_loaders(tmp_path):
    """COCO captions and VQA v2 subsets from files in the official formats."""
    from PIL import Image

    from course_utils.bench import load_coco_captions, load_vqa_v2
    from course_utils.images import sample_image

    for i, name in enumerate(["chelsea", "coffee", "rocket"]):
        Image.fromarray(sample_image(name)).save(tmp_path / f"COCO_val2014_{i:012d}.jpg")
    caps = {"images": [{"id": i, "file_name": f"COCO_val2014_{i:012d}.jpg", "coco_url": "http://x", "license": 1}
                       for i in range(3)],
            "annotations": [{"image_id": i, "id": 10 * i + k, "caption": f"caption {k} of {i} "}
                            for i in range(3) for k in range(5)]}
    (tmp_path / "captions.json").write_text(json.dumps(caps))
    task = load_coco_captions(tmp_path / "captions.json", image_dir=tmp_path, n=2, seed=1)
    assert len(task) == 2 and all(len(it.references) == 5 for it in task.items)
    assert task.items[0].load_image().ndim == 3
    questions = {"questions": [{"question_id": 7 + i, "image_id": i, "question": f"Q{i}?"} for i in range(3)]}
    anns = {"annotations": [{"question_id": 7 + i, "image_id": i, "answer_type": "yes/no",
                             "answers": [{"answer": "yes", "answer_id": k + 1} for k in range(10)]}
                            for i in range(3)]}
    (tmp_path / "q.json").write_text(json.dumps(questions))
    (tmp_path / "a.json").write_text(json.dumps(anns))
    vqa = load_vqa_v2(tmp_path / "q.json", tmp_path / "a.json", tmp_path, n=3)
    assert len(vqa) == 3 and vqa.items[0].references == ("yes",) * 10
    assert vqa.score({it.item_id: "Yes." for it in vqa.items})["accuracy"] == 1.0
    with pytest.raises(FileNotFoundError, match="download the official"):
        load_coco_captions(tmp_path / "missing.json")


def test_java_missing_is_reported_and_the_rest_runs(monkeypatch):
    from course_utils.bench import metrics

    monkeypatch.setattr(metrics.shutil, "which", lambda name: None)
    out = metrics.caption_scores({"a": "a cat on a mat", "b": "a dog"}, {"a": ["a cat on the mat"], "b": ["a dog"]})
    assert out["METEOR"] is None and out["BLEU-1"] > 0.5 and "Java not found" in out["notes"][0]


def test_results_widget_and_table_text(tmp_path):
    """The dashboard's benchmark tab: table + three figures, all marked as random in tiny mode."""
    from course_utils.bench.report import format_table, results_widget, table_html

    result = run_benchmark(load_mini_vqa().subset(3), [TransformersProvider("blip_vqa_base", tiny=True)],
                           tmp_path / "run", progress=False, params=GenerationParams(max_tokens=4))
    widget = results_widget(tmp_path / "run")
    assert [type(c).__name__ for c in widget.children][0] == "HTML" and len(widget.children) == 4
    for child in widget.children[1:]:
        texts = [a.text for a in child.layout.annotations] if hasattr(child, "layout") else []
        assert any("RANDOM WEIGHTS" in t for t in texts)
    assert "RANDOM WEIGHTS" in table_html(result) and "accuracy" in format_table(result)


@pytest.mark.slow
@pytest.mark.parametrize("name, cls", [("blip2_opt_2.7b", "Blip2ForConditionalGeneration"),
                                       ("llava_1.5_7b", "LlavaForConditionalGeneration")])
def test_tiny_blip2_and_llava_answer_without_echoing_the_prompt(name, cls, tmp_path):
    """Tiny variants use the real classes and prompt formats; answers are the new tokens only."""
    from course_utils.models import load_captioner

    loaded = load_captioner(name, tiny=True)
    assert type(loaded.model).__name__ == cls and loaded.tiny
    task = load_mini_vqa().subset(3)
    result = run_benchmark(task, [TransformersProvider(name, tiny=True, batch_size=3)], tmp_path / "run",
                           progress=False, params=GenerationParams(max_tokens=5))
    for rec, item in zip(result.item_records(), task.items):
        assert rec["status"] == "ok" and rec["output"]
        assert item.question.lower().rstrip("?") not in rec["output"], "the prompt was echoed"
        assert "assistant" not in rec["output"] and 2 <= rec["output_tokens"] <= 5
