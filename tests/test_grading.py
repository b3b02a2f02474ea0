"""Whole-class grading: `course-utils grade` against serial real nbgrader, sandbox escapes, broken submissions.

One generated course (module fixture) feeds one concurrent run of three jobs, like three machines:
serial `nbgrader autograde` + `generate_feedback` + `export` on a reference course (the oracle), and
`course-utils grade --shard 1/2 --jobs 2` and `--shard 2/2` on two copies; `course-utils grade-merge`
then merges both shards into the course. Students:

* perfect, wrong (one function left as the release stub), crashy (an infinite loop and an exception):
  graded serially too, and every gradebook column, feedback page and export row must be identical;
* attacker: the perfect solution plus a cell that tries to read the gradebook, another student's
  submission and the sources with the hidden tests, write outside its folder, use the network, fork
  without bound and allocate 8 GiB, and a cell that kills its kernel: every attempt fails, the
  grades equal perfect's;
* broken: wrong's notebook submitted twice under other names, with nbgrader metadata and cell ids
  stripped (Colab), a test cell moved above its solution, a test cell deleted, a test cell
  duplicated, the failing function's test cell edited to pass, and 300 MB of output: graded like
  wrong, with every repair reported;
* notjson: a truncated file, reported as not gradable without stopping the others.
"""

from __future__ import annotations

import argparse
import copy
import html
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import nbformat
import pytest

from course_utils.grading import runner
from course_utils.grading.cli import parse_shard
from course_utils.grading.sandbox import bwrap_status
from course_utils.grading.submissions import read_notebook, restore

# One worker generates the course and runs the class once for every test of this file (--dist loadgroup).
pytestmark = pytest.mark.xdist_group("grading")

ROOT = Path(__file__).resolve().parents[1]
COURSE = ROOT / "assignments"
A = "assignment4"
BIN = Path(sys.executable).parent
CELL_TIMEOUT = 40
SERIAL = ("perfect", "wrong", "crashy")


def meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def env() -> dict[str, str]:
    out = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "OMP_NUM_THREADS": "1",
           "COURSE_UTILS_TINY": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    out.pop("NBGRADER_EXECUTION", None)
    return out


