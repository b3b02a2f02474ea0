"""Whole-class autograding: serial ``nbgrader autograde`` vs ``course-utils grade --jobs 2``, one run.

40 synthetic submissions of Assignment 4 (tiny mode, CPU), in a repeating pattern of ten: 5 correct,
2 partially wrong (one function left as the release stub), 2 crashing (one raises in a solution
cell, one kills its kernel) and 1 looping (an infinite loop in a solution cell, stopped by the cell
timeout). Both runs grade the
same submissions in two fresh copies of one generated course:

1. serial: ``nbgrader autograde assignment4 --create --force``, ``generate_feedback``, ``export``
   (one process each, one kernel at a time);
2. parallel: ``course-utils grade assignment4 --jobs 2`` (sandboxed kernels, autograde + feedback +
   merge per submission, export at the end).

Printed: wall time, time per submission, the ratio serial / parallel, the load average before and
after, and whether both gradebooks agree (the submissions whose kernel dies fail as a whole under
serial nbgrader and are graded on the rest by ``course-utils grade``: they are left out of the
comparison).

Run:  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_grading.py [--n 40] [--cell-timeout 10]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))
os.environ.setdefault("COURSE_UTILS_TINY", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--cell-timeout", type=int, default=10)
    args = parser.parse_args()
    import nbformat
    import test_grading as tg

    tmp = Path(tempfile.mkdtemp(prefix="bench-grading-"))
    base = tmp / "course"
    base.mkdir()
    shutil.copy(tg.COURSE / "nbgrader_config.py", base)
    shutil.copytree(tg.COURSE / "source", base / "source")
    out = subprocess.run([str(tg.BIN / "nbgrader"), "generate_assignment", tg.A, "--force"], cwd=base, env=tg.env(),
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    perfect, rel = tg.solved(base), tg.release_nb(base)
    tests = tg.graded_tests(perfect)
    solutions = [tg.solution_before(perfect, t) for t in tests]
    kinds: dict[str, nbformat.NotebookNode] = {}
    pattern = ["correct", "wrong", "correct", "loops", "correct", "wrong", "correct", "raises", "correct", "dies"]
    plan = (pattern * (args.n // len(pattern) + 1))[: args.n]  # any n gets the same mix
    for k, kind in enumerate(plan):
        nb = tg.solved(base)
        target = solutions[k % len(solutions)]
        if kind == "wrong":
            nb.cells[target].source = rel.cells[target].source
        elif kind == "raises":
            nb.cells[target].source = 'raise RuntimeError("student bug")\n' + nb.cells[target].source
        elif kind == "dies":
            nb.cells[target].source = "import os\nos._exit(1)\n" + nb.cells[target].source
        elif kind == "loops":
            nb.cells[target].source = "while True:\n    pass\n" + nb.cells[target].source
        kinds[f"s{k:03d}_{kind}"] = nb
    serial, parallel = tg.clone(base, tmp / "serial"), tg.clone(base, tmp / "parallel")
    for course in (serial, parallel):
        for student, nb in kinds.items():
            tg.submit(course, student, {f"{tg.A}.ipynb": nb})
    load_before = os.getloadavg()
    start = time.perf_counter()
    for step in (["autograde", tg.A, "--create", "--force", f"--Execute.timeout={args.cell_timeout}"],
                 ["generate_feedback", tg.A], ["export", "--to", "grades.csv"]):  # the same outputs as ours
        subprocess.run([str(tg.BIN / "nbgrader"), *step], cwd=serial, env=tg.env(), capture_output=True)
    t_serial = time.perf_counter() - start
    load_mid = os.getloadavg()
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "course_utils.cli", "grade", tg.A, "--course", str(parallel),
                           "--jobs", "2", "--cell-timeout", str(args.cell_timeout)], env=tg.env(),
                          capture_output=True, text=True)
    t_parallel = time.perf_counter() - start
    load_after = os.getloadavg()
    summary = proc.stdout[proc.stdout.find("== "):]
    same = [s for s in kinds if "dies" not in s
            and tg.gradebook_rows(serial, s) == tg.gradebook_rows(parallel, s)]
    compared = [s for s in kinds if "dies" not in s]
    print(summary.splitlines()[2] if summary.count("\n") > 2 else proc.stdout[-2000:])
    print(f"submissions: {len(kinds)} ({', '.join(f'{plan.count(k)} {k}' for k in dict.fromkeys(plan))}); "
          f"cell timeout {args.cell_timeout} s; {os.cpu_count()} CPUs")
    print(f"serial nbgrader (+feedback+export): {t_serial:5.1f} s  ({t_serial / len(kinds):5.1f} s per submission)")
    print(f"course-utils grade --jobs 2:      {t_parallel:7.1f} s  ({t_parallel / len(kinds):5.1f} s per submission, "
          "incl. feedback and export)")
    print(f"ratio serial / parallel:          {t_serial / t_parallel:7.2f}x")
    print(f"identical gradebook rows:         {len(same)}/{len(compared)} (kernel-death submissions excluded)"
          + (f"; differ: {', '.join(s for s in compared if s not in same)}" if len(same) < len(compared) else ""))
    for student in [s for s in compared if s not in same][:3]:
        a, b = tg.gradebook_rows(serial, student), tg.gradebook_rows(parallel, student)
        print(f"  {student}: " + "; ".join(f"{k}: serial {a[k]} vs parallel {b.get(k)}" for k in a if a[k] != b.get(k)))
    print("load average (1, 5, 15 min): before " + " ".join(f"{x:.1f}" for x in load_before)
          + ", between " + " ".join(f"{x:.1f}" for x in load_mid)
          + ", after " + " ".join(f"{x:.1f}" for x in load_after))
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
