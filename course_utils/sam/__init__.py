"""Segment Anything made comfortable: a cached predictor session, validated prompts, automatic masks.

* :mod:`.cache` - :class:`EmbeddingCache`, image embeddings in memory (LRU) and on disk;
* :mod:`.session` - :class:`SamSession` (``set_image`` once, ``predict`` often) and :class:`SamPrediction`;
* :mod:`.auto` - :func:`auto_masks`, segment-anything's "everything mode" with hardware presets;
* :mod:`.profile` - :func:`profile_parts`, seconds per SAM part (teaching).

Every result says whether it comes from random weights (``random_weights``: the session, each
prediction, the automatic-mask records), copied from the model the session was given.
"""

from __future__ import annotations

from .auto import AUTO_PRESETS, AutoMasks, auto_masks
from .auto import _points_per_batch as _points_per_batch  # the tests check it by hand
from .cache import SHARED_CACHE, EmbeddingCache
from .cache import _Entry as _Entry  # course_utils.sam_hf shares the cache format
from .cache import _image_hash as _image_hash
from .profile import profile_parts
from .session import SamPrediction, SamSession, model_fingerprint

_SHARED_CACHE = SHARED_CACHE  # the old private name

__all__ = [
    "SamSession", "SamPrediction", "EmbeddingCache", "auto_masks", "AUTO_PRESETS", "profile_parts",
    "model_fingerprint", "AutoMasks", "SHARED_CACHE",
]
