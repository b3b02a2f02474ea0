"""Run the Assignment 4 test cells (visible and hidden) outside nbgrader, on any namespace.

The test cells are read from the source notebook (the single source of truth) and executed with
``exec`` in a namespace that holds the functions under test: the reference module's ``__dict__`` for
mutation testing, or a fresh namespace with a variant solution for the fairness tests. The setup
cells (imports and the ``swap_globals`` / ``forbid`` helpers) run first in the same namespace, so
``swap_globals`` swaps the names that the functions under test look up.
"""

from __future__ import annotations

import itertools
import linecache
from pathlib import Path

from extract import NOTEBOOK, graded_solution_cells, test_cells

SETUP = ("setup_imports", "setup_test_helpers")
_COUNTER = itertools.count()


def _run(source: str, name: str, namespace: dict) -> None:
    """exec with the source registered in linecache, as IPython does, so that inspect.getsource works."""
    filename = f"<assignment4 {name} {next(_COUNTER)}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    exec(compile(source, filename, "exec"), namespace)  # noqa: S102


def cell_ids(notebook: Path = NOTEBOOK) -> list[str]:
    """Grade ids of the autograded test cells, in notebook order."""
    return [grade_id for grade_id in test_cells(notebook) if grade_id.startswith("test_")]


def prepare(namespace: dict, notebook: Path = NOTEBOOK) -> dict:
    """Run the setup cells in ``namespace`` once (imports, test helpers)."""
    if not namespace.get("__assignment_setup_done__"):
        cells = test_cells(notebook)
        for grade_id in SETUP:
            _run(cells[grade_id], grade_id, namespace)
        namespace["__assignment_setup_done__"] = True
    return namespace


def run_test_cell(namespace: dict, grade_id: str, notebook: Path = NOTEBOOK) -> None:
    """Execute one test cell in ``namespace``; raises what the cell raises (AssertionError on a failure)."""
    prepare(namespace, notebook)
    _run(test_cells(notebook)[grade_id], grade_id, namespace)


def solution_namespace(replacements: dict[str, str] | None = None, notebook: Path = NOTEBOOK) -> dict:
    """A fresh namespace with every reference solution cell, where ``replacements`` (solution grade id ->
    source) stands in for some of them: what a student's notebook holds after Run All."""
    namespace: dict = {"__name__": "__assignment__"}
    prepare(namespace, notebook)
    for grade_id, source in graded_solution_cells(notebook).items():
        source = (replacements or {}).get(grade_id, source)
        _run(source, grade_id, namespace)
    return namespace