def popen(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(args, cwd=cwd, env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(proc: subprocess.Popen, timeout: int = 1200) -> str:
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out[-4000:]
    return out


def release_nb(course: Path) -> nbformat.NotebookNode:
    return nbformat.read(course / "release" / A / f"{A}.ipynb", as_version=4)


def solved(course: Path) -> nbformat.NotebookNode:
    """The release with every solution cell taken from the source, markers removed (a perfect student)."""
    source = {c.id: c for c in nbformat.read(COURSE / "source" / A / f"{A}.ipynb", as_version=4).cells}
    nb = release_nb(course)
    for cell in nb.cells:
        if meta(cell).get("solution"):
            cell.source = "\n".join(line for line in source[cell.id].source.splitlines()
                                    if not line.strip().startswith(("### BEGIN SOLUTION", "### END SOLUTION")))
    return nb


def graded_tests(nb) -> list[int]:
    return [i for i, c in enumerate(nb.cells) if meta(c).get("grade") and not meta(c).get("solution")
            and c.cell_type == "code"]


def solution_before(nb, index: int) -> int:
    return max(i for i in range(index) if meta(nb.cells[i]).get("solution") and nb.cells[i].cell_type == "code")


def wrong_nb(course: Path) -> nbformat.NotebookNode:
    """Perfect except the function tested by the last test cell, left as the release stub."""
    nb, rel = solved(course), release_nb(course)
    stub = solution_before(nb, graded_tests(nb)[-1])
    nb.cells[stub].source = rel.cells[stub].source
    return nb


def broken_nb(course: Path) -> nbformat.NotebookNode:
    """wrong_nb as an editor and a careless student leave it (see the module docstring)."""
    nb = wrong_nb(course)
    tests = graded_tests(nb)
    nb.cells[tests[-1]].source = '"""edited by the student"""\nassert True'  # the failing test "passes" now
    first, second = tests[0], tests[1]
    cells = list(nb.cells)
    moved = cells[first]
    dup = copy.deepcopy(cells[tests[2]])
    del cells[second]  # a deleted test cell (restored from the release)
    cells.insert(tests[2], dup)  # a duplicated test cell
    cells.remove(moved)
    cells.insert(solution_before(nb, first), moved)  # the first test above its solution
    for i, cell in enumerate(cells):
        cell.metadata.pop("nbgrader", None)
        cell.metadata.pop("deletable", None)
        cell.metadata.pop("editable", None)
        cell["id"] = f"colab-{i:03d}"
    nb.cells = cells
    return nb


ATTACK = '''
import json as _json, os as _os, urllib.request as _url
_report = {}
for _p in READS:
    try:
        open(_p, "rb").read(16)
        _report["read " + _p] = "OK"
    except Exception as _e:
        _report["read " + _p] = type(_e).__name__
for _p in WRITES:
    try:
        with open(_p, "w") as _f:
            _f.write("pwned")
        _report["write " + _p] = "OK"
    except Exception as _e:
        _report["write " + _p] = type(_e).__name__
try:
    _url.urlopen(URL, timeout=5).read()
    _report["network"] = "OK"
except Exception as _e:
    _report["network"] = type(_e).__name__
try:
    import numpy as _np
    _big = _np.empty(8 * 2**30, dtype=_np.uint8)
    _report["memory"] = "OK"
    del _big
except MemoryError:
    _report["memory"] = "MemoryError"
_kids = 0
try:  # posix_spawn, not fork: a fork of this big kernel costs its page tables, slow on a busy machine
    for _ in range(400):
        _os.posix_spawn("/bin/sleep", ["sleep", "15"], dict(_os.environ))
        _kids += 1
    _report["fork"] = "OK"
except OSError as _e:
    _report["fork"] = type(_e).__name__
_report["children"] = _kids
print("SANDBOX-REPORT " + _json.dumps(_report))
'''


def submit(course: Path, student: str, files: dict[str, nbformat.NotebookNode | str]) -> Path:
    folder = course / "submitted" / student / A
    folder.mkdir(parents=True)
    for name, nb in files.items():
        if isinstance(nb, str):
            (folder / name).write_text(nb, encoding="utf-8")
        else:
            nbformat.write(nb, folder / name)
    (folder / "timestamp.txt").write_text("2026-11-23 12:00:00.000000 UTC")
    return folder


def write_with_big_output(nb: nbformat.NotebookNode, path: Path, megabytes: int) -> None:
    """Write ``nb`` with a ``megabytes`` MB stream output in its first code cell, streamed to disk."""
    nb = copy.deepcopy(nb)
    cell = next(c for c in nb.cells if c.cell_type == "code")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="@@BIG@@")]
    head, tail = json.dumps(nb, indent=1).split("@@BIG@@")
    chunk = "0123456789abcdef" * 65536  # 1 MiB
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(head)
        for _ in range(megabytes):
            fh.write(chunk)
        fh.write(tail)


