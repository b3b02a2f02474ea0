"""Interactive widgets (ipywidgets / anywidget). No torch in this layer: widgets call a session object.

``SamWidget(session, image)`` is the click-and-box SAM widget; the dashboards reuse it.
"""

from .sam_widget import SamCanvas, SamWidget

__all__ = ["SamCanvas", "SamWidget"]
