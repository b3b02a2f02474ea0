"""Standard metrics: COCO captioning scores through pycocoevalcap, and the official VQA accuracy.

Captioning numbers come from **pycocoevalcap** itself (BLEU-1..4, METEOR 1.5, ROUGE-L, CIDEr-D,
after Stanford PTB tokenisation), so they are comparable with published COCO numbers. METEOR and
the PTB tokenizer need Java; without it METEOR is reported as ``None`` and a simple regex
tokenizer replaces PTB (the notes say so), while BLEU, ROUGE-L and CIDEr still run.

CIDEr-D weighs n-grams by document frequencies computed **from the evaluated set itself**: on a
dozen images these are unstable (on one image every idf is 0 and CIDEr is 0), so treat CIDEr on
the mini set as a rough signal, and compare models only on the same set.

VQA accuracy follows the official evaluation (``vqaEval.py`` of the VQA v2 challenge): the
prediction is normalised (punctuation, articles, number words, contractions), and for each of the
ten leave-one-annotator-out subsets of nine answers the score is ``min(1, matches / 3)``; the
question's accuracy is the mean over the ten subsets.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Mapping, Sequence
from functools import lru_cache
from importlib import resources
from typing import Any

__all__ = [
    "java_available", "ptb_tokenize", "caption_scores", "normalize_vqa_answer", "vqa_accuracy",
    "vqa_accuracy_per_question",
]


# The punctuation tokens the pycocoevalcap PTB wrapper drops after tokenising.
_PTB_PUNCT = {"''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-", ".", "?", "!", ",", ":", "-", "--",
              "...", ";"}


def java_available() -> bool:
    """True if a ``java`` executable is on PATH (needed by METEOR and the PTB tokenizer)."""
    return shutil.which("java") is not None


def _fallback_tokenize(text: str) -> str:
    # Close to PTB for plain captions: lower-case, split off punctuation and 's / n't, drop punctuation.
    text = text.replace("\n", " ").lower()
    text = re.sub(r"(\w)(n't)\b", r"\1 \2", text)
    text = re.sub(r"(\w)('s|'re|'ve|'ll|'d|'m)\b", r"\1 \2", text)
    tokens = re.findall(r"n't|'\w+|\w+(?:[-.]\w+)*|[^\w\s]", text)
    return " ".join(t for t in tokens if t not in _PTB_PUNCT and not re.fullmatch(r"[^\w']+", t))


def ptb_tokenize(captions: Mapping[Any, Sequence[str]], use_java: bool | None = None) -> dict[Any, list[str]]:
    """Tokenise captions as the COCO evaluation does (Stanford PTBTokenizer, lower-cased, no punctuation).

    Args:
        captions: ``{key: [caption, ...]}``.
        use_java: Force the Java tokenizer on/off; ``None`` uses it when Java is available.

    Returns:
        ``{key: [tokenised caption, ...]}`` in the same order.
    """
    use_java = java_available() if use_java is None else use_java
    if not use_java:
        return {k: [_fallback_tokenize(c) for c in v] for k, v in captions.items()}
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    return PTBTokenizer().tokenize({k: [{"caption": c} for c in v] for k, v in captions.items()})


def caption_scores(predictions: Mapping[Any, str], references: Mapping[Any, Sequence[str]],
                   use_java: bool | None = None, meteor: bool = True) -> dict[str, Any]:
    """Corpus-level COCO caption metrics with pycocoevalcap, plus per-image CIDEr.

    Args:
        predictions: ``{image_id: predicted caption}``.
        references: ``{image_id: [reference caption, ...]}``; must have the same keys.
        use_java: Force Java (PTB tokenizer + METEOR) on/off; ``None`` = use it if installed.
        meteor: Set False to skip METEOR (it starts a Java process, about 2 s).

    Returns:
        ``{"BLEU-1".."BLEU-4", "METEOR", "ROUGE-L", "CIDEr": float or None, "per_image":
        {image_id: {"CIDEr": ..., "BLEU-4": ...}}, "notes": [str, ...], "n_images": int}``.
        Scores are on pycocoevalcap's 0..1 scale (CIDEr 0..10); multiply by 100 to compare with
        tables that print percentages.

    Raises:
        ValueError: the keys differ or a reference list is empty (the message lists which).
    """
    missing = sorted(map(str, set(references) - set(predictions)))
    extra = sorted(map(str, set(predictions) - set(references)))
    if missing or extra:
        raise ValueError(f"predictions and references must cover the same images; missing predictions for "
                         f"{missing[:5]}, predictions without references {extra[:5]}.")
    empty = [str(k) for k, v in references.items() if not v]
    if empty:
        raise ValueError(f"images {empty[:5]} have no reference captions; drop them or add references.")
    if not predictions:
        raise ValueError("no predictions to score.")
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    notes: list[str] = []
    java = java_available() if use_java is None else use_java
    if not java:
        notes.append("Java not found: PTB tokenisation replaced by a regex tokenizer and METEOR skipped "
                     "(install a JRE, e.g. apt-get install default-jre, for comparable numbers).")
    keys = list(references)
    # pycocoevalcap wants string-ish keys in a stable order; captions one per line.
    res = ptb_tokenize({k: [str(predictions[k])] for k in keys}, use_java=java)
    gts = ptb_tokenize({k: list(references[k]) for k in keys}, use_java=java)
    out: dict[str, Any] = {"n_images": len(keys)}
    bleu, bleu_per = Bleu(4).compute_score(gts, res, verbose=0)
    for n in range(4):
        out[f"BLEU-{n + 1}"] = float(bleu[n])
    if java and meteor:
        from pycocoevalcap.meteor.meteor import Meteor

        scorer = Meteor()
        try:
            out["METEOR"], meteor_per = scorer.compute_score(gts, res)
        finally:
            scorer.meteor_p.kill()
            scorer.meteor_p.wait()
    else:
        out["METEOR"], meteor_per = None, None
        if java:
            notes.append("METEOR skipped (meteor=False).")
    rouge, rouge_per = Rouge().compute_score(gts, res)
    out["ROUGE-L"] = float(rouge)
    cider, cider_per = Cider().compute_score(gts, res)
    out["CIDEr"] = float(cider)
    if len(keys) < 50:
        notes.append(f"CIDEr document frequencies come from these {len(keys)} images only: unstable on small "
                     "sets (0 on a single image); compare models on the same set only.")
    out["per_image"] = {
        k: {"BLEU-4": float(bleu_per[3][i]), "ROUGE-L": float(rouge_per[i]), "CIDEr": float(cider_per[i]),
            "METEOR": None if meteor_per is None else float(meteor_per[i])}
        for i, k in enumerate(keys)
    }
    out["notes"] = notes
    return out


# --------------------------------------------------------------------------- VQA


@lru_cache(maxsize=1)
def _vqa_tables() -> dict[str, Any]:
    text = resources.files("course_utils").joinpath("data/bench/vqa_normalisation.json").read_text("utf-8")
    return json.loads(text)


_PERIOD_STRIP = re.compile(r"(?!<=\d)(\.)(?!\d)")  # sic: the official pattern (a lookahead, not lookbehind)
_COMMA_STRIP = re.compile(r"(\d)(,)(\d)")


def _process_punctuation(text: str) -> str:
    out = text
    for p in _vqa_tables()["punctuation"]:
        if (p + " " in text or " " + p in text) or _COMMA_STRIP.search(text) is not None:
            out = out.replace(p, "")
        else:
            out = out.replace(p, " ")
    # The official script passes re.UNICODE (= 32) as the *count* argument; kept for exactness.
    return _PERIOD_STRIP.sub("", out, int(re.UNICODE))


def _process_digit_article(text: str) -> str:
    tables = _vqa_tables()
    words = []
    for word in text.lower().split():
        word = tables["manual_map"].get(word, word)
        if word not in tables["articles"]:
            words.append(word)
    return " ".join(tables["contractions"].get(w, w) for w in words)


def normalize_vqa_answer(answer: str) -> str:
    """Normalise an answer as the official VQA evaluation does.

    Newlines/tabs become spaces, punctuation is removed (or turned into spaces), periods not
    inside numbers are dropped, text is lower-cased, number words become digits (``"two"`` ->
    ``"2"``, ``"none"`` -> ``"0"``), articles are dropped and missing apostrophes restored
    (``"dont"`` -> ``"don't"``).

    Example:
        >>> normalize_vqa_answer("Two dogs.")
        '2 dogs'
    """
    if not isinstance(answer, str):
        raise TypeError(f"answer must be a str, got {type(answer).__name__}; convert it with str(...).")
    answer = answer.replace("\n", " ").replace("\t", " ").strip()
    return _process_digit_article(_process_punctuation(answer))


def vqa_accuracy(prediction: str, answers: Sequence[str]) -> float:
    """Official VQA accuracy of one prediction against the human answers (normally ten).

    For each annotator, the other annotators' answers (nine of ten) are matched against the
    normalised prediction and scored ``min(1, matches / 3)``; the result is the mean over these
    leave-one-out subsets. As in the official script, the human answers get punctuation
    processing only when they disagree (VQA v2 answers are already normalised).

    Args:
        prediction: The model's answer (raw text; it is normalised here).
        answers: The human answers for the question.

    Returns:
        Accuracy in [0, 1]. With ten answers, 0, 1, 2, 3 or 4+ matching humans give
        0, 0.3, 0.6, 0.9 or 1.0.
    """
    if not answers:
        raise ValueError("a VQA question needs at least one human answer (normally ten).")
    gts = [a.replace("\n", " ").replace("\t", " ").strip() for a in answers]
    res = normalize_vqa_answer(prediction)
    if len(set(gts)) > 1:
        gts = [_process_punctuation(a) for a in gts]
    scores = []
    for i in range(len(gts)):
        others = gts[:i] + gts[i + 1:]
        scores.append(min(1.0, sum(1 for a in others if a == res) / 3))
    return sum(scores) / len(scores)


def vqa_accuracy_per_question(predictions: Mapping[Any, str],
                              answers: Mapping[Any, Sequence[str]]) -> dict[str, Any]:
    """Score many questions: ``{"accuracy": mean, "per_question": {qid: acc}, "n_questions": n}``.

    Raises:
        ValueError: some question has no prediction (the message lists a few ids).
    """
    missing = [str(q) for q in answers if q not in predictions]
    if missing:
        raise ValueError(f"no prediction for questions {missing[:5]} ({len(missing)} missing).")
    per = {q: vqa_accuracy(predictions[q], answers[q]) for q in answers}
    return {"accuracy": sum(per.values()) / len(per) if per else float("nan"), "per_question": per,
            "n_questions": len(per)}