class _Trap(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self):  # noqa: N802 - http.server's naming
        _Trap.hits.append(self.path)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"leaked")

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    course = tmp_path_factory.mktemp("grading") / "course"
    course.mkdir()
    shutil.copy(COURSE / "nbgrader_config.py", course)
    shutil.copytree(COURSE / "source", course / "source")
    out = subprocess.run([str(BIN / "nbgrader"), "generate_assignment", A, "--force"], cwd=course, env=env(),
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return course


def clone(generated: Path, dest: Path) -> Path:
    """A course folder with the generated gradebook, config, source and release, and no submissions."""
    dest.mkdir()
    for name in ("nbgrader_config.py", "gradebook.db"):
        shutil.copy(generated / name, dest / name)
    for name in ("source", "release"):
        shutil.copytree(generated / name, dest / name)
    return dest


@pytest.fixture(scope="module")
def graded(generated):
    """Run the serial oracle and both shards concurrently, then merge the shards into the course."""
    tmp = generated.parent
    serial, shard1, shard2 = (clone(generated, tmp / n) for n in ("serial", "shard1", "shard2"))
    perfect, wrong = solved(generated), wrong_nb(generated)
    crashy = solved(generated)
    tests = graded_tests(crashy)
    crashy.cells[solution_before(crashy, tests[-2])].source = "while True:\n    pass\n"
    crashy.cells[solution_before(crashy, tests[-3])].source = 'raise RuntimeError("student bug")\n'
    for course in (serial, shard1, shard2):
        for student, nb in (("perfect", perfect), ("wrong", wrong), ("crashy", crashy)):
            submit(course, student, {f"{A}.ipynb": nb})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Trap)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    outside = tmp / "outside"
    outside.mkdir()
    reads = [str(shard1 / "gradebook.db"), str(shard1 / "submitted" / "perfect" / A / f"{A}.ipynb"),
             str(shard1 / "source" / A / f"{A}.ipynb"), str(COURSE / "source" / A / f"{A}.ipynb"),
             "../../../gradebook.db", str(ROOT / "course_utils" / "__init__.py")]
    probe = ROOT / ".sandbox-probe-PWNED"  # on the real file system, outside every tmpfs
    probe.unlink(missing_ok=True)
    writes = [str(outside / "PWNED"), str(shard1 / "PWNED"), str(probe), "written_in_my_folder.txt"]
    attacker = solved(generated)
    at = solution_before(attacker, graded_tests(attacker)[0])
    url = f"http://127.0.0.1:{server.server_address[1]}/leak"
    attack = f"READS, WRITES, URL = {reads!r}, {writes!r}, {url!r}\n" + ATTACK
    attacker.cells.insert(at, nbformat.v4.new_code_cell(attack))
    attacker.cells.insert(at + 1, nbformat.v4.new_code_cell("import os\nos._exit(3)  # the kernel dies here"))
    for course in (shard1, shard2):
        submit(course, "attacker", {f"{A}.ipynb": attacker})
        submit(course, "notjson", {f"{A}.ipynb": nbformat.writes(perfect)[:5000]})
    for course in (shard1, shard2):
        folder = submit(course, "broken", {f"Copy of {A}.ipynb": release_nb(generated)})
        os.utime(folder / f"Copy of {A}.ipynb", (1.7e9, 1.7e9))  # the older of the two copies
    write_with_big_output(broken_nb(generated), shard2 / "submitted" / "broken" / A / f"{A} (1).ipynb", 300)
    cli = [sys.executable, "-m", "course_utils.cli", "grade", A, "--cell-timeout", str(CELL_TIMEOUT),
           "--max-procs", "64"]
    jobs = [
        popen([str(BIN / "nbgrader"), "autograde", A, "--create", "--force", f"--Execute.timeout={CELL_TIMEOUT}"],
              serial),
        popen(cli + ["--course", str(shard1), "--shard", "1/2", "--jobs", "2"], tmp),
        popen(cli + ["--course", str(shard2), "--shard", "2/2", "--jobs", "1"], tmp),
    ]
    logs = [finish(job) for job in jobs]
    server.shutdown()
    (shard2 / "submitted" / "broken" / A / f"{A} (1).ipynb").unlink()  # 300 MB
    for args in (["generate_feedback", A], ["export", "--to", "grades.csv"]):
        out = subprocess.run([str(BIN / "nbgrader"), *args], cwd=serial, env=env(), capture_output=True,
                             text=True, timeout=900)
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    merged = finish(popen([sys.executable, "-m", "course_utils.cli", "grade-merge", A, str(shard1), str(shard2),
                           "--course", str(generated)], tmp))
    summaries = {}
    for shard in (shard1, shard2):
        for path in (shard / ".grading" / A).glob("summary-*.json"):
            summaries.update({o["student"]: o for o in json.loads(path.read_text())["outcomes"]})
    written = probe.exists()
    probe.unlink(missing_ok=True)
    return {"serial": serial, "course": generated, "shard1": shard1, "logs": logs, "merge": merged,
            "summaries": summaries, "outside": outside, "hits": list(_Trap.hits), "probe_written": written}


def gradebook_rows(course: Path, student: str) -> dict:
    """Every data column nbgrader autograde writes for one student, keyed by cell name."""
    from nbgrader.api import Gradebook

    rows = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        sub = gb.find_submission(A, student)
        rows["submission"] = (sub.timestamp, sub.extension, float(sub.score), float(sub.max_score))
        for nb in sub.notebooks:
            rows[nb.name] = (nb.flagged, nb.late_submission_penalty)
            for g in nb.grades:
                rows[g.name] = (g.auto_score, g.manual_score, g.extra_credit, g.needs_manual_grade, g.max_score)
            for c in nb.comments:
                rows["comment " + c.name] = (c.auto_comment, c.manual_comment)
    return rows


def page_text(path: Path) -> str:
    """A feedback page's text without tags and white space: how a kernel happened to split one cell's
    stdout into stream messages changes the HTML blocks, in two serial runs too, but not the text."""
    return re.sub(r"\s+", "", html.unescape(re.sub(r"<[^>]+>", "", path.read_text(encoding="utf-8"))))


