"""SAM 2.1 and EdgeTAM through Hugging Face transformers: configs, tiny variants and loaders.

One registry entry (``sam2.1_hiera_tiny``, ``sam2.1_hiera_small``, ``edgetam``) gives two models that
share the same weight files on the hub:

* :func:`load_sam2_video` -> ``Sam2VideoModel`` / ``EdgeTamVideoModel`` plus ``Sam2VideoProcessor``
  (used by :class:`course_utils.video.VideoSession`);
* :func:`load_sam2_image` -> ``Sam2Model`` / ``EdgeTamModel`` plus ``Sam2Processor``, the single-image
  promptable model that :class:`course_utils.sam.SamSession` drives on a CPU.

Tiny mode builds the same classes from the small settings in :mod:`course_utils.tiny.sam2` (narrow Hiera /
RepViT widths, 256 px input) with random weights and says so, like every other loader of the kit.
:func:`full_config` returns the published architecture's config (what the hub's ``config.json`` holds), so
the tests can count parameters on the meta device and the benchmark can time full-size random models without
any download.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .models.downloads import _local_weight_file
from .models.env import get_device
from .models.errors import WeightsLoadError
from .models.loaders import LoadedModel, _family_spec, _finish
from .tiny import enabled as is_tiny
from .tiny import sam2 as tiny_sam2

__all__ = ["full_config", "tiny_config", "build_sam2", "load_sam2_video", "load_sam2_image", "SAM2_NAMES",
           "processor_for"]

#: The registry entries this module loads.
SAM2_NAMES = ("sam2.1_hiera_tiny", "sam2.1_hiera_small", "edgetam")

_TINY_SIZE = tiny_sam2.SIZE  # tiny models see 256 x 256 inputs (the published ones 1024 x 1024)


def _hiera(blocks: list[int], global_blocks: list[int]) -> dict[str, Any]:
    return {"blocks_per_stage": blocks, "global_attention_blocks": global_blocks}


#: Backbone settings of the published checkpoints (Hiera-T / Hiera-S as in SAM 2's configs; EdgeTAM's
#: RepViT-M1 through timm). Everything else is transformers' default, which is the published model.
_ARCH: dict[str, dict[str, Any]] = {
    "sam2.1_hiera_tiny": {"video": "Sam2VideoModel", "image": "Sam2Model", "hiera": _hiera([1, 2, 7, 2], [5, 7, 9])},
    "sam2.1_hiera_small": {"video": "Sam2VideoModel", "image": "Sam2Model",
                           "hiera": _hiera([1, 2, 11, 2], [7, 10, 13])},
    "edgetam": {"video": "EdgeTamVideoModel", "image": "EdgeTamModel", "timm": "repvit_m1"},
}


def _vision_config(name: str, tiny: bool) -> Any:
    import transformers as tf

    arch = _ARCH[name]
    size = tiny_sam2.SIZE if tiny else 1024
    feats = [[size // 4, size // 4], [size // 8, size // 8], [size // 16, size // 16]]
    fpn = tiny_sam2.FPN_HIDDEN if tiny else 256
    if "timm" in arch:
        # EdgeTamVisionConfig's default backbone kwargs do not reach TimmWrapperConfig (its default would
        # be resnet50), so the RepViT backbone is spelled out, as in the hub's config.json.
        if tiny:
            backbone = tf.TimmWrapperConfig(**tiny_sam2.repvit_backbone())
        else:
            backbone = tf.TimmWrapperConfig(architecture=arch["timm"], model_args={
                "in_chans": 3, "features_only": True, "out_indices": [0, 1, 2, 3]})
        channels = list(tiny_sam2.REPVIT_CHANNELS) if tiny else [384, 192, 96, 48]
        return tf.EdgeTamVisionConfig(backbone_config=backbone, backbone_channel_list=channels,
                                      backbone_feature_sizes=feats, fpn_hidden_size=fpn)
    hiera = tiny_sam2.hiera_backbone() if tiny else dict(arch["hiera"])
    backbone = tf.Sam2HieraDetConfig(**hiera)
    channels = list(reversed(backbone.embed_dim_per_stage))
    return tf.Sam2VisionConfig(backbone_config=backbone, backbone_channel_list=channels,
                               backbone_feature_sizes=feats, fpn_hidden_size=fpn)


def full_config(name: str, kind: str = "video") -> Any:
    """The config of the published architecture of ``name`` (``kind`` = ``"video"`` or ``"image"``)."""
    return _config(name, kind, tiny=False)


def tiny_config(name: str, kind: str = "video") -> Any:
    """A small config of the same classes (256 px input, narrow widths) for tiny mode and tests."""
    return _config(name, kind, tiny=True)


def _config(name: str, kind: str, tiny: bool) -> Any:
    import transformers as tf

    if name not in _ARCH:
        raise KeyError(f"{name!r} is not a SAM 2 family model; choose one of {', '.join(SAM2_NAMES)}.")
    edgetam = "timm" in _ARCH[name]
    vision = _vision_config(name, tiny)
    extra: dict[str, Any] = {}
    decoder: dict[str, Any] = {}
    prompt: dict[str, Any] = {}
    if tiny:
        prompt = tiny_sam2.prompt_encoder()
        decoder = tiny_sam2.mask_decoder()
        if kind == "video":
            extra = tiny_sam2.video_memory(edgetam)
    prefix = ("EdgeTam" if edgetam else "Sam2") + ("Video" if kind == "video" else "")
    cfg_cls = getattr(tf, f"{prefix}Config")
    pe_cls = getattr(tf, f"{prefix}PromptEncoderConfig")
    md_cls = getattr(tf, f"{prefix}MaskDecoderConfig")
    return cfg_cls(vision_config=vision, prompt_encoder_config=pe_cls(**prompt), mask_decoder_config=md_cls(**decoder),
                   **extra)


def build_sam2(name: str, kind: str = "video", tiny: bool = True, seed: int = 0) -> nn.Module:
    """Build an untrained model of ``name``'s architecture (``kind`` = ``"video"`` or ``"image"``)."""
    import transformers as tf

    torch.manual_seed(seed)
    cls = getattr(tf, _ARCH[name][kind])
    return cls(_config(name, kind, tiny))


