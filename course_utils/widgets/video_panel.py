"""The dashboard's SAM 2 video panel: the offline clip, one click, propagation, a frame slider and J&F.

Nothing runs until the button is pressed (propagation takes seconds to minutes on a CPU). No torch at
import time: :mod:`course_utils.video`, :mod:`course_utils.sam2_models` and :mod:`course_utils.viz` are
imported on first use. Whether the masks come from random weights is read from them and from the model
that made them (:func:`course_utils.tiny.is_random`).
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as W
import numpy as np

from ..tiny import SHORT_NOTE, is_random
from .pictures import png_bytes

__all__ = ["VideoPanel"]


class VideoPanel(W.VBox):
    """Prompt the horse of the offline clip once on frame 0, propagate with SAM 2 / EdgeTAM, scrub the frames.

    Args:
        model: Registry name of the video model (``edgetam``, ``sam2.1_hiera_tiny``...).
        tiny: Random tiny model (``None`` follows ``COURSE_UTILS_TINY``).
        num_frames: Frames of the clip.
        size: (H, W) of the clip.
    """

    def __init__(self, model: str = "edgetam", tiny: bool | None = None, num_frames: int = 24,
                 size: tuple[int, int] = (180, 240)):
        self.model_name, self.tiny_arg, self.num_frames, self.size = model, tiny, num_frames, size
        self.loaded: Any = None
        self.result: Any = None
        self.clip: Any = None
        self.scores: dict[str, Any] | None = None
        self.run_button = W.Button(description="SAM 2 비디오: 첫 프레임에 점 하나 → 전체 전파", icon="play",
                                   layout=W.Layout(width="auto"))
        self.status = W.HTML("오프라인 clip (말 실루엣, 정답 마스크 있음)으로 video propagation을 실행합니다.")
        self.slider = W.IntSlider(value=0, min=0, max=max(num_frames - 1, 0), description="frame", disabled=True)
        self.frame_view = W.Image(format="png")
        self.run_button.on_click(lambda _b: self.run())
        self.slider.observe(lambda c: self.show(int(c["new"])), names="value")
        super().__init__([self.run_button, self.status, self.slider, self.frame_view])

    def run(self) -> None:
        """Build the clip, prompt frame 0, propagate and score (errors are shown in the panel)."""
        from ..sam2_models import load_sam2_video
        from ..video import VideoSession
        from ..video_clip import make_clip
        from ..video_metrics import evaluate_masks

        self.run_button.disabled = True
        self.status.value = "전파 중..."
        try:
            self.clip = make_clip(num_frames=self.num_frames, size=self.size)
            self.loaded = load_sam2_video(self.model_name, tiny=self.tiny_arg)
            session = VideoSession(self.loaded, self.clip.frames)
            session.add_prompt(0, 1, points=[self.clip.center_point(0)], labels=[1])
            self.result = session.propagate(progress=False)
            self.scores = evaluate_masks(self.result.stack(1), self.clip.masks)
            note = f" — {SHORT_NOTE}" if self._random() else ""
            self.status.value = (f"<b>{html.escape(self.model_name)}</b>{html.escape(note)}: "
                                 f"J = {self.scores['J_mean']:.3f}, F = {self.scores['F_mean']:.3f}, "
                                 f"J&amp;F = {self.scores['JF_mean']:.3f} ({len(self.clip)} frames)")
            self.slider.disabled = False
            self.show(int(self.slider.value))
        except Exception as exc:  # noqa: BLE001 - shown in the panel, the dashboard keeps working
            self.status.value = f"<b style='color:#b00020'>{html.escape(type(exc).__name__)}: {html.escape(str(exc))}</b>"
        finally:
            self.run_button.disabled = False

    def show(self, frame: int) -> np.ndarray | None:
        """Draw ``frame`` with the true mask (green) and the prediction (red); returns the picture."""
        if self.result is None or self.clip is None:
            return None
        from ..viz import overlay_mask

        pic = overlay_mask(self.clip.frames[frame], self.clip.masks[frame], (0, 200, 0), alpha=0.35)
        pic = overlay_mask(pic, self.result.mask(frame, 1), (220, 30, 30), alpha=0.45, outline=True)
        self.frame_view.value = png_bytes(pic, self.result, self.loaded, max_side=360)
        return pic

    def _random(self) -> bool:
        """True when the masks (or the model that propagated them) have random weights."""
        return is_random(self.result, self.loaded)
