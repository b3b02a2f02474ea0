"""space-export writes a consistent Hugging Face Space; the dashboard notebook is the shared one."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import yaml

from course_utils import space

ROOT = Path(__file__).resolve().parents[1]


def _front_matter(readme: str) -> dict:
    match = re.match(r"^---\n(.*?)\n---\n", readme, re.S)
    assert match, "Space README must start with YAML front matter"
    return yaml.safe_load(match.group(1))


def test_space_export_from_the_command_line(tmp_path):
    out = subprocess.run([sys.executable, "-m", "course_utils.cli", "space-export", str(tmp_path / "space")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    folder = tmp_path / "space"
    meta = _front_matter((folder / "README.md").read_text())
    assert meta["sdk"] == "docker" and meta["app_port"] == space.SPACE_PORT
    dockerfile = (folder / "Dockerfile").read_text()
    cmd = json.loads(re.search(r"^CMD (.*)$", dockerfile, re.M).group(1))
    # The Space runs exactly the command the local dashboard and the browser test use.
    assert cmd == space.voila_command("dashboard.ipynb", meta["app_port"], ip="0.0.0.0")
    assert f"EXPOSE {meta['app_port']}" in dockerfile
    assert "RUN course-utils fetch-weights vit_base dinov2_vits14 sam_vit_b" in dockerfile
    # Installed from the repository named once in pyproject.toml.
    pyproject = (ROOT / "pyproject.toml").read_text()
    url = re.search(r'^Repository = "(.*)"', pyproject, re.M).group(1)
    assert (folder / "requirements.txt").read_text().strip() == f"course_utils[lab] @ git+{url}"
    nb = nbformat.read(folder / "dashboard.ipynb", as_version=4)
    assert [c.source for c in nb.cells] == [src for _, src in space.DASHBOARD_CELLS]


def test_tiny_space_needs_no_downloads(tmp_path):
    folder = space.export_space(tmp_path / "s", tiny=True)
    dockerfile = (folder / "Dockerfile").read_text()
    assert "ENV COURSE_UTILS_TINY=1" in dockerfile and "fetch-weights" not in dockerfile
    assert "random weights" in (folder / "README.md").read_text()


def test_lab_dashboard_notebook_uses_the_shared_cells():
    nb = nbformat.read(ROOT / "labs" / "dashboard.ipynb", as_version=4)
    sources = [c.source for c in nb.cells if c.cell_type == "code"]
    assert space.DASHBOARD_CELLS[1][1] in sources