def processor_for(kind: str = "video", size: int = 1024) -> Any:
    """The transformers processor both checkpoints publish (``Sam2VideoProcessor`` / ``Sam2Processor``),
    built offline for an input of ``size`` pixels."""
    import transformers as tf

    image_processor = tf.Sam2ImageProcessor(size={"height": size, "width": size},
                                                mask_size={"height": size // 4, "width": size // 4})
    if kind == "video":
        video_processor = tf.Sam2VideoVideoProcessor(size={"height": size, "width": size})
        return tf.Sam2VideoProcessor(image_processor=image_processor, video_processor=video_processor,
                                     target_size=size)
    return tf.Sam2Processor(image_processor=image_processor, target_size=size)


def _load(name: str, kind: str, tiny: bool | None, device: str | torch.device | None, seed: int) -> LoadedModel:
    import transformers as tf

    spec = _family_spec(name, ("sam2",), f"load_sam2_{kind}")
    tiny = is_tiny(tiny)
    dev = get_device(device)
    if tiny:
        model = build_sam2(name, kind, tiny=True, seed=seed)
        processor = processor_for(kind, _TINY_SIZE)
    else:
        folder = _local_weight_file(spec)
        try:
            model = getattr(tf, _ARCH[name][kind]).from_pretrained(folder)
            proc_cls = tf.Sam2VideoProcessor if kind == "video" else tf.Sam2Processor
            processor = proc_cls.from_pretrained(folder)
        except Exception as exc:
            raise WeightsLoadError(f"{folder} could not be loaded as {_ARCH[name][kind]} ({exc.__class__.__name__}: "
                                   f"{str(exc)[:300]}). Delete it and run `course-utils fetch-weights {name}`.") from exc
    loaded = _finish(model, spec, tiny, dev, None, processor)
    if kind == "image":
        from .sam_hf import attach_predictor

        attach_predictor(loaded)
    return loaded


def load_sam2_video(name: str = "sam2.1_hiera_tiny", tiny: bool | None = None,
                    device: str | torch.device | None = None, seed: int = 0) -> LoadedModel:
    """Load a SAM 2.1 / EdgeTAM *video* model and its ``Sam2VideoProcessor``.

    Args:
        name: ``sam2.1_hiera_tiny``, ``sam2.1_hiera_small`` or ``edgetam``.
        tiny: Force tiny mode; ``None`` follows the tiny-mode switch (:func:`course_utils.tiny.enabled`).
        device: ``None`` picks cuda > mps > cpu.
        seed: Seed of the tiny random weights.

    Returns:
        A :class:`~course_utils.models.LoadedModel` with ``.model`` and ``.processor``.
    """
    return _load(name, "video", tiny, device, seed)


def load_sam2_image(name: str = "edgetam", tiny: bool | None = None, device: str | torch.device | None = None,
                    seed: int = 0) -> LoadedModel:
    """Load the single-image promptable model of a SAM 2 family entry (``Sam2Model`` / ``EdgeTamModel``),
    ready for :class:`course_utils.sam.SamSession` (cached embeddings, validated prompts, the widget).

    Arguments as :func:`load_sam2_video`.
    """
    return _load(name, "image", tiny, device, seed)
