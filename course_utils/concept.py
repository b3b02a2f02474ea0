"""SAM 3 concept prompts: a short noun phrase (and/or exemplar boxes) -> every matching instance.

SAM 1 and SAM 2 segment *one* object per prompt, and the prompt is a point, a box or a mask.
SAM 3 (Carion et al., arXiv 2511.16719, Nov 2025) adds *promptable concept segmentation*: given
an image and a short noun phrase ("yellow school bus") or example boxes, it returns a mask, a box
and a score for every instance of that concept. This module wraps transformers' ``Sam3Model`` /
``Sam3Processor`` (the model is not re-implemented here) behind one validated call::

    sam3 = load_sam3()                                   # gated: accept the SAM License first
    result = segment_concept(sam3, sample_image("coffee"), "cup")
    result.masks, result.boxes, result.scores            # (K, H, W) bool, (K, 4) XYXY px, (K,)
    overlay_masks(image, result.masks)                   # the existing viz overlays draw it

Masks, boxes and scores are exactly the processor's ``post_process_instance_segmentation`` of the
model's outputs (sorted by score). The boxes are the detector's own box head; ``mask_boxes`` are
the tight boxes around each binarised mask (always containing it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .images import ImageLoadError, load_image
from .models import LoadedModel
from .tiny import NOTE, SHORT_NOTE, is_random

__all__ = ["ConceptResult", "segment_concept", "concept_inputs", "mask_boxes"]

from .tiny.sam3 import MAX_TEXT_TOKENS  # SAM 3's text length; the tiny config uses the same


@dataclass
class ConceptResult:
    """Every instance SAM 3 found for one concept prompt, best score first.

    Attributes:
        masks: (K, H, W) bool masks at the original image size.
        boxes: (K, 4) float32 XYXY boxes in original-image pixels (the detector's box head).
        scores: (K,) float32 instance scores (query score x presence score), all above ``threshold``.
        phrase: The noun phrase (``None`` for an exemplar-only prompt).
        image_size: (H, W) of the image.
        threshold: Score threshold used.
        random_weights: True when the model had random weights (tiny mode).
    """

    masks: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray
    phrase: str | None
    image_size: tuple[int, int]
    threshold: float
    random_weights: bool = False

    def __len__(self) -> int:
        return int(len(self.scores))

    @property
    def mask_boxes(self) -> np.ndarray:
        """(K, 4) tight XYXY boxes around each mask (pixel edges; NaN rows for empty masks)."""
        return mask_boxes(self.masks)

    def above(self, threshold: float) -> ConceptResult:
        """The instances scoring above a higher ``threshold`` (no new model call)."""
        keep = self.scores > threshold
        return ConceptResult(self.masks[keep], self.boxes[keep], self.scores[keep], self.phrase, self.image_size,
                             max(threshold, self.threshold), self.random_weights)

    def best(self, n: int) -> ConceptResult:
        """The ``n`` best-scoring instances (they are stored best first)."""
        return ConceptResult(self.masks[:n], self.boxes[:n], self.scores[:n], self.phrase, self.image_size,
                             self.threshold, self.random_weights)

    @property
    def note(self) -> str:
        """A caption for figures: the prompt, the instance count and RANDOM WEIGHTS when so."""
        prompt = repr(self.phrase) if self.phrase is not None else "exemplar boxes"
        text = f"{prompt}: {len(self)} instance(s) with score > {self.threshold:g}"
        return f"{text} - {NOTE}" if self.random_weights else text

    def __repr__(self) -> str:
        kind = f", {SHORT_NOTE}" if self.random_weights else ""
        return f"ConceptResult({self.note.split(' - ')[0]}, image={self.image_size}{kind})"


def mask_boxes(masks: np.ndarray) -> np.ndarray:
    """Tight XYXY boxes of bool masks (K, H, W): x0, y0 of the first and x1, y1 past the last pixel."""
    masks = np.asarray(masks, dtype=bool)
    out = np.full((len(masks), 4), np.nan, dtype=np.float32)
    for i, m in enumerate(masks):
        ys, xs = np.nonzero(m)
        if len(xs):
            out[i] = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    return out


# --------------------------------------------------------------------------- validation


def _unwrap(model: Any) -> LoadedModel:
    if isinstance(model, LoadedModel) and model.spec.family == "sam3" and model.processor is not None:
        return model
    raise TypeError(f"segment_concept needs the SAM 3 model from load_sam3() (a LoadedModel with its processor); "
                    f"got {type(model).__name__}. SAM 1 / SAM 2 (load_sam) take points and boxes, not text.")


def _check_phrase(phrase: Any, has_boxes: bool, tokenizer: Any) -> str | None:
    if phrase is None:
        if not has_boxes:
            raise ValueError("Give a concept: a short noun phrase such as 'cat' or 'red car', and/or exemplar "
                             "boxes=[(x0, y0, x1, y1)].")
        return None
    if not isinstance(phrase, str):
        raise TypeError(f"phrase must be a string such as 'cat', not {type(phrase).__name__}; for several concepts "
                        "call segment_concept once per phrase.")
    text = " ".join(phrase.split())
    if not text:
        raise ValueError("phrase is empty: type a short noun phrase such as 'cat' or 'striped umbrella'.")
    n_tokens = len(tokenizer(text)["input_ids"])
    if n_tokens > MAX_TEXT_TOKENS:
        raise ValueError(f"phrase is too long ({n_tokens} tokens > {MAX_TEXT_TOKENS}): SAM 3 takes a short noun "
                         "phrase ('dog', 'yellow school bus'), not a sentence or a question.")
    return text


def _check_boxes(boxes: Any, labels: Any, size: tuple[int, int]) -> tuple[np.ndarray | None, np.ndarray | None]:
    if boxes is None:
        if labels is not None:
            raise ValueError("box_labels given without boxes: pass boxes=[(x0, y0, x1, y1), ...] too.")
        return None, None
    try:
        arr = np.asarray(boxes, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"boxes must be numbers (x0, y0, x1, y1) in pixels, got {boxes!r}.") from exc
    if arr.ndim == 1:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != 4 or len(arr) == 0:
        raise ValueError(f"boxes must be XYXY pixel boxes, shape (K, 4) with K >= 1; got shape {arr.shape}. "
                         "Example: boxes=[(40, 60, 180, 220)].")
    h, w = size
    if not np.isfinite(arr).all():
        raise ValueError("boxes contain NaN or infinity.")
    bad = np.nonzero((arr[:, 2] <= arr[:, 0]) | (arr[:, 3] <= arr[:, 1]))[0]
    if len(bad):
        raise ValueError(f"box {int(bad[0])} {arr[bad[0]].tolist()} is not XYXY: x1 must exceed x0 and y1 exceed y0 "
                         "(boxes are (x0, y0, x1, y1), not (x, y, width, height)).")
    outside = np.nonzero((arr[:, 0] < 0) | (arr[:, 1] < 0) | (arr[:, 2] > w) | (arr[:, 3] > h))[0]
    if len(outside):
        raise ValueError(f"box {int(outside[0])} {arr[outside[0]].tolist()} leaves the {w}x{h} image "
                         f"(0 <= x <= {w}, 0 <= y <= {h}).")
    if labels is None:
        lab = np.ones(len(arr), dtype=np.int64)
    else:
        lab = np.asarray(labels).reshape(-1)
        if len(lab) != len(arr) or not np.isin(lab, (0, 1)).all():
            raise ValueError(f"box_labels must be one 1 (positive example) or 0 (negative example) per box; "
                             f"got {np.asarray(labels).tolist()} for {len(arr)} box(es).")
        lab = lab.astype(np.int64)
    return arr, lab


def concept_inputs(model: LoadedModel, image: Any, phrase: str | None = None, boxes: Any = None,
                   box_labels: Any = None) -> tuple[dict[str, torch.Tensor], np.ndarray, str | None]:
    """Validate a concept prompt and turn it into the model's inputs (the processor does the encoding).

    Returns:
        (inputs for ``Sam3Model``, the HWC uint8 image, the cleaned phrase).
    """
    loaded = _unwrap(model)
    try:
        img = load_image(image)
    except ImageLoadError as exc:
        raise TypeError(f"image: {exc}") from exc
    size = img.shape[:2]
    arr, lab = _check_boxes(boxes, box_labels, size)
    text = _check_phrase(phrase, arr is not None, loaded.processor.tokenizer)
    kwargs: dict[str, Any] = {}
    if arr is not None:
        kwargs = {"input_boxes": [arr.tolist()], "input_boxes_labels": [lab.tolist()]}
    pixels = img if img.flags.writeable else img.copy()  # torch.from_numpy warns on read-only arrays
    encoded = loaded.processor(images=pixels, text=text, return_tensors="pt", **kwargs)
    encoded.pop("original_sizes", None)
    inputs = {k: v.to(loaded.device) for k, v in encoded.items()}
    return inputs, img, text


def segment_concept(model: LoadedModel, image: Any, phrase: str | None = None, boxes: Any = None,
                    box_labels: Any = None, threshold: float = 0.5, mask_threshold: float = 0.5) -> ConceptResult:
    """Segment every instance of a concept: a short noun phrase, exemplar boxes, or both.

    Args:
        model: ``load_sam3()`` (pretrained, or tiny random in tiny mode).
        image: Anything :func:`~course_utils.images.load_image` accepts (HWC uint8 array, path, PIL...).
        phrase: A short noun phrase ("cat", "red car"); ``None`` for an exemplar-only prompt.
        boxes: Exemplar boxes, XYXY in original-image pixels, shape (K, 4) or one box.
        box_labels: 1 (more like this) or 0 (not this) per box; default all 1.
        threshold: Keep instances whose score exceeds this (0..1).
        mask_threshold: Binarise the mask probabilities at this value (0..1).

    Returns:
        :class:`ConceptResult` (masks, boxes, scores, best first).

    Raises:
        TypeError: ``model`` is not SAM 3, ``image`` is not an image, ``phrase`` is not a string.
        ValueError: empty or too long phrase, malformed boxes or labels, thresholds outside 0..1.
    """
    for name, value in (("threshold", threshold), ("mask_threshold", mask_threshold)):
        if not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
            raise ValueError(f"{name} must be a number between 0 and 1, got {value!r}.")
    loaded = _unwrap(model)
    inputs, img, text = concept_inputs(loaded, image, phrase, boxes, box_labels)
    with torch.inference_mode():
        outputs = loaded.model(**inputs)
    return concept_result(loaded, outputs, img.shape[:2], text, threshold, mask_threshold)


def concept_result(model: LoadedModel, outputs: Any, size: tuple[int, int], phrase: str | None,
                   threshold: float = 0.5, mask_threshold: float = 0.5) -> ConceptResult:
    """Post-process ``Sam3Model`` outputs with the processor's own instance segmentation, best first."""
    post = model.processor.post_process_instance_segmentation(outputs, threshold=threshold,
                                                              mask_threshold=mask_threshold,
                                                              target_sizes=[tuple(size)])[0]
    scores = post["scores"].float().cpu().numpy()
    order = np.argsort(-scores, kind="stable")
    masks = post["masks"].bool().cpu().numpy()[order].reshape(-1, *size)
    boxes = post["boxes"].float().cpu().numpy()[order].reshape(-1, 4).astype(np.float32)
    return ConceptResult(masks, boxes, scores[order].astype(np.float32), phrase, (int(size[0]), int(size[1])),
                         float(threshold), is_random(model))
