"""The claims ledger (docs/claims/*.yaml) and the teaching text stay in step.

Every number token on the slides, in the four labs and in the assignment must be in some ledger entry
for that file, every ledger number must still be written in its files, and docs/claims.md is the
rendering of the current ledger.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("build_claims", ROOT / "docs" / "build_claims.py")
claims = importlib.util.module_from_spec(_spec)
sys.modules["build_claims"] = claims  # dataclasses look the module up by name
_spec.loader.exec_module(claims)


@pytest.fixture(scope="module")
def ledger():
    return claims.load_ledger()


def test_every_ledger_file_is_read(ledger):
    files = {p.name for p in (ROOT / "docs" / "claims").glob("*.yaml")}
    assert files and {e.file for e in ledger} == files


TEACHING_TEXT = [
    "slides/week4_lecture.ipynb",
    "labs/lab4_1_vit_attention.ipynb",
    "labs/lab4_2_dinov2.ipynb",
    "labs/lab4_3_sam.ipynb",
    "labs/lab4_4_benchmark.ipynb",
    "assignments/source/assignment4/assignment4.ipynb",
]


def test_slides_are_fully_covered_and_nothing_is_stale(ledger):
    report = claims.check(ledger)
    missing = {f: m for f, m in report.uncovered.items() if m}
    assert not missing, f"numbers on the slides without a ledger entry (add them to docs/claims/*.yaml): {missing}"
    assert not report.stale, "stale ledger entries:\n" + "\n".join(report.stale)
    assert "slides/week4_lecture.ipynb" in claims.COVERED
    # the labs and the assignment are held to the same rule (their numbers are checked above)
    assert set(TEACHING_TEXT) <= set(claims.COVERED), set(TEACHING_TEXT) - set(claims.COVERED)
    assert not set(claims.PARTIAL) & set(TEACHING_TEXT)
    assert set(report.uncovered) >= set(TEACHING_TEXT)


def test_every_entry_has_a_source_and_date_or_a_command(ledger):
    for e in ledger:
        assert e.measured or (e.source and (e.checked == "unverified" or len(e.checked) == 10)), e.claim


def test_claims_md_is_the_rendering_of_the_ledger(ledger):
    assert (ROOT / "docs" / "claims.md").read_text(encoding="utf-8") == claims.render(ledger), (
        "docs/claims.md is out of date: run `python docs/build_claims.py`")


def test_unverified_slide_claims_are_marked_on_the_slides(ledger):
    text = claims.markdown_text(ROOT / "slides" / "week4_lecture.ipynb")
    assert '<span class="claim">†</span>' in text
    for e in ledger:
        if e.checked == "unverified" and "slides/week4_lecture.ipynb" in e.where:
            for n in e.numbers:
                lines = [line for line in text.splitlines() if n in line]
                assert lines and all("†" in line or "확인할 주장" in line for line in lines), (
                    f"{n!r} is unverified but its line on the slide has no † mark")


@pytest.mark.parametrize("rel", TEACHING_TEXT[1:])
def test_unverified_lab_and_assignment_claims_are_marked(ledger, rel):
    text = claims.markdown_text(ROOT / rel)
    unverified = [e for e in ledger if e.checked == "unverified" and rel in e.where]
    if unverified:  # the dagger and its Korean legend, as on the slides
        assert '<span class="claim">†</span> =' in text, f"{rel}: unverified claims need the † legend"
    for e in unverified:
        for n in e.numbers:
            lines = [line for line in text.splitlines() if n in line]
            assert lines and all("†" in line for line in lines), f"{rel}: {n!r} is unverified but not marked †"


@pytest.mark.parametrize("text, tokens", [
    ("ViT-H/14 reaches 88.55% after 1.3M images (Table 2), 1.1B masks", ["88.55%", "1.3M", "2", "1.1B"]),
    ("## Part 3. DINO\n1. first item\n| 4 | row |", []),  # slide/list/table numbering
    ("code `timm.create_model('vit_base_patch16_224')` and ```python\nx = 5\n```", []),
    ("$O(N^2)$ cost, $\\theta_t$, top-1, ImageNet-21k, DINOv2, SAM 2, BLIP-2", []),  # math and names
    ("303M장, 1억 4200만 장, 2026-12-01", ["303M", "1", "4200", "2026", "12", "01"]),
    # heading numbers and cross-references to a lab's own sections are numbering; the rest stays
    ("## 5. 비용: 1,000장당\n### 1.2 MHSA (3점)\n위 3절과 CIFAR-10, gpt-4o-mini", ["1,000", "3"]),
    ("## 2017 Transformer\n## 1.5B model", ["2017", "1.5B"]),  # a heading's own numbers are still claims
])
def test_number_tokens_hand_worked(text, tokens):
    assert claims.number_tokens(text) == tokens


def _notebook(path: Path, markdown: list[str]) -> None:
    cells = [{"cell_type": "markdown", "metadata": {}, "source": s} for s in markdown]
    cells.append({"cell_type": "code", "metadata": {}, "source": "x = 12345", "outputs": [], "execution_count": None})
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))


def test_checker_finds_uncovered_and_stale(tmp_path):
    (tmp_path / "claims").mkdir()
    _notebook(tmp_path / "deck.ipynb", ["# Deck\n\nDINO ViT-B/8: 80.1%, trained on 1.3M images"])
    (tmp_path / "claims" / "a.yaml").write_text(
        "- claim: DINO linear probe\n  numbers: ['80.1%']\n  where: [deck.ipynb]\n"
        "  source: README\n  checked: '2026-12-01'\n"
        "- claim: gone from the text\n  numbers: ['99.9%']\n  where: [deck.ipynb]\n  measured: 'python x.py'\n")
    entries = claims.load_ledger(tmp_path / "claims")
    report = claims.check(entries, covered=["deck.ipynb"], root=tmp_path)
    assert report.uncovered == {"deck.ipynb": ["1.3M"]}  # the code cell's 12345 is not text
    assert len(report.stale) == 2 and all("99.9%" in s or "none of" in s for s in report.stale)
    assert not report.ok


def test_an_entry_without_source_is_refused(tmp_path):
    (tmp_path / "b.yaml").write_text("- claim: x\n  numbers: ['1']\n  where: [deck.ipynb]\n")
    with pytest.raises(ValueError, match="source.*checked.*measured"):
        claims.load_ledger(tmp_path)
