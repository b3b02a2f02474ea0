"""Tiny mode has one home: only ``course_utils/tiny`` reads the switch or spells the random-weights banner.

Every other module asks :func:`course_utils.tiny.enabled` / :func:`course_utils.tiny.is_random` and draws
:data:`course_utils.tiny.NOTE`. The check reads the package source with :mod:`ast`: string literals in code
(docstrings are documentation and may name the variable) and reads of the environment.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "course_utils"
TINY_HOME = PACKAGE / "tiny"
ENV_NAME = "COURSE_UTILS_TINY"
BANNER = "RANDOM WEIGHTS"

def _docstring_nodes(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def _is_environ(node: ast.AST) -> bool:
    """``os.environ`` or a bare ``environ``."""
    return (isinstance(node, ast.Attribute) and node.attr == "environ") or (
        isinstance(node, ast.Name) and node.id == "environ")


def _names_switch(node: ast.AST) -> bool:
    """The key is the switch: the literal name or a constant called TINY_ENV."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return ENV_NAME in node.value
    return (isinstance(node, ast.Name) and node.id == "TINY_ENV") or (
        isinstance(node, ast.Attribute) and node.attr == "TINY_ENV")


def offences(source: str) -> list[str]:
    """What in ``source`` reads the tiny switch from the environment or spells the banner / variable name."""
    tree = ast.parse(source)
    docstrings = _docstring_nodes(tree)
    found = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", "?")
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            if BANNER in node.value:
                found.append(f"line {line}: spells the banner ({node.value[:60]!r})")
            if ENV_NAME in node.value:
                found.append(f"line {line}: spells {ENV_NAME} ({node.value[:60]!r})")
        elif isinstance(node, ast.Call) and node.args and _names_switch(node.args[0]):
            func = node.func
            if (isinstance(func, ast.Attribute) and func.attr in ("get", "pop", "setdefault")
                    and _is_environ(func.value)) or (isinstance(func, ast.Attribute) and func.attr == "getenv") \
                    or (isinstance(func, ast.Name) and func.id == "getenv"):
                found.append(f"line {line}: reads the tiny switch from the environment")
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and _is_environ(node.value) \
                and _names_switch(node.slice):
            found.append(f"line {line}: reads the tiny switch from the environment")
    return found


def _modules() -> list[str]:
    return sorted(str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if TINY_HOME not in p.parents)


@pytest.mark.parametrize("rel", _modules())
def test_only_the_tiny_package_reads_the_switch_or_spells_the_banner(rel):
    problems = offences((PACKAGE / rel).read_text(encoding="utf-8"))
    assert not problems, f"course_utils/{rel}: use course_utils.tiny (enabled / NOTE / SHORT_NOTE): {problems}"


def test_the_tiny_package_is_where_they_live():
    text = "\n".join(p.read_text(encoding="utf-8") for p in TINY_HOME.glob("*.py"))
    assert offences(text), "course_utils/tiny should hold the switch and the banner"


@pytest.mark.parametrize("source, expected", [
    ('import os\nx = os.environ.get("COURSE_UTILS_TINY")\n', 2),  # literal name + the read
    ("import os\nfrom .tiny import TINY_ENV\nx = os.environ.get(TINY_ENV, '')\n", 1),
    ("import os\nfrom . import tiny\nx = os.environ[tiny.TINY_ENV]\n", 1),
    ("def f():\n    return 'RANDOM WEIGHTS (tiny mode)'\n", 1),
    ("def f():\n    '''Follows COURSE_UTILS_TINY; marked RANDOM WEIGHTS.'''\n    return tiny.NOTE\n", 0),
    ("env = {}\nfrom .tiny import TINY_ENV\nenv[TINY_ENV] = '1'\n", 0),  # setting it for a child process
])
def test_the_check_itself_on_hand_written_sources(source, expected):
    assert len(offences(source)) == expected
