"""Colab: the install cell installs only what Colab needs; doctor lists keys stored in Colab secrets."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import nbformat
import pytest
import tomllib

from course_utils import cli
from course_utils.colab import colab_secret_status, in_colab

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
JUPYTER_STACK = {"jupyterlab", "nbgrader", "voila", "notebook", "ipykernel", "ipython", "jupyter-server"}


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[; ]", req, maxsplit=1)[0].lower()


def test_colab_extra_is_the_api_sdks_and_no_jupyter_stack():
    extras = PYPROJECT["project"]["optional-dependencies"]
    colab = {_name(r) for r in extras["colab"]}
    assert colab == {_name(r) for r in extras["api"]}
    assert not colab & JUPYTER_STACK
    core = {_name(r) for r in PYPROJECT["project"]["dependencies"]}
    assert not core & JUPYTER_STACK, "core dependencies would replace Colab's Jupyter stack"


def test_the_colab_install_keeps_colabs_own_ipywidgets():
    """Colab ships ipywidgets 7.7.1 (googlecolab/colabtools#3020, read 2026-12-01): no requirement of the
    core or the colab extra may force an upgrade of it, or of the Jupyter stack."""
    from packaging.requirements import Requirement

    extras = PYPROJECT["project"]["optional-dependencies"]
    for req in map(Requirement, PYPROJECT["project"]["dependencies"] + extras["colab"]):
        if req.name.lower() == "ipywidgets":
            assert req.specifier.contains("7.7.1"), req
    lab = {Requirement(r).name.lower(): Requirement(r) for r in extras["lab"]}
    assert not lab["ipywidgets"].specifier.contains("7.7.1")  # JupyterLab 4 needs ipywidgets 8


def test_every_colab_install_cell_uses_the_colab_extra():
    sources = [(ROOT / "README.md").read_text()]
    for path in sorted((ROOT / "labs").glob("*.ipynb")):
        sources += [c.source for c in nbformat.read(path, 4).cells if "google.colab" in c.source]
    installs = [line for src in sources for line in src.splitlines() if "pip install" in line and "git+" in line]
    assert len(installs) >= 6, installs  # README + five notebooks
    for line in installs:
        extras = re.search(r"course_utils\[([^\]]*)\]", line).group(1).split(",")
        assert extras == ["colab"], line


class SecretNotFoundError(Exception):
    pass


class NotebookAccessError(Exception):
    pass


@pytest.fixture()
def fake_colab(monkeypatch):
    """A stand-in for google.colab with a userdata module holding one secret and one refused one."""
    store = {"OPENAI_API_KEY": "sk-test-SECRET-VALUE"}

    def get(name):
        if name == "GEMINI_API_KEY":
            raise NotebookAccessError(name)
        if name not in store:
            raise SecretNotFoundError(name)
        return store[name]

    google = types.ModuleType("google")
    google.__path__ = []
    colab = types.ModuleType("google.colab")
    colab.__path__ = []
    userdata = types.ModuleType("google.colab.userdata")
    userdata.get = get
    colab.userdata = userdata
    google.colab = colab
    for name, mod in {"google": google, "google.colab": colab, "google.colab.userdata": userdata}.items():
        monkeypatch.setitem(sys.modules, name, mod)
    return store


def test_secret_status_names_only(fake_colab):
    assert in_colab()
    status = colab_secret_status(["OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"])
    assert status == {"OPENAI_API_KEY": "stored", "ANTHROPIC_API_KEY": "not stored",
                      "GEMINI_API_KEY": "stored? notebook access not granted"}


def test_doctor_reports_colab_secrets_without_values(fake_colab, capsys, monkeypatch):
    for k in cli.API_KEY_VARS:
        monkeypatch.delenv(k, raising=False)
    cli.main(["doctor"])
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.startswith("Colab secrets"))
    assert "OPENAI_API_KEY=stored" in line and "ANTHROPIC_API_KEY=not stored" in line
    assert "SECRET-VALUE" not in out and "sk-test" not in out


def test_no_colab_no_secret_line(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "google.colab.userdata", None)  # import fails
    assert colab_secret_status(["OPENAI_API_KEY"]) is None
