"""Gated Hugging Face repositories: recognise a refused download and say exactly what to do.

Meta publishes SAM 3 (``facebook/sam3``) and DINOv3 under its own licences on *gated* Hub
repositories: the weights download only after you accept the licence on the model page and
send a token of the account that accepted it. ``huggingface_hub`` then raises
``GatedRepoError`` (the Hub answers 401/403 with the header ``X-Error-Code: GatedRepo``), a
``RepositoryNotFoundError`` (401 without a token) or a bare ``HfHubHTTPError`` (403). This
module turns any of them into one message with the three steps, instead of a stack trace.
"""

from __future__ import annotations

import os

from .tiny import TINY_ENV

__all__ = ["is_access_refused", "gated_message", "model_page", "token_source"]

HUB_URL = "https://huggingface.co"


def model_page(repo: str) -> str:
    """The model page where the licence is accepted, e.g. ``https://huggingface.co/facebook/sam3``."""
    return f"{HUB_URL}/{repo}"


def _status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    code = getattr(response, "status_code", None)
    return int(code) if code is not None else None


def is_access_refused(exc: BaseException) -> bool:
    """True if ``exc`` (from ``snapshot_download`` / ``hf_hub_download``) means "not allowed to download".

    That is a ``GatedRepoError``, or any Hub HTTP error with status 401 or 403 (gated or private repo,
    missing or invalid token). Connection errors and 404s are not refusals.
    """
    return _refusal(exc) is not None


def _refusal(exc: BaseException | None) -> BaseException | None:
    """The refused-access error in ``exc`` or its causes (snapshot_download wraps a plain 403)."""
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError

    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, GatedRepoError) or (isinstance(exc, HfHubHTTPError) and _status(exc) in (401, 403)):
            return exc
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None


def token_source() -> str | None:
    """Where a Hugging Face token was found (``"HF_TOKEN"``, ``"login"``...), or None. Never the token."""
    if os.environ.get("HF_TOKEN"):
        return "HF_TOKEN"
    try:
        from huggingface_hub import get_token

        return "saved login (huggingface-cli login / hf auth login) or Colab secret" if get_token() else None
    except Exception:  # noqa: BLE001 - an unreadable token file just means "no token"
        return None


def gated_message(name: str, repo: str, licence: str, exc: BaseException | None = None) -> str:
    """The error text for a refused download of ``repo`` (registry name ``name``, under ``licence``)."""
    from huggingface_hub.errors import GatedRepoError

    exc = _refusal(exc) or exc
    status = _status(exc) if exc is not None else None
    what = "gated repo" if isinstance(exc, GatedRepoError) else "access refused"
    reason = f"HTTP {status}, {what}" if status else what
    source = token_source()
    token_note = (f"A token was found ({source}), but its account has no access yet: accept the licence with "
                  "that account, or wait for Meta's approval e-mail (requests are reviewed by hand)."
                  if source else "No Hugging Face token was found on this machine.")
    return (
        f"The Hugging Face Hub refused to download {name!r} ({repo}; {reason}). This model is published under "
        f"the {licence} on a gated repository: the weights download only for an account that accepted it.\n"
        f"{token_note}\n"
        "Fix it in three steps:\n"
        f"  1. open {model_page(repo)} , sign in, read the {licence} and accept it (fill in the form; for "
        "Meta's repos wait until the page says you have been granted access);\n"
        "  2. give this machine a read token of that account (https://huggingface.co/settings/tokens), one of:\n"
        "       export HF_TOKEN=hf_...                     (shell, before starting Jupyter)\n"
        "       huggingface-cli login   or   hf auth login  (saved once per machine)\n"
        "       Colab: the key icon (Secrets) -> add HF_TOKEN, switch on 'Notebook access', restart the runtime;\n"
        f"  3. run `course-utils fetch-weights {name}` again (or re-run the cell).\n"
        f"Meanwhile tiny mode ({TINY_ENV}=1, or tiny=True) runs the same code on random weights."
    )
