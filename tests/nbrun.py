"""Execute a notebook top to bottom in tiny mode (used by the notebook tests)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


def run_notebook(path: Path, timeout: int = 600, env: dict[str, str] | None = None,
                 cwd: Path | None = None) -> tuple[nbformat.NotebookNode, float]:
    """Run every cell of ``path`` with COURSE_UTILS_TINY=1; returns the executed notebook and seconds."""
    nb = nbformat.read(path, as_version=4)
    old = dict(os.environ)
    os.environ.update({"COURSE_UTILS_TINY": "1", "MPLBACKEND": "module://matplotlib_inline.backend_inline",
                       **(env or {})})
    try:
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(cwd or path.parent)}})
        start = time.perf_counter()
        client.execute()
        return nb, time.perf_counter() - start
    finally:
        os.environ.clear()
        os.environ.update(old)


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
