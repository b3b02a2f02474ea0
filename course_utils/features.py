"""DINOv2 / DINO features: CLS and patch features of many images, batched, saved to disk.

One call turns a list of images (arrays, paths, PIL images, or a directory) into a
:class:`Features` object that unpacks as ``cls, patches``::

    dino = load_dinov2("dinov2_vits14_reg")
    cls, patches = extract_features(dino, sample_images().values())   # (B, D), (B, h, w, D)

Prefix tokens (the CLS token and any register tokens) are read from the model itself
(``num_prefix_tokens``) and the patch grid from its ``patch_embed``, so the same code works for
DINO v1 (ViT-S/16: 14 x 14 patches), DINOv2 (ViT-S/14 at 224 px: 16 x 16 patches) and DINOv2
with 4 register tokens, as well as the Hugging Face ``Dinov2Model``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .images import list_image_files
from .models import ImagePreprocess, LoadedModel
from .tiny import is_random
from .vit_introspect import is_hf, matching_preprocess, patch_size, prefix_tokens, token_layout, unwrap

__all__ = ["Features", "extract_features", "load_features", "save_features", "FeatureMismatchError"]

#: Show a progress bar by default when there are more images than this.
PROGRESS_MIN_IMAGES = 64


class FeatureMismatchError(ValueError):
    """Features of different models (or of different sizes) were mixed."""


@dataclass
class Features:
    """CLS and patch features of a list of images, with the model that made them.

    Unpacks as ``cls, patches = features``.

    Attributes:
        cls: (B, D) float32 CPU tensor: the final-norm CLS token of each image.
        patches: (B, h, w, D) float32 CPU tensor: the final-norm patch tokens on the patch grid
            (CLS and register tokens removed).
        model_name: Registry name (or class name) of the model that produced them.
        random_weights: True when the model had random weights (tiny mode); ``tiny`` is the same flag.
        patch_size: Patch side in input pixels (14 for DINOv2, 16 for DINO ViT-S/16).
        input_size: (H, W) of the preprocessed input; ``(h, w) = input_size // patch_size``.
        names: One string per image (a path, a sample name...) or empty.
    """

    cls: torch.Tensor
    patches: torch.Tensor
    model_name: str
    random_weights: bool = False
    patch_size: int = 14
    input_size: tuple[int, int] = (224, 224)
    names: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.cls = torch.as_tensor(self.cls, dtype=torch.float32)
        self.patches = torch.as_tensor(self.patches, dtype=torch.float32)
        if self.cls.ndim != 2 or self.patches.ndim != 4:
            raise ValueError(f"Features need cls (B, D) and patches (B, h, w, D); got {tuple(self.cls.shape)} "
                             f"and {tuple(self.patches.shape)}.")
        if self.cls.shape[0] != self.patches.shape[0] or self.cls.shape[1] != self.patches.shape[-1]:
            raise ValueError(f"cls {tuple(self.cls.shape)} and patches {tuple(self.patches.shape)} disagree "
                             "on B or D.")
        self.names = [str(n) for n in self.names]
        if self.names and len(self.names) != len(self.cls):
            raise ValueError(f"{len(self.names)} names for {len(self.cls)} images.")
        self.input_size = tuple(int(s) for s in self.input_size)  # type: ignore[assignment]

    def __iter__(self) -> Iterator[torch.Tensor]:
        yield self.cls
        yield self.patches

    def __len__(self) -> int:
        return int(self.cls.shape[0])

    def __getitem__(self, index: Any) -> Features:
        """Select images: ``features[2]``, ``features[:5]``, ``features[[0, 3]]`` or a bool mask."""
        if isinstance(index, int):
            index = [index]
        idx = torch.arange(len(self))[torch.as_tensor(index) if not isinstance(index, slice) else index]
        idx = idx.reshape(-1)
        names = [self.names[i] for i in idx.tolist()] if self.names else []
        return Features(self.cls[idx], self.patches[idx], self.model_name, self.random_weights, self.patch_size,
                        self.input_size, names)

    @property
    def tiny(self) -> bool:
        """The same as ``random_weights`` (the name the labs and saved files use)."""
        return self.random_weights

    @property
    def dim(self) -> int:
        """Feature dimension D."""
        return int(self.cls.shape[1])

    @property
    def grid(self) -> tuple[int, int]:
        """Patch grid (h, w)."""
        return int(self.patches.shape[1]), int(self.patches.shape[2])

    @property
    def model_key(self) -> str:
        """``model_name`` plus ``" (tiny)"`` for random weights: features with different keys never mix."""
        return f"{self.model_name} (tiny)" if self.random_weights else self.model_name

    def check_compatible(self, other: Features) -> None:
        """Raise :class:`FeatureMismatchError` unless ``other`` comes from the same model."""
        if self.model_key != other.model_key or self.dim != other.dim:
            raise FeatureMismatchError(
                f"Features from different models cannot be mixed: {self.model_key!r} (D={self.dim}) vs "
                f"{other.model_key!r} (D={other.dim}). Extract all images with the same model "
                "(or build a separate index per model).")

    def save(self, path: str | os.PathLike) -> Path:
        """Save to ``.npz`` (see :func:`save_features`)."""
        return save_features(self, path)

    def __repr__(self) -> str:
        kind = "TINY RANDOM" if self.random_weights else "pretrained"
        return (f"Features({len(self)} images, model={self.model_name!r} {kind}, cls={tuple(self.cls.shape)}, "
                f"patches={tuple(self.patches.shape)}, patch_size={self.patch_size})")

    @staticmethod
    def concat(parts: Sequence[Features]) -> Features:
        """Join features of several image lists made by the same model.

        Raises:
            ValueError: ``parts`` is empty.
            FeatureMismatchError: the parts come from different models or grids.
        """
        if not parts:
            raise ValueError("Nothing to concatenate: pass at least one Features object.")
        first = parts[0]
        for other in parts[1:]:
            first.check_compatible(other)
            if other.grid != first.grid:
                raise FeatureMismatchError(f"Patch grids differ ({first.grid} vs {other.grid}); extract at the "
                                           "same input size.")
        names = [n for p in parts for n in (p.names or [""] * len(p))]
        return Features(torch.cat([p.cls for p in parts]), torch.cat([p.patches for p in parts]),
                        first.model_name, first.random_weights, first.patch_size, first.input_size,
                        names if any(names) else [])


# --------------------------------------------------------------------------- model


def _tokens(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) -> (B, N, D) final-norm tokens including prefix tokens."""
    if is_hf(module):
        return module(pixel_values=x).last_hidden_state
    return module.forward_features(x)


