"""Project wiring: environment.yml matches pyproject, CI runs the README's command, one repository URL."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from packaging.requirements import Requirement

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _names(lines: list[str]) -> set[str]:
    return {Requirement(x).name.lower().replace("_", "-") for x in lines}


def test_environment_yml_lists_every_runtime_and_lab_dependency():
    import yaml

    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    listed: set[str] = set()
    for dep in env["dependencies"]:
        items = dep["pip"] if isinstance(dep, dict) else [dep]
        for item in items:
            if item.startswith("-e"):
                continue
            # conda uses '=' pins; normalise to a PEP 508 name
            listed.add(re.split(r"[<>=! ]", item, maxsplit=1)[0].lower().replace("_", "-"))
    wanted = _names(PYPROJECT["project"]["dependencies"]) | _names(PYPROJECT["project"]["optional-dependencies"]["lab"])
    missing = wanted - listed
    assert not missing, f"environment.yml lacks {sorted(missing)}"
    pip_items = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e .[lab]" in pip_items


def test_course_named_dependencies_are_installed_as_declared():
    """The packages the course names are declared, and the installed versions satisfy the declaration."""
    from importlib.metadata import PackageNotFoundError, version

    declared = {Requirement(x).name.lower().replace("_", "-"): Requirement(x)
                for x in PYPROJECT["project"]["dependencies"] + PYPROJECT["project"]["optional-dependencies"]["lab"]}
    for name in ["jupyterlab", "nbgrader", "ipywidgets", "torch", "timm", "transformers", "segment-anything",
                 "plotly", "scikit-learn"]:
        assert name in declared, f"{name} is named by the course but not declared in pyproject.toml"
        try:
            installed = version(name)
        except PackageNotFoundError:
            raise AssertionError(f"{name} is declared but not installed: make install") from None
        assert declared[name].specifier.contains(installed, prereleases=True), (name, installed)


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme
    assert re.search(r"^make test$", ci, re.M)


def test_repository_url_is_set_in_one_place():
    url = PYPROJECT["project"]["urls"]["Repository"]
    pattern = re.compile(r"git\+(https://[^\s\"']+)")
    files = [ROOT / "README.md", *sorted((ROOT / "labs").glob("*.ipynb"))]
    seen = {}
    for f in files:
        for found in pattern.findall(f.read_text(encoding="utf-8")):
            seen.setdefault(found.rstrip("\\").rstrip('"'), []).append(f.name)
    assert seen, "the Colab install line is missing"
    assert set(seen) == {url}, f"every Colab install line must use {url}: {seen}"


def test_package_ships_typing_marker_and_console_script():
    """The installed distribution carries py.typed and a `course-utils` command that runs."""
    import shutil
    import subprocess
    from importlib.metadata import distribution

    import course_utils
    from course_utils import cli

    assert (Path(course_utils.__file__).parent / "py.typed").exists()
    scripts = {ep.name: ep for ep in distribution("course_utils").entry_points if ep.group == "console_scripts"}
    assert scripts["course-utils"].load() is cli.main
    exe = shutil.which("course-utils", path=str(Path(sys.executable).parent))
    assert exe, "the course-utils command is not installed next to this Python"
    out = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and "doctor" in out.stdout and "fetch-weights" in out.stdout, out.stderr[-2000:]
