"""The notebook's test cells as a pytest module, run against ``solutions.py``: the suite for mutmut.

``run_mutation.sh`` copies this file, ``solutions.py`` and the harness into a scratch folder and lets
mutmut mutate ``solutions.py``; each test here executes one notebook test cell in the (mutated)
module's namespace. Run it directly with
``pytest assignments/reference/test_hidden.py -p no:cacheprovider``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.append(str(Path(__file__).resolve().parent))  # after mutmut's mutants/ folder

import solutions  # noqa: E402  (the module under test; mutmut puts its mutated copy first on sys.path)
from hidden import cell_ids, run_test_cell  # noqa: E402


@pytest.mark.parametrize("grade_id", cell_ids())
def test_cell(grade_id: str) -> None:
    run_test_cell(vars(solutions), grade_id)
