"""DINO teaching pieces: the multi-crop augmentation, for illustration.

DINO (Caron et al. 2021, "Emerging Properties in Self-Supervised Vision Transformers") shows the
teacher only *global* views (large crops, 224 px) and the student global *and* small *local*
views (96 px), and trains the student to give the same output distribution for all of them:
"local-to-global" correspondence. :class:`MultiCrop` makes those views with the settings of the
official DINO code (global crop scale 0.4-1.0, local 0.05-0.4, 8 local crops, colour jitter,
grayscale, blur and solarisation) and also returns where each crop came from, so that a notebook
can draw the crop boxes on the photo.

The DINO loss, the centring of the teacher output and the EMA teacher update are deliberately
not in this package: Assignment 4 asks students to write them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

__all__ = ["MultiCrop", "MultiCropViews"]


@dataclass
class MultiCropViews:
    """The views of one image.

    Attributes:
        global_views: HWC uint8 RGB images of ``global_size`` x ``global_size``.
        local_views: HWC uint8 RGB images of ``local_size`` x ``local_size``.
        global_boxes: (n_global, 4) XYXY pixel boxes of the crops in the original image.
        local_boxes: (n_local, 4) XYXY pixel boxes.
        flipped: One bool per view (global first): whether it was mirrored.
    """

    global_views: list[np.ndarray]
    local_views: list[np.ndarray]
    global_boxes: np.ndarray
    local_boxes: np.ndarray
    flipped: list[bool] = field(default_factory=list)

    @property
    def views(self) -> list[np.ndarray]:
        """All views, global first (the order a DINO student sees them)."""
        return self.global_views + self.local_views


class MultiCrop:
    """DINO's multi-crop augmentation (the official code's defaults), returning HWC uint8 views.

    Args:
        global_size: Side of the global views in pixels (224 in DINO).
        local_size: Side of the local views (96 in DINO).
        n_global: Number of global views (2 in DINO: the teacher sees only these).
        n_local: Number of local views (8 in the official code's default).
        global_scale: Range of the crop area as a fraction of the image, for global views.
        local_scale: The same for local views.
        photometric: Apply DINO's colour jitter, grayscale, Gaussian blur and solarisation;
            ``False`` keeps only crops and flips (clearer for a figure).

    Example:
        >>> views = MultiCrop(n_local=6)(sample_image("chelsea"), seed=0)
        >>> len(views.global_views), views.local_views[0].shape
        (2, (96, 96, 3))
    """

    def __init__(self, global_size: int = 224, local_size: int = 96, n_global: int = 2, n_local: int = 8,
                 global_scale: tuple[float, float] = (0.4, 1.0), local_scale: tuple[float, float] = (0.05, 0.4),
                 photometric: bool = True):
        for name, (lo, hi) in (("global_scale", global_scale), ("local_scale", local_scale)):
            if not 0 < lo <= hi <= 1:
                raise ValueError(f"{name} must satisfy 0 < min <= max <= 1, got {(lo, hi)}.")
        if n_global < 1 or n_local < 0:
            raise ValueError(f"Need n_global >= 1 and n_local >= 0, got {n_global} and {n_local}.")
        self.global_size, self.local_size = int(global_size), int(local_size)
        self.n_global, self.n_local = int(n_global), int(n_local)
        self.global_scale, self.local_scale = tuple(global_scale), tuple(local_scale)
        self.photometric = photometric

    def _photometric(self, kind: str) -> Any:
        from torchvision import transforms as T

        if not self.photometric:
            return lambda im: im
        jitter = [T.RandomApply([T.ColorJitter(0.4, 0.4, 0.2, 0.1)], p=0.8), T.RandomGrayscale(p=0.2)]
        # DINO: first global view always blurred, second rarely and sometimes solarised; local: p=0.5.
        if kind == "global1":
            extra = [T.GaussianBlur(23, sigma=(0.1, 2.0))]
        elif kind == "global2":
            extra = [T.RandomApply([T.GaussianBlur(23, sigma=(0.1, 2.0))], p=0.1), T.RandomSolarize(128, p=0.2)]
        else:
            extra = [T.RandomApply([T.GaussianBlur(9, sigma=(0.1, 2.0))], p=0.5)]
        return T.Compose(jitter + extra)

    def _view(self, pil: Any, size: int, scale: tuple[float, float], kind: str) -> tuple[np.ndarray, list[int], bool]:
        from torchvision import transforms as T
        from torchvision.transforms import functional as TF

        top, left, h, w = T.RandomResizedCrop.get_params(pil, scale=list(scale), ratio=[3 / 4, 4 / 3])
        view = TF.resized_crop(pil, top, left, h, w, [size, size], T.InterpolationMode.BICUBIC, antialias=True)
        flip = bool(torch.rand(1).item() < 0.5)
        if flip:
            view = TF.hflip(view)
        view = self._photometric(kind)(view)
        return np.asarray(view.convert("RGB"), dtype=np.uint8).copy(), [left, top, left + w, top + h], flip

    def __call__(self, image: Any, seed: int | None = None) -> MultiCropViews:
        """Make the views of one image.

        Args:
            image: Anything :func:`course_utils.images.load_image` accepts.
            seed: Makes the views reproducible (the global torch RNG is left untouched).

        Returns:
            :class:`MultiCropViews`.
        """
        from PIL import Image

        from .images import load_image

        pil = Image.fromarray(load_image(image))
        with torch.random.fork_rng(devices=[]):
            if seed is not None:
                torch.manual_seed(seed)
            globals_ = [self._view(pil, self.global_size, self.global_scale, f"global{min(i + 1, 2)}")
                        for i in range(self.n_global)]
            locals_ = [self._view(pil, self.local_size, self.local_scale, "local") for _ in range(self.n_local)]
        return MultiCropViews([v for v, _, _ in globals_], [v for v, _, _ in locals_],
                              np.array([b for _, b, _ in globals_], dtype=float).reshape(-1, 4),
                              np.array([b for _, b, _ in locals_], dtype=float).reshape(-1, 4),
                              [f for _, _, f in globals_ + locals_])

    def __repr__(self) -> str:
        return (f"MultiCrop({self.n_global}x{self.global_size}px scale={self.global_scale}, "
                f"{self.n_local}x{self.local_size}px scale={self.local_scale}, photometric={self.photometric})")
