"""Captioning and VQA models (BLIP, BLIP-2, LLaVA) for the benchmark: on a CPU in full precision, or
straight into half precision / 8-bit on a GPU for the large ones. Tiny mode gives random models of the same
transformers classes (:mod:`course_utils.tiny.vlm`)."""

from __future__ import annotations

from typing import Any

import torch

from ..tiny import enabled as is_tiny
from ..tiny import mark as mark_random_weights
from .downloads import _local_weight_file
from .env import get_device
from .errors import WeightsLoadError
from .loaders import LoadedModel, _family_spec, _finish, load_model

__all__ = ["load_captioner", "load_vqa"]


def _load_vlm(name: str, families: tuple[str, ...], loader: str, tiny: bool | None, device: str | torch.device | None,
              seed: int, dtype: str | torch.dtype | None, load_in_8bit: bool) -> LoadedModel:
    spec = _family_spec(name, families, loader)
    if is_tiny(tiny) or (dtype is None and not load_in_8bit):
        return load_model(name, tiny=tiny, device=device, seed=seed)
    # Large models (BLIP-2, LLaVA) on a GPU: load straight into half precision or 8-bit.
    import transformers as tf

    dev = get_device(device)
    folder = _local_weight_file(spec)
    kwargs: dict[str, Any] = {}
    if load_in_8bit:
        kwargs.update(quantization_config=tf.BitsAndBytesConfig(load_in_8bit=True), device_map="auto")
    else:
        kwargs["dtype"] = getattr(torch, dtype) if isinstance(dtype, str) else dtype
    try:
        processor = tf.AutoProcessor.from_pretrained(folder)
        model = getattr(tf, spec.arch or "AutoModel").from_pretrained(folder, weights_only=True, **kwargs)
    except Exception as exc:
        raise WeightsLoadError(f"{folder} could not be loaded ({exc.__class__.__name__}: {exc}). Delete it and run "
                               f"`course-utils fetch-weights {spec.name}`, or check that bitsandbytes is installed "
                               "for load_in_8bit.") from exc
    if load_in_8bit:
        model.eval()  # bitsandbytes placed it already (device_map="auto"): no .to(device)
        mark_random_weights(model, False)
        model._course_utils_name = spec.name  # type: ignore[attr-defined]
        return LoadedModel(model, None, spec, False, dev, processor)
    return _finish(model, spec, False, dev, None, processor)


def load_captioner(name: str = "blip_caption_base", tiny: bool | None = None,
                   device: str | torch.device | None = None, seed: int = 0,
                   dtype: str | torch.dtype | None = None, load_in_8bit: bool = False) -> LoadedModel:
    """Load an image captioner (BLIP base on CPU; BLIP-2 / LLaVA on a GPU with ``dtype`` or 8-bit).

    Args:
        name: ``blip_caption_base``, ``blip2_opt_2.7b`` or ``llava_1.5_7b``.
        tiny: Force tiny mode (random BLIP of the same classes); ``None`` follows the tiny-mode switch.
        device: Where to run; ``None`` picks cuda > mps > cpu.
        seed: Seed of the tiny random weights.
        dtype: e.g. ``"float16"`` to load large models directly in half precision (GPU).
        load_in_8bit: Load in 8-bit with bitsandbytes (GPU; ``device_map="auto"``).

    Returns:
        A :class:`LoadedModel` with ``.model`` and ``.processor``.
    """
    return _load_vlm(name, ("captioner",), "load_captioner", tiny, device, seed, dtype, load_in_8bit)


def load_vqa(name: str = "blip_vqa_base", tiny: bool | None = None, device: str | torch.device | None = None,
             seed: int = 0, dtype: str | torch.dtype | None = None, load_in_8bit: bool = False) -> LoadedModel:
    """Load a visual question answering model (``blip_vqa_base``); arguments as :func:`load_captioner`."""
    return _load_vlm(name, ("vqa",), "load_vqa", tiny, device, seed, dtype, load_in_8bit)
