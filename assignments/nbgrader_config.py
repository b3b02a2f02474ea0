"""nbgrader configuration for the Week 4 course root (run nbgrader from this directory).

Autograding runs on CPU, offline and in tiny mode (small random models of the same architecture),
so no weights are ever downloaded while grading and one submission grades in well under a minute.
"""

import os
import sys

c = get_config()  # noqa: F821 (provided by nbgrader)

c.CourseDirectory.course_id = "week4-vit"
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))

# Every released notebook starts with the course header (instructions in Korean).
c.IncludeHeaderFooter.header = "source/header.ipynb"

# Stubs written into the released notebook in place of the solutions.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE (여기에 답을 쓰세요)"

# Per-cell time limit for validate/autograde. The graded cells take well under a second each in tiny
# mode on a 2-core CPU; a student's infinite loop is interrupted after this many seconds and only
# that cell's points are lost (nbgrader interrupts the kernel on timeout and grades the rest).
c.Execute.timeout = 60
c.Execute.interrupt_on_timeout = True

# Grading environment: tiny models, no network, CPU only. The kernels inherit these variables.
# Only for nbgrader's command-line runs, so that a JupyterLab server started in this directory
# (formgrader) does not put the instructor's own kernels in tiny mode; the notebook's setup cell
# sets the same variables itself whenever NBGRADER_EXECUTION is set (validate, autograde, formgrader).
_GRADING = {"validate", "autograde", "generate_assignment", "generate_feedback", "generate_solution"}
for _name, _value in {
    "COURSE_UTILS_TINY": "1",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "CUDA_VISIBLE_DEVICES": "",
    "MPLBACKEND": "Agg",
}.items():
    if _GRADING.intersection(sys.argv[1:3]):
        os.environ.setdefault(_name, _value)

# Where JupyterHub's exchange lives when you release/collect through it (default /srv/nbgrader/exchange):
# c.Exchange.root = "/srv/nbgrader/exchange"

# Do not set Execute.kernel_manager_class here: `course-utils grade` runs each kernel through its own
# sandboxed kernel manager, and a kernel manager class set in this file replaces it (the kernels then run
# unsandboxed; tests/test_grading.py caught that). The sandboxed manager already uses the kernel client of
# course_utils/nbexec.py, which cannot wait out a whole cell timeout on a widget cell.
