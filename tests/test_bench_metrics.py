"""Benchmark metrics against oracles: pycocoevalcap itself and hand-worked official VQA cases."""

from __future__ import annotations

import re

import pytest

from course_utils.bench import metrics
from course_utils.bench.metrics import caption_scores, normalize_vqa_answer, vqa_accuracy

# --------------------------------------------------------------------------- VQA: hand-worked cases


@pytest.mark.parametrize("raw, expected", [
    ("Two", "2"),
    ("none", "0"),
    ("The dog.", "dog"),
    ("a red car", "red car"),
    ("3.5", "3.5"),               # a period between digits stays
    ("1,000", "1000"),            # digit,digit: punctuation is deleted, not spaced
    ("yes , sir", "yes sir"),     # punctuation next to a space is deleted
    ("black-and-white", "black and white"),  # otherwise it becomes a space
    ("dont know", "don't know"),  # contractions restored
    ("  Yes\n", "yes"),
    ("What's up?", "what's up"),
])
def test_normalisation_hand_worked(raw, expected):
    assert normalize_vqa_answer(raw) == expected


@pytest.mark.parametrize("matches, expected", [(0, 0.0), (1, 0.3), (2, 0.6), (3, 0.9), (4, 1.0), (10, 1.0)])
def test_leave_one_out_values(matches, expected):
    # k humans said "red": (k * min(1, (k-1)/3) + (10-k) * min(1, k/3)) / 10
    answers = ["red"] * matches + ["blue"] * (10 - matches)
    assert vqa_accuracy("red", answers) == pytest.approx(expected)


def test_official_quirks():
    # Identical human answers are not normalised (official behaviour), the prediction always is.
    assert vqa_accuracy("black and white", ["black-and-white"] * 10) == 0.0
    assert vqa_accuracy("Black and white.", ["black-and-white"] * 9 + ["gray"]) == 1.0
    assert vqa_accuracy("Yes.", ["yes"] * 10) == 1.0
    assert vqa_accuracy("two", ["2"] * 3 + ["3"] * 7) == pytest.approx(0.9)


def _official_reference(res_ans: str, gt_answers: list[str]) -> float:
    """A line-by-line transcription of the official evaluate() loop, for one question (the oracle)."""
    gts = [{"answer_id": i, "answer": a.replace("\n", " ").replace("\t", " ").strip()}
           for i, a in enumerate(gt_answers)]
    res_ans = res_ans.replace("\n", " ").replace("\t", " ").strip()
    res_ans = metrics._process_digit_article(metrics._process_punctuation(res_ans))
    if len({g["answer"] for g in gts}) > 1:
        for g in gts:
            g["answer"] = metrics._process_punctuation(g["answer"])
    acc = []
    for datum in gts:
        others = [item for item in gts if item != datum]
        acc.append(min(1, float(len([i for i in others if i["answer"] == res_ans])) / 3))
    return float(sum(acc)) / len(acc)


def test_matches_transcribed_official_loop_on_mini_set():
    from course_utils.bench.tasks import load_mini_vqa

    task = load_mini_vqa()
    preds = ["yes", "No", "2", "two", "Red.", "cat", "the cat", "orange", "pagoda", "galaxies", "black"]
    for item in task.items:
        for pred in preds:
            assert vqa_accuracy(pred, item.references) == pytest.approx(_official_reference(pred, list(item.references)))


