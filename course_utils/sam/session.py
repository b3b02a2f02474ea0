"""Segment Anything made comfortable: a predictor session with a cached image embedding and validated prompts.

The pattern is segment-anything's own (``SamPredictor``): one expensive call, :meth:`SamSession.set_image`,
runs the image encoder (about 25 s for ViT-B on a 2-core CPU); every :meth:`SamSession.predict` after it
only runs the prompt encoder and the mask decoder (milliseconds). The image embedding is cached, in
memory (LRU, shared by all sessions) and optionally on disk, keyed by the image's pixels and the
model's identity, so re-running a cell or going back to an image does not pay the encoder again.

Formats (the kit's contracts): images are HWC uint8 RGB (anything :func:`~course_utils.images.load_image`
accepts is converted: paths, PIL images, RGBA, grayscale...); points are (x, y) in original-image
pixels; labels are 1 (foreground) or 0 (background); boxes are XYXY in pixels; masks are bool (H, W).

Example::

    session = SamSession(load_sam("sam_vit_b"))
    session.set_image(sample_image("chelsea"))           # slow once, then cached
    masks, scores, logits = session.predict(points=[(225, 150)], labels=[1])
    refined = session.predict(points=[(225, 150), (60, 40)], labels=[1, 0],
                              mask=logits[scores.argmax()][None], multimask=False)

The embedding cache is :mod:`course_utils.sam.cache`, everything mode :mod:`course_utils.sam.auto`.
"""

from __future__ import annotations

import hashlib
import os
import time
from typing import Any, NamedTuple

import numpy as np
import torch
from segment_anything import SamPredictor

from ..images import load_image
from ..models import REGISTRY, LoadedModel
from ..tiny import NOTE, is_random
from .cache import SHARED_CACHE, EmbeddingCache, _Entry, _image_hash

__all__ = ["SamSession", "SamPrediction", "model_fingerprint"]

_LOW_RES = 256  # side of SAM's low-resolution mask logits


# --------------------------------------------------------------------------- model identity


def _unwrap(model: Any) -> tuple[torch.nn.Module, LoadedModel | None]:
    if isinstance(model, LoadedModel):
        return model.model, model
    if isinstance(model, SamSession):
        return model.model, model.loaded
    if isinstance(model, torch.nn.Module) and hasattr(model, "image_encoder") and hasattr(model, "mask_decoder"):
        return model, None
    if isinstance(model, torch.nn.Module) and hasattr(model, "_course_utils_predictor"):
        return model, None  # a transformers SAM 2 / EdgeTAM model marked by course_utils.sam_hf
    raise TypeError(f"Expected a SAM model (load_sam(...) or a segment_anything Sam), got {type(model).__name__}. "
                    "Load one with course_utils.load_sam('sam_vit_b').")


def model_fingerprint(model: Any) -> str:
    """A short string that identifies which image embeddings ``model`` computes.

    Pretrained registry models (``load_sam``) are identified by registry name and checkpoint sha256.
    Tiny random models and any other ``Sam`` are identified by their architecture and a hash of the
    image encoder's weights and the pixel normalisation, so two different random models (other seed,
    other width) never share cache entries.
    """
    sam, loaded = _unwrap(model)
    cached = getattr(sam, "_course_utils_fingerprint", None)
    if cached is not None:
        return cached
    enc = sam.image_encoder
    dtype = str(next(sam.parameters()).dtype).replace("torch.", "")
    arch = f"d{enc.patch_embed.proj.out_channels}x{len(enc.blocks)}-s{enc.img_size}-{dtype}"
    random_weights = is_random(loaded) if loaded is not None else is_random(sam)
    name = loaded.spec.name if loaded is not None else getattr(sam, "_course_utils_name", None)
    spec = REGISTRY.get(name) if name else None
    if spec is not None and spec.sha256 and not random_weights:
        key = f"{spec.name}-{spec.sha256[:16]}-{arch}"
    else:
        digest = hashlib.blake2b(digest_size=12)
        for tensor in [*enc.state_dict().values(), sam.pixel_mean, sam.pixel_std]:
            digest.update(tensor.detach().to("cpu").contiguous().numpy().tobytes())
        key = f"{'tiny' if random_weights else 'custom'}-{arch}-{digest.hexdigest()}"
    sam._course_utils_fingerprint = key  # weights are frozen in eval use; see docs/sam.md
    return key


