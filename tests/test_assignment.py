"""Assignment 4 with nbgrader: the whole instructor round trip in a temporary copy of the course root.

CPU, offline, tiny mode. `nbgrader validate` passes on the source notebook and fails every test on the
blank release; generate -> submissions -> `nbgrader autograde` -> scores read back from the gradebook:
a submission equal to the solution gets full marks, and so does one made of alternative correct
solutions (tests/assignment_variants.py: other loop orders, float64 inside, helper functions); in two
submissions of subtle wrong solutions (each breaking one sentence of the specification) every wrong
function loses exactly its points and the correct ones that build on it keep theirs; an infinite loop
(per-cell timeout) or an exception loses only that cell's points (they are planted in the two wrong
submissions). All submissions are autograded by one `nbgrader autograde` run. The committed release is up to date with the source and contains no
solution and no hidden test.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from assignment_variants import ALTERNATIVES, WRONG
from nbrun import ROOT, outputs_text, run_notebook

# One worker generates the course and autogrades once for every test of this file (--dist loadgroup).
pytestmark = pytest.mark.xdist_group("nbgrader")

COURSE = ROOT / "assignments"
ASSIGNMENT = "assignment4"
NOTEBOOKS = sorted((COURSE / "source" / ASSIGNMENT).glob("*.ipynb"))
BIN = Path(sys.executable).parent
# Autograded points per test cell (the contract with the students; the notebook states the same).
AUTOGRADED = {
    "test_sdpa": 4, "test_mhsa": 3, "test_patch_embed": 2, "test_block": 3, "test_vit": 4, "test_count_parameters": 1,
    "test_dino_loss": 4, "test_update_center": 1, "test_ema_update": 2, "test_weighted_knn": 3, "test_recall_at_k": 2,
    "test_clicks_to_prompt": 2, "test_mask_to_box": 1, "test_stability_score": 2, "test_cluster_centroid_points": 1,
    "test_pareto_front": 2, "test_select_model": 3,
}
MANUAL = {"perf_local": 5, "perf_benchmark": 5, "perf_analysis": 15, "dashboard_code": 10, "dashboard_notes": 5,
          "documentation": 10, "creativity": 10}
SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")
HIDDEN_MARKERS = ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
CELL_TIMEOUT_S = 30  # per-cell timeout used for the test submissions (the course config uses 60 s)


def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def marked_lines(source: str, begin: str, end: str) -> list[str]:
    """The non-trivial lines between begin/end markers."""
    lines, inside = [], False
    for line in source.splitlines():
        if line.strip() == begin:
            inside = True
        elif line.strip() == end:
            inside = False
        elif inside and len(line.strip()) > 12 and not line.strip().startswith(("#", '"""')):
            lines.append(line.strip())
    return lines


def strip_markers(source: str) -> str:
    """The source of a solution cell as a student who solved it would write it (markers removed)."""
    return "\n".join(line for line in source.splitlines()
                     if line.strip() not in SOLUTION_MARKERS + HIDDEN_MARKERS)


