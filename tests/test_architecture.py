"""The package's shape (docs/architecture.md): layered imports, no cycles, modules a maintainer reads in one sitting.

The import-linter contracts live in ``.importlinter`` at the repository root; this test runs them, so the
README's test command enforces them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "course_utils"
MAX_LINES = 400
#: A module longer than MAX_LINES says why in its docstring, with this phrase.
LONG_REASON = "Why this module is long:"


def test_import_contracts_hold(tmp_path):
    pytest.importorskip("importlinter")
    from importlinter.cli import lint_imports

    assert lint_imports(config_filename=str(ROOT / ".importlinter"), cache_dir=str(tmp_path), no_logo=True) == 0, \
        "an import breaks a layer of docs/architecture.md (the report above names it)"


def _cycles(package: str = "course_utils") -> list[list[str]]:
    """Every set of modules of ``package`` that import each other in a circle (strongly connected components)."""
    import grimp

    graph = grimp.build_graph(package, cache_dir=None)
    edges = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(edges):
        if module not in index:
            visit(module)
    return found


def test_no_import_cycle():
    pytest.importorskip("grimp")
    assert _cycles() == []


def test_the_cycle_finder_finds_a_cycle(tmp_path, monkeypatch):
    pytest.importorskip("grimp")
    pkg = tmp_path / "cyc"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from . import b\n")
    (pkg / "b.py").write_text("from . import c\n")
    (pkg / "c.py").write_text("from . import a\n")
    (pkg / "d.py").write_text("from . import a\n")  # imports into the circle, is not part of it
    monkeypatch.syspath_prepend(str(tmp_path))
    assert _cycles("cyc") == [["cyc.a", "cyc.b", "cyc.c"]]


def _long_modules() -> list[str]:
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        n = len(path.read_text("utf-8").splitlines())
        if n <= MAX_LINES:
            continue
        doc = ast.get_docstring(ast.parse(path.read_text("utf-8"))) or ""
        if LONG_REASON not in doc:
            long.append(f"{path.relative_to(ROOT)} ({n} lines)")
    return long


def test_modules_stay_short_or_say_why():
    assert _long_modules() == [], f"over {MAX_LINES} lines without '{LONG_REASON}' in the module docstring"
