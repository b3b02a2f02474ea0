"""Copy students' graded submissions from one nbgrader gradebook (and course folder) into another.

Used twice: the class run merges each worker's private gradebook into the course gradebook as soon
as that submission is graded, and ``course-utils grade-merge`` merges the gradebooks of shards
graded on other machines. Rows are written through nbgrader's own :class:`~nbgrader.api.Gradebook`
(``update_or_create_student`` / ``update_or_create_submission`` build the same rows ``nbgrader
autograde`` builds); then every data column of the student, submission, submitted notebooks, grades
and comments is copied, so the result is what a serial ``nbgrader autograde`` would have written.
The worker's gradebook starts as a copy of the course gradebook, so manual grades and extensions
already entered for that student are carried through unchanged.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

from nbgrader.api import Comment, Grade, Gradebook, Student, SubmittedAssignment, SubmittedNotebook
from sqlalchemy.exc import SAWarning

_KEYS = {"id", "assignment_id", "student_id", "notebook_id", "cell_id"}


def _copy_columns(src, dst, model) -> None:
    for column in model.__table__.columns:
        if column.name not in _KEYS:
            setattr(dst, column.name, getattr(src, column.name))


def db_url(path: Path) -> str:
    return f"sqlite:///{Path(path).resolve()}"


def merge_gradebook(src: Path, dst: Path, assignment: str, students: list[str] | None = None) -> list[str]:
    """Copy the graded submissions of ``assignment`` from gradebook file ``src`` into ``dst``.

    Args:
        src: the gradebook to read (a worker's or a shard's ``gradebook.db``).
        dst: the course gradebook to update (must already know the assignment: ``nbgrader
            generate_assignment`` was run on the course, or ``dst`` is a copy of it).
        assignment: the assignment name.
        students: only these students (default: every submission in ``src``).

    Returns:
        The student ids merged.

    Raises:
        ValueError: ``dst`` does not know ``assignment``, or its notebooks differ from ``src``'s.
    """
    merged = []
    with warnings.catch_warnings(), Gradebook(db_url(src)) as gsrc, Gradebook(db_url(dst)) as gdst:
        # nbgrader's add_submission triggers SQLAlchemy autoflush warnings (its own autograde prints them too)
        warnings.simplefilter("ignore", SAWarning)
        names_src = sorted(nb.name for nb in gsrc.find_assignment(assignment).notebooks)
        try:
            names_dst = sorted(nb.name for nb in gdst.find_assignment(assignment).notebooks)
        except Exception as exc:  # MissingEntry
            raise ValueError(f"{dst} has no assignment {assignment!r}: run `nbgrader generate_assignment "
                             f"{assignment}` in that course first") from exc
        if names_src != names_dst:
            raise ValueError(f"{src} and {dst} disagree on the notebooks of {assignment}: {names_src} vs {names_dst}")
        for sub in gsrc.assignment_submissions(assignment):
            student = sub.student
            if students is not None and student.id not in students:
                continue
            dst_student = gdst.update_or_create_student(student.id)
            _copy_columns(student, dst_student, Student)
            dst_sub = gdst.update_or_create_submission(assignment, student.id)
            _copy_columns(sub, dst_sub, SubmittedAssignment)
            for nb in sub.notebooks:
                dst_nb = gdst.find_submission_notebook(nb.name, assignment, student.id)
                _copy_columns(nb, dst_nb, SubmittedNotebook)
                for grade in nb.grades:
                    _copy_columns(grade, gdst.find_grade(grade.name, nb.name, assignment, student.id), Grade)
                for comment in nb.comments:
                    _copy_columns(comment, gdst.find_comment(comment.name, nb.name, assignment, student.id), Comment)
            gdst.db.commit()
            merged.append(student.id)
    return merged


def copy_student_folders(src_course: Path, dst_course: Path, assignment: str, student: str) -> None:
    """Replace ``autograded/`` and ``feedback/`` of one student in ``dst_course`` by ``src_course``'s."""
    for kind in ("autograded", "feedback"):
        src = Path(src_course) / kind / student / assignment
        dst = Path(dst_course) / kind / student / assignment
        if src.is_dir():
            if dst.exists():
                shutil.rmtree(dst)
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(src, dst)


def merge_courses(shards: list[Path], course: Path, assignment: str) -> list[str]:
    """Merge shard course folders (each graded with ``--shard``) into ``course``: gradebook and folders."""
    merged = []
    for shard in shards:
        students = merge_gradebook(Path(shard) / "gradebook.db", Path(course) / "gradebook.db", assignment)
        for student in students:
            copy_student_folders(Path(shard), Path(course), assignment, student)
        merged += students
    return merged
