"""Serve the dashboard with Voila, locally (``course-utils dashboard``) or as a Hugging Face Space
(``course-utils space-export DIR``).

Both use the same notebook (:data:`DASHBOARD_CELLS`) and the same Voila command line
(:func:`voila_command`), so what the browser test exercises locally is what the Space runs.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from .tiny import TINY_ENV

__all__ = ["dashboard_notebook", "voila_command", "export_space", "repository_url", "register"]

DASHBOARD_CELLS = [
    ("markdown", "ViT attention, DINOv2, SAM and benchmark results for one photo. "
                 "사진을 고르거나 업로드한 뒤 탭을 여세요."),
    ("code", "from course_utils.widgets.dashboard import Dashboard\n\ndashboard = Dashboard()\ndashboard.show();"),
]

SPACE_PORT = 7860
DEFAULT_WEIGHTS = ("vit_base", "dinov2_vits14", "sam_vit_b")


def repository_url() -> str:
    """The kit's repository URL, from the installed package metadata (pyproject ``[project.urls]``)."""
    for entry in importlib.metadata.metadata("course_utils").get_all("Project-URL") or []:
        label, _, url = entry.partition(",")
        if label.strip().lower() == "repository":
            return url.strip()
    raise RuntimeError("course_utils has no Repository URL in its metadata; reinstall it (pip install -e .).")


def dashboard_notebook(path: str | os.PathLike) -> Path:
    """Write the dashboard notebook (two cells) to ``path``."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(src) if kind == "markdown" else nbformat.v4.new_code_cell(src)
                for kind, src in DASHBOARD_CELLS]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def voila_command(notebook: str | os.PathLike, port: int, ip: str = "127.0.0.1",
                  executable: str | list[str] = "voila") -> list[str]:
    """The Voila command line that serves ``notebook`` (shared by the CLI, the Space and the tests).

    Args:
        executable: The program, or a prefix such as ``[sys.executable, "-m", "voila"]``.
    """
    prefix = [executable] if isinstance(executable, str) else list(executable)
    return [*prefix, str(notebook), f"--port={port}", "--no-browser", f"--Voila.ip={ip}",
            "--show_tracebacks=True"]


def export_space(directory: str | os.PathLike, weights: tuple[str, ...] = DEFAULT_WEIGHTS, tiny: bool = False,
                 repo: str | None = None) -> Path:
    """Write a ready Hugging Face Space (Docker SDK) that serves the dashboard with Voila.

    Args:
        directory: Where to write the Space (created; existing files are overwritten).
        weights: Registry names to download at image build time (baked into the image).
        tiny: Serve tiny random models (no downloads at all; every figure says so).
        repo: Repository to install ``course_utils`` from (default: :func:`repository_url`).

    Returns:
        The directory, containing ``Dockerfile``, ``README.md`` (Space front matter),
        ``requirements.txt`` and ``dashboard.ipynb``.
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    repo = repo or repository_url()
    dashboard_notebook(out / "dashboard.ipynb")
    (out / "requirements.txt").write_text(f"course_utils[lab] @ git+{repo}\n")
    cmd = voila_command("dashboard.ipynb", SPACE_PORT, ip="0.0.0.0")
    fetch = "" if tiny or not weights else f"RUN course-utils fetch-weights {' '.join(weights)}\n"
    tiny_env = f"ENV {TINY_ENV}=1\n" if tiny else ""
    cmd_json = json.dumps(cmd)
    (out / "Dockerfile").write_text(
        "# Hugging Face Space (Docker SDK) serving the Week 4 dashboard with Voila.\n"
        "FROM python:3.11-slim\n"
        "RUN apt-get update && apt-get install -y --no-install-recommends git default-jre-headless \\\n"
        "    && rm -rf /var/lib/apt/lists/*\n"
        "RUN useradd -m -u 1000 user\n"
        "USER user\n"
        "ENV HOME=/home/user PATH=/home/user/.local/bin:$PATH COURSE_UTILS_CACHE=/home/user/.cache/course_utils\n"
        f"{tiny_env}"
        "WORKDIR /home/user/app\n"
        "COPY --chown=user requirements.txt .\n"
        "# CPU wheels of torch keep the image small (Spaces' free hardware has no GPU).\n"
        "RUN pip install --no-cache-dir --user --extra-index-url https://download.pytorch.org/whl/cpu \\\n"
        "    -r requirements.txt\n"
        f"{fetch}"
        "COPY --chown=user . .\n"
        f"EXPOSE {SPACE_PORT}\n"
        f"CMD {cmd_json}\n")
    (out / "README.md").write_text(
        "---\n"
        "title: Week 4 Vision Dashboard\n"
        "emoji: 🔭\n"
        "colorFrom: indigo\n"
        "colorTo: red\n"
        "sdk: docker\n"
        f"app_port: {SPACE_PORT}\n"
        "pinned: false\n"
        "---\n\n"
        "# Week 4 dashboard\n\n"
        "ViT attention, DINOv2 features, SAM and benchmark results for one photo, served with Voila.\n"
        f"Built from `{repo}` with `course-utils space-export`.\n"
        + ("\n**Tiny mode:** the models have random weights; the pictures show the mechanics only.\n"
           if tiny else ""))
    return out


def _dashboard(args: argparse.Namespace) -> int:
    env = dict(os.environ)
    if args.tiny:
        env[TINY_ENV] = "1"
    folder = Path(tempfile.mkdtemp(prefix="course_utils_dashboard_"))
    notebook = dashboard_notebook(folder / "dashboard.ipynb")
    if args.run:
        env["COURSE_UTILS_RUN"] = str(Path(args.run).resolve())
    cmd = voila_command(notebook, args.port, args.ip, executable=[sys.executable, "-m", "voila"])
    print(f"Serving the dashboard on http://{args.ip}:{args.port}/ (Ctrl+C to stop)")
    try:
        return subprocess.call(cmd, env=env, cwd=folder)
    except KeyboardInterrupt:
        return 0


def _space_export(args: argparse.Namespace) -> int:
    out = export_space(args.directory, tuple(args.weights), tiny=args.tiny)
    print(f"Wrote a Hugging Face Space to {out}. Push it with:\n"
          f"  huggingface-cli repo create <name> --type space --space_sdk docker\n"
          f"  cd {out} && git init && git remote add origin https://huggingface.co/spaces/<user>/<name>\n"
          f"  git add . && git commit -m 'Week 4 dashboard' && git push origin main")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``dashboard`` and ``space-export`` to the ``course-utils`` command line."""
    p = sub.add_parser("dashboard", help="serve the integrated dashboard with Voila")
    p.add_argument("--port", type=int, default=8866)
    p.add_argument("--ip", default="127.0.0.1")
    p.add_argument("--tiny", action="store_true", help="tiny random models (offline)")
    p.add_argument("--run", help="a saved benchmark run directory for the Benchmark tab")
    p.set_defaults(func=_dashboard)
    p = sub.add_parser("space-export", help="write a Hugging Face Space (Docker) serving the dashboard")
    p.add_argument("directory")
    p.add_argument("--weights", nargs="*", default=list(DEFAULT_WEIGHTS),
                   help="models to download when the Space image is built")
    p.add_argument("--tiny", action="store_true", help="serve tiny random models (no downloads)")
    p.set_defaults(func=_space_export)
