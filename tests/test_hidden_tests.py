"""Assignment 4's hidden tests, in process (no nbgrader): the reference module is generated from the
notebook, every alternative correct solution passes every test cell, and every subtle wrong solution
(tests/assignment_variants.py, each breaking one sentence of the specification) fails its own cell.

The nbgrader round trip (tests/test_assignment.py) autogrades the same variants as student
submissions; here each one is checked on its own and quickly, with the failing assertion in the
message. Mutation testing of the same cells: assignments/reference/run_mutation.sh.
"""

from __future__ import annotations

import pytest
from assignment_variants import ALTERNATIVES, REFERENCE, TEST_OF, WRONG
from extract import TARGET, render
from hidden import cell_ids, run_test_cell, solution_namespace


def test_reference_module_is_generated_from_the_notebook():
    """assignments/reference/solutions.py is exactly the notebook's solution cells (regenerate with extract.py)."""
    assert TARGET.read_text(encoding="utf-8") == render(), "run: python assignments/reference/extract.py"
    assert set(TEST_OF.values()) == set(cell_ids()), "one solution cell per test cell"
    assert set(ALTERNATIVES) == set(REFERENCE), "an alternative correct solution for every graded function"
    assert {w.cell for w in WRONG} == set(REFERENCE), "subtle wrong solutions for every graded function"


@pytest.fixture(scope="module")
def alternative():
    return solution_namespace(ALTERNATIVES)


@pytest.mark.slow
@pytest.mark.parametrize("grade_id", cell_ids())
def test_alternative_correct_solutions_pass(alternative, grade_id):
    run_test_cell(alternative, grade_id)


@pytest.mark.slow
@pytest.mark.parametrize("wrong", WRONG, ids=[w.name for w in WRONG])
def test_subtle_wrong_solution_fails_its_cell(wrong):
    namespace = solution_namespace({wrong.cell: wrong.source})
    try:
        run_test_cell(namespace, TEST_OF[wrong.cell])
    except Exception as exc:  # noqa: BLE001  (a failing assert, or the student's code raising, loses the points)
        print(f"{wrong.name}: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}")
        return
    pytest.fail(f"{wrong.name}: passes {TEST_OF[wrong.cell]}")
