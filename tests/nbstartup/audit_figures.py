"""IPython startup file for the notebook tests: record the text of every matplotlib figure rendered.

Copied into a temporary IPYTHONDIR by tests/nbrun.py. Each figure the inline backend renders appends one
JSON line (all the figure's text: titles, labels, fig.text notes) to $NB_FIGURE_AUDIT, so a test can
check what the figures say (for example the RANDOM WEIGHTS note in tiny mode).
"""

import json
import os

from matplotlib.backend_bases import FigureCanvasBase
from matplotlib.text import Text

_AUDIT = os.environ.get("NB_FIGURE_AUDIT")
_print_figure = FigureCanvasBase.print_figure


def _audited_print_figure(self, *args, **kwargs):
    if _AUDIT:
        texts = [t.get_text() for t in self.figure.findobj(Text) if t.get_text()]
        with open(_AUDIT, "a", encoding="utf-8") as out:
            out.write(json.dumps({"texts": texts}, ensure_ascii=False) + "\n")
    return _print_figure(self, *args, **kwargs)


FigureCanvasBase.print_figure = _audited_print_figure
