"""Interactive widgets (ipywidgets / anywidget). No torch in this layer: widgets call a session or a view.

* :class:`SamWidget` (``sam_widget``) the click-and-box SAM widget, with its canvas front end
  :class:`SamCanvas` (``sam_canvas``);
* :class:`Dashboard` (``app``) the integrated Week 4 dashboard; :class:`VideoPanel` (``video_panel``)
  its SAM 2 video panel;
* ``pictures`` the one picture encoder of the layer (PNG / data URLs, the random-weights strip).

The models and the computed views (:mod:`course_utils.views`) load on first use, when a tab opens or a
prompt is predicted.
"""

from .app import Dashboard
from .sam_canvas import SamCanvas
from .sam_widget import SamWidget
from .video_panel import VideoPanel

__all__ = ["Dashboard", "SamCanvas", "SamWidget", "VideoPanel"]
