"""Execute a notebook top to bottom in tiny mode (used by the notebook tests).

Each notebook runs in its own `jupyter nbconvert --execute` process: the test process's state
(event loops and threads left by earlier tests) never reaches the kernel client, and a wall-clock
limit stops a run that hangs instead of blocking the suite.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]


class NotebookFailed(RuntimeError):
    """A cell raised (the message holds nbconvert's report, with the cell's traceback) or the run hung."""


def run_notebook(path: Path, timeout: int = 600, env: dict[str, str] | None = None,
                 cwd: Path | None = None) -> tuple[nbformat.NotebookNode, float]:
    """Run every cell of ``path`` with COURSE_UTILS_TINY=1 (unless ``env`` says otherwise).

    Args:
        path: The notebook.
        timeout: Seconds allowed per cell; the whole run gets four times that.
        env: Extra environment variables for the kernel.
        cwd: Working directory of the kernel (default: the notebook's folder).

    Returns:
        The executed notebook and the seconds the run took.

    Raises:
        NotebookFailed: a cell raised, or the run did not finish in time.
    """
    full_env = {**os.environ, "COURSE_UTILS_TINY": "1",
                "MPLBACKEND": "module://matplotlib_inline.backend_inline", **(env or {})}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "executed.ipynb"
        cmd = [sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute", str(path),
               "--output", str(out), f"--ExecutePreprocessor.timeout={timeout}",
               "--ExecutePreprocessor.kernel_name=python3"]
        start = time.perf_counter()
        try:
            proc = subprocess.run(cmd, cwd=cwd or path.parent, env=full_env, capture_output=True, text=True,
                                  timeout=4 * timeout)
        except subprocess.TimeoutExpired as exc:
            raise NotebookFailed(f"{path.name} did not finish within {4 * timeout} s") from exc
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            raise NotebookFailed(f"{path.name} failed:\n{proc.stderr[-20000:]}")
        return nbformat.read(out, as_version=4), seconds


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
