"""Preprocessing: images in, normalised model input tensors out, read from each model's own config.

The one place where preprocessing is built: from timm's pretrained data config (:func:`_timm_preprocess`),
rebuilt at the input size a model needs (:func:`at_input_size`), or from a transformers image processor
(:func:`_hf_preprocess`); :func:`to_numpy_image` undoes the normalisation to show what the model saw.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from ..images import load_image

__all__ = ["ImagePreprocess", "at_input_size", "to_numpy_image"]


class ImagePreprocess:
    """Turn images (anything :func:`load_image` accepts) into normalised model input tensors.

    Args:
        transform: A callable PIL image -> (3, H, W) float tensor (timm's eval transform, or a
            wrapper around an HF image processor).
        config: The resolved data config (``input_size``, ``mean``, ``std``, ``crop_pct``...).
    """

    def __init__(self, transform: Callable[[Any], torch.Tensor], config: dict[str, Any]):
        self.transform = transform
        self.config = config

    @property
    def input_size(self) -> tuple[int, int]:
        """(height, width) of the tensors produced."""
        return tuple(self.config["input_size"][-2:])  # type: ignore[return-value]

    def __call__(self, image: Any) -> torch.Tensor:
        """One image -> (3, H, W) float tensor."""
        from PIL import Image

        return self.transform(Image.fromarray(load_image(image)))

    def batch(self, images: list[Any]) -> torch.Tensor:
        """Several images -> (B, 3, H, W) float tensor."""
        return torch.stack([self(im) for im in images])

    def __repr__(self) -> str:
        cfg = {k: self.config[k] for k in ("input_size", "mean", "std", "crop_pct") if k in self.config}
        return f"ImagePreprocess({cfg})"


def _timm_preprocess(model: nn.Module) -> ImagePreprocess:
    """timm's eval transform from the model's pretrained data config, at the resolution the model was built."""
    from timm.data import create_transform, resolve_data_config

    config = resolve_data_config({}, model=model)
    img_size = getattr(getattr(model, "patch_embed", None), "img_size", None)
    if img_size is not None and tuple(config["input_size"][-2:]) != tuple(img_size):
        # The model was built at another resolution than its pretrained config (DINOv2 at 224).
        config = resolve_data_config({"input_size": (3, *img_size)}, model=model)
    return ImagePreprocess(create_transform(**config), config)


_TIMM_KEYS = ("input_size", "interpolation", "mean", "std", "crop_pct", "crop_mode")


def at_input_size(model: nn.Module, preprocess: ImagePreprocess | None,
                  input_size: tuple[int, int] | None) -> ImagePreprocess:
    """``preprocess`` at another input size: timm's eval transform rebuilt from its config (the model's
    pretrained data config when ``preprocess`` is None). Returned unchanged when it already has that size,
    or when ``input_size`` is None (a model that takes any size).

    Args:
        model: The model (read for its data config when ``preprocess`` is None).
        preprocess: The loader's preprocessing, or None.
        input_size: (H, W) the model needs, or None.
    """
    if preprocess is not None and (input_size is None or tuple(preprocess.input_size) == tuple(input_size)):
        return preprocess
    from timm.data import create_transform, resolve_data_config

    config = dict(preprocess.config) if preprocess is not None else resolve_data_config({}, model=model)
    if input_size is not None:
        config["input_size"] = (3, *input_size)
    return ImagePreprocess(create_transform(**{k: config[k] for k in _TIMM_KEYS if k in config}), config)


def _hf_preprocess(processor: Any) -> ImagePreprocess:
    """Wrap a transformers image processor (its own resize, crop, mean and std) as an :class:`ImagePreprocess`."""
    size = getattr(processor, "crop_size", None) or getattr(processor, "size", None) or {}
    height = size.get("height") or size.get("shortest_edge") or 224
    width = size.get("width") or size.get("shortest_edge") or 224
    config = {"input_size": (3, height, width), "mean": tuple(processor.image_mean),
              "std": tuple(processor.image_std)}

    def transform(pil_image: Any) -> torch.Tensor:
        return processor(images=pil_image, return_tensors="pt")["pixel_values"][0]

    return ImagePreprocess(transform, config)


def to_numpy_image(tensor: torch.Tensor, mean: Any, std: Any) -> np.ndarray:
    """Undo normalisation of a (3, H, W) input tensor -> HWC uint8 RGB (for showing model inputs)."""
    mean_t = torch.as_tensor(mean, dtype=tensor.dtype).view(3, 1, 1)
    std_t = torch.as_tensor(std, dtype=tensor.dtype).view(3, 1, 1)
    img = (tensor.detach().cpu() * std_t + mean_t).clamp(0, 1)
    return (img.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
