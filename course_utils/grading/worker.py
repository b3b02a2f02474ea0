"""A grading worker: one long-lived process that autogrades submission after submission.

Starting ``nbgrader`` costs seconds (imports, the application and its config) and the class run used to
start it twice per submission (``autograde``, then ``generate_feedback``). A worker starts once per
job slot and runs the same nbgrader applications in-process for each submission it is given:

* the runner writes one job per line on the worker's stdin, as JSON:
  ``{"root": <private course root>, "assignment": ..., "student": ..., "runtime": <runtime dir>,
  "feedback": true}``;
* for each job the worker loads that root's ``nbgrader_config.py`` (the sandbox settings, the cell
  timeout, the private gradebook), runs nbgrader's ``Autograde`` application, then (if asked and
  autograde succeeded) ``GenerateFeedback``, and answers one line per step on stdout:
  :data:`RESULT_PREFIX` + ``{"step": "autograde" | "feedback", "code": 0 | 1, "log": ...}``, then
  ``{"step": "done"}`` (after ``{"step": "error", "log": <traceback>}`` if the job itself broke).

The log has the command-line tool's ``[AutogradeApp | LEVEL] message`` shape, so the runner reads it
the same way. The kernels run in the sandbox exactly as before (bubblewrap ends them with the worker:
``--die-with-parent``); a submission that runs past its wall-clock limit is stopped by killing the
worker's process group, and the runner starts a new worker for the next submission.

The runner talks to a worker through :class:`GradingWorker`; the process itself is ``python -m
course_utils.grading.worker`` (:func:`main`).
"""

from __future__ import annotations

import io
import json
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

RESULT_PREFIX = "@@course-utils-grade@@ "


def child_env(runtime: Path | None = None) -> dict[str, str]:
    """The environment for nbgrader and worker processes: this Python first on PATH, not in nbgrader mode."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("NBGRADER_EXECUTION", None)
    if runtime is not None:
        env["JUPYTER_RUNTIME_DIR"] = str(runtime)
    return env


class GradingWorker:
    """The runner's side of one :mod:`.worker` process (started on first use, restarted after a kill)."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.lines: queue.Queue[str | None] = queue.Queue()

    def _start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "course_utils.grading.worker"], env=child_env(),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, bufsize=1, start_new_session=True)
        self.lines = queue.Queue()
        threading.Thread(target=self._pump, args=(self.proc, self.lines), daemon=True).start()

    @staticmethod
    def _pump(proc: subprocess.Popen, lines: queue.Queue) -> None:
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    def grade(self, root: Path, assignment: str, student: str, runtime: Path, feedback: bool,
              timeout: float) -> tuple[dict[str, dict], str, bool]:
        """Run one job; (results by step, other output, timed out). Past ``timeout`` the worker is killed."""
        job = json.dumps({"root": str(root), "assignment": assignment, "student": student,
                          "runtime": str(runtime), "feedback": feedback}) + "\n"
        for _ in range(2):  # a worker that died between jobs is replaced once
            if self.proc is None or self.proc.poll() is not None:
                self._start()
            try:
                self.proc.stdin.write(job)
                self.proc.stdin.flush()
                break
            except OSError:
                self.kill()
        results: dict[str, dict] = {}
        other: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.kill()
                return results, "".join(other), True
            if line is None:  # the worker process ended in the middle of a job
                self.proc = None
                results.setdefault("error", {"code": 1, "log": "the grading worker process exited during this "
                                                               "submission (see the output above)"})
                return results, "".join(other), False
            if not line.startswith(RESULT_PREFIX):
                other.append(line)
                continue
            result = json.loads(line[len(RESULT_PREFIX):])
            if result["step"] == "done":
                return results, "".join(other), False
            results[result["step"]] = result

    def kill(self) -> None:
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
            self.proc = None

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                pass
        self.kill()


# --------------------------------------------------------------------------- the worker process


def _run_app(app: Any, name: str) -> tuple[int, str]:
    """``app.start()`` with its log captured in the command-line format; (exit code, log)."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter(f"[{name} | %(levelname)s] %(message)s"))
    app.log.addHandler(handler)
    code, error = 0, ""
    try:
        app.start()
    except (Exception, SystemExit):  # noqa: BLE001 - nbgrader raises on a failed conversion; report, go on
        code, error = 1, traceback.format_exc()
    finally:
        app.log.removeHandler(handler)
    return code, buffer.getvalue() + error


def grade(job: dict[str, Any], emit) -> None:
    """Autograde (and generate feedback for) one submission as described by ``job``; ``emit`` each step."""
    from nbgrader.apps.api import NbGraderAPI
    from nbgrader.converters import Autograde, GenerateFeedback
    from nbgrader.utils import temp_attrs
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    root = job["root"]
    os.environ["JUPYTER_RUNTIME_DIR"] = job["runtime"]
    os.chdir(root)
    config = PyFileConfigLoader("nbgrader_config.py", path=root).load_config()
    api = NbGraderAPI(config=config)
    api.log.setLevel(logging.INFO)
    with temp_attrs(api.coursedir, assignment_id=job["assignment"], student_id=job["student"]):
        app = Autograde(coursedir=api.coursedir, parent=api)
        app.force, app.create_student = True, True
        code, log = _run_app(app, "AutogradeApp")
        emit({"step": "autograde", "code": code, "log": log})
        if code != 0 or not job.get("feedback", True):
            return
        app = GenerateFeedback(coursedir=api.coursedir, parent=api)
        extra = Config()
        extra.HTMLExporter.template_name = "feedback"  # as nbgrader's own API does for feedback
        app.update_config(extra)
        app.force = True
        code, log = _run_app(app, "GenerateFeedbackApp")
        emit({"step": "feedback", "code": code, "log": log})


def main() -> int:
    out = sys.stdout

    def emit(result: dict[str, Any]) -> None:
        out.write(RESULT_PREFIX + json.dumps(result) + "\n")
        out.flush()

    sys.stdout = sys.stderr  # anything else printed goes to stderr, which the runner keeps as log text
    for line in sys.stdin:
        if not line.strip():
            continue
        job = json.loads(line)
        try:
            grade(job, emit)
        except Exception:  # noqa: BLE001 - a broken job (bad config...) is that submission's failure only
            emit({"step": "error", "code": 1, "log": traceback.format_exc()})
        emit({"step": "done"})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
