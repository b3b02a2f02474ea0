"""SAM image-embedding cache: in memory (LRU, shared by all sessions) and optionally on disk.

Keys are ``(model_fingerprint(model), image pixel hash)`` (:func:`course_utils.sam.model_fingerprint`),
so re-running a cell or going back to an image does not pay the image encoder again, and two
different models never share an entry.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from ..models import cache_dir

__all__ = ["EmbeddingCache", "SHARED_CACHE"]


def _image_hash(image: np.ndarray) -> str:
    digest = hashlib.blake2b(digest_size=16)
    digest.update(str(image.shape).encode())
    digest.update(np.ascontiguousarray(image).data)
    return digest.hexdigest()



class _Entry(NamedTuple):
    features: torch.Tensor  # (1, C, h, w) on CPU
    original_size: tuple[int, int]
    input_size: tuple[int, int]


class EmbeddingCache:
    """LRU cache of SAM image embeddings in memory, optionally backed by a directory on disk.

    Args:
        max_items: Embeddings kept in memory (ViT-B/L/H embeddings are 256x64x64 float32 = 4 MB each).
            0 disables the memory level.
        disk: ``None``/``False`` for memory only; ``True`` for ``cache_dir()/sam_embeddings``; or a path.
        max_disk_mb: The disk level deletes its oldest files beyond this size.

    Keys are ``(model_fingerprint(model), image pixel hash)``; entries are returned bit-identical.
    The cache keeps its own copy of each embedding and hands out copies, so editing a tensor
    obtained from it (or from a session) in place never changes what later sessions get.
    """

    def __init__(self, max_items: int = 8, disk: bool | str | os.PathLike | None = None, max_disk_mb: float = 2048):
        if max_items < 0:
            raise ValueError("max_items must be >= 0.")
        self.max_items = max_items
        self.max_disk_mb = max_disk_mb
        self._memory: OrderedDict[tuple[str, str], _Entry] = OrderedDict()
        self.disk_dir: Path | None
        if disk is True:
            self.disk_dir = cache_dir() / "sam_embeddings"
        elif disk:
            self.disk_dir = Path(disk).expanduser()
        else:
            self.disk_dir = None

    def __len__(self) -> int:
        return len(self._memory)

    def _path(self, key: tuple[str, str]) -> Path:
        assert self.disk_dir is not None
        return self.disk_dir / key[0] / f"{key[1]}.npz"

    def get(self, key: tuple[str, str]) -> tuple[_Entry | None, str | None]:
        """Return ``(entry, "memory" | "disk")`` or ``(None, None)``."""
        if key in self._memory:
            self._memory.move_to_end(key)
            return self._memory[key]._replace(features=self._memory[key].features.clone()), "memory"
        if self.disk_dir is not None:
            path = self._path(key)
            if path.exists():
                try:
                    with np.load(path, allow_pickle=False) as data:
                        entry = _Entry(torch.from_numpy(data["features"].copy()),
                                       tuple(int(v) for v in data["original_size"]),  # type: ignore[arg-type]
                                       tuple(int(v) for v in data["input_size"]))  # type: ignore[arg-type]
                except Exception as exc:  # damaged or truncated file: drop it and recompute
                    warnings.warn(f"Ignoring a damaged SAM embedding cache file {path} ({exc.__class__.__name__}); "
                                  "it is deleted and the embedding recomputed.", stacklevel=3)
                    path.unlink(missing_ok=True)
                    return None, None
                os.utime(path)
                self._remember(key, entry)
                return entry._replace(features=entry.features.clone()), "disk"
        return None, None

    def put(self, key: tuple[str, str], entry: _Entry) -> None:
        entry = entry._replace(features=entry.features.detach().to("cpu", copy=True))  # the cache's own copy
        self._remember(key, entry)
        if self.disk_dir is not None:
            path = self._path(key)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
            np.savez(tmp, features=entry.features.numpy(), original_size=np.array(entry.original_size),
                     input_size=np.array(entry.input_size))
            os.replace(tmp, path)
            self._prune_disk()

    def _remember(self, key: tuple[str, str], entry: _Entry) -> None:
        if self.max_items == 0:
            return
        self._memory[key] = entry
        self._memory.move_to_end(key)
        while len(self._memory) > self.max_items:
            self._memory.popitem(last=False)

    def _prune_disk(self) -> None:
        assert self.disk_dir is not None
        files = sorted(self.disk_dir.rglob("*.npz"), key=lambda p: p.stat().st_mtime)
        total = sum(p.stat().st_size for p in files)
        while files and total > self.max_disk_mb * 1e6:
            oldest = files.pop(0)
            total -= oldest.stat().st_size
            oldest.unlink(missing_ok=True)

    def clear(self, disk: bool = False) -> None:
        """Forget the memory level (and delete the disk files too if ``disk``)."""
        self._memory.clear()
        if disk and self.disk_dir is not None and self.disk_dir.exists():
            for path in self.disk_dir.rglob("*.npz"):
                path.unlink(missing_ok=True)




#: The process-wide memory cache (8 images) sessions use by default.
SHARED_CACHE = EmbeddingCache(max_items=8)
