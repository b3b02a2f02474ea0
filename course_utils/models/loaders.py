"""Loaders: one expensive call returns a registry model in eval mode on its device, with its preprocessing.

``load_model`` (and the family loaders ``load_vit``, ``load_dinov2``, ``load_dinov3``, ``load_sam``,
``load_sam3``) build the architecture with its own library (timm, transformers, segment-anything) and load
the cached weights into it. Tiny mode (``tiny=True``, or the switch in :mod:`course_utils.tiny`) builds a
small, randomly initialised model of the *same architecture family* from the configs in
:mod:`course_utils.tiny` instead; it loads offline in well under a second, says loudly that its weights are
random, and the :class:`LoadedModel` carries ``random_weights=True``. A pretrained load that cannot download
raises :class:`~course_utils.models.errors.WeightsUnavailableError`; it never falls back to random weights.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..tiny import NOTE as RANDOM_WEIGHTS_NOTE
from ..tiny import TINY_ENV
from ..tiny import enabled as is_tiny
from ..tiny import mark as mark_random_weights
from ..tiny.backbones import SAM_ENCODER as _SAM_TINY
from ..tiny.backbones import hf_model as _tiny_hf_model
from .downloads import _local_weight_file
from .env import get_device
from .errors import WeightsLoadError
from .preprocess import ImagePreprocess, _hf_preprocess, _timm_preprocess
from .registry import REGISTRY, ModelSpec, get_spec

__all__ = ["LoadedModel", "load_model", "load_vit", "load_dinov2", "load_dinov3", "load_sam", "load_sam3",
           "build_sam_architecture"]


@dataclass
class LoadedModel:
    """A model ready to use: unpacks as ``model, preprocess = load_vit(...)``.

    Attributes:
        model: The ``nn.Module`` in eval mode on ``device``.
        preprocess: Image -> input tensor (``None`` for SAM: ``SamPredictor`` does its own).
        spec: The registry entry.
        random_weights: True when the weights are random (tiny mode); ``tiny`` is the same flag.
        device: Where the model lives.
        processor: The HF processor for transformers models (tokenizer + image processor).
    """

    model: nn.Module
    preprocess: ImagePreprocess | None
    spec: ModelSpec
    random_weights: bool
    device: torch.device
    processor: Any = None

    def __iter__(self) -> Iterator[Any]:
        yield self.model
        yield self.preprocess

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def tiny(self) -> bool:
        """The same as ``random_weights`` (the name the labs use)."""
        return self.random_weights

    @property
    def weights_note(self) -> str:
        """A caption for figures: says whether the weights are random."""
        return RANDOM_WEIGHTS_NOTE if self.random_weights else f"{self.spec.name} pretrained ({self.spec.ref})"

    def __repr__(self) -> str:
        kind = "TINY RANDOM" if self.random_weights else "pretrained"
        n = sum(p.numel() for p in self.model.parameters())
        return f"LoadedModel({self.spec.name!r}, {kind}, {n / 1e6:.2f}M params, device={self.device})"


def _announce_tiny(spec: ModelSpec, model: nn.Module) -> None:
    n = sum(p.numel() for p in model.parameters())
    print(f"[course_utils] TINY MODE: {spec.name!r} is a small randomly initialised {spec.family} model "
          f"({n / 1e6:.2f}M params instead of {spec.params_m:g}M). Its outputs are meaningless; "
          f"unset {TINY_ENV} for pretrained weights.", file=sys.stderr)


def _finish(model: nn.Module, spec: ModelSpec, random_weights: bool, device: torch.device,
            preprocess: ImagePreprocess | None, processor: Any = None) -> LoadedModel:
    """The last step of every loader: eval mode on ``device``, the random-weights mark (:func:`tiny.mark
    <course_utils.tiny.mark>`), the loud note for random weights, and the :class:`LoadedModel`."""
    model.eval().to(device)
    mark_random_weights(model, random_weights)
    model._course_utils_name = spec.name  # type: ignore[attr-defined]
    if random_weights:
        _announce_tiny(spec, model)
    return LoadedModel(model, preprocess, spec, random_weights, device, processor)


def _build_timm(spec: ModelSpec, tiny: bool, seed: int) -> nn.Module:
    import timm

    kwargs = dict(spec.arch_kwargs)
    if tiny:
        kwargs.update(spec.tiny_kwargs)
        torch.manual_seed(seed)
        return timm.create_model(spec.ref, pretrained=False, **kwargs)
    weights = _local_weight_file(spec)
    try:
        return timm.create_model(spec.ref, pretrained=True, pretrained_cfg_overlay={"file": str(weights)},
                                 **kwargs)
    except Exception as exc:
        raise WeightsLoadError(f"{weights} could not be loaded ({exc.__class__.__name__}: {str(exc)[:300]}). The "
                               f"file is damaged or from another model: delete it and run "
                               f"`course-utils fetch-weights {spec.name}`.") from exc


def _build_hf(spec: ModelSpec, tiny: bool, seed: int) -> tuple[nn.Module, Any]:
    import transformers as tf

    if tiny:
        torch.manual_seed(seed)
        return _tiny_hf_model(spec.arch or "", spec.name)
    folder = _local_weight_file(spec)
    model_cls = getattr(tf, spec.arch or "AutoModel")
    try:
        processor = tf.AutoProcessor.from_pretrained(folder) if spec.family in ("captioner", "vqa", "sam3") \
            else tf.AutoImageProcessor.from_pretrained(folder)
        # Eager attention keeps attention weights readable for the ViT/DINOv2 labs; SAM 3's global attention at
        # 1008 px would materialise (72*72)^2 weights per head that way, so it keeps transformers' default kernel.
        # weights_only=True: a pytorch_model.bin is unpickled with torch's safe loader (tensors only).
        kwargs = {} if spec.family == "sam3" else {"attn_implementation": "eager"}
        return model_cls.from_pretrained(folder, weights_only=True, **kwargs), processor
    except Exception as exc:
        raise WeightsLoadError(f"{folder} could not be loaded ({exc.__class__.__name__}: {exc}). Delete it and "
                               f"run `course-utils fetch-weights {spec.name}`.") from exc


_SAM_ARCH = {
    "vit_b": {"encoder_embed_dim": 768, "encoder_depth": 12, "encoder_num_heads": 12,
              "encoder_global_attn_indexes": [2, 5, 8, 11]},
    "vit_l": {"encoder_embed_dim": 1024, "encoder_depth": 24, "encoder_num_heads": 16,
              "encoder_global_attn_indexes": [5, 11, 17, 23]},
    "vit_h": {"encoder_embed_dim": 1280, "encoder_depth": 32, "encoder_num_heads": 16,
              "encoder_global_attn_indexes": [7, 15, 23, 31]},
}


def build_sam_architecture(arch: str | dict[str, Any]) -> nn.Module:
    """Build an untrained SAM with segment-anything's own builder (``vit_b``, ``vit_l``, ``vit_h``
    or a dict of encoder settings)."""
    from segment_anything.build_sam import _build_sam  # the builder behind sam_model_registry

    kwargs = _SAM_ARCH[arch] if isinstance(arch, str) else arch
    return _build_sam(checkpoint=None, **kwargs)


def _build_sam(spec: ModelSpec, tiny: bool, seed: int) -> nn.Module:
    if tiny:
        torch.manual_seed(seed)
        return build_sam_architecture(spec.tiny_kwargs or _SAM_TINY)
    path = _local_weight_file(spec)
    model = build_sam_architecture(spec.arch_kwargs or spec.arch or "vit_b")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except Exception as exc:
        raise WeightsLoadError(f"{path} is not a valid SAM {spec.arch} checkpoint ({exc.__class__.__name__}: "
                               f"{str(exc)[:300]}). Delete it and run `course-utils fetch-weights {spec.name}`.") from exc
    return model


def load_model(name: str, tiny: bool | None = None, device: str | torch.device | None = None,
               seed: int = 0) -> LoadedModel:
    """Load any registry model (pretrained, or tiny random in tiny mode).

    Args:
        name: Registry key (see :data:`REGISTRY` or ``course-utils doctor``).
        tiny: Force tiny mode on or off; ``None`` follows the tiny-mode switch (:func:`course_utils.tiny.enabled`).
        device: ``"cpu"``, ``"cuda"``...; ``None`` picks cuda > mps > cpu.
        seed: Seed for the random weights of tiny models (deterministic tiny outputs).

    Returns:
        A :class:`LoadedModel` (unpacks as ``model, preprocess``).

    Raises:
        WeightsUnavailableError: pretrained weights cannot be found or downloaded.
        ChecksumError: a downloaded checkpoint does not match its sha256.
        WeightsLoadError: a cached file or folder could not be loaded (the message says how to re-fetch it).
    """
    spec = get_spec(name)
    tiny = is_tiny(tiny)
    dev = get_device(device)
    if spec.family == "sam":
        return _finish(_build_sam(spec, tiny, seed), spec, tiny, dev, None)
    if spec.family == "sam2":
        raise ValueError(f"{name!r} is a SAM 2 family model: load it with course_utils.sam2_models.load_sam2_video "
                         f"({name!r}) for video or load_sam2_image({name!r}) for SamSession.")
    if spec.source == "timm":
        model = _build_timm(spec, tiny, seed)
        return _finish(model, spec, tiny, dev, _timm_preprocess(model))
    if spec.source == "hf":
        model, processor = _build_hf(spec, tiny, seed)
        preprocess = _hf_preprocess(getattr(processor, "image_processor", processor))
        return _finish(model, spec, tiny, dev, preprocess, processor)
    raise ValueError(f"Cannot load {name}: unknown source {spec.source!r}.")


def _family_spec(name: str, families: tuple[str, ...], loader: str) -> ModelSpec:
    """The registry entry of ``name``, or a ValueError listing what ``loader`` takes."""
    spec = get_spec(name)
    if spec.family not in families:
        choices = [n for n, s in REGISTRY.items() if s.family in families]
        raise ValueError(f"{name!r} is a {spec.family} model; {loader} takes one of: {', '.join(choices)}.")
    return spec


def _load_family(name: str, families: tuple[str, ...], loader: str, **kwargs: Any) -> LoadedModel:
    _family_spec(name, families, loader)
    return load_model(name, **kwargs)


def load_vit(name: str = "vit_base", tiny: bool | None = None, device: str | torch.device | None = None,
             seed: int = 0) -> LoadedModel:
    """Load a supervised ViT (``vit_tiny`` ... ``vit_huge``, ``deit_small``, ``vit_base_hf``)."""
    return _load_family(name, ("vit",), "load_vit", tiny=tiny, device=device, seed=seed)


def load_dinov2(name: str = "dinov2_vits14", tiny: bool | None = None, device: str | torch.device | None = None,
                seed: int = 0) -> LoadedModel:
    """Load a self-supervised backbone (DINOv2 with/without registers, DINO v1)."""
    return _load_family(name, ("dinov2", "dino"), "load_dinov2", tiny=tiny, device=device, seed=seed)


def load_dinov3(name: str = "dinov3_vits16", tiny: bool | None = None, device: str | torch.device | None = None,
                seed: int = 0) -> LoadedModel:
    """Load DINOv3 (ViT-S/16 or ViT-B/16, timm): patch 16, CLS + 4 register tokens, RoPE positions.

    Its preprocessing comes from the checkpoint's own timm config (256 px, bicubic, ImageNet mean/std);
    the model also takes any multiple of 16 (``dynamic_img_size``), which is how DINOv3 gives dense features
    at high resolution. Tiny mode builds the same timm architecture, narrower, with random weights.

    Raises:
        GatedModelError: the Hub refused the download (accept the DINOv3 licence first; the message says how).
        WeightsUnavailableError: no weights here and no way to download them.
    """
    return _load_family(name, ("dinov3",), "load_dinov3", tiny=tiny, device=device, seed=seed)


def load_sam3(name: str = "sam3", tiny: bool | None = None, device: str | torch.device | None = None,
              seed: int = 0) -> LoadedModel:
    """Load SAM 3 (transformers ``Sam3Model`` with its ``Sam3Processor``) for concept prompts.

    Use it with :func:`course_utils.concept.segment_concept`. The ``facebook/sam3`` repository is gated:
    a refused download raises :class:`GatedModelError`, whose message names the licence page and the token setup.
    """
    return _load_family(name, ("sam3",), "load_sam3", tiny=tiny, device=device, seed=seed)


def load_sam(name: str = "sam_vit_b", tiny: bool | None = None, device: str | torch.device | None = None,
             seed: int = 0) -> LoadedModel:
    """Load a Segment Anything model (official checkpoint, verified by sha256)."""
    return _load_family(name, ("sam",), "load_sam", tiny=tiny, device=device, seed=seed)