def export_rows(course: Path) -> dict[str, str]:
    lines = (course / "grades.csv").read_text().splitlines()
    return {line.split(",")[3]: line for line in lines[1:]}


# --------------------------------------------------------------------------- fast checks


def test_shards_partition_the_class(tmp_path):
    for student in ("b", "a", "d", "c", "e"):
        (tmp_path / "submitted" / student / A).mkdir(parents=True)
    shards = [runner.list_students(tmp_path, A, (i, 3)) for i in (1, 2, 3)]
    assert sorted(sum(shards, [])) == ["a", "b", "c", "d", "e"] and shards[0] == ["a", "d"]
    assert parse_shard("2/3") == (2, 3)
    with pytest.raises(argparse.ArgumentTypeError, match="1 <= i <= n"):
        parse_shard("4/3")


def test_without_bubblewrap_the_run_warns_loudly_or_refuses(generated, tmp_path, monkeypatch, capsys):
    course = clone(generated, tmp_path / "c")
    monkeypatch.setattr(runner, "bwrap_status", lambda: (False, "bwrap cannot create namespaces here (test)"))
    with pytest.raises(SystemExit, match="refusing to grade without a sandbox"):
        runner.grade_class(course, A, sandbox="require", export=None)
    summary = runner.grade_class(course, A, sandbox="auto", export=None)
    assert "STUDENT CODE RUNS WITHOUT THE SANDBOX" in capsys.readouterr().out
    assert "WITHOUT THE SANDBOX" in summary.text() and "OFF" in summary.sandbox


def test_a_submission_over_its_wall_time_is_reported(generated, tmp_path):
    """The whole-submission limit stops nbgrader itself; nothing of that student reaches the gradebook."""
    from nbgrader.api import Gradebook, MissingEntry

    course = clone(generated, tmp_path / "c")
    submit(course, "slow", {f"{A}.ipynb": solved(generated)})
    limits = runner.Limits(submission_timeout=3)
    summary = runner.grade_class(course, A, limits=limits, export=None, echo=lambda line: None)
    (outcome,) = summary.outcomes
    assert outcome.status == "timed out" and "longer than 3 s" in outcome.problems[0]
    assert "timed out 1" in summary.text()
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb, pytest.raises(MissingEntry):
        gb.find_submission(A, "slow")


def test_large_output_is_stripped_by_streaming(generated, tmp_path):
    rel = release_nb(generated)
    path = tmp_path / "big.ipynb"
    write_with_big_output(rel, path, 300)
    assert path.stat().st_size > 300 * 2**20
    notes: list[str] = []
    nb = read_notebook(path, tmp_path, notes)
    path.unlink()
    assert nb is not None and all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
    assert [(c.id, c.source, meta(c)) for c in nb.cells] == [(c.id, c.source, meta(c)) for c in rel.cells]
    assert any("300 MB of outputs stripped" in n for n in notes), notes
    assert not list(tmp_path.glob("*.stripped"))


