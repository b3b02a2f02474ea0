"""Execute a notebook top to bottom in tiny mode (used by the notebook and assignment tests).

Each notebook runs in its own process (`python -m course_utils.nbexec`), with one kernel: the test
process's state (event loops and threads left by earlier tests) never reaches the kernel client.
`course_utils.nbexec` is nbclient with a kernel client that polls its sockets in short slices; the stock
client can sit out a whole cell timeout on a widget cell (see that module's docstring for the cause).

Timeouts here only catch hangs: the per-cell limit is many times a cell's normal time, and nothing
asserts on how long a notebook took.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
#: Seconds one cell may take before the run counts as hung (the slowest lab cell takes ~10 s here).
CELL_TIMEOUT = 600


class NotebookFailed(RuntimeError):
    """A cell raised (the message holds the cell's traceback) or the run hung."""


def figure_texts(nb: nbformat.NotebookNode) -> list[list[str]]:
    """The text of every matplotlib figure the run rendered (titles, labels, notes), in order."""
    return nb.metadata.get("figure_texts", [])


def run_notebook(path: Path, timeout: int = CELL_TIMEOUT, env: dict[str, str] | None = None,
                 cwd: Path | None = None) -> nbformat.NotebookNode:
    """Run every cell of ``path`` with COURSE_UTILS_TINY=1 (unless ``env`` says otherwise).

    Args:
        path: The notebook.
        timeout: Seconds allowed per cell (a hang catcher, not a speed check).
        env: Extra environment variables for the kernel.
        cwd: Working directory of the kernel (default: the notebook's folder).

    Returns:
        The executed notebook; ``figure_texts(nb)`` lists the text of each matplotlib figure it drew.

    Raises:
        NotebookFailed: a cell raised, or a cell hung for ``timeout`` seconds.
    """
    full_env = {**os.environ, "COURSE_UTILS_TINY": "1",
                "MPLBACKEND": "module://matplotlib_inline.backend_inline", **(env or {})}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "executed.ipynb"
        startup = Path(tmp) / "ipython" / "profile_default" / "startup"
        startup.mkdir(parents=True)
        shutil.copy(Path(__file__).with_name("nbstartup") / "audit_figures.py", startup / "00-audit_figures.py")
        audit = Path(tmp) / "figures.jsonl"
        full_env.update(IPYTHONDIR=str(startup.parents[1]), NB_FIGURE_AUDIT=str(audit))
        cmd = [sys.executable, "-m", "course_utils.nbexec", str(path), str(out), "--timeout", str(timeout)]
        proc = subprocess.run(cmd, cwd=cwd or path.parent, env=full_env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise NotebookFailed(f"{path.name} failed:\n{proc.stderr[-20000:]}")
        nb = nbformat.read(out, as_version=4)
        lines = audit.read_text(encoding="utf-8").splitlines() if audit.exists() else []
        nb.metadata["figure_texts"] = [json.loads(line)["texts"] for line in lines]
        return nb


def outputs_text(nb: nbformat.NotebookNode) -> str:
    """All text a notebook printed (stdout, stderr, text/plain results)."""
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if "text" in out:
                parts.append(out["text"])
            elif "data" in out and "text/plain" in out["data"]:
                parts.append(out["data"]["text/plain"])
    return "\n".join(parts)


def count_images(nb: nbformat.NotebookNode) -> int:
    """Number of image outputs (PNG/SVG), plotly figures and widget views in an executed notebook."""
    n = 0
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            n += int(any(k in data for k in ("image/png", "image/svg+xml", "application/vnd.plotly.v1+json",
                                             "application/vnd.jupyter.widget-view+json")))
    return n