def nbgrader(course: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "OMP_NUM_THREADS": "1",
           "COURSE_UTILS_TINY": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env.pop("NBGRADER_EXECUTION", None)
    proc = subprocess.run([str(BIN / "nbgrader"), *args], cwd=course, env=env, capture_output=True, text=True,
                          timeout=timeout)
    return proc


def make_course(tmp: Path) -> Path:
    """A fresh course root with the config and source notebooks only (no gradebook, no release)."""
    course = tmp / "course"
    course.mkdir()
    shutil.copy(COURSE / "nbgrader_config.py", course)
    shutil.copytree(COURSE / "source", course / "source")
    return course


# --------------------------------------------------------------------------- static checks (fast)


def test_points_follow_the_lecture_weights():
    cells = [c for path in NOTEBOOKS for c in read(path).cells]
    auto = {nbgrader_meta(c)["grade_id"]: nbgrader_meta(c)["points"] for c in cells
            if nbgrader_meta(c).get("grade") and not nbgrader_meta(c).get("solution")}
    manual = {nbgrader_meta(c)["grade_id"]: nbgrader_meta(c)["points"] for c in cells
              if nbgrader_meta(c).get("grade") and nbgrader_meta(c).get("solution")}
    assert auto == AUTOGRADED and sum(auto.values()) == 40
    assert manual == MANUAL and sum(manual.values()) == 60
    perf = MANUAL["perf_local"] + MANUAL["perf_benchmark"] + MANUAL["perf_analysis"]
    ui = MANUAL["dashboard_code"] + MANUAL["dashboard_notes"]
    assert (perf, ui, MANUAL["documentation"], MANUAL["creativity"]) == (25, 15, 10, 10)


def test_source_notebook_conventions():
    """Each test cell opens with a docstring and shows visible asserts before its hidden tests;
    each graded function has its own solution cell; no outputs are committed."""
    for path in NOTEBOOKS:
        nb = read(path)
        ids = [nbgrader_meta(c).get("grade_id") for c in nb.cells if nbgrader_meta(c)]
        assert len(ids) == len(set(ids)), "grade ids must be unique"
        for cell in nb.cells:
            meta = nbgrader_meta(cell)
            if cell.cell_type == "code":
                assert not cell.get("outputs") and not cell.get("execution_count"), "commit without outputs"
            if meta.get("grade") and not meta.get("solution"):
                src = cell.source
                assert re.match(r'^"""[^\n]+"""\n', src), f"{meta['grade_id']}: opens with a one-line docstring"
                head = src.split(HIDDEN_MARKERS[0])[0]
                assert "assert" in head, f"{meta['grade_id']}: visible asserts first"
                assert HIDDEN_MARKERS[0] in src and src.rstrip().endswith(HIDDEN_MARKERS[1]), meta["grade_id"]
                assert meta.get("locked"), "test cells are read-only"
            if meta.get("solution") and cell.cell_type == "code":
                assert SOLUTION_MARKERS[0] in cell.source, meta["grade_id"]
        for test_id in AUTOGRADED:
            assert test_id[len("test_"):] in ids, f"solution cell for {test_id}"


def test_heavy_cells_are_skipped_under_nbgrader():
    """Cells that load pretrained weights or call APIs only run when RUN_HEAVY (NBGRADER_EXECUTION unset)."""
    heavy = re.compile(r"load_(vit|dinov2|sam|model)\(|Dashboard\(|course_utils\.bench|fetch_weights")
    for path in NOTEBOOKS:
        for cell in read(path).cells:
            if cell.cell_type == "code" and heavy.search(cell.source):
                first = next(line for line in cell.source.splitlines()
                             if line.strip() and not line.lstrip().startswith("#") and "= []" not in line
                             and "= None" not in line)
                assert first.startswith("if RUN_HEAVY:"), cell.source[:200]
        setup = next(c.source for c in read(path).cells if nbgrader_meta(c).get("grade_id") == "setup_imports")
        assert 'RUN_HEAVY = not os.environ.get("NBGRADER_EXECUTION")' in setup


def public_lines(source: str) -> set[str]:
    """Stripped lines of a cell outside its solution and hidden-test regions."""
    out, inside = set(), False
    for line in source.splitlines():
        if line.strip() in (SOLUTION_MARKERS[0], HIDDEN_MARKERS[0]):
            inside = True
        elif line.strip() in (SOLUTION_MARKERS[1], HIDDEN_MARKERS[1]):
            inside = False
        elif not inside:
            out.add(line.strip())
    return out


def test_committed_release_has_no_solution_and_no_hidden_test():
    for path in NOTEBOOKS:
        release = COURSE / "release" / ASSIGNMENT / path.name
        assert release.exists(), f"run `make release`: {release} is missing"
        text = release.read_text(encoding="utf-8")
        for marker in SOLUTION_MARKERS + HIDDEN_MARKERS:
            assert marker not in text
        source = read(path)
        public = set().union(*(public_lines(c.source) for c in source.cells))
        released = {line.strip() for c in read(release).cells for line in c.source.splitlines()}
        for cell in source.cells:
            secret = marked_lines(cell.source, *SOLUTION_MARKERS) + marked_lines(cell.source, *HIDDEN_MARKERS)
            leaked = [line for line in secret if line in released and line not in public]
            assert not leaked, f"{nbgrader_meta(cell).get('grade_id')}: {leaked[:3]}"
        assert len(read(release).cells) == len(source.cells) + 1, "the release is the source plus the header"


def test_course_utils_does_not_contain_the_solutions():
    """Students get course_utils: it must not ship the graded functions."""
    graded = ["def scaled_dot_product_attention", "class MultiHeadSelfAttention", "def dino_loss",
              "def update_center", "def ema_update", "def weighted_knn_predict", "def recall_at_k",
              "def clicks_to_prompt", "def mask_to_box", "def stability_score", "def cluster_centroid_points",
              "def pareto_front", "def select_model", "def count_parameters"]
    for path in (ROOT / "course_utils").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        found = [name for name in graded if re.search(rf"^\s*{re.escape(name)}\(", text, re.M)]
        assert not found, f"{path.relative_to(ROOT)} defines {found}: move it out of course_utils"


# --------------------------------------------------------------------------- nbgrader round trip (slow)


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    course = make_course(tmp_path_factory.mktemp("a4"))
    proc = nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return course


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_source_validates(tmp_path, path):
    course = make_course(tmp_path)
    proc = nbgrader(course, "validate", f"source/{ASSIGNMENT}/{path.name}")
    assert proc.returncode == 0 and "Success! Your notebook passes all the tests." in proc.stdout, \
        proc.stdout[-3000:] + proc.stderr[-3000:]


@pytest.mark.slow
def test_blank_release_passes_no_test(generated):
    for path in NOTEBOOKS:
        proc = nbgrader(generated, "validate", "--invert", f"release/{ASSIGNMENT}/{path.name}")
        assert proc.returncode == 0 and "Success! The notebook does not pass any tests." in proc.stdout, \
            proc.stdout[-3000:] + proc.stderr[-3000:]


@pytest.mark.slow
def test_committed_release_is_up_to_date(generated):
    for path in NOTEBOOKS:
        fresh = read(generated / "release" / ASSIGNMENT / path.name)
        committed = read(COURSE / "release" / ASSIGNMENT / path.name)
        assert [(c.id, c.cell_type, c.source) for c in fresh.cells] == \
               [(c.id, c.cell_type, c.source) for c in committed.cells], "run `make release` and commit it"
        assert [nbgrader_meta(c) for c in fresh.cells] == [nbgrader_meta(c) for c in committed.cells]


def solved(path: Path, course: Path) -> nbformat.NotebookNode:
    """The released notebook with every solution cell filled in from the source (a perfect student)."""
    source = {c.id: c for c in read(path).cells}
    nb = read(course / "release" / ASSIGNMENT / path.name)
    for cell in nb.cells:
        if nbgrader_meta(cell).get("solution"):
            cell.source = strip_markers(source[cell.id].source)
    return nb


def cell_by_id(nb: nbformat.NotebookNode, grade_id: str):
    return next(c for c in nb.cells if nbgrader_meta(c).get("grade_id") == grade_id)


SKLEARN_KNN = '''
from sklearn.neighbors import KNeighborsClassifier


def weighted_knn_predict(train_feats, train_labels, test_feats, k=20, T=0.07, num_classes=None):
    clf = KNeighborsClassifier(n_neighbors=min(k, len(train_feats)), metric="cosine", algorithm="brute",
                               weights=lambda d: np.exp((1 - d) / T))
    clf.fit(np.asarray(train_feats), np.asarray(train_labels))
    return torch.as_tensor(clf.predict(np.asarray(test_feats))).long()
'''


def submit(course: Path, student: str, notebooks: dict[str, nbformat.NotebookNode]) -> None:
    folder = course / "submitted" / student / ASSIGNMENT
    folder.mkdir(parents=True)
    for name, nb in notebooks.items():
        nbformat.write(nb, folder / name)
    (folder / "timestamp.txt").write_text("2026-11-23 12:00:00.000000 UTC")


def autograde(course: Path) -> float:
    """Autograde every submitted student in one nbgrader run; returns the wall time in seconds."""
    start = time.perf_counter()
    proc = nbgrader(course, "autograde", ASSIGNMENT, "--create", "--force", f"--Execute.timeout={CELL_TIMEOUT_S}",
                    timeout=1800)
    seconds = time.perf_counter() - start
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return seconds


def wrong(cell: str, reason: str) -> str:
    """The source of the subtle wrong solution of `cell` whose reason contains `reason`."""
    (found,) = [w for w in WRONG if w.cell == cell and reason in w.reason]
    return found.source


# Two submissions of subtle wrong solutions. Group A breaks functions that others build on (attention,
# patch embedding, block) and group B the ones built on them, so that isolation is checked both ways.
WRONG_A = {
    "patch_embed": ("num_patches", 2), "block": ("exact GELU", 3), "count_parameters": ("counted once", 1),
    "dino_loss": ("finite for large logits", 4), "ema_update": ("buffers stay", 2), "recall_at_k": ("k + 1", 2),
    "mask_to_box": ("exclusive", 1), "cluster_centroid_points": ("rounded centroid", 1),
    "select_model": ("0 is a constraint", 3),
}
WRONG_B = {
    "mhsa": ("timm's layout", 3), "vit": ("eps=1e-6", 4), "update_center": ("wrong side", 1),
    "clicks_to_prompt": ("y scales", 2), "stability_score": ("on the low threshold", 2),
    "pareto_front": ("strict on both", 2),
}


def scores(course: Path, student: str) -> dict[str, tuple[float | None, float]]:
    """grade id -> (auto score, max score) for every graded cell, read from the gradebook."""
    from nbgrader.api import Gradebook

    out = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for path in NOTEBOOKS:
            sub = gb.find_submission_notebook(path.stem, ASSIGNMENT, student)
            for grade in sub.grades:
                out[grade.name] = (grade.auto_score, grade.max_score)
    return out


@pytest.fixture(scope="module")
def graded(generated) -> dict[str, dict[str, tuple[float | None, float]]]:
    """Four students, autograded together: perfect; alternative correct solutions; two sets of subtle wrong
    solutions, one with an infinite loop, the other with a forbidden k-NN and an exception."""
    course = generated
    nb_path = next(p for p in NOTEBOOKS if p.name == "assignment4.ipynb")
    perfect = solved(nb_path, course)
    submit(course, "perfect", {nb_path.name: perfect})

    alternative = solved(nb_path, course)
    for grade_id, source in ALTERNATIVES.items():
        cell_by_id(alternative, grade_id).source = source
    submit(course, "alternative", {nb_path.name: alternative})

    wrong_a = solved(nb_path, course)  # attention without the 1/sqrt(d) scaling: only sdpa's points are lost
    cell = cell_by_id(wrong_a, "sdpa")
    cell.source = cell.source.replace(" / math.sqrt(q.shape[-1])", "")
    assert "math.sqrt" not in cell.source
    for grade_id, (reason, _) in WRONG_A.items():
        cell_by_id(wrong_a, grade_id).source = wrong(grade_id, reason)
    loop = cell_by_id(wrong_a, "update_center")  # an infinite loop: interrupted after the cell timeout
    loop.source = "while True:\n    pass\n\n" + loop.source
    submit(course, "wrong", {nb_path.name: wrong_a})

    wrong_b = solved(nb_path, course)
    cell = cell_by_id(wrong_b, "weighted_knn")  # forbidden library: scikit-learn does the k-NN
    cell.source = SKLEARN_KNN
    for grade_id, (reason, _) in WRONG_B.items():
        cell_by_id(wrong_b, grade_id).source = wrong(grade_id, reason)
    boom = cell_by_id(wrong_b, "mask_to_box")  # an exception in a solution cell
    boom.source = 'raise RuntimeError("student bug")\n\n' + boom.source
    submit(course, "wrong_b", {nb_path.name: wrong_b})

    students = ("perfect", "alternative", "wrong", "wrong_b")
    seconds = autograde(course)
    results = {student: scores(course, student) for student in students}
    print(f"\nautograde wall time, {len(students)} submissions in one run (2-core CPU, tiny mode): {seconds:.1f} s, "
          f"{seconds / len(students):.1f} s per submission (cell timeout {CELL_TIMEOUT_S} s)")
    (course / "autograde_times.json").write_text(json.dumps({"total_s": seconds, "submissions": len(students)}))
    return results


@pytest.mark.slow
def test_solution_gets_full_marks(graded):
    got = graded["perfect"]
    assert {k: v[1] for k, v in got.items()} == {**AUTOGRADED, **MANUAL}
    for grade_id, points in AUTOGRADED.items():
        assert got[grade_id][0] == points, f"{grade_id}: {got[grade_id]}"
    assert sum(got[g][0] for g in AUTOGRADED) == 40


@pytest.mark.slow
def test_alternative_correct_solutions_keep_full_marks(graded):
    got = graded["alternative"]
    assert {g: got[g][0] for g in AUTOGRADED} == AUTOGRADED


LOST = {
    "wrong": {"test_sdpa": 4, "test_update_center": 1, **{f"test_{g}": p for g, (_, p) in WRONG_A.items()}},
    "wrong_b": {"test_weighted_knn": 3, "test_mask_to_box": 1, **{f"test_{g}": p for g, (_, p) in WRONG_B.items()}},
}


def lost_points(got: dict[str, tuple[float | None, float]]) -> dict[str, float]:
    return {g: AUTOGRADED[g] - got[g][0] for g in AUTOGRADED if got[g][0] != AUTOGRADED[g]}


@pytest.mark.slow
def test_wrong_function_loses_exactly_its_points(graded):
    # MultiHeadSelfAttention and VisionTransformer build on the wrong attention, patch embedding and block
    # yet keep their points, and Block keeps its points with a wrong MultiHeadSelfAttention; the k-NN that
    # calls scikit-learn passes the visible test but not the hidden ones.
    for student, expected in LOST.items():
        assert lost_points(graded[student]) == expected, student
    assert set(WRONG_A) | set(WRONG_B) | {"sdpa", "weighted_knn"} == {g[len("test_"):] for g in AUTOGRADED}


@pytest.mark.slow
def test_infinite_loop_and_exception_lose_only_their_cells(graded):
    """The loop (update_center, student "wrong") and the exception (mask_to_box, "wrong_b") sit in functions
    that are otherwise correct in that submission: each costs its own cell's points and nothing else."""
    assert "update_center" not in WRONG_A and "mask_to_box" not in WRONG_B
    assert lost_points(graded["wrong"])["test_update_center"] == 1
    assert lost_points(graded["wrong_b"])["test_mask_to_box"] == 1


@pytest.mark.slow
def test_source_runs_with_heavy_cells_in_tiny_mode(tmp_path):
    """Outside nbgrader (RUN_HEAVY) the demo and reference cells run too: tiny models, offline."""
    path = next(p for p in NOTEBOOKS if p.name == "assignment4.ipynb")
    nb = read(path)
    for cell in nb.cells:
        cell.source = strip_markers(cell.source)
    copy = tmp_path / path.name
    nbformat.write(nb, copy)
    executed = run_notebook(copy, env={"OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"})
    text = outputs_text(executed)
    # The registry's vit_base (tiny: same architecture, random weights) loads into the solution's ViT.
    diff = re.search(r"max \|difference\| between timm and my ViT: ([0-9.e+-]+)", text)
    assert diff and float(diff.group(1)) < 1e-4, text[-2000:]
    assert "ViT-H/14" in text and "632.0M parameters" in text, text[-2000:]


# The zip_collect regular expression documented in docs/instructor.md (Moodle file names).
MOODLE_REGEXP = (r".*_(?P<student_id>\d+)_assignsubmission_file_(?:Copy of )?"
                 r"(?P<file_id>assignment4\.ipynb)")


@pytest.mark.slow
def test_feedback_and_grade_export(graded, generated):
    proc = nbgrader(generated, "generate_feedback", ASSIGNMENT, "--student", "perfect")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert (generated / "feedback" / "perfect" / ASSIGNMENT / "assignment4.html").exists()
    proc = nbgrader(generated, "export", "--to", "grades.csv")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    rows = (generated / "grades.csv").read_text().splitlines()
    assert any(row.startswith("assignment4,") and ",perfect," in row for row in rows), rows[:5]


@pytest.mark.slow
def test_zip_collect_with_the_documented_regexp(tmp_path):
    assert MOODLE_REGEXP in (ROOT / "docs" / "instructor.md").read_text(encoding="utf-8")
    course = make_course(tmp_path)
    archive = course / "downloaded" / ASSIGNMENT / "archive"
    archive.mkdir(parents=True)
    release = COURSE / "release" / ASSIGNMENT / "assignment4.ipynb"
    shutil.copy(release, archive / "Hong Gildong_20261234_assignsubmission_file_assignment4.ipynb")
    import zipfile

    with zipfile.ZipFile(archive / "batch.zip", "w") as zf:
        zf.write(release, "Kim Minji_20265678_assignsubmission_file_Copy of assignment4.ipynb")
    proc = nbgrader(course, "zip_collect", ASSIGNMENT, f"--FileNameCollectorPlugin.named_regexp={MOODLE_REGEXP}")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    for student in ("20261234", "20265678"):
        assert (course / "submitted" / student / ASSIGNMENT / "assignment4.ipynb").exists(), proc.stderr[-2000:]