def test_vqa_errors_name_the_fix():
    with pytest.raises(ValueError, match="at least one human answer"):
        vqa_accuracy("x", [])
    with pytest.raises(TypeError, match="str"):
        normalize_vqa_answer(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no prediction"):
        metrics.vqa_accuracy_per_question({}, {"q1": ["a"] * 10})


# --------------------------------------------------------------------------- captions: pycocoevalcap oracle

REFS = {
    "img1": ["a cat sitting on a mat.", "A cat is on the mat", "there is a cat on a mat"],
    "img2": ["a red motorcycle parked in a garage", "A motorbike in a garage.", "red motorcycle indoors"],
    "img3": ["an orange flower", "a close up of an orange flower", "orange dahlia in bloom"],
}
PREDS = {"img1": "A cat sits on the mat.", "img2": "a red motorcycle in a garage", "img3": "a yellow flower"}


def _pycoco_direct(preds, refs):
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    tok = PTBTokenizer()
    gts = tok.tokenize({k: [{"caption": c} for c in v] for k, v in refs.items()})
    res = tok.tokenize({k: [{"caption": preds[k]}] for k in refs})
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    return {"BLEU-1": bleu[0], "BLEU-4": bleu[3], "ROUGE-L": Rouge().compute_score(gts, res)[0],
            "CIDEr": Cider().compute_score(gts, res)[0]}


needs_java = pytest.mark.skipif(not metrics.java_available(), reason="needs Java (METEOR, PTB tokenizer)")


@needs_java
@pytest.mark.slow
def test_caption_scores_equal_pycocoevalcap():
    ours = caption_scores(PREDS, REFS)
    oracle = _pycoco_direct(PREDS, REFS)
    for key, value in oracle.items():
        assert ours[key] == pytest.approx(value, abs=1e-12), key
    assert 0 < ours["METEOR"] < 1
    assert set(ours["per_image"]) == set(REFS)
    assert any("CIDEr document frequencies" in n for n in ours["notes"])


def test_identical_caption_scores_perfect_bleu_without_java():
    refs = {"a": ["a cat on a mat"] * 3, "b": ["a dog in the park"] * 3}
    out = caption_scores({"a": "A cat on a mat.", "b": "a dog in the park"}, refs, use_java=False)
    assert out["BLEU-1"] == pytest.approx(1.0) and out["BLEU-4"] == pytest.approx(1.0)
    assert out["ROUGE-L"] == pytest.approx(1.0)
    assert out["METEOR"] is None
    assert any("Java not found" in n for n in out["notes"])


@needs_java
@pytest.mark.slow
def test_fallback_tokenizer_matches_ptb_on_mini_set_references():
    from course_utils.bench.tasks import load_mini_captions

    task = load_mini_captions()
    refs = {it.item_id: it.references for it in task.items}
    refs["extra"] = ["A man's dog isn't here.", "Two cats, one dog; and a bird!", "It's 3.5 meters-long"]
    java = metrics.ptb_tokenize(refs, use_java=True)
    fallback = metrics.ptb_tokenize(refs, use_java=False)
    assert fallback == java


def test_caption_scores_reject_mismatched_keys():
    with pytest.raises(ValueError, match="same images"):
        caption_scores({"a": "x"}, {"b": ["y"]}, use_java=False)
    with pytest.raises(ValueError, match="no reference captions"):
        caption_scores({"a": "x"}, {"a": []}, use_java=False)


def test_single_image_cider_is_zero_as_documented():
    out = caption_scores({"a": "a cat"}, {"a": ["a cat", "a small cat"]}, use_java=False)
    assert out["CIDEr"] == 0.0
    assert re.search("unstable", " ".join(out["notes"]))


def test_mini_set_data_is_well_formed():
    """Ten answers per question, already in official normal form; real sample photos with licences."""
    from course_utils.bench.tasks import load_mini_captions, load_mini_vqa
    from course_utils.images import SAMPLES

    vqa, caps = load_mini_vqa(), load_mini_captions()
    assert len(vqa) >= 20 and len(caps) == 12
    for item in vqa.items:
        assert len(item.references) == 10, item.item_id
        assert all(normalize_vqa_answer(a) == a for a in item.references), item.item_id
        assert item.answer_type in ("yes/no", "number", "other")
        assert item.meta["question_ko"]
    for item in caps.items + vqa.items:
        assert item.image.split(":", 1)[1] in SAMPLES
        assert item.meta["licence"] == SAMPLES[item.image.split(":", 1)[1]].licence
    assert "CC0" in vqa.licence and all(len(it.references) == 5 for it in caps.items)