def test_not_json_and_trailing_bytes(generated, tmp_path):
    text = nbformat.writes(release_nb(generated))
    (tmp_path / "a.ipynb").write_text("\ufeff" + text + "\n}}garbage", encoding="utf-8")
    (tmp_path / "b.ipynb").write_text(text[: len(text) // 2], encoding="utf-8")
    notes: list[str] = []
    assert read_notebook(tmp_path / "a.ipynb", tmp_path, notes) is not None
    assert read_notebook(tmp_path / "b.ipynb", tmp_path, notes) is None
    assert any("byte-order mark" in n for n in notes) and any("after the notebook" in n for n in notes)
    assert any("b.ipynb: not valid JSON" in n and "resubmit" in n for n in notes), notes


def test_restore_matches_the_release(generated):
    """Stripped metadata, new ids, a moved, a deleted and an edited test cell; then a duplicated graded cell:
    the graded cells come back with the release's metadata, ids and order (the oracle is the release)."""
    rel = release_nb(generated)
    notes: list[str] = []
    out = restore(broken_nb(generated), rel, "x.ipynb", notes)
    assert [(c.id, meta(c)) for c in out.cells if meta(c)] == [(c.id, meta(c)) for c in rel.cells if meta(c)]
    text = " | ".join(notes)
    tests = [meta(rel.cells[i])["grade_id"] for i in graded_tests(rel)]
    assert "metadata restored" in text and "reordered" in text, text
    assert f"deleted cells restored from the release: {tests[1]} |" in text + " |", text
    assert f"edited read-only/test cells {tests[-1]}:" in text, text
    twice = release_nb(generated)
    twice.cells.insert(graded_tests(twice)[0] + 1, copy.deepcopy(twice.cells[graded_tests(twice)[0]]))
    notes = []
    out = restore(twice, rel, "y.ipynb", notes)
    assert [(c.id, meta(c)) for c in out.cells if meta(c)] == [(c.id, meta(c)) for c in rel.cells if meta(c)]
    assert notes == [f"y.ipynb: duplicated graded cells (first copy graded): {tests[0]}"], notes


# --------------------------------------------------------------------------- the class run (slow)


@pytest.mark.slow
def test_parallel_shards_equal_serial_nbgrader(graded):
    serial, course = graded["serial"], graded["course"]
    for student in SERIAL:
        assert gradebook_rows(course, student) == gradebook_rows(serial, student), student
        ours, theirs = (page_text(c / "feedback" / student / A / f"{A}.html") for c in (course, serial))
        assert ours == theirs, student
    ours, theirs = export_rows(course), export_rows(serial)
    assert {s: ours[s] for s in SERIAL} == {s: theirs[s] for s in SERIAL}
    scores = {s: gradebook_rows(serial, s)["submission"][2] for s in SERIAL}
    assert scores["perfect"] > scores["wrong"] > 0 and scores["perfect"] > scores["crashy"] > 0, scores
    out = "\n".join(graded["logs"][1:])
    assert "[3/3]" in out and "graded 2, failed to execute 0, timed out 0, not gradable 1" in out, out[-3000:]
    assert graded["summaries"]["crashy"]["timed_out_cells"] == 1
    assert "merged 5 submissions" in graded["merge"], graded["merge"]


@pytest.mark.slow
def test_sandbox_stops_every_escape_and_grades_the_rest(graded):
    ok, reason = bwrap_status()
    if not ok:
        pytest.skip(f"no bubblewrap sandbox on this machine ({reason}): the loud fallback is tested above")
    course = graded["course"]
    nb = nbformat.read(course / "autograded" / "attacker" / A / f"{A}.ipynb", as_version=4)
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    report = json.loads(text.split("SANDBOX-REPORT ")[-1].splitlines()[0])
    sanity = f"read {ROOT / 'course_utils' / '__init__.py'}"
    assert report.pop(sanity) == "OK" and report.pop("write written_in_my_folder.txt") == "OK"
    for key, value in report.items():
        if key.startswith(("read", "write")):
            assert value != "OK", key
    assert report["network"] != "OK" and graded["hits"] == []
    assert report["memory"] == "MemoryError"
    assert report["fork"] == "BlockingIOError" and report["children"] < 400, report
    assert report[f"write {ROOT / '.sandbox-probe-PWNED'}"] == "OSError" and not graded["probe_written"], report
    assert not (graded["outside"] / "PWNED").exists() and not (graded["shard1"] / "PWNED").exists()
    assert (course / "autograded" / "attacker" / A / "written_in_my_folder.txt").exists()
    assert graded["summaries"]["attacker"]["kernel_deaths"], "the os._exit cell is reported"
    assert "KernelDied" in json.dumps(nb.cells[[c.source.startswith("import os\nos._exit") for c in nb.cells]
                                               .index(True)].outputs)
    rows, perfect = gradebook_rows(course, "attacker"), gradebook_rows(graded["serial"], "perfect")
    assert {k: v for k, v in rows.items() if k != "submission"} == {k: v for k, v in perfect.items()
                                                                    if k != "submission"}


@pytest.mark.slow
def test_broken_submissions_are_repaired_or_reported(graded):
    course, summaries = graded["course"], graded["summaries"]
    rows, wrong = gradebook_rows(course, "broken"), gradebook_rows(graded["serial"], "wrong")
    assert {k: v for k, v in rows.items() if not k.startswith("comment")} == \
           {k: v for k, v in wrong.items() if not k.startswith("comment")}
    notes = " | ".join(summaries["broken"]["notes"])
    for phrase in (f"graded the renamed file '{A} (1).ipynb'", "submitted more than once", f"ignored 'Copy of {A}",
                   "300 MB of outputs stripped", "metadata restored", "deleted cells restored", "reordered",
                   "edited read-only/test cells"):
        assert phrase in notes, notes
    assert summaries["notjson"]["status"] == "not gradable"
    assert "not valid JSON" in " ".join(summaries["notjson"]["notes"] + summaries["notjson"]["problems"])
