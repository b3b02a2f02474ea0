"""Benchmark tasks: captioning and VQA items with their references, loaders and scoring.

A :class:`Task` is a list of :class:`BenchItem` (image + prompt + references) and knows how to
score predictions with the standard metrics (:mod:`course_utils.bench.metrics`).

Loaders:

* :func:`load_mini_captions` / :func:`load_mini_vqa`: the offline mini set built from the real
  sample photos (``course_utils.images.SAMPLES``) with references the course team wrote
  (``course_utils/data/bench/*.json``, CC0; each photo keeps its own licence).
* :func:`load_coco_captions` / :func:`load_vqa_v2`: subsets of COCO captions and VQA v2 from
  the official annotation files (local paths or URLs; images from ``image_dir`` or, for COCO,
  the ``coco_url`` of each image when online).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["BenchItem", "Task", "CAPTION_PROMPT", "VQA_PROMPT", "load_mini_captions", "load_mini_vqa",
           "load_task", "load_coco_captions", "load_vqa_v2", "encode_image"]

CAPTION_PROMPT = "Write one short sentence that describes this image, like a COCO caption."
VQA_PROMPT = "{question}\nAnswer the question using a single word or phrase."
DEFAULT_MAX_SIDE = 768

#: (source, max_side) -> (fingerprint of the source, encoded result). A local file's fingerprint is
#: the sha256 of its bytes, so a file rewritten at the same path is encoded again.
_ENCODED: dict[tuple[str, int], tuple[str, tuple[bytes, str]]] = {}


def encode_image(image: str | np.ndarray, max_side: int = DEFAULT_MAX_SIDE) -> tuple[bytes, str]:
    """Encode an image as the JPEG bytes sent to models, and their sha256 (the cache key).

    Args:
        image: ``"sample:<name>"``, a path, a URL or an HWC uint8 RGB array.
        max_side: Longest side after downscaling (keeps API payloads and image tokens bounded).

    Returns:
        ``(jpeg_bytes, sha256_hex)``. String sources are memoised: bundled samples and URLs by
        name for the life of the process, local files by the hash of their current bytes (the
        file is read on every call, decoded only when its content changed).
    """
    from ..images import DEFAULT_MAX_PIXELS, _open_bytes, load_image, sample_image

    key = (image, max_side) if isinstance(image, str) else None
    fingerprint = ""
    data: bytes | None = None
    if isinstance(image, str) and not image.startswith(("sample:", "http://", "https://")):
        path = Path(image).expanduser()
        if path.is_file():
            data = path.read_bytes()
            fingerprint = hashlib.sha256(data).hexdigest()
    if key is not None and key in _ENCODED and _ENCODED[key][0] == fingerprint:
        return _ENCODED[key][1]
    from PIL import Image

    if isinstance(image, str) and image.startswith("sample:"):
        array = sample_image(image.split(":", 1)[1])
    elif data is not None:
        array = _open_bytes(data, str(image), DEFAULT_MAX_PIXELS)  # the very bytes that were hashed
    else:
        array = load_image(image)
    pil = Image.fromarray(array)
    if max(pil.size) > max_side:
        pil.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    pil.save(buffer, format="JPEG", quality=90)
    encoded = buffer.getvalue()
    out = (encoded, hashlib.sha256(encoded).hexdigest())
    if key is not None:
        _ENCODED[key] = (fingerprint, out)
    return out


@dataclass(frozen=True)
class BenchItem:
    """One benchmark question.

    Attributes:
        item_id: Unique within the task (e.g. ``"chelsea"`` or ``"chelsea_1"``).
        image: ``"sample:<name>"``, a file path or a URL.
        prompt: The text sent to chat models.
        references: Reference captions, or the ten human answers for VQA.
        question: The bare question (VQA); BLIP-style models take it instead of ``prompt``.
        answer_type: ``"yes/no"``, ``"number"`` or ``"other"`` (VQA).
        meta: Extra fields (Korean question, licence...).
    """

    item_id: str
    image: str
    prompt: str
    references: tuple[str, ...]
    question: str | None = None
    answer_type: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)

    def load_image(self) -> np.ndarray:
        """The image as HWC uint8 RGB."""
        from ..images import load_image, sample_image

        if self.image.startswith("sample:"):
            return sample_image(self.image.split(":", 1)[1])
        return load_image(self.image)

    def encoded(self, max_side: int = DEFAULT_MAX_SIDE) -> tuple[bytes, str]:
        """``(jpeg_bytes, sha256)`` of the image as sent to models."""
        return encode_image(self.image, max_side)


@dataclass
class Task:
    """A named list of items of one kind (``"caption"`` or ``"vqa"``) with scoring.

    Attributes:
        name: e.g. ``"mini_vqa"``.
        kind: ``"caption"`` or ``"vqa"``.
        items: The items, in order.
        licence: Where the annotations and images come from.
    """

    name: str
    kind: str
    items: list[BenchItem]
    licence: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ("caption", "vqa"):
            raise ValueError(f"Task kind must be 'caption' or 'vqa', got {self.kind!r}.")
        ids = [it.item_id for it in self.items]
        if len(set(ids)) != len(ids):
            dup = sorted({i for i in ids if ids.count(i) > 1})
            raise ValueError(f"Task {self.name!r} has duplicate item ids {dup[:5]}; make them unique.")

    def __len__(self) -> int:
        return len(self.items)

    def subset(self, n: int | None = None, ids: Sequence[str] | None = None) -> Task:
        """The first ``n`` items, or the items with the given ids (same task name)."""
        if ids is not None:
            unknown = set(ids) - {it.item_id for it in self.items}
            if unknown:
                raise KeyError(f"Unknown item ids {sorted(unknown)[:5]} in task {self.name!r}.")
            items = [it for it in self.items if it.item_id in set(ids)]
        else:
            items = self.items[:n]
        return Task(self.name, self.kind, items, self.licence)

    @property
    def primary_metric(self) -> str:
        """``"accuracy"`` (VQA) or ``"CIDEr"`` (captioning)."""
        return "accuracy" if self.kind == "vqa" else "CIDEr"

    def score(self, predictions: Mapping[str, str], use_java: bool | None = None,
              meteor: bool = True) -> dict[str, Any]:
        """Score predictions ``{item_id: text}`` on the items that have one.

        Returns:
            VQA: ``{"accuracy", "per_item": {id: acc}, "by_answer_type": {...}, "n_scored"}``.
            Captioning: the :func:`~course_utils.bench.metrics.caption_scores` dict plus
            ``per_item`` (per-image CIDEr) and ``n_scored``.
        """
        from . import metrics

        items = [it for it in self.items if it.item_id in predictions]
        if not items:
            return {"n_scored": 0, "per_item": {}, self.primary_metric: None, "notes": ["no predictions to score"]}
        if self.kind == "vqa":
            per = {it.item_id: metrics.vqa_accuracy(predictions[it.item_id], it.references) for it in items}
            by_type: dict[str, list[float]] = {}
            for it in items:
                by_type.setdefault(it.answer_type or "other", []).append(per[it.item_id])
            return {"accuracy": sum(per.values()) / len(per), "per_item": per, "n_scored": len(per),
                    "by_answer_type": {k: sum(v) / len(v) for k, v in sorted(by_type.items())}, "notes": []}
        out = metrics.caption_scores({it.item_id: predictions[it.item_id] for it in items},
                                     {it.item_id: list(it.references) for it in items},
                                     use_java=use_java, meteor=meteor)
        out["per_item"] = {k: v["CIDEr"] for k, v in out["per_image"].items()}
        out["n_scored"] = len(items)
        return out


# --------------------------------------------------------------------------- mini set


def _data(name: str) -> dict[str, Any]:
    return json.loads(resources.files("course_utils").joinpath(f"data/bench/{name}").read_text("utf-8"))


def _licence_text(data: dict[str, Any]) -> str:
    lic = data["licence"]
    return f"{lic['annotations']} {lic['images']}"


def load_mini_captions() -> Task:
    """The offline captioning set: 12 sample photos, 5 English reference captions each."""
    data = _data("mini_captions.json")
    items = [BenchItem(name, f"sample:{name}", CAPTION_PROMPT, tuple(refs),
                       meta={"caption_ko": data["captions_ko"].get(name, ""), **data["images"][name]})
             for name, refs in data["captions"].items()]
    return Task("mini_captions", "caption", items, _licence_text(data))


def load_mini_vqa() -> Task:
    """The offline VQA set: questions about the sample photos, ten human-style answers each."""
    data = _data("mini_vqa.json")
    items = [BenchItem(q["question_id"], f"sample:{q['image']}", VQA_PROMPT.format(question=q["question"]),
                       tuple(q["answers"]), question=q["question"], answer_type=q["answer_type"],
                       meta={"question_ko": q.get("question_ko", ""), "image_name": q["image"],
                             **data["images"][q["image"]]})
             for q in data["questions"]]
    return Task("mini_vqa", "vqa", items, _licence_text(data))


def load_task(name: str) -> Task:
    """A task by name: ``"mini_captions"`` / ``"captions"`` or ``"mini_vqa"`` / ``"vqa"``."""
    if name in ("mini_captions", "captions", "caption"):
        return load_mini_captions()
    if name in ("mini_vqa", "vqa"):
        return load_mini_vqa()
    raise KeyError(f"Unknown task {name!r}; use 'mini_captions' or 'mini_vqa' (or load_coco_captions / "
                   "load_vqa_v2 for official subsets).")


# --------------------------------------------------------------------------- official subsets


def _read_json(src: str | os.PathLike[str]) -> Any:
    text = os.fspath(src)
    if text.startswith(("http://", "https://")):
        import urllib.request

        with urllib.request.urlopen(text, timeout=120) as response:  # noqa: S310 - user-given URL
            return json.loads(response.read())
    path = Path(text).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; download the official annotation file first "
                                "(COCO: cocodataset.org/#download, VQA v2: visualqa.org/download.html).")
    return json.loads(path.read_text("utf-8"))


def load_coco_captions(annotations: str | os.PathLike[str], image_dir: str | os.PathLike[str] | None = None,
                       n: int = 100, seed: int = 0) -> Task:
    """A random subset of COCO captions from an official ``captions_*.json`` file.

    Args:
        annotations: Path or URL of e.g. ``captions_val2017.json``.
        image_dir: Folder with the images (``file_name``); ``None`` uses each image's ``coco_url``.
        n: Number of images to sample.
        seed: Sampling seed.
    """
    data = _read_json(annotations)
    refs: dict[int, list[str]] = {}
    for ann in data["annotations"]:
        refs.setdefault(ann["image_id"], []).append(ann["caption"].strip())
    images = [im for im in data["images"] if im["id"] in refs]
    images = random.Random(seed).sample(images, min(n, len(images)))
    items = []
    for im in images:
        src = str(Path(image_dir) / im["file_name"]) if image_dir is not None else im["coco_url"]
        items.append(BenchItem(str(im["id"]), src, CAPTION_PROMPT, tuple(refs[im["id"]]),
                               meta={"licence_id": im.get("license")}))
    return Task("coco_captions", "caption", items, "COCO captions annotations CC BY 4.0; images under their "
                                                       "Flickr licences (see the 'licenses' field).")


def load_vqa_v2(questions: str | os.PathLike[str], annotations: str | os.PathLike[str],
                image_dir: str | os.PathLike[str], n: int = 200, seed: int = 0,
                file_pattern: str = "COCO_val2014_{image_id:012d}.jpg") -> Task:
    """A random subset of VQA v2 from the official question and annotation files.

    Args:
        questions: ``v2_OpenEnded_mscoco_val2014_questions.json`` (path or URL).
        annotations: ``v2_mscoco_val2014_annotations.json`` (path or URL).
        image_dir: Folder with the COCO images.
        n: Number of questions to sample.
        seed: Sampling seed.
        file_pattern: Image file name pattern.
    """
    qs = {q["question_id"]: q for q in _read_json(questions)["questions"]}
    anns = _read_json(annotations)["annotations"]
    anns = random.Random(seed).sample(anns, min(n, len(anns)))
    items = []
    for ann in anns:
        q = qs[ann["question_id"]]
        src = str(Path(image_dir) / file_pattern.format(image_id=ann["image_id"]))
        items.append(BenchItem(str(ann["question_id"]), src, VQA_PROMPT.format(question=q["question"]),
                               tuple(a["answer"] for a in ann["answers"]), question=q["question"],
                               answer_type=ann.get("answer_type")))
    return Task("vqa_v2", "vqa", items, "VQA v2 annotations CC BY 4.0; COCO images under their Flickr licences.")
