"""Video clips as frames: decode a video file, write / read a folder of frames, the example clip.

:class:`FrameSource` is what :class:`course_utils.video.VideoSession` reads: a clip (folder, video
file or arrays) whose frames are HWC uint8 RGB and loaded on demand.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .images import load_image

__all__ = ["FrameSource", "read_video_frames", "write_frames", "fetch_example_clip", "EXAMPLE_CLIP_URL"]

#: A real short clip (a child walking through a bedroom, 200 frames at 960 x 540): SAM 2's notebook example,
#: as hosted for transformers' own SAM 2 tests and docs. Its licence is not stated on that page (unverified).
EXAMPLE_CLIP_URL = "https://huggingface.co/datasets/hf-internal-testing/sam2-fixtures/resolve/main/bedroom.mp4"

_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
_VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".gif"}


def read_video_frames(path: str | Path, max_frames: int | None = None) -> list[np.ndarray]:
    """Decode a video file with PyAV into HWC uint8 RGB frames (``max_frames`` caps the count)."""
    try:
        import av
    except ImportError as exc:  # pragma: no cover - av is a core dependency
        raise ImportError("Reading video files needs PyAV: pip install av") from exc
    frames: list[np.ndarray] = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24"))
            if max_frames is not None and len(frames) >= max_frames:
                break
    return frames


def write_frames(frames: Sequence[np.ndarray], folder: str | Path, fmt: str = "jpg") -> Path:
    """Write frames as ``00000.jpg, 00001.jpg, ...`` (the DAVIS / SAM 2 folder layout); returns the folder."""
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames):
        Image.fromarray(np.asarray(frame, dtype=np.uint8)).save(folder / f"{i:05d}.{fmt}", quality=95)
    return folder


def fetch_example_clip(url: str = EXAMPLE_CLIP_URL) -> Path:
    """Download the example clip into the kit's cache (``cache_dir()/clips``) once; returns its path.

    Raises:
        WeightsUnavailableError: offline and not cached; the message names the fixes.
    """
    from .models import WeightsUnavailableError, cache_dir, download_url

    dest = cache_dir() / "clips" / url.rsplit("/", 1)[-1]
    if dest.exists():
        return dest
    try:
        return download_url(url, dest)
    except OSError as exc:
        raise WeightsUnavailableError(f"The example clip {url} is not cached ({dest}) and could not be downloaded "
                                      f"({exc.__class__.__name__}). Run this on a machine with internet, copy the "
                                      "cache, or use the offline clip: course_utils.video_clip.make_clip().") from exc


class FrameSource(Sequence):
    """The frames of a clip, read on demand: ``source[i]`` is (H, W, 3) uint8 RGB.

    Args:
        clip: A folder of frame images (sorted by name), a video file (decoded once with PyAV and kept
            as uint8), a list of HWC uint8 arrays, or a (T, H, W, 3) uint8 array.
        max_frames: Use only the first ``max_frames`` frames.

    Raises:
        ValueError: The clip is empty or its frames do not all have the same size.
        FileNotFoundError: The path does not exist.
    """

    def __init__(self, clip: Any, max_frames: int | None = None):
        self._files: list[Path] | None = None
        self._arrays: list[np.ndarray] | None = None
        if isinstance(clip, FrameSource):
            self._files, self._arrays, self.size = clip._files, clip._arrays, clip.size
            return
        if isinstance(clip, (str, Path)):
            path = Path(clip)
            if not path.exists():
                raise FileNotFoundError(f"{path} does not exist; pass a folder of frames, a video file or a list "
                                        "of HWC uint8 arrays.")
            if path.is_dir():
                files = sorted(p for p in path.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)
                self._files = files[:max_frames] if max_frames else files
                if not self._files:
                    raise ValueError(f"The clip is empty: {path} holds no frame images "
                                     f"({', '.join(sorted(_IMAGE_SUFFIXES))}). Write frames with write_frames().")
                sizes = {self._file_size(p) for p in self._files}
            else:
                if path.suffix.lower() not in _VIDEO_SUFFIXES:
                    raise ValueError(f"{path.name} is neither a folder of frames nor a video file "
                                     f"({', '.join(sorted(_VIDEO_SUFFIXES))}).")
                self._arrays = read_video_frames(path, max_frames)
                if not self._arrays:
                    raise ValueError(f"The clip is empty: no video frames could be decoded from {path}.")
                sizes = {a.shape[:2] for a in self._arrays}
        else:
            arrays = list(clip) if not isinstance(clip, np.ndarray) or clip.ndim == 4 else [clip]
            if max_frames:
                arrays = arrays[:max_frames]
            if not arrays:
                raise ValueError("The clip is empty: give at least one frame (a list of HWC uint8 arrays).")
            self._arrays = [load_image(a) for a in arrays]
            sizes = {a.shape[:2] for a in self._arrays}
        if len(sizes) != 1:
            raise ValueError(f"All frames of a clip must have the same size, got (H, W) sizes {sorted(sizes)}. "
                             "Resize them to one size first (e.g. PIL's Image.resize) or split the clip.")
        self.size: tuple[int, int] = next(iter(sizes))

    @staticmethod
    def _file_size(path: Path) -> tuple[int, int]:
        from PIL import Image

        with Image.open(path) as im:  # reads the header only
            return im.height, im.width

    def __len__(self) -> int:
        return len(self._files) if self._files is not None else len(self._arrays or [])

    def __getitem__(self, index: int) -> np.ndarray:  # type: ignore[override]
        if not -len(self) <= index < len(self):
            raise IndexError(f"frame {index} is outside the clip of {len(self)} frames (0..{len(self) - 1}).")
        if self._files is not None:
            return load_image(self._files[index])
        assert self._arrays is not None
        return self._arrays[index]