class _CachingPredictor(SamPredictor):
    """A ``SamPredictor`` whose ``set_image`` consults an :class:`EmbeddingCache` first.

    Used by :class:`SamSession` and handed to ``SamAutomaticMaskGenerator`` so that its
    ``set_image`` calls (full image and crops) are cached as well.
    """

    def __init__(self, sam_model: Any, cache: EmbeddingCache | None, fingerprint: str):
        super().__init__(sam_model)
        self.cache = cache
        self.fingerprint = fingerprint
        self.last_cache_hit: str | None = None
        self.last_encoder_seconds: float | None = None

    def set_image(self, image: np.ndarray, image_format: str = "RGB") -> None:
        if image_format != self.model.image_format:
            image = image[..., ::-1]
        image = np.ascontiguousarray(image)
        key = (self.fingerprint, _image_hash(image))
        entry, where = self.cache.get(key) if self.cache is not None else (None, None)
        if entry is not None:
            self.reset_image()
            self.features = entry.features.to(self.device)
            self.original_size = entry.original_size
            self.input_size = entry.input_size
            self.is_image_set = True
            self.last_cache_hit = where
            return
        start = time.perf_counter()
        super().set_image(image, image_format=self.model.image_format)
        self.last_encoder_seconds = time.perf_counter() - start
        self.last_cache_hit = None
        if self.cache is not None:
            self.cache.put(key, _Entry(self.features, tuple(self.original_size), tuple(self.input_size)))


# --------------------------------------------------------------------------- session


class _MasksScoresLogits(NamedTuple):
    masks: np.ndarray
    scores: np.ndarray
    logits: np.ndarray


class SamPrediction(_MasksScoresLogits):
    """What :meth:`SamSession.predict` returns; unpacks as ``masks, scores, logits``.

    Attributes:
        masks: (M, H, W) bool masks at the original image size (M = 3 with ``multimask``, else 1).
        scores: (M,) float32, the model's predicted IoU of each mask.
        logits: (M, 256, 256) float32 low-resolution mask logits; ``logits[i][None]`` is a valid
            ``mask=`` input for a refining ``predict``.
        random_weights: True when the model had random weights (tiny mode); not part of the tuple.
    """

    random_weights: bool = False  # instances set their own (a tuple subclass without __slots__ has a __dict__)

    def __new__(cls, masks: np.ndarray, scores: np.ndarray, logits: np.ndarray,
                random_weights: bool = False) -> SamPrediction:
        self = super().__new__(cls, masks, scores, logits)
        self.random_weights = bool(random_weights)
        return self

    @property
    def best(self) -> int:
        """Index of the mask with the highest predicted IoU."""
        return int(np.argmax(self.scores))