# --------------------------------------------------------------------------- extraction


def _as_sources(images: Any) -> tuple[list[Any], list[str]]:
    if isinstance(images, (str, os.PathLike)):
        path = Path(images)
        if not path.is_dir():
            return [path], [str(path)]
        files = list_image_files(path)
        if not files:
            raise ValueError(f"{path} contains no image files (.png, .jpg, ...).")
        return list(files), [str(f) for f in files]
    if isinstance(images, dict):
        return list(images.values()), [str(k) for k in images]
    if isinstance(images, np.ndarray) and images.ndim == 3:
        images = [images]  # one HWC image
    sources = list(images) if isinstance(images, Iterable) else [images]
    names = [str(s) if isinstance(s, (str, os.PathLike)) else "" for s in sources]
    return sources, names if any(names) else []


def extract_features(model: LoadedModel | nn.Module, images: Any, batch_size: int = 32,
                     preprocess: ImagePreprocess | None = None, progress: bool | None = None,
                     names: Sequence[str] | None = None) -> Features:
    """CLS features (B, D) and patch features (B, h, w, D) of many images, batched.

    Images are loaded and preprocessed one batch at a time (a long list of paths is never held
    in memory as pixels). The forward pass runs under ``torch.inference_mode`` and, on CUDA, in
    float16 autocast; the features come back as float32 CPU tensors.

    Args:
        model: A :class:`~course_utils.models.LoadedModel` from ``load_dinov2`` (or
            ``load_model("dinov2_small_hf")``), or a bare timm / transformers ViT module
            (then pass ``preprocess``).
        images: A list of images of any sizes (HWC uint8 arrays, paths, PIL images, URLs), a
            dict name -> image (names are kept), a directory (every image file in it), or an
            already preprocessed (B, 3, H, W) float tensor.
        batch_size: Images per forward pass.
        preprocess: Override the model's preprocessing (image -> (3, H, W) tensor).
        progress: Show a tqdm progress bar; ``None`` shows it for more than 64 images.
        names: One name per image, stored with the features (default: paths or dict keys).

    Returns:
        :class:`Features` (unpacks as ``cls, patches``), recording the model name.

    Raises:
        ValueError: ``images`` is empty or ``batch_size`` < 1.
        TypeError: ``model`` is not a ViT.
    """
    module, own_preprocess, model_name, random_weights = unwrap(model, "a model from load_dinov2(...)")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    patch = patch_size(module)[0]
    n_prefix = prefix_tokens(module)
    device = next(module.parameters()).device

    if isinstance(images, torch.Tensor):
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"A tensor input must be preprocessed (B, 3, H, W); got {tuple(images.shape)}. "
                             "Pass HWC uint8 images as a list instead.")
        sources: Any = images  # sliced per batch, no copy
        default_names: list[str] = []
        prep = None
    else:
        sources, default_names = _as_sources(images)
        prep = preprocess if preprocess is not None else matching_preprocess(module, own_preprocess)
    if len(sources) == 0:
        raise ValueError("No images given: pass a non-empty list of images, paths or a directory.")
    names = list(names) if names is not None else default_names
    if names and len(names) != len(sources):
        raise ValueError(f"{len(names)} names for {len(sources)} images.")

    show = progress if progress is not None else len(sources) > PROGRESS_MIN_IMAGES
    starts = range(0, len(sources), batch_size)
    if show:
        from tqdm.auto import tqdm

        starts = tqdm(starts, total=len(starts), desc=f"features ({model_name})", unit="batch")
    autocast = torch.autocast("cuda", dtype=torch.float16) if device.type == "cuda" else nullcontext()
    cls_parts, patch_parts = [], []
    input_size: tuple[int, int] | None = None
    with torch.inference_mode(), autocast:
        for start in starts:
            chunk = sources[start:start + batch_size]
            x = chunk if prep is None else prep.batch(chunk)  # (B, 3, H, W)
            x = x.to(device, non_blocking=True)
            B, _, H, W = x.shape
            _, (h, w) = token_layout(module, H, W)
            tokens = _tokens(module, x)  # (B, N, D)
            if tokens.shape[1] != n_prefix + h * w:
                raise RuntimeError(f"Got {tokens.shape[1]} tokens, expected {n_prefix} prefix + {h}x{w} patches.")
            cls_parts.append(tokens[:, 0].float().cpu())  # (B, D)
            patch_parts.append(tokens[:, n_prefix:].float().cpu().reshape(B, h, w, -1))  # (B, h, w, D)
            input_size = (H, W)
    assert input_size is not None
    return Features(torch.cat(cls_parts), torch.cat(patch_parts), model_name, random_weights, patch, input_size,
                    names)


