"""An offline video clip with an exact ground-truth mask per frame, built from the kit's shipped photos.

The horse silhouette (scikit-image's ``horse.png``), textured with the fur of Chelsea the cat, walks
across a panning view of the Chinese temple photo (scikit-learn's ``china.jpg``) while it grows. Every
frame is composited from the silhouette placed at a known position and scale, so the true mask of each
frame is known exactly (no annotation error) and :mod:`course_utils.video_metrics` can score a tracker on
it. Offline, deterministic, and about 0.1 s to build.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .images import sample_image

__all__ = ["SyntheticClip", "make_clip"]


@dataclass
class SyntheticClip:
    """Frames and exact masks of one moving object.

    Attributes:
        frames: T frames, each (H, W, 3) uint8 RGB.
        masks: (T, H, W) bool, the object's true mask per frame.
        boxes: (T, 4) float XYXY box of the object per frame.
        obj_id: The object's id (1).
        description: What the clip shows and where its pictures come from.
    """

    frames: list[np.ndarray]
    masks: np.ndarray
    boxes: np.ndarray
    obj_id: int = 1
    description: str = ""

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def size(self) -> tuple[int, int]:
        return self.masks.shape[1], self.masks.shape[2]

    def center_point(self, frame: int) -> tuple[float, float]:
        """An (x, y) pixel inside the object on ``frame`` (the mask pixel closest to its centroid)."""
        ys, xs = np.nonzero(self.masks[frame])
        cy, cx = ys.mean(), xs.mean()
        i = int(np.argmin((ys - cy) ** 2 + (xs - cx) ** 2))
        return float(xs[i]), float(ys[i])


def _resize(image: np.ndarray, width: int, height: int, nearest: bool = False) -> np.ndarray:
    from PIL import Image

    pil = Image.fromarray(image)
    return np.asarray(pil.resize((width, height), Image.NEAREST if nearest else Image.BILINEAR))


def make_clip(num_frames: int = 40, size: tuple[int, int] = (240, 320), scale: tuple[float, float] = (0.35, 0.6),
              pan: float = 0.6) -> SyntheticClip:
    """Build the horse clip.

    Args:
        num_frames: Frames (30-60 for the lab; 3-5 keep tests fast).
        size: (H, W) of the frames.
        scale: Object height as a fraction of the frame height at the first and the last frame.
        pan: Share of the background photo's spare width the camera pans over.

    Returns:
        :class:`SyntheticClip` with frames, exact masks and boxes.
    """
    if num_frames < 1:
        raise ValueError("num_frames must be at least 1.")
    height, width = size
    horse = sample_image("horse")[..., 0] < 128  # the silhouette is black on white
    ys, xs = np.nonzero(horse)
    horse = horse[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    aspect = horse.shape[1] / horse.shape[0]
    fur = sample_image("chelsea")
    temple = sample_image("china")
    # The background is the temple photo scaled to 1.5x the frame height; the camera pans across it.
    bg_h = int(round(1.5 * height))
    bg_w = max(int(round(temple.shape[1] * bg_h / temple.shape[0])), width + 2)
    background = _resize(temple, bg_w, bg_h)
    frames, masks, boxes = [], np.zeros((num_frames, height, width), dtype=bool), []
    for t in range(num_frames):
        s = t / max(num_frames - 1, 1)
        x_off = int(round(s * pan * (bg_w - width)))
        y_off = int(round((bg_h - height) * (0.5 + 0.3 * np.sin(2 * np.pi * s)) / 1.0 * 0.5))
        frame = background[y_off:y_off + height, x_off:x_off + width].copy()
        oh = max(int(round((scale[0] + (scale[1] - scale[0]) * s) * height)), 4)
        ow = max(int(round(oh * aspect)), 4)
        sil = _resize(horse.astype(np.uint8) * 255, ow, oh, nearest=True) > 127
        tex = _resize(fur[40:260, 80:380], ow, oh)
        # The object walks left to right along a gentle arc, staying inside the frame.
        x0 = int(round(0.05 * width + s * (0.9 * width - ow)))
        y0 = int(round(height - oh - 0.05 * height - 0.15 * height * np.sin(np.pi * s)))
        x0, y0 = min(max(x0, 0), width - ow), min(max(y0, 0), height - oh)
        region = frame[y0:y0 + oh, x0:x0 + ow]
        region[sil] = tex[sil]
        masks[t, y0:y0 + oh, x0:x0 + ow] = sil
        frames.append(frame)
        yy, xx = np.nonzero(masks[t])
        boxes.append([xx.min(), yy.min(), xx.max() + 1, yy.max() + 1])
    description = ("Horse silhouette (scikit-image horse.png, CC0) textured with Chelsea the cat's fur "
                   "(scikit-image, CC0), walking and growing over a panning view of china.jpg (scikit-learn, "
                   "CC BY 2.0); masks are exact.")
    return SyntheticClip(frames, masks, np.asarray(boxes, dtype=np.float32), 1, description)
