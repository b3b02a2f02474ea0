"""The class run: every collected submission through real nbgrader, N at a time, sandboxed.

Per submission (a worker thread and its long-lived grading process, :mod:`.worker`, which runs
nbgrader's applications in-process so that nbgrader starts once per worker, not twice per submission):

1. a private course root ``<course>/.grading/<assignment>/<student>/`` gets the course's
   ``nbgrader_config.py`` (plus the sandbox settings and its own root and database), a copy of the
   gradebook as it was when the run started, the non-notebook source files, and the student's
   normalised submission (:mod:`.submissions`);
2. the worker runs nbgrader's ``autograde <assignment> --student <id> --create --force`` and
   ``generate_feedback`` there, the kernel in the sandbox (:mod:`.sandbox`), under a wall-clock limit
   for the whole submission (past it, the worker and its kernel are killed and a new worker starts);
3. the main thread merges that gradebook into the course gradebook and copies ``autograded/`` and
   ``feedback/`` (:mod:`.merge`), so an interrupted run keeps everything finished so far.

At the end ``nbgrader export`` writes the grade table, and a summary (graded, failed to execute,
timed out, not gradable, each student's score, every repair) is printed and saved as JSON.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

from .merge import copy_student_folders, db_url, merge_gradebook
from .sandbox import KERNEL_DIED_MARKER, bwrap_status
from .submissions import prepare_submission
from .worker import GradingWorker
from .worker import child_env as _env

SANDBOX_MODES = ("auto", "require", "off")


@dataclass
class Limits:
    """Per-submission limits (``None`` cell timeout: the course config's ``Execute.timeout``)."""

    cell_timeout: int | None = None
    submission_timeout: float = 1800.0
    memory_bytes: int = 6 * 2**30
    nproc_allowance: int = 256
    cpu_seconds: int = 1800


@dataclass
class Outcome:
    """What happened to one submission."""

    student: str
    status: str  # graded | failed | timed out | not gradable
    score: float | None = None
    max_score: float | None = None
    auto_score: float | None = None
    auto_max: float | None = None
    needs_manual: int = 0
    seconds: float = 0.0
    timed_out_cells: int = 0
    kernel_deaths: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    log: str = ""


@dataclass
class Summary:
    assignment: str
    sandbox: str
    outcomes: list[Outcome]
    seconds: float
    jobs: int
    shard: str = "1/1"
    warnings: list[str] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    def text(self) -> str:
        lines = [f"== {self.assignment}: {len(self.outcomes)} submissions in {self.seconds:.1f} s with "
                 f"{self.jobs} workers (shard {self.shard}) ==", f"sandbox: {self.sandbox}"]
        lines += [f"WARNING: {w}" for w in self.warnings]
        lines.append(f"graded {self.count('graded')}, failed to execute {self.count('failed')}, timed out "
                     f"{self.count('timed out')}, not gradable {self.count('not gradable')}; cells stopped by the "
                     f"cell timeout: {sum(o.timed_out_cells for o in self.outcomes)}; kernels that died: "
                     f"{sum(len(o.kernel_deaths) for o in self.outcomes)}")
        for o in sorted(self.outcomes, key=lambda o: o.student):
            score = (f"auto {o.auto_score:g}/{o.auto_max:g}, total {o.score:g}/{o.max_score:g}"
                     + (f" ({o.needs_manual} cells to grade by hand)" if o.needs_manual else "")
                     if o.score is not None else "no score")
            extra = []
            if o.timed_out_cells:
                extra.append(f"{o.timed_out_cells} cell(s) timed out")
            if o.kernel_deaths:
                extra.append("kernel died in " + ", ".join(o.kernel_deaths))
            lines.append(f"  {o.student:<20} {o.status:<13} {score}  [{o.seconds:.1f} s]"
                         + (f"  {'; '.join(extra)}" if extra else ""))
            lines += [f"      - {n}" for n in o.notes] + [f"      ! {p}" for p in o.problems]
        return "\n".join(lines)


def nbgrader_exe() -> str:
    exe = Path(sys.executable).with_name("nbgrader")
    return str(exe) if exe.exists() else (shutil.which("nbgrader") or "nbgrader")


def run_nbgrader(course: Path, *args: str, timeout: float | None = None, runtime: Path | None = None
                 ) -> tuple[int | None, str]:
    """Run ``nbgrader ARGS`` in ``course``; return (exit code or None on timeout, combined log)."""
    proc = subprocess.Popen([nbgrader_exe(), *args], cwd=course, env=_env(runtime), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
        return proc.returncode, out
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        return None, out


def release_notebooks(course: Path, assignment: str) -> dict[str, nbformat.NotebookNode]:
    """The released notebooks (name without .ipynb -> notebook) that the gradebook knows."""
    from nbgrader.api import Gradebook

    gradebook = course / "gradebook.db"
    if not gradebook.exists():
        raise SystemExit(f"{gradebook} does not exist: run `nbgrader generate_assignment {assignment}` in {course}")
    with Gradebook(db_url(gradebook)) as gb:
        try:
            names = [nb.name for nb in gb.find_assignment(assignment).notebooks]
        except Exception as exc:  # noqa: BLE001 - MissingEntry
            raise SystemExit(f"the gradebook has no assignment {assignment!r}: run `nbgrader generate_assignment "
                             f"{assignment}` in {course}") from exc
    out = {}
    for name in names:
        path = course / "release" / assignment / f"{name}.ipynb"
        if not path.exists():
            raise SystemExit(f"{path} is missing: run `nbgrader generate_assignment {assignment}` in {course}")
        out[name] = nbformat.read(path, as_version=4)
    return out


def hidden_paths(course: Path, extra: list[Path], skipped: list[str] | None = None) -> list[str]:
    """Folders the student's kernel must not see: the course root, the kit's own assignment sources.

    A folder that contains the Python running the kernel (or ``course_utils``) cannot be hidden; it is
    appended to ``skipped`` so the run can warn about it.
    """
    import course_utils

    kit = Path(course_utils.__file__).resolve().parents[1] / "assignments"
    candidates = [course.resolve(), *(p.resolve() for p in extra)] + ([kit] if kit.is_dir() else [])
    needed = [Path(sys.prefix).resolve(), Path(sys.executable).resolve().parent, Path(course_utils.__file__).parent]
    keep = []
    for path in dict.fromkeys(candidates):
        if any(n == path or path in n.parents for n in needed):
            if skipped is not None:
                skipped.append(str(path))
            continue  # hiding it would hide the Python that runs the kernel
        keep.append(str(path))
    return keep


def worker_config(course: Path, wdir: Path, cwd: Path, runtime: Path, hide: list[str], limits: Limits,
                  use_bwrap: bool) -> str:
    base = (course / "nbgrader_config.py").read_text(encoding="utf-8") if (course / "nbgrader_config.py").exists() \
        else "c = get_config()  # noqa: F821\n"
    lines = [
        "", "# ---- added by `course-utils grade`: this worker's private course root and the sandboxed kernel ----",
        "import course_utils.grading.sandbox as _sandbox",
        "from nbgrader.converters import Autograde as _Autograde",
        "from nbgrader.preprocessors import Execute as _Execute",
        f"c.CourseDirectory.root = {str(wdir)!r}",
        f"c.CourseDirectory.db_url = {db_url(wdir / 'gradebook.db')!r}",
        "_pre = c.Autograde.autograde_preprocessors if 'autograde_preprocessors' in c.Autograde "
        "else _Autograde.class_traits()['autograde_preprocessors'].default()",
        "c.Autograde.autograde_preprocessors = [_sandbox.SandboxedExecute if p is _Execute else p for p in _pre]",
        "c.SandboxedKernelManager.transport = 'ipc'",
        f"c.SandboxedKernelManager.ip = {str(runtime / 'k')!r}",
        f"c.SandboxedKernelManager.sandbox_bwrap = {use_bwrap!r}",
        f"c.SandboxedKernelManager.sandbox_cwd = {str(cwd)!r}",
        f"c.SandboxedKernelManager.sandbox_rw = [{str(runtime)!r}]",
        f"c.SandboxedKernelManager.sandbox_hide = {hide!r}",
        f"c.SandboxedKernelManager.sandbox_memory = {limits.memory_bytes}",
        f"c.SandboxedKernelManager.sandbox_nproc_allowance = {limits.nproc_allowance}",
        f"c.SandboxedKernelManager.sandbox_cpu = {limits.cpu_seconds}",
    ]
    if limits.cell_timeout is not None:
        lines.append(f"c.Execute.timeout = {int(limits.cell_timeout)}")
    return base + "\n".join(lines) + "\n"


def _scores(wdir: Path, assignment: str, student: str, outcome: Outcome) -> None:
    from nbgrader.api import Gradebook

    with Gradebook(db_url(wdir / "gradebook.db")) as gb:
        sub = gb.find_submission(assignment, student)
        outcome.score, outcome.max_score = float(sub.score), float(sub.max_score)
        grades = [g for nb in sub.notebooks for g in nb.grades]
        auto = [g for g in grades if g.auto_score is not None and not g.needs_manual_grade]
        outcome.auto_score = float(sum(g.auto_score for g in auto))
        outcome.auto_max = float(sum(g.max_score for g in auto))
        outcome.needs_manual = sum(bool(g.needs_manual_grade) for g in grades)


def grade_one(course: Path, work: Path, template: Path, assignment: str, student: str,
              releases: dict[str, nbformat.NotebookNode], hide: list[str], limits: Limits, use_bwrap: bool,
              feedback: bool = True, worker: GradingWorker | None = None) -> Outcome:
    """Grade one submission in its private course root ``work/<student>`` (see the module docstring)."""
    if worker is None:  # a one-off call: its own worker, closed at the end
        with contextlib.closing(GradingWorker()) as own:
            return grade_one(course, work, template, assignment, student, releases, hide, limits, use_bwrap,
                             feedback, own)
    start = time.perf_counter()
    outcome = Outcome(student, "failed")
    wdir = work / student
    if wdir.exists():
        shutil.rmtree(wdir)
    (wdir / "source" / assignment).mkdir(parents=True)
    shutil.copy(template, wdir / "gradebook.db")
    src_root = course / "source" / assignment
    for item in src_root.rglob("*") if src_root.is_dir() else []:
        if item.is_file() and item.suffix != ".ipynb":  # data files nbgrader copies next to the notebook
            target = wdir / "source" / assignment / item.relative_to(src_root)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(item, target)
    prepared = prepare_submission(student, course / "submitted" / student / assignment,
                                  wdir / "submitted" / student / assignment, releases)
    outcome.notes, outcome.problems = prepared.notes, prepared.problems
    if not prepared.gradable:
        outcome.status = "not gradable"
        outcome.seconds = time.perf_counter() - start
        return outcome
    runtime = Path(tempfile.mkdtemp(prefix="cug-"))  # short path: Unix-socket names are limited to 107 bytes
    cwd = wdir / "autograded" / student / assignment
    (wdir / "nbgrader_config.py").write_text(
        worker_config(course, wdir, cwd, runtime, hide, limits, use_bwrap), encoding="utf-8")
    try:
        results, other, timed_out = worker.grade(wdir, assignment, student, runtime, feedback,
                                                 limits.submission_timeout)
        auto = results.get("autograde") or results.get("error") or {"code": 1, "log": ""}
        code = None if timed_out and "autograde" not in results else auto["code"]
        log = other + auto["log"]
        outcome.timed_out_cells = log.count("Timeout waiting for execute reply")
        outcome.kernel_deaths = re.findall(rf"{KERNEL_DIED_MARKER} cell=(\S+)", log)
        if code is None:
            outcome.status = "timed out"
            outcome.problems.append(f"the whole submission took longer than {limits.submission_timeout:.0f} s "
                                    "and was stopped; not graded")
        elif code != 0 or not cwd.is_dir():
            outcome.status = "failed"
            lines = log.splitlines()
            raised = [line.strip() for line in lines if re.match(r"\s+\w+(\.\w+)*(Error|Exception): ", line)]
            errors = [line for line in lines if "| ERROR]" in line and "Please see" not in line]
            reason = raised[-1] if raised else (errors[-1] if errors else f"exit code {code}")
            outcome.problems.append(f"nbgrader autograde failed: {reason[:300]} (log: {work / student}.log)")
        else:
            outcome.status = "graded"
            _scores(wdir, assignment, student, outcome)
            if feedback:
                fed = results.get("feedback")
                log += fed["log"] if fed else ""
                if timed_out:
                    outcome.problems.append(f"nbgrader generate_feedback did not finish within the submission's "
                                            f"{limits.submission_timeout:.0f} s (the grade stands; no feedback)")
                elif not fed or fed["code"] != 0:
                    outcome.problems.append("nbgrader generate_feedback failed (see the log)")
        outcome.log = log
        (work / f"{student}.log").write_text(log, encoding="utf-8")
    finally:
        shutil.rmtree(runtime, ignore_errors=True)
    outcome.seconds = time.perf_counter() - start
    return outcome


def list_students(course: Path, assignment: str, shard: tuple[int, int] = (1, 1),
                  only: list[str] | None = None) -> list[str]:
    """Students with a submission folder, sorted; shard ``(i, n)`` keeps every n-th from the i-th."""
    root = course / "submitted"
    students = sorted(p.name for p in root.iterdir() if (p / assignment).is_dir()) if root.is_dir() else []
    if only:
        students = [s for s in students if s in only]
    index, count = shard
    return [s for k, s in enumerate(students) if k % count == index - 1]


def grade_class(course: Path, assignment: str, jobs: int = 1, shard: tuple[int, int] = (1, 1),
                students: list[str] | None = None, limits: Limits | None = None, sandbox: str = "auto",
                hide: list[Path] | None = None, export: str | None = "grades.csv", feedback: bool = True,
                echo=print) -> Summary:
    """Autograde every submission of ``assignment`` in ``course`` with ``jobs`` workers.

    Args:
        course: the nbgrader course root (holds ``nbgrader_config.py``, ``gradebook.db``, ``release/``,
            ``submitted/``).
        assignment: the assignment name.
        jobs: parallel workers (each runs one kernel at a time).
        shard: ``(i, n)``: grade only the i-th of n interleaved slices of the class (for several machines).
        students: only these students (default: every submission).
        limits: timeouts and kernel limits.
        sandbox: ``auto`` (bubblewrap when it works, else a loud warning and limits only), ``require``
            (refuse to grade without it) or ``off`` (limits only, warned).
        hide: more folders the kernels must not see.
        export: file name for ``nbgrader export`` in the course root (None: no export).
        feedback: also run ``nbgrader generate_feedback``.
        echo: where progress lines go.

    Returns:
        The :class:`Summary`; also saved as ``.grading/<assignment>/summary-<i>of<n>.json``.

    Raises:
        SystemExit: the course is not ready (no gradebook / release), or ``require`` without a sandbox.
    """
    course = Path(course).resolve()
    limits = limits or Limits()
    if sandbox not in SANDBOX_MODES:
        raise ValueError(f"sandbox must be one of {SANDBOX_MODES}, got {sandbox!r}")
    warnings = []
    ok, reason = bwrap_status() if sandbox != "off" else (False, "disabled with --sandbox off")
    if not ok and sandbox == "require":
        raise SystemExit(f"refusing to grade without a sandbox (--sandbox require): {reason}")
    if not ok:
        warnings.append(f"STUDENT CODE RUNS WITHOUT THE SANDBOX ({reason}); only memory/process/CPU limits apply: "
                        "it can read the gradebook and other submissions and use the network")
        for w in warnings:
            echo(f"WARNING: {w}")
    sandbox_text = f"bubblewrap ({reason})" if ok else "OFF: limits only"
    releases = release_notebooks(course, assignment)
    chosen = list_students(course, assignment, shard, students)
    work = course / ".grading" / assignment
    work.mkdir(parents=True, exist_ok=True)
    template = work / "gradebook-start.db"
    shutil.copy(course / "gradebook.db", template)
    skipped: list[str] = []
    paths = hidden_paths(course, hide or [], skipped)
    for path in skipped:
        warnings.append(f"{path} holds the Python environment or course_utils, so student kernels CAN READ it: "
                        "move the course root (or the virtual environment) elsewhere")
        echo(f"WARNING: {warnings[-1]}")
    echo(f"grading {len(chosen)} submissions of {assignment} with {jobs} workers; sandbox: {sandbox_text}")
    start, outcomes, lock = time.perf_counter(), [], threading.Lock()
    slots, workers = threading.local(), []

    def grade_in_slot(student: str) -> Outcome:  # one long-lived worker process per pool thread
        if not hasattr(slots, "worker"):
            slots.worker = GradingWorker()
            with lock:
                workers.append(slots.worker)
        return grade_one(course, work, template, assignment, student, releases, paths, limits, ok, feedback,
                         slots.worker)

    try:
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            futures = {pool.submit(grade_in_slot, s): s for s in chosen}
            for done, future in enumerate(as_completed(futures), 1):
                student = futures[future]
                try:
                    outcome = future.result()
                except Exception as exc:  # noqa: BLE001 - one submission never stops the class
                    outcome = Outcome(student, "failed", problems=[f"grader error: {exc.__class__.__name__}: {exc}"])
                if outcome.status == "graded":
                    with lock:
                        merge_gradebook(work / student / "gradebook.db", course / "gradebook.db", assignment, [student])
                        copy_student_folders(work / student, course, assignment, student)
                    shutil.rmtree(work / student, ignore_errors=True)
                outcomes.append(outcome)
                score = f"{outcome.auto_score:g}/{outcome.auto_max:g}" if outcome.auto_score is not None else "-"
                echo(f"[{done}/{len(chosen)}] {student}: {outcome.status} (auto {score}, {outcome.seconds:.1f} s)")
    finally:
        for worker in workers:
            worker.close()
    summary = Summary(assignment, sandbox_text, outcomes, time.perf_counter() - start, jobs, f"{shard[0]}/{shard[1]}",
                      warnings)
    if export:
        code, log = run_nbgrader(course, "export", "--to", export, timeout=600)
        if code != 0:
            summary.warnings.append(f"nbgrader export failed: {log[-500:]}")
    record = {**asdict(summary), "outcomes": [{k: v for k, v in asdict(o).items() if k != "log"} for o in outcomes]}
    (work / f"summary-{shard[0]}of{shard[1]}.json").write_text(json.dumps(record, indent=1), encoding="utf-8")
    return summary