class SamSession:
    """A SAM predictor with a cached image embedding and validated prompts.

    Args:
        model: ``load_sam(...)`` result or a segment-anything ``Sam``.
        cache: An :class:`EmbeddingCache`; ``None`` uses the process-wide memory cache (8 images),
            ``False`` disables caching.
        disk_cache: ``True`` (or a path) adds an on-disk level under ``cache_dir()/sam_embeddings``,
            which survives kernel restarts. Ignored when ``cache`` is given or ``False``.

    Call :meth:`set_image` once per image, then :meth:`predict` as often as you like.
    """

    def __init__(self, model: Any, cache: EmbeddingCache | bool | None = None,
                 disk_cache: bool | str | os.PathLike = False):
        self.model, self.loaded = _unwrap(model)
        #: True when the model has random weights (tiny mode); copied into every prediction.
        self.random_weights = is_random(self.loaded, self.model)
        self.model.eval()
        if cache is False:
            cache_obj = None
        elif isinstance(cache, EmbeddingCache):
            cache_obj = cache
        elif disk_cache:
            cache_obj = EmbeddingCache(max_items=SHARED_CACHE.max_items, disk=disk_cache)
            cache_obj._memory = SHARED_CACHE._memory  # share the memory level
        else:
            cache_obj = SHARED_CACHE
        self.cache: EmbeddingCache | None = cache_obj
        self.fingerprint = model_fingerprint(self.model if self.loaded is None else self.loaded)
        # segment-anything's predictor, or the one a transformers model was marked with (course_utils.sam_hf)
        predictor_cls = getattr(self.model, "_course_utils_predictor", _CachingPredictor)
        self.predictor = predictor_cls(self.model, self.cache, self.fingerprint)
        self.image: np.ndarray | None = None
        self._image_key: str | None = None
        self._last_hit: str | None = None

    # -- properties
    @property
    def tiny(self) -> bool:
        """The same as :attr:`random_weights` (the name the labs use)."""
        return self.random_weights

    @property
    def weights_note(self) -> str:
        """A caption for figures that says whether the weights are random."""
        if self.loaded is not None:
            return self.loaded.weights_note
        return NOTE if self.random_weights else "SAM"

    @property
    def device(self) -> torch.device:
        return self.model.device

    @property
    def is_image_set(self) -> bool:
        return self.image is not None and self.predictor.is_image_set

    @property
    def image_size(self) -> tuple[int, int]:
        """(H, W) of the current image."""
        self._require_image("image_size")
        assert self.image is not None
        return self.image.shape[0], self.image.shape[1]

    @property
    def last_cache_hit(self) -> str | None:
        """Where the last :meth:`set_image` found its embedding: ``"memory"``, ``"disk"``,
        ``"current"`` (same image as before) or ``None`` (the encoder ran)."""
        return self._last_hit

    @property
    def last_encoder_seconds(self) -> float | None:
        """Seconds the image encoder took the last time it actually ran."""
        return self.predictor.last_encoder_seconds

    def __repr__(self) -> str:
        name = self.loaded.spec.name if self.loaded is not None else getattr(self.model, "_course_utils_name", "Sam")
        state = f"image {self.image.shape[1]}x{self.image.shape[0]}" if self.image is not None else "no image"
        return f"SamSession({name!r}{', TINY RANDOM' if self.random_weights else ''}, {state}, device={self.device})"

    # -- the expensive call
    def set_image(self, image: Any) -> SamSession:
        """Compute (or fetch from the cache) the image embedding of ``image``.

        Args:
            image: HWC uint8 RGB array, or anything :func:`~course_utils.images.load_image` accepts
                (path, PIL image, RGBA / grayscale / float arrays are converted to RGB).

        Returns:
            The session itself (so ``SamSession(model).set_image(img)`` chains).

        The session keeps a private, read-only copy in :attr:`image` (``session.image.copy()`` to
        draw on it); later edits of the array passed in do not reach the session.
        """
        rgb = load_image(image)
        key = _image_hash(rgb)
        if key == self._image_key and self.predictor.is_image_set:
            self._last_hit = "current"
            return self
        rgb = rgb.copy()  # the session's own pixels: drawing on the caller's array changes nothing here
        rgb.setflags(write=False)
        self.image = None
        self.predictor.set_image(rgb)
        self.image = rgb
        self._image_key = key
        self._last_hit = self.predictor.last_cache_hit
        return self

    def reset_image(self) -> None:
        """Forget the current image (the cache keeps its embedding)."""
        self.predictor.reset_image()
        self.image = None
        self._image_key = None

    def get_image_embedding(self) -> torch.Tensor:
        """A copy of the current image embedding, (1, 256, 64, 64) float (edit it freely)."""
        self._require_image("get_image_embedding")
        return self.predictor.get_image_embedding().clone()

    def _require_image(self, what: str) -> None:
        if not self.is_image_set:
            raise RuntimeError(f"No image is set: call session.set_image(image) before {what}().")

    # -- cheap calls
    def predict(self, points: Any = None, labels: Any = None, box: Any = None, mask: Any = None,
                multimask: bool = True) -> SamPrediction:
        """Masks for prompts on the current image.

        Args:
            points: (N, 2) (x, y) pixel coordinates in the original image, ``0 <= x < W``, ``0 <= y < H``.
                A single ``(x, y)`` pair is accepted too.
            labels: (N,) of 1 (foreground) / 0 (background); ``None`` means all foreground.
            box: One XYXY pixel box ``(x0, y0, x1, y1)`` with ``x0 < x1`` and ``y0 < y1``. Parts outside
                the image are clipped to it; a box entirely outside the image is an error.
            mask: Low-resolution logits of a previous prediction, (1, 256, 256) or (256, 256), e.g.
                ``logits[best][None]``; used to refine that mask with new points.
            multimask: Three masks (ambiguous prompts such as one click) or one.

        Returns:
            :class:`SamPrediction` ``(masks (M, H, W) bool, scores (M,), logits (M, 256, 256))``.

        Raises:
            RuntimeError: :meth:`set_image` was not called.
            ValueError: A prompt is malformed or outside the image; the message says how to fix it.
        """
        self._require_image("predict")
        coords, labs, box_arr, mask_arr = self.validate_prompts(points, labels, box, mask)
        masks, scores, logits = self.predictor.predict(coords, labs, box_arr, mask_arr, multimask_output=multimask)
        return SamPrediction(masks, scores, logits, self.random_weights)

    def validate_prompts(self, points: Any = None, labels: Any = None, box: Any = None,
                         mask: Any = None) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None,
                                                    np.ndarray | None]:
        """Check and normalise prompts exactly as :meth:`predict` does (see there).

        Returns:
            ``(points (N, 2) float32 | None, labels (N,) int32 | None, box (4,) float32 | None,
            mask (1, 256, 256) float32 | None)``.
        """
        self._require_image("validate_prompts")
        height, width = self.image_size
        coords = labs = box_arr = mask_arr = None
        if points is not None:
            coords = np.asarray(points, dtype=np.float64)
            if coords.ndim == 1 and coords.shape == (2,):
                coords = coords[None]
            if coords.ndim != 2 or coords.shape[1] != 2 or len(coords) == 0:
                raise ValueError(f"points must be (N, 2) (x, y) pixel pairs, got shape {coords.shape}. "
                                 "Example: points=[(120, 80)], labels=[1].")
            if not np.isfinite(coords).all():
                raise ValueError("points contain NaN or infinity.")
            outside = (coords[:, 0] < 0) | (coords[:, 0] >= width) | (coords[:, 1] < 0) | (coords[:, 1] >= height)
            if outside.any():
                bad = coords[outside][0]
                hint = ""
                if 0 <= bad[1] < width and 0 <= bad[0] < height:
                    hint = " It would fit as (y, x): points are (x, y) = (column, row), not (row, column)."
                raise ValueError(f"Point ({bad[0]:g}, {bad[1]:g}) is outside the image of width {width} and "
                                 f"height {height}; points are (x, y) pixels with 0 <= x < {width} and "
                                 f"0 <= y < {height}.{hint} If you clicked on a resized display, convert "
                                 "display coordinates to image pixels first.")
            if labels is None:
                labs = np.ones(len(coords), dtype=np.int32)
            else:
                labs_raw = np.asarray(labels).reshape(-1)
                if labs_raw.shape[0] != len(coords):
                    raise ValueError(f"Got {len(coords)} points but {labs_raw.shape[0]} labels; give one label "
                                     "(1 = foreground, 0 = background) per point.")
                if labs_raw.dtype == bool:
                    labs_raw = labs_raw.astype(np.int32)
                if not np.isin(labs_raw, (0, 1)).all():
                    raise ValueError(f"labels must be 1 (foreground) or 0 (background), got {labs_raw.tolist()}.")
                labs = labs_raw.astype(np.int32)
            coords = coords.astype(np.float32)
        elif labels is not None:
            raise ValueError("labels were given without points; pass points=[(x, y), ...] too.")
        if box is not None:
            b = np.asarray(box, dtype=np.float64).reshape(-1)
            if b.shape != (4,):
                raise ValueError(f"box must be one XYXY box (x0, y0, x1, y1), got {b.size} numbers. SAM takes "
                                 "one box per predict call.")
            if not np.isfinite(b).all():
                raise ValueError("box contains NaN or infinity.")
            x0, y0, x1, y1 = b
            if x0 >= x1 or y0 >= y1:
                raise ValueError(f"box {tuple(float(v) for v in b)} is not XYXY with x0 < x1 and y0 < y1. If it is "
                                 "XYWH, convert it with (x, y, x + w, y + h); if you dragged right-to-left, swap "
                                 "the corners.")
            clipped = np.array([np.clip(x0, 0, width), np.clip(y0, 0, height), np.clip(x1, 0, width),
                                np.clip(y1, 0, height)])
            if clipped[0] >= clipped[2] or clipped[1] >= clipped[3]:
                raise ValueError(f"box {tuple(float(v) for v in b)} lies entirely outside the image "
                                 f"(width {width}, height {height}).")
            box_arr = clipped.astype(np.float32)
        if mask is not None:
            m = np.asarray(mask)
            if m.ndim == 2:
                m = m[None]
            if m.shape != (1, _LOW_RES, _LOW_RES):
                hint = (" A full-resolution mask is not a valid input: pass the low-res logits returned by "
                        "predict, e.g. logits[best][None].") if m.shape[-2:] == (height, width) else ""
                raise ValueError(f"mask must be low-res logits of shape (1, 256, 256), got {np.asarray(mask).shape}."
                                 + hint)
            if m.dtype == bool:
                raise ValueError("mask must be the float logits returned by predict (logits[i][None]), not a bool "
                                 "mask.")
            mask_arr = m.astype(np.float32)
        if coords is None and box_arr is None and mask_arr is None:
            raise ValueError("Give at least one prompt: points=[(x, y)] with labels, a box=(x0, y0, x1, y1), "
                             "or a previous mask.")
        return coords, labs, box_arr, mask_arr

