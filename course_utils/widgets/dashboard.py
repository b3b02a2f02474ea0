"""Old name of :mod:`course_utils.widgets.app`, kept for one release (0.4.x).

``from course_utils.widgets.dashboard import Dashboard`` is the import the Voila / Hugging Face Space
notebook (:mod:`course_utils.space`), ``labs/dashboard.ipynb`` and older student notebooks use. New code
writes ``from course_utils.widgets import Dashboard`` (and ``course_utils.widgets.pictures.png_bytes``,
whose second argument is now what the picture was drawn from). This module re-exports those names and
holds nothing else.
"""

from __future__ import annotations

from .app import Dashboard
from .pictures import png_bytes

__all__ = ["Dashboard", "png_bytes"]
