"""Interactive SAM: click for points, drag for a box, see the mask redrawn after every prompt.

:class:`SamWidget` is an ``ipywidgets.VBox``: a canvas (:class:`~course_utils.widgets.sam_canvas.SamCanvas`,
an anywidget ESM front end, ``sam_widget.js``) plus ipywidgets controls (positive/negative mode, undo,
clear, mask choice, export). It holds no torch: every prediction is a call to the session it was given
(:class:`course_utils.sam.SamSession`, or any object with ``set_image(image)``, ``image`` and
``predict(points=, labels=, box=, multimask=)`` returning ``(masks, scores, logits, ...)``).

The front end converts display clicks to original-image pixels, so :attr:`SamWidget.points` are always
(x, y) pixels of the original image. Where no anywidget front end is available, ``frontend="form"``
gives a typed-coordinates form made of core ipywidgets (it also works in Colab without the custom
widget manager); without any widget front end, call :meth:`SamWidget.add_point` / :meth:`set_box` and
show :meth:`SamWidget.composite` with matplotlib.

Whether the masks come from random weights is read from the session and its predictions
(:func:`course_utils.tiny.is_random`). The composite picture is drawn with :mod:`course_utils.viz`
(imported on first use).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import numpy as np
from PIL import Image

from ..tiny import NOTE, is_random
from .pictures import data_url, png_bytes
from .sam_canvas import FRONTEND_ENV, SamCanvas, choose_frontend

__all__ = ["SamWidget", "SamCanvas", "FRONTEND_ENV"]


class SamWidget(widgets.VBox):
    """Click-and-box SAM on one image; every prompt re-runs the (cheap) mask decoder.

    Args:
        session: A :class:`~course_utils.sam.SamSession` (or an object with the same ``set_image`` /
            ``image`` / ``predict`` methods). The widget calls it; it never touches torch itself.
        image: The image (HWC uint8 RGB, or anything the session's ``set_image`` accepts); ``None``
            uses the session's current image.
        frontend: ``"canvas"`` (anywidget: JupyterLab 4, Notebook 7, Voila, VS Code, Colab with the
            custom widget manager), ``"form"`` (typed coordinates with core ipywidgets) or ``"auto"``
            (``COURSE_UTILS_WIDGET`` if set, else canvas; in Colab it enables the custom widget manager).
        display_width: Width of the canvas in CSS pixels (``None``: natural size up to the cell width).
        multimask: ``True``/``False``, or ``"auto"``: three candidate masks for a single click without
            a box (an ambiguous prompt), one mask otherwise.
        export_path: Default file of :meth:`export_mask` and of the Export button (``.png`` or ``.npy``).
        color: RGB colour of the mask overlay.
        max_transport_side: The photo is downscaled to this long side for display only (clicks are still
            converted to original-image pixels).

    Readable state (original-image pixels): :attr:`points` (N, 2), :attr:`labels` (N,), :attr:`box`
    XYXY or None, :attr:`masks` (M, H, W) bool or None, :attr:`scores`, :attr:`selected`, :attr:`mask`.
    """

    def __init__(self, session: Any, image: Any = None, frontend: str = "auto", display_width: int | None = None,
                 multimask: bool | str = "auto", export_path: str | os.PathLike = "sam_mask.png",
                 color: tuple[int, int, int] = (30, 144, 255), max_transport_side: int = 1024):
        self.session = session
        if image is not None:
            session.set_image(image)
        if getattr(session, "image", None) is None:
            raise RuntimeError("The session has no image: pass SamWidget(session, image) or call "
                               "session.set_image(image) first.")
        self.image: np.ndarray = session.image
        self.multimask = multimask
        self.export_path = Path(export_path)
        self.color = tuple(int(c) for c in color)
        self.frontend = choose_frontend(frontend)
        self._points: list[tuple[float, float]] = []
        self._labels: list[int] = []
        self._box: tuple[float, float, float, float] | None = None
        self._history: list[tuple[str, Any]] = []
        self._result: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._prediction: Any = None  # what the session returned last (it may say it is random)
        self._selected = 0
        self._callbacks: list[Callable[[SamWidget], None]] = []
        self.last_error: str | None = None

        height, width = self.image.shape[:2]
        scale = min(1.0, max_transport_side / max(height, width))
        self._transport_size = (max(1, round(width * scale)), max(1, round(height * scale)))  # (w, h)
        shown = self.image if scale == 1.0 else np.asarray(
            Image.fromarray(self.image).resize(self._transport_size, Image.BILINEAR))

        self.status = widgets.HTML()
        self.mode_buttons = widgets.ToggleButtons(options=[("+ positive", "positive"), ("− negative", "negative")],
                                                  value="positive", tooltips=["click adds a foreground point",
                                                                              "click adds a background point"],
                                                  style={"button_width": "auto"})
        compact = {"width": "auto"}
        self.undo_button = widgets.Button(description="Undo", icon="undo", layout=compact)
        self.clear_button = widgets.Button(description="Clear", icon="trash", layout=compact)
        self.export_button = widgets.Button(description="Export mask", icon="download", layout=compact)
        self.mask_choice = widgets.ToggleButtons(options=[], description="mask", style={"button_width": "auto"})
        self.undo_button.on_click(lambda _: self._guarded(self.undo))
        self.clear_button.on_click(lambda _: self._guarded(self.clear))
        self.export_button.on_click(lambda _: self._guarded(self._export_clicked))
        self.mask_choice.observe(self._on_choice, names="value")

        self.canvas: SamCanvas | None = None
        self.form: widgets.Widget | None = None
        self.view: widgets.Image | None = None
        if self.frontend == "canvas":
            self.canvas = SamCanvas(image_src=data_url(shown, "JPEG"), image_width=width, image_height=height,
                                    display_width=int(display_width or 0))
            self.canvas.on_msg(self._on_canvas_msg)
            widgets.link((self.mode_buttons, "value"), (self.canvas, "mode"))
            main: list[widgets.Widget] = [self.canvas]
        else:
            self.view = widgets.Image(format="png", layout=widgets.Layout(width=f"{display_width}px")
                                      if display_width else widgets.Layout(max_width="100%"))
            self._x = widgets.BoundedFloatText(description="x", min=0, max=width - 0.01, step=1,
                                               layout=widgets.Layout(width="150px"))
            self._y = widgets.BoundedFloatText(description="y", min=0, max=height - 0.01, step=1,
                                               layout=widgets.Layout(width="150px"))
            add = widgets.Button(description="Add point", icon="plus")
            add.on_click(lambda _: self._guarded(self.add_point, self._x.value, self._y.value,
                                                 1 if self.mode_buttons.value == "positive" else 0))
            self._box_text = widgets.Text(placeholder="x0, y0, x1, y1", description="box (XYXY)")
            set_box = widgets.Button(description="Set box", icon="square-o")
            set_box.on_click(lambda _: self._guarded(self._typed_box))
            self.form = widgets.VBox([widgets.HTML(f"image: {width} x {height} pixels; points are (x, y) pixels"),
                                      widgets.HBox([self._x, self._y, add]), widgets.HBox([self._box_text, set_box])])
            main = [self.view, self.form]
        toolbar = widgets.HBox([self.mode_buttons, self.undo_button, self.clear_button, self.export_button])
        super().__init__([toolbar, *main, self.mask_choice, self.status])
        self._refresh()

    # ------------------------------------------------------------------ readable state
    @property
    def points(self) -> np.ndarray:
        """(N, 2) float (x, y) pixels of the original image."""
        return np.array(self._points, dtype=np.float64).reshape(-1, 2)

    @property
    def labels(self) -> np.ndarray:
        """(N,) int, 1 = foreground, 0 = background."""
        return np.array(self._labels, dtype=np.int64)

    @property
    def box(self) -> np.ndarray | None:
        """XYXY pixel box or None."""
        return None if self._box is None else np.array(self._box, dtype=np.float64)

    @property
    def masks(self) -> np.ndarray | None:
        """(M, H, W) bool masks of the last prediction, or None without prompts."""
        return None if self._result is None else self._result[0]

    @property
    def scores(self) -> np.ndarray | None:
        """(M,) predicted IoU of :attr:`masks`."""
        return None if self._result is None else self._result[1]

    @property
    def logits(self) -> np.ndarray | None:
        """(M, 256, 256) low-res logits of :attr:`masks` (a valid ``mask=`` input for refinement)."""
        return None if self._result is None else self._result[2]

    @property
    def selected(self) -> int:
        """Index of the chosen mask among :attr:`masks` (the best-scoring one after each prediction)."""
        return self._selected

    @property
    def mask(self) -> np.ndarray | None:
        """The chosen (H, W) bool mask, or None."""
        return None if self._result is None else self._result[0][self._selected]

    # ------------------------------------------------------------------ actions (also used by the UI)
    def add_point(self, x: float, y: float, label: int = 1) -> SamWidget:
        """Add an (x, y) original-image-pixel point (label 1 foreground, 0 background) and predict."""
        point = (float(x), float(y))
        label = int(label)
        self._points.append(point)
        self._labels.append(label)
        try:
            self._predict()
        except Exception:
            self._points.pop()
            self._labels.pop()
            raise
        self._history.append(("point", None))
        self._refresh()
        return self

    def set_box(self, box: Any) -> SamWidget:
        """Set (replace) the XYXY pixel box and predict; ``None`` removes it."""
        previous = self._box
        self._box = None if box is None else tuple(float(v) for v in np.asarray(box, dtype=float).reshape(-1))
        try:
            self._predict()
        except Exception:
            self._box = previous
            raise
        self._history.append(("box", previous))
        self._refresh()
        return self

    def undo(self) -> SamWidget:
        """Remove the last point or restore the previous box."""
        if not self._history:
            return self
        kind, previous = self._history.pop()
        if kind == "point":
            self._points.pop()
            self._labels.pop()
        else:
            self._box = previous
        self._predict()
        self._refresh()
        return self

    def clear(self) -> SamWidget:
        """Remove every prompt and the mask."""
        self._points, self._labels, self._box, self._history = [], [], None, []
        self._predict()
        self._refresh()
        return self

    def select(self, index: int) -> SamWidget:
        """Choose mask ``index`` among the multimask outputs."""
        if self._result is None or not 0 <= index < len(self._result[0]):
            count = 0 if self._result is None else len(self._result[0])
            raise IndexError(f"No mask {index}: there are {count}; add a prompt first." if count == 0
                             else f"No mask {index}: choose 0..{count - 1}.")
        self._selected = int(index)
        self._refresh()
        return self

    def export_mask(self, path: str | os.PathLike | None = None) -> Path:
        """Save the chosen mask: ``.png`` (0/255 grayscale, image size) or ``.npy`` (bool (H, W))."""
        if self.mask is None:
            raise RuntimeError("There is no mask to export yet: click on the image (or call add_point) first.")
        target = Path(path) if path is not None else self.export_path
        if target.suffix.lower() == ".npy":
            np.save(target, self.mask)
        elif target.suffix.lower() == ".png":
            Image.fromarray(self.mask.astype(np.uint8) * 255).save(target)
        else:
            raise ValueError(f"Export to .png or .npy, not {target.suffix or 'a file without suffix'}.")
        return target

    def on_change(self, callback: Callable[[SamWidget], None]) -> None:
        """Call ``callback(widget)`` after every change of prompts, masks or selection."""
        self._callbacks.append(callback)

    def composite(self) -> np.ndarray:
        """The image with the chosen mask, points and box drawn on it (HWC uint8 RGB)."""
        from ..viz import draw_boxes, draw_points, overlay_mask

        out = self.image if self.mask is None else overlay_mask(self.image, self.mask, self.color, alpha=0.45,
                                                                outline=False)
        radius = max(4, round(min(self.image.shape[:2]) / 60))
        if self._box is not None:
            out = draw_boxes(out, self._box, color=(0, 224, 0), width=max(2, radius // 2))
        if self._points:
            out = draw_points(out, self._points, self._labels, radius=radius)
        return np.array(out, dtype=np.uint8)  # a new array, never the caller's image

    # ------------------------------------------------------------------ internals
    def _use_multimask(self) -> bool:
        if self.multimask == "auto":
            return len(self._points) == 1 and self._box is None
        return bool(self.multimask)

    def _predict(self) -> None:
        if not self._points and self._box is None:
            self._result = self._prediction = None
            self._selected = 0
            return
        if self.canvas is not None:
            self.canvas.busy = True
        try:
            if getattr(self.session, "image", None) is not self.image:
                self.session.set_image(self.image)  # another user of the session moved on; a cache hit
            result = self.session.predict(points=self.points if self._points else None,
                                          labels=self.labels if self._points else None,
                                          box=self.box, multimask=self._use_multimask())
        finally:
            if self.canvas is not None:
                self.canvas.busy = False
        masks, scores, logits = (np.asarray(result[i]) for i in range(3))  # (masks, scores, logits, ...)
        self._prediction = result
        self._result = (masks.astype(bool), scores, logits)
        self._selected = int(np.argmax(scores))

    def _overlay_src(self) -> str:
        if self.mask is None:
            return ""
        small = Image.fromarray(self.mask.astype(np.uint8) * 255).resize(self._transport_size, Image.NEAREST)
        alpha = np.asarray(small) > 127
        rgba = np.zeros((*alpha.shape, 4), np.uint8)
        rgba[alpha] = (*self.color, 115)
        return data_url(rgba, "PNG")

    def _refresh(self) -> None:
        if self.canvas is not None:
            with self.canvas.hold_sync():
                self.canvas.points = [list(p) for p in self._points]
                self.canvas.labels = list(self._labels)
                self.canvas.box = [] if self._box is None else list(self._box)
                self.canvas.overlay_src = self._overlay_src()
        if self.view is not None:
            self.view.value = png_bytes(self.composite(), max_side=None)
        options = [] if self._result is None else [
            (f"{i + 1}: IoU {s:.2f}", i) for i, s in enumerate(self._result[1])]
        if list(self.mask_choice.options) != options:
            self._updating_choice = True
            self.mask_choice.options = options
            self._updating_choice = False
        if options and self.mask_choice.value != self._selected:
            self._updating_choice = True
            self.mask_choice.value = self._selected
            self._updating_choice = False
        self.mask_choice.layout.display = "flex" if len(options) > 1 else "none"
        self._update_status()
        for callback in list(self._callbacks):
            callback(self)

    _updating_choice = False
    _note = ""

    def _on_choice(self, change: dict[str, Any]) -> None:
        if self._updating_choice or change["new"] is None or change["new"] == self._selected:
            return
        self._guarded(self.select, change["new"])

    def _update_status(self) -> None:
        parts = []
        if is_random(self.session, self._prediction):
            parts.append(f"<b style='color:#c00'>{NOTE}</b>")
        n_pos = sum(self._labels)
        parts.append(f"{n_pos} positive, {len(self._labels) - n_pos} negative points"
                     + (", box " + ", ".join(f"{v:.0f}" for v in self._box) if self._box else ""))
        if self._result is not None:
            area = int(self.mask.sum()) if self.mask is not None else 0
            parts.append(f"mask {self._selected + 1}/{len(self._result[0])}, predicted IoU "
                         f"{float(self._result[1][self._selected]):.3f}, {area} px")
        if self._note:
            parts.append(self._note)
        if self.last_error:
            parts.append(f"<span style='color:#c00'>{self.last_error}</span>")
        self.status.value = " · ".join(parts)

    def _guarded(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run a UI action; show errors in the status line instead of losing them in the log."""
        self._note = ""
        try:
            result = fn(*args)
        except Exception as exc:  # shown to the user, state already rolled back
            self.last_error = f"{exc.__class__.__name__}: {exc}"
            self._update_status()
            return None
        self.last_error = None
        self._update_status()
        return result

    def _on_canvas_msg(self, _widget: Any, content: dict[str, Any], _buffers: Any) -> None:
        event = content.get("event") if isinstance(content, dict) else None
        if event == "point":
            self._guarded(self.add_point, content["x"], content["y"], int(content.get("label", 1)))
        elif event == "box":
            self._guarded(self.set_box, content["box"])
        if self.canvas is not None:
            self.canvas.send({"event": "done"})

    def _export_clicked(self) -> None:
        self._note = f"saved {self.export_mask()}"

    def _typed_box(self) -> None:
        text = self._box_text.value.replace(";", ",").strip()
        if not text:
            self.set_box(None)
            return
        try:
            values = [float(v) for v in text.split(",")]
        except ValueError:
            raise ValueError("Type the box as four numbers: x0, y0, x1, y1 (pixels).") from None
        self.set_box(values)

    def __repr__(self) -> str:
        return (f"SamWidget({self.frontend}, {len(self._points)} points, box={self._box}, "
                f"{'no mask' if self._result is None else f'{len(self._result[0])} masks'}). "
                "If you see this text instead of the image, no widget front end is active here: in Colab run "
                "google.colab.output.enable_custom_widget_manager(); elsewhere try SamWidget(session, image, "
                "frontend='form'), or call w.add_point(x, y) / w.set_box(...) and show w.composite().")
