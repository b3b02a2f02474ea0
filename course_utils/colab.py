"""Colab helpers: is this Colab, and which API keys are stored in its Secrets panel (names only).

Colab keeps secrets in ``google.colab.userdata``; reading one needs the notebook's permission and
works inside the notebook's kernel (a ``!course-utils doctor`` subprocess cannot ask for it). Values
are never returned, printed or kept: only whether a secret of that name is there.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

__all__ = ["in_colab", "colab_secret_status", "COLAB_INSTALL"]

COLAB_INSTALL = "course_utils[colab]"  # the library + the API SDKs; Colab keeps its own Jupyter stack

STORED, MISSING, NO_ACCESS = "stored", "not stored", "stored? notebook access not granted"


def in_colab() -> bool:
    """True when running inside a Colab runtime (``google.colab`` is importable)."""
    if "google.colab" in sys.modules:
        return True
    try:
        importlib.import_module("google.colab")
    except Exception:  # noqa: BLE001 - ImportError, or a broken google namespace package
        return False
    return True


def colab_secret_status(names: Sequence[str]) -> dict[str, str] | None:
    """For each key name, whether Colab's Secrets panel holds it (never the value).

    Returns:
        ``None`` outside Colab; else ``{name: status}`` with status ``"stored"``, ``"not stored"``,
        ``"stored? notebook access not granted"`` or ``"cannot read here (...)"`` (e.g. from a shell
        subprocess, where Colab cannot ask for permission).
    """
    try:
        userdata = importlib.import_module("google.colab.userdata")
    except Exception:  # noqa: BLE001
        return None
    status: dict[str, str] = {}
    for name in names:
        try:
            value = userdata.get(name)
        except Exception as exc:  # noqa: BLE001 - Colab raises its own error classes
            kind = exc.__class__.__name__
            if kind == "SecretNotFoundError":
                status[name] = MISSING
            elif kind == "NotebookAccessError":
                status[name] = NO_ACCESS
            else:
                status[name] = (f"cannot read here ({kind}); run `from course_utils.cli import main; "
                                "main(['doctor'])` in a notebook cell")
            continue
        status[name] = STORED if value else MISSING
        del value
    return status
