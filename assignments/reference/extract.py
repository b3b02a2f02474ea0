"""Generate ``solutions.py`` from the solution cells of the Assignment 4 source notebook.

The source notebook is the single source of truth: its solution cells (markers removed) are written, in
notebook order, after the imports of its ``setup_imports`` cell. ``tests/test_hidden_tests.py`` fails
when the committed ``solutions.py`` is stale. This folder lives outside ``course_utils`` on purpose:
students receive ``course_utils``, never the solutions.

Usage (from the repository root)::

    python assignments/reference/extract.py          # rewrite assignments/reference/solutions.py
    python assignments/reference/extract.py --check  # exit 1 when it is stale
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# ASSIGNMENT4_NOTEBOOK: where run_mutation.sh points its scratch copy of the harness at the notebook.
NOTEBOOK = Path(os.environ.get("ASSIGNMENT4_NOTEBOOK", HERE.parent / "source" / "assignment4" / "assignment4.ipynb"))
TARGET = HERE / "solutions.py"
MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")
HEADER = '''"""Reference solutions of Assignment 4, generated from the source notebook's solution cells. Do not edit.

Regenerate with ``python assignments/reference/extract.py`` after changing the notebook. Instructor
material: never copy it into ``course_utils`` or into the released notebook.
"""
# ruff: noqa: F401, I001  (the notebook's own imports, kept as the notebook has them)

'''


def _cells(notebook: Path) -> list[dict]:
    return json.loads(notebook.read_text(encoding="utf-8"))["cells"]


def _source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def graded_solution_cells(notebook: Path = NOTEBOOK) -> dict[str, str]:
    """grade id -> source (markers removed) of every autograded solution cell, in notebook order."""
    out = {}
    for cell in _cells(notebook):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell["cell_type"] == "code" and meta.get("solution") and not meta.get("grade"):
            lines = [line for line in _source(cell).splitlines() if line.strip() not in MARKERS]
            out[meta["grade_id"]] = "\n".join(lines).rstrip() + "\n"
    return out


def test_cells(notebook: Path = NOTEBOOK) -> dict[str, str]:
    """grade id -> full source of the setup cells and of every autograded test cell (visible + hidden)."""
    out = {}
    for cell in _cells(notebook):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell["cell_type"] != "code" or meta.get("solution"):
            continue
        if meta.get("grade_id", "").startswith("setup_") or meta.get("grade"):
            out[meta["grade_id"]] = _source(cell)
    return out


def render(notebook: Path = NOTEBOOK) -> str:
    """The text of solutions.py: the notebook's imports, then its solution cells."""
    setup = test_cells(notebook)["setup_imports"]
    imports = [line for line in setup.splitlines() if line.startswith(("import ", "from "))]
    body = "\n\n".join(graded_solution_cells(notebook).values())
    return HEADER + "\n".join(imports) + "\n\n\n" + body.replace("\n\n\n", "\n\n\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if solutions.py is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not TARGET.exists() or TARGET.read_text(encoding="utf-8") != text:
            print(f"{TARGET} is stale: run python assignments/reference/extract.py")
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
