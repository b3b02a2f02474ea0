"""SAM 2 in video: prompt objects on any frame, propagate both ways, get a bool mask per frame per object.

Built on transformers' ``Sam2VideoModel`` / ``EdgeTamVideoModel``, ``Sam2VideoProcessor`` and
``Sam2VideoInferenceSession``. transformers' own ``processor.init_video_session(video=...)`` preprocesses
the whole clip up front into float32 tensors of 3 x 1024 x 1024 (12 MB a frame: 300 frames are 3.8 GB).
:class:`VideoSession` instead hands the session a lazy frame mapping: each frame is read from disk (or
from the uint8 arrays given) and preprocessed only when the model asks for it, and only the last two
preprocessed frames are kept. What grows with the clip is the model's memory bank (about 2 MB per frame
per object at full size) and the packed bool masks (H * W / 8 bytes per frame per object).

Formats (the kit's contracts): frames are HWC uint8 RGB; points are (x, y) pixels of the original frame;
boxes XYXY pixels; masks bool (H, W).

Example::

    session = VideoSession(load_sam2_video("sam2.1_hiera_tiny"), "clip_folder/")
    session.add_prompt(frame=0, obj_id=1, points=[(120, 80)], labels=[1])
    session.add_prompt(frame=20, obj_id=2, box=(30, 40, 90, 120))
    result = session.propagate()            # forward and backward, with a progress bar
    result.mask(frame=5, obj_id=1)          # (H, W) bool
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .models import LoadedModel
from .tiny import NOTE, is_random
from .video_frames import EXAMPLE_CLIP_URL, FrameSource, fetch_example_clip, read_video_frames, write_frames

__all__ = ["FrameSource", "VideoSession", "VideoMasks", "read_video_frames", "write_frames", "fetch_example_clip",
           "EXAMPLE_CLIP_URL"]  # the frame helpers live in course_utils.video_frames


class _LazyFrames(Mapping):
    """What ``Sam2VideoInferenceSession.processed_frames`` expects (frame index -> (3, S, S) tensor), but
    each frame is preprocessed when first asked for, and only the ``keep`` most recent ones are kept."""

    def __init__(self, source: FrameSource, processor: Any, dtype: torch.dtype, keep: int = 2):
        self.source, self.processor, self.dtype, self.keep = source, processor, dtype, keep
        self._cache: OrderedDict[int, torch.Tensor] = OrderedDict()
        self.loads = 0  # how many frames were preprocessed (for tests and benchmarks)

    def __len__(self) -> int:
        return len(self.source)

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.source)))

    def __getitem__(self, index: int) -> torch.Tensor:
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        frame = self.source[index]
        pixels = self.processor.video_processor(videos=[frame[None]], return_tensors="pt").pixel_values_videos[0, 0]
        pixels = pixels.to(self.dtype)  # (3, S, S)
        self.loads += 1
        self._cache[index] = pixels
        while len(self._cache) > self.keep:
            self._cache.popitem(last=False)
        return pixels


@dataclass
class VideoMasks:
    """Per-frame bool masks per object, stored bit-packed (H * W / 8 bytes each).

    Attributes:
        size: (H, W) of the frames.
        num_frames: Frames in the clip.
        obj_ids: The prompted object ids, in prompt order.
        random_weights: True when the masks come from random weights (``tiny`` is the same flag).
        weights_note: Caption for figures.
    """

    size: tuple[int, int]
    num_frames: int
    obj_ids: list[int]
    random_weights: bool
    weights_note: str
    _packed: dict[tuple[int, int], np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def tiny(self) -> bool:
        """The same as ``random_weights`` (the name the video panel and labs use)."""
        return self.random_weights

    def _store(self, frame: int, obj_id: int, mask: np.ndarray) -> None:
        self._packed[(frame, obj_id)] = np.packbits(mask.astype(bool).reshape(-1))

    def mask(self, frame: int, obj_id: int) -> np.ndarray:
        """The (H, W) bool mask of ``obj_id`` on ``frame``."""
        if obj_id not in self.obj_ids:
            raise ValueError(f"Object id {obj_id} was never prompted; the prompted ids are {self.obj_ids}. Prompt it "
                             "with session.add_prompt(frame, obj_id, ...) and propagate again.")
        if not 0 <= frame < self.num_frames:
            raise IndexError(f"frame {frame} is outside the clip of {self.num_frames} frames.")
        h, w = self.size
        return np.unpackbits(self._packed[(frame, obj_id)], count=h * w).reshape(h, w).astype(bool)

    def frames_with_masks(self, obj_id: int) -> list[int]:
        """Frames that have a mask (propagated or prompted) for ``obj_id``."""
        return sorted(f for f, o in self._packed if o == obj_id)

    def stack(self, obj_id: int) -> np.ndarray:
        """(T, H, W) bool masks of ``obj_id`` over the whole clip."""
        return np.stack([self.mask(f, obj_id) for f in range(self.num_frames)])

    def __getitem__(self, frame: int) -> dict[int, np.ndarray]:
        return {o: self.mask(frame, o) for o in self.obj_ids}


class VideoSession:
    """A SAM 2 (or EdgeTAM) video session on one clip.

    Args:
        model: ``load_sam2_video(...)`` (a :class:`~course_utils.models.LoadedModel` with its processor).
        clip: Anything :class:`FrameSource` accepts (folder, video file, list of arrays).
        max_frames: Use only the first ``max_frames`` frames.

    Call :meth:`add_prompt` for each object (several ids, any frames), then :meth:`propagate`.
    """

    def __init__(self, model: LoadedModel, clip: Any, max_frames: int | None = None):
        if not isinstance(model, LoadedModel) or model.processor is None:
            raise TypeError("VideoSession needs load_sam2_video(...) (a model together with its processor), got "
                            f"{type(model).__name__}.")
        self.loaded = model
        self.model = model.model
        self.processor = model.processor
        self.frames = FrameSource(clip, max_frames)
        #: True when the model has random weights (tiny mode); copied into the masks.
        self.random_weights = is_random(model)
        self.weights_note = NOTE if self.random_weights else model.weights_note
        session_cls = type(self.processor.init_video_session(inference_device=model.device))
        self._dtype = next(self.model.parameters()).dtype
        self.session = session_cls(video=None, video_height=self.frames.size[0], video_width=self.frames.size[1],
                                   inference_device=model.device, inference_state_device=model.device,
                                   video_storage_device=model.device, dtype=self._dtype)
        self._lazy = _LazyFrames(self.frames, self.processor, self._dtype)
        self.session.processed_frames = self._lazy
        cfg = self.model.config
        #: Frames further than this from the current one (and from the first prompted frame) are never read
        #: again by the model (memory frames and object pointers reach back at most this far).
        self.memory_window = max(int(cfg.num_maskmem), int(cfg.max_object_pointers_in_encoder))
        self.prompts: dict[int, dict[int, dict[str, Any]]] = {}  # obj_id -> frame -> prompt

    @property
    def tiny(self) -> bool:
        """The same as ``random_weights``."""
        return self.random_weights

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def obj_ids(self) -> list[int]:
        return list(self.prompts)

    def __repr__(self) -> str:
        h, w = self.frames.size
        return (f"VideoSession({self.loaded.name!r}{', TINY RANDOM' if self.random_weights else ''}, {len(self)} frames "
                f"{w}x{h}, objects {self.obj_ids})")

    def _check_frame(self, frame: int) -> int:
        if not isinstance(frame, (int, np.integer)) or not 0 <= frame < len(self):
            raise ValueError(f"frame must be an index 0..{len(self) - 1} of this {len(self)}-frame clip, got {frame!r}.")
        return int(frame)

    def add_prompt(self, frame: int, obj_id: int, points: Any = None, labels: Any = None,
                   box: Any = None) -> np.ndarray:
        """Prompt object ``obj_id`` on ``frame`` with points and/or one box; returns its (H, W) bool mask there.

        Args:
            frame: Frame index (any frame: later frames propagate backwards too).
            obj_id: Any integer naming the object; prompt several ids for several objects.
            points: (N, 2) (x, y) pixel coordinates of that frame.
            labels: (N,) of 1 (foreground) / 0 (background); ``None`` means all foreground.
            box: One XYXY pixel box.

        Raises:
            ValueError: A point or box is outside the frame, or no prompt was given; the message names the fix.
        """
        frame = self._check_frame(frame)
        coords, labs, box_arr = _validate(points, labels, box, self.frames.size)
        kwargs: dict[str, Any] = {}
        if coords is not None:
            kwargs.update(input_points=[[coords.tolist()]], input_labels=[[labs.tolist()]])
        if box_arr is not None:
            kwargs["input_boxes"] = [[box_arr.tolist()]]
        self.processor.add_inputs_to_inference_session(self.session, frame_idx=frame, obj_ids=int(obj_id), **kwargs)
        with torch.inference_mode():
            out = self.model(inference_session=self.session, frame_idx=frame)
        self._release(frame, frame, reverse=False, prune=False)
        self.prompts.setdefault(int(obj_id), {})[frame] = {"points": coords, "labels": labs, "box": box_arr}
        masks = self._to_masks(out.pred_masks)
        return masks[self.session.obj_ids.index(int(obj_id))]

    def _to_masks(self, pred_masks: torch.Tensor) -> np.ndarray:
        h, w = self.frames.size
        full = self.processor.post_process_masks([pred_masks.float().cpu()], original_sizes=[[h, w]],
                                                 binarize=True)[0]
        return full[:, 0].numpy().astype(bool)  # (num_objects, H, W)

    def propagate(self, progress: bool = True) -> VideoMasks:
        """Propagate every prompted object through the whole clip, backwards then forwards from the earliest
        prompted frame (prompts on later frames correct the forward pass as it reaches them).

        Returns:
            :class:`VideoMasks`: a bool (H, W) mask for every frame and every prompted object.

        Raises:
            RuntimeError: No object was prompted yet.
        """
        from tqdm.auto import tqdm

        if not self.prompts:
            raise RuntimeError("No object is prompted: call session.add_prompt(frame, obj_id, points=...) first.")
        result = VideoMasks(self.frames.size, len(self), list(self.session.obj_ids), self.random_weights,
                            self.weights_note)
        start = min(f for per_obj in self.prompts.values() for f in per_obj)
        order = [(f, True) for f in range(start, -1, -1)] + [(f, False) for f in range(start, len(self))]
        with torch.inference_mode():
            for frame, reverse in tqdm(order, desc="propagate", disable=not progress, unit="frame"):
                out = self.model(inference_session=self.session, frame_idx=frame, reverse=reverse)
                for obj_id, mask in zip(result.obj_ids, self._to_masks(out.pred_masks)):
                    result._store(frame, obj_id, mask)
                self._release(frame, start, reverse)
        return result

    def _release(self, frame: int, start: int, reverse: bool, prune: bool = True) -> None:
        """Keep memory flat in clip length: drop what the model will not read again.

        The full-resolution mask logits of ``frame`` (only used to encode its memory, just done) and the
        tracked outputs of frames more than :attr:`memory_window` frames behind the direction of travel, except
        around the first prompted frame (the forward pass reads the backward pass's frames there). Conditioning
        (prompted) frames are always kept. The masks are the same as without releasing (tested).
        """
        window = self.memory_window
        for per_obj in self.session.output_dict_per_obj.values():
            for kind in ("cond_frame_outputs", "non_cond_frame_outputs"):
                out = per_obj[kind].get(frame)
                if out is not None:
                    out.pop("high_res_masks", None)
            tracked = per_obj["non_cond_frame_outputs"]
            if not prune:
                continue
            stale = [f for f in tracked if abs(f - start) > window
                     and (f > frame + window if reverse else f < frame - window)]
            for f in stale:
                del tracked[f]


def _validate(points: Any, labels: Any, box: Any, size: tuple[int, int]) -> tuple[Any, Any, Any]:
    """Check prompts against the frame size (points (x, y) inside it, XYXY box); same rules as SamSession."""
    height, width = size
    coords = labs = box_arr = None
    if points is not None:
        coords = np.asarray(points, dtype=np.float64)
        if coords.shape == (2,):
            coords = coords[None]
        if coords.ndim != 2 or coords.shape[1] != 2 or len(coords) == 0 or not np.isfinite(coords).all():
            raise ValueError(f"points must be (N, 2) finite (x, y) pixel pairs, got shape {coords.shape}. "
                             "Example: points=[(120, 80)], labels=[1].")
        outside = (coords[:, 0] < 0) | (coords[:, 0] >= width) | (coords[:, 1] < 0) | (coords[:, 1] >= height)
        if outside.any():
            bad = coords[outside][0]
            raise ValueError(f"Point ({bad[0]:g}, {bad[1]:g}) is outside the frame of width {width} and height "
                             f"{height}; points are (x, y) pixels with 0 <= x < {width} and 0 <= y < {height} "
                             "(column first).")
        labs = np.ones(len(coords), dtype=np.int64) if labels is None else np.asarray(labels).reshape(-1)
        if labs.shape[0] != len(coords) or not np.isin(labs, (0, 1)).all():
            raise ValueError(f"Give one label per point, 1 (foreground) or 0 (background); got {np.asarray(labels)} "
                             f"for {len(coords)} points.")
        labs = labs.astype(np.int64)
    elif labels is not None:
        raise ValueError("labels were given without points; pass points=[(x, y), ...] too.")
    if box is not None:
        b = np.asarray(box, dtype=np.float64).reshape(-1)
        if b.shape != (4,) or not np.isfinite(b).all() or b[0] >= b[2] or b[1] >= b[3]:
            raise ValueError(f"box must be one XYXY box (x0, y0, x1, y1) with x0 < x1 and y0 < y1, got {box!r}.")
        clipped = np.array([np.clip(b[0], 0, width), np.clip(b[1], 0, height), np.clip(b[2], 0, width),
                            np.clip(b[3], 0, height)])
        if clipped[0] >= clipped[2] or clipped[1] >= clipped[3]:
            raise ValueError(f"box {tuple(b)} lies entirely outside the frame (width {width}, height {height}).")
        box_arr = clipped
    if coords is None and box_arr is None:
        raise ValueError("Give a prompt: points=[(x, y)] (with labels) and/or box=(x0, y0, x1, y1).")
    return coords, labs, box_arr
