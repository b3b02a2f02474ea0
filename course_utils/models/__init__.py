"""The models of the week: registry, environment, downloads, preprocessing and loaders.

One expensive call (``load_vit``, ``load_dinov2``, ``load_dinov3``, ``load_sam``, ``load_sam3``, ``load_model``,
``load_captioner``, ``load_vqa``) returns the model in eval mode on the chosen device together with the
preprocessing it needs. In tiny mode it is a small random model of the same architecture family, and the
:class:`LoadedModel` says so (``random_weights``). The package, by concept:

* :mod:`.registry`: :class:`ModelSpec`, :data:`REGISTRY` (every model as data), ``register_model``, ``get_spec``;
* :mod:`.env`: device choice and the weight cache directory (``COURSE_UTILS_DEVICE``, ``COURSE_UTILS_CACHE``);
* :mod:`.errors`: what a load raises (each message names the fix);
* :mod:`.downloads`: URL downloads verified by sha256, hub snapshots, ``fetch_weights``, the cache listing;
* :mod:`.preprocess`: :class:`ImagePreprocess` from timm's or transformers' own config, ``to_numpy_image``;
* :mod:`.loaders`: :class:`LoadedModel` and the vision loaders; :mod:`.vlm`: captioning / VQA loaders.

Tiny mode itself (the switch, the banner text, the small configs) lives in :mod:`course_utils.tiny`;
``is_tiny``, ``is_random`` and ``RANDOM_WEIGHTS_NOTE`` here are its names.
"""

from __future__ import annotations

from ..tiny import NOTE as RANDOM_WEIGHTS_NOTE
from ..tiny import TINY_ENV, is_random
from ..tiny import enabled as is_tiny
from ..tiny import mark as mark_random_weights

# Private names below are imported by tests, benchmarks and sibling modules from here: kept importable.
from ..tiny.backbones import SAM_ENCODER as _SAM_TINY  # noqa: F401
from ..tiny.backbones import timm_kwargs as _timm_tiny  # noqa: F401
from .downloads import (  # noqa: F401
    _hf_snapshot,
    _local_weight_file,
    _repo_listing,
    _unavailable,
    cached_files,
    choose_weight_pattern,
    describe_cache,
    download_url,
    fetch_weights,
    verify_file,
    weight_files_in,
)
from .env import CACHE_ENV, DEVICE_ENV, cache_dir, get_device
from .errors import ChecksumError, GatedModelError, WeightsLoadError, WeightsUnavailableError
from .loaders import (  # noqa: F401
    LoadedModel,
    _build_sam,
    _finish,
    build_sam_architecture,
    load_dinov2,
    load_dinov3,
    load_model,
    load_sam,
    load_sam3,
    load_vit,
)
from .preprocess import (  # noqa: F401
    ImagePreprocess,
    _hf_preprocess,
    _timm_preprocess,
    at_input_size,
    to_numpy_image,
)
from .registry import REGISTRY, ModelSpec, get_spec, model_table, register_model
from .vlm import load_captioner, load_vqa

__all__ = [
    "ModelSpec", "LoadedModel", "REGISTRY", "WeightsUnavailableError", "ChecksumError", "WeightsLoadError",
    "register_model", "is_tiny", "is_random", "get_device", "cache_dir",
    "load_model", "load_vit", "load_dinov2", "load_sam", "fetch_weights", "cached_files",
    "choose_weight_pattern", "weight_files_in",
    "GatedModelError", "load_dinov3", "load_sam3",
    "get_spec", "model_table", "describe_cache", "download_url", "verify_file", "ImagePreprocess",
    "to_numpy_image", "at_input_size", "build_sam_architecture", "load_captioner", "load_vqa",
    "RANDOM_WEIGHTS_NOTE", "TINY_ENV", "CACHE_ENV", "DEVICE_ENV", "mark_random_weights",
]
