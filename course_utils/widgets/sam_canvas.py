"""The browser side of the SAM widget: the anywidget canvas model and the choice of front end.

:class:`SamCanvas` is the synced state of ``sam_widget.js`` (photo, overlay, prompts); it draws and
reports gestures, nothing more. :func:`choose_frontend` decides between that canvas and the typed-form
fallback made of core ipywidgets. The controller that turns gestures into predictions is
:class:`course_utils.widgets.SamWidget`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import anywidget
import traitlets

__all__ = ["SamCanvas", "FRONTEND_ENV", "choose_frontend"]

_HERE = Path(__file__).resolve().parent
#: Environment variable that forces a front end ("canvas" or "form").
FRONTEND_ENV = "COURSE_UTILS_WIDGET"


class SamCanvas(anywidget.AnyWidget):
    """The canvas: shows the photo, the mask overlay, points and box; reports clicks and drags.

    Synced state (kernel -> browser): ``image_src`` (data URL of the photo, possibly downscaled for
    transport), ``image_width`` / ``image_height`` (ORIGINAL pixel size, used for the coordinate
    conversion), ``overlay_src`` (RGBA PNG data URL, "" for none), ``points`` [[x, y], ...],
    ``labels`` [1 | 0, ...], ``box`` [] or [x0, y0, x1, y1], ``mode`` ("positive" | "negative"),
    ``display_width`` (CSS px, 0 = natural size up to the cell width), ``busy``.

    Browser -> kernel messages: ``{"event": "point", "x", "y", "label"}`` and
    ``{"event": "box", "box": [x0, y0, x1, y1]}``, all in original-image pixels.
    """

    _esm = _HERE / "sam_widget.js"
    _css = _HERE / "sam_widget.css"
    image_src = traitlets.Unicode("").tag(sync=True)
    image_width = traitlets.Int(0).tag(sync=True)
    image_height = traitlets.Int(0).tag(sync=True)
    overlay_src = traitlets.Unicode("").tag(sync=True)
    points = traitlets.List([]).tag(sync=True)
    labels = traitlets.List([]).tag(sync=True)
    box = traitlets.List([]).tag(sync=True)
    mode = traitlets.Unicode("positive").tag(sync=True)
    display_width = traitlets.Int(0).tag(sync=True)
    busy = traitlets.Bool(False).tag(sync=True)


def _in_colab() -> bool:
    return "google.colab" in sys.modules


def choose_frontend(frontend: str) -> str:
    """``"canvas"`` or ``"form"``; ``"auto"`` is ``COURSE_UTILS_WIDGET`` if set, else the canvas.

    In Colab the canvas needs the custom widget manager: it is enabled here, and the form is used
    when that fails.
    """
    if frontend == "auto":
        frontend = os.environ.get(FRONTEND_ENV, "").strip().lower() or "canvas"
        if frontend == "canvas" and _in_colab():
            try:
                from google.colab import output  # type: ignore[import-not-found]

                output.enable_custom_widget_manager()
            except Exception:  # pragma: no cover - only in Colab
                frontend = "form"
    if frontend not in ("canvas", "form"):
        raise ValueError(f"frontend must be 'canvas', 'form' or 'auto', not {frontend!r}.")
    return frontend