# --------------------------------------------------------------------------- disk


def save_features(features: Features, path: str | os.PathLike) -> Path:
    """Save features to a compressed-free ``.npz`` (float32) with the model name recorded.

    Args:
        features: What :func:`extract_features` returned.
        path: File name; ``.npz`` is appended when missing.

    Returns:
        The path written.
    """
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, cls=features.cls.numpy(), patches=features.patches.numpy(),
             model_name=np.array(features.model_name), tiny=np.array(features.random_weights),
             patch_size=np.array(features.patch_size), input_size=np.array(features.input_size),
             names=np.array(features.names, dtype=str), format_version=np.array(1))
    return path


def load_features(path: str | os.PathLike, expect_model: str | LoadedModel | None = None) -> Features:
    """Load features saved by :func:`save_features`.

    Args:
        path: The ``.npz`` file.
        expect_model: If given (a registry name or a loaded model), raise unless the file was
            made by that model, so that a stale database is not searched with new queries.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not a features file.
        FeatureMismatchError: the file comes from another model than ``expect_model``.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No features file at {path}; create it with extract_features(...).save(path).")
    with np.load(path, allow_pickle=False) as data:
        missing = {"cls", "patches", "model_name"} - set(data.files)
        if missing:
            raise ValueError(f"{path} is not a course_utils features file (missing {sorted(missing)}).")
        features = Features(torch.from_numpy(data["cls"]), torch.from_numpy(data["patches"]),
                            str(data["model_name"]), bool(data["tiny"]), int(data["patch_size"]),
                            tuple(int(s) for s in data["input_size"]), [str(n) for n in data["names"]])
    if expect_model is not None:
        if isinstance(expect_model, LoadedModel):
            key = f"{expect_model.spec.name} (tiny)" if is_random(expect_model) else expect_model.spec.name
        else:
            key = str(expect_model)
        if key not in (features.model_key, features.model_name) or (
                isinstance(expect_model, LoadedModel) and key != features.model_key):
            raise FeatureMismatchError(f"{path} holds features of {features.model_key!r}, not {key!r}; "
                                       "re-extract them with the current model.")
    return features
