"""What a Vision Transformer looks like from outside: its kind, token layout, input size and preprocessing.

One place for the questions :mod:`course_utils.attention` and :mod:`course_utils.features` (and any
other analysis) ask a ViT before running it:

* :func:`unwrap` - the ``nn.Module`` inside a :class:`~course_utils.models.LoadedModel` (or the module
  itself), with its preprocessing, name and random-weights flag;
* :func:`is_hf` - a transformers model (``ViTModel``, ``Dinov2Model``...) rather than a timm one;
* :func:`patch_size`, :func:`prefix_tokens`, :func:`fixed_input_size`, :func:`token_layout` - the patch
  side, the CLS + register tokens, the input size a model insists on, and the (prefix, grid) layout of
  the token sequence for a given input size;
* :func:`matching_preprocess` - the model's own preprocessing, resized to the input size the model was
  built for.

Works for every ViT of the registry: timm ``VisionTransformer`` (ViT, DeiT, DINO, DINOv2 with and without
registers), timm ``Eva`` (DINOv3) and transformers ``ViT*`` / ``Dinov2*`` models.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from torch import nn

from .models.preprocess import at_input_size  # the one place preprocessing is built
from .tiny import is_random

__all__ = ["Unwrapped", "unwrap", "is_hf", "patch_size", "prefix_tokens", "fixed_input_size", "token_layout",
           "matching_preprocess"]


class Unwrapped(NamedTuple):
    """What :func:`unwrap` returns."""

    module: nn.Module
    preprocess: Any  # ImagePreprocess | None
    name: str
    random_weights: bool


def unwrap(model: Any, what: str = "a model from load_vit(...) / load_dinov2(...)") -> Unwrapped:
    """The module inside ``model`` (a ``LoadedModel`` or an ``nn.Module``) and what is known about it.

    Args:
        model: A :class:`~course_utils.models.LoadedModel` or a bare ``nn.Module``.
        what: How the error names the expected argument.

    Raises:
        TypeError: ``model`` is neither.
    """
    random_weights = is_random(model)
    module = model if isinstance(model, nn.Module) else getattr(model, "model", model)  # LoadedModel.model
    if not isinstance(module, nn.Module):
        raise TypeError(f"Expected {what} (or an nn.Module), got {type(model).__name__}.")
    spec = getattr(model, "spec", None)
    name = spec.name if spec is not None else (getattr(module, "_course_utils_name", None) or type(module).__name__)
    preprocess = getattr(model, "preprocess", None) if module is not model else None
    return Unwrapped(module, preprocess, name, random_weights or is_random(module))


def is_hf(module: nn.Module) -> bool:
    """True for a transformers model (``PreTrainedModel``), False for a timm one.

    The rule is "has a ``config`` with a ``model_type`` and a ``base_model``": every transformers
    ``PreTrainedModel`` has all three and no timm model has a ``config`` attribute. (The other rule once
    used here, "has ``config`` but no ``forward_features``", would also call any module that merely
    stores a ``config`` a transformers model.)
    """
    config = getattr(module, "config", None)
    return config is not None and hasattr(config, "model_type") and hasattr(module, "base_model")


def patch_size(module: nn.Module) -> tuple[int, int]:
    """(ph, pw) patch side in input pixels.

    Raises:
        TypeError: the module is not a ViT (no ``patch_embed`` / ``config.patch_size``).
    """
    if is_hf(module):
        size = module.config.patch_size
        return (int(size), int(size)) if isinstance(size, int) else (int(size[0]), int(size[1]))
    pe = getattr(module, "patch_embed", None)
    if pe is None or not hasattr(pe, "patch_size"):
        raise TypeError(f"{type(module).__name__} has no patch_embed: a Vision Transformer is needed (a timm "
                        "VisionTransformer such as load_vit('vit_base').model, or a transformers ViT / DINOv2 model).")
    ps = pe.patch_size
    return (int(ps), int(ps)) if isinstance(ps, int) else (int(ps[0]), int(ps[1]))


def prefix_tokens(module: nn.Module) -> int:
    """Tokens before the patches: CLS plus register tokens (DINOv2 / DINOv3 with registers: 5)."""
    if is_hf(module):
        return 1 + int(getattr(module.config, "num_register_tokens", 0) or 0)
    return int(getattr(module, "num_prefix_tokens", 1))


def fixed_input_size(module: nn.Module) -> tuple[int, int] | None:
    """The (H, W) input a model insists on, or None when it takes any multiple of the patch.

    timm: the ``patch_embed.img_size`` unless the model or its patch embedding was built with
    ``dynamic_img_size`` or ``strict_img_size=False``. transformers: ViT checks ``config.image_size``
    (no position-embedding interpolation by default); DINOv2 interpolates, so any size works.
    """
    if is_hf(module):
        config = module.config
        if config.model_type != "vit":
            return None
        size = config.image_size
        return (int(size), int(size)) if isinstance(size, int) else (int(size[0]), int(size[1]))
    pe = getattr(module, "patch_embed", None)
    if pe is None or getattr(module, "dynamic_img_size", False) or getattr(pe, "dynamic_img_size", False):
        return None
    if getattr(pe, "strict_img_size", True) and getattr(pe, "img_size", None) is not None:
        return int(pe.img_size[0]), int(pe.img_size[1])
    return None


def token_layout(module: nn.Module, height: int, width: int) -> tuple[int, tuple[int, int]]:
    """``(num_prefix_tokens, (h, w))`` of the token sequence the model makes from an ``height`` x ``width`` input.

    Raises:
        ValueError: a fixed-size model gets another size, or a timm model gets a size that is not a
            multiple of the patch (timm models built with ``dynamic_img_pad`` round the grid up instead;
            transformers models round it down, as their patch convolution does).
    """
    ph, pw = patch_size(module)
    fixed = fixed_input_size(module)
    hf = is_hf(module)
    if fixed is not None and (height, width) != fixed:
        fix = ("Resize with the model's preprocess (its image processor)." if hf else
               f"Resize with the model's preprocess (preprocess(image) gives {fixed[0]}x{fixed[1]}), or "
               "build the model with dynamic_img_size=True.")
        raise ValueError(f"{type(module).__name__} takes {fixed[0]}x{fixed[1]} inputs, got {height}x{width}. {fix}")
    pe = getattr(module, "patch_embed", None)
    if hf:  # the patch convolution (stride = patch) drops a remainder: the grid rounds down
        grid = (height // ph, width // pw)
    elif getattr(pe, "dynamic_img_pad", False):  # timm pads the input up to a multiple of the patch
        grid = (-(-height // ph), -(-width // pw))
    else:
        if height % ph or width % pw:
            raise ValueError(f"Input {height}x{width} is not a multiple of the patch size {ph}x{pw}; "
                             "resize or crop it first.")
        grid = (height // ph, width // pw)
    return prefix_tokens(module), grid


def matching_preprocess(module: nn.Module, preprocess: Any = None) -> Any:
    """The model's preprocessing, resized to the input size the model was built for.

    Args:
        module: The ViT.
        preprocess: Its :class:`~course_utils.models.ImagePreprocess` (from the loader), or None to
            build one from timm's data config of the module.

    Returns:
        ``preprocess`` itself when it already gives the size the model needs, else a new
        ``ImagePreprocess`` with the same normalisation at that size.
    """
    return at_input_size(module, preprocess, fixed_input_size(module))
