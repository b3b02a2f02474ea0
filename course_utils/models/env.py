"""Where models run and where their weights are kept: the device choice and the weight cache."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

__all__ = ["CACHE_ENV", "DEVICE_ENV", "get_device", "cache_dir"]

#: Environment variable naming the weight cache directory.
CACHE_ENV = "COURSE_UTILS_CACHE"
#: Environment variable forcing the device (``cpu``, ``cuda``, ``mps``...).
DEVICE_ENV = "COURSE_UTILS_DEVICE"


def get_device(device: str | torch.device | None = None) -> torch.device:
    """Choose a device: the argument, else ``COURSE_UTILS_DEVICE``, else cuda > mps > cpu."""
    import torch

    chosen = device if device is not None else os.environ.get(DEVICE_ENV) or None
    if chosen is not None:
        return torch.device(chosen)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def cache_dir() -> Path:
    """The weight cache: ``COURSE_UTILS_CACHE`` or the user cache directory.

    Hugging Face and timm downloads go under ``<cache>/hf`` (the HF hub layout), direct URL
    downloads (SAM) under ``<cache>/url``. Copying this directory to another machine and
    pointing ``COURSE_UTILS_CACHE`` at it is enough to load offline.
    """
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("course_utils"))
