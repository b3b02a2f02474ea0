"""Tiny mode: the one home of the switch, the random-weights note, and where results say they are random.

Tiny mode (``COURSE_UTILS_TINY=1`` or ``tiny=True`` on a loader) replaces every pretrained model with a
small randomly initialised model of the same architecture family, so the whole week runs offline on a
CPU in seconds. Results of such models are meaningless, and every figure must say so.

"These results come from random weights" is a property of the *data*, not a global setting that
drawing code re-derives:

* a loader marks what it returns (:func:`mark`): a :class:`~course_utils.models.LoadedModel` has
  ``random_weights``; the raw ``nn.Module`` inside it is remembered here (a weak set, nothing is
  attached to the module);
* whatever is computed from a model copies the flag into its own ``random_weights`` field
  (attention maps, features, SAM masks, concept results, video masks, benchmark rows);
* drawing code asks :func:`is_random` about the things it draws and calls :func:`stamp` on the figure.

The heavy tiny *configurations* (small timm / transformers / SAM configs, offline tokenizers) live in
the submodules of this package and import torch lazily; this module imports nothing heavy.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Mapping
from typing import Any

__all__ = ["TINY_ENV", "NOTE", "SHORT_NOTE", "enabled", "mark", "is_random", "stamp"]

#: The environment switch.
TINY_ENV = "COURSE_UTILS_TINY"
#: The note every figure made from random weights carries (the only spelling of it in the package).
NOTE = "RANDOM WEIGHTS (tiny mode): outputs are not those of a trained model"
#: The same, for small pictures and status lines.
SHORT_NOTE = "RANDOM WEIGHTS (tiny mode)"

_OFF = ("", "0", "false", "no", "off")
_random_modules: weakref.WeakSet[Any] = weakref.WeakSet()


def enabled(tiny: bool | None = None) -> bool:
    """The switch: ``tiny`` if given, else whether ``COURSE_UTILS_TINY`` is set to a true value."""
    if tiny is not None:
        return bool(tiny)
    return os.environ.get(TINY_ENV, "").strip().lower() not in _OFF


def mark(module: Any, random: bool = True) -> Any:
    """Remember that ``module`` (an ``nn.Module`` or any weak-referenceable object) has random weights.

    Loaders call this; nothing is attached to the object. Returns ``module``.
    """
    if random:
        _random_modules.add(module)
    else:
        _random_modules.discard(module)
    return module


def is_random(*things: Any) -> bool:
    """True if any of ``things`` is, or was computed from, a model with random weights.

    Understands, in this order: ``None`` (False); a ``bool`` (itself); a mapping with a
    ``"random_weights"`` key (a benchmark row); an object with a ``random_weights`` attribute (a
    loaded model, attention maps, features, masks...); a module a loader marked with :func:`mark`;
    a list or tuple of any of these (any). Anything else (a plain photo, an array) is not random.
    """
    for thing in things:
        if thing is None:
            continue
        if isinstance(thing, bool):
            if thing:
                return True
            continue
        if isinstance(thing, Mapping):
            if thing.get("random_weights"):
                return True
            continue
        flag = getattr(thing, "random_weights", None)
        if flag is not None:
            if bool(flag):
                return True
            continue
        try:
            if thing in _random_modules:
                return True
        except TypeError:  # not weak-referenceable (arrays, strings...)
            pass
        if isinstance(thing, (list, tuple)) and any(is_random(t) for t in thing):
            return True
    return False


def stamp(fig: Any, *things: Any) -> Any:
    """Put :data:`NOTE` on a matplotlib or plotly figure when any of ``things`` is random; returns ``fig``.

    Duck-typed (no plotting library is imported): plotly figures have ``add_annotation``; matplotlib
    figures have ``text``. A figure that already carries the note is left as it is.
    """
    if not is_random(*things):
        return fig
    if hasattr(fig, "add_annotation"):  # plotly
        if not any(a.text == NOTE for a in fig.layout.annotations):
            fig.add_annotation(text=NOTE, xref="paper", yref="paper", x=0.5, y=1.08,
                               showarrow=False, font={"color": "red", "size": 13})
    elif not any(t.get_text() == NOTE for t in fig.texts):  # matplotlib
        fig.text(0.5, 0.995, NOTE, ha="center", va="top", color="red", fontsize=10, fontweight="bold")
    return fig
