"""``course-utils grade`` and ``course-utils grade-merge``."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30}


def parse_bytes(text: str) -> int:
    """``"6G"`` -> 6442450944; accepts K, M, G suffixes."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMG]?)B?\s*", text.upper())
    if m is None:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (use e.g. 6G or 512M)")
    return int(float(m.group(1)) * _UNITS[m.group(2)])


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/3"`` -> (2, 3): the second of three slices of the class."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if m is None or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise argparse.ArgumentTypeError(f"--shard wants i/n with 1 <= i <= n, got {text!r}")
    return int(m.group(1)), int(m.group(2))


def grade(args: argparse.Namespace) -> int:
    from .runner import Limits, grade_class

    limits = Limits(cell_timeout=args.cell_timeout, submission_timeout=args.submission_timeout,
                    memory_bytes=args.memory, nproc_allowance=args.max_procs, cpu_seconds=args.cpu_time)
    summary = grade_class(Path(args.course), args.assignment, jobs=args.jobs, shard=args.shard,
                          students=args.student or None, limits=limits, sandbox=args.sandbox,
                          hide=[Path(p) for p in args.hide], export=None if args.no_export else args.export,
                          feedback=not args.no_feedback)
    print(summary.text())
    bad = summary.count("failed") + summary.count("timed out") + summary.count("not gradable")
    return 1 if bad and args.strict else 0


def grade_merge(args: argparse.Namespace) -> int:
    import json

    from .merge import copy_student_folders, merge_gradebook
    from .runner import run_nbgrader

    course = Path(args.course).resolve()
    total = []
    for shard in map(Path, args.shards):
        students = None
        for summary in sorted((shard / ".grading" / args.assignment).glob("summary-*.json")):
            data = json.loads(summary.read_text(encoding="utf-8"))
            students = (students or []) + [o["student"] for o in data["outcomes"] if o["status"] == "graded"]
        merged = merge_gradebook(shard / "gradebook.db", course / "gradebook.db", args.assignment, students)
        for student in merged:
            copy_student_folders(shard, course, args.assignment, student)
        print(f"{shard}: merged {len(merged)} students")
        total += merged
    if not args.no_export:
        code, log = run_nbgrader(course, "export", "--to", args.export)
        if code != 0:
            print(log[-2000:])
            return 1
    print(f"merged {len(total)} submissions into {course / 'gradebook.db'}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("grade", help="autograde every collected submission with N sandboxed workers",
                              description="Autograde every submission in <course>/submitted with real nbgrader, N at "
                                          "a time, each kernel in a bubblewrap sandbox; merge into the gradebook, "
                                          "generate feedback and export the grades.")
    p.add_argument("assignment")
    p.add_argument("--course", default="assignments", help="nbgrader course root (default: ./assignments)")
    p.add_argument("--jobs", "-j", type=int, default=1, help="parallel workers (about one per CPU core)")
    p.add_argument("--shard", type=parse_shard, default=(1, 1), metavar="I/N",
                   help="grade only slice I of N of the class (one per machine; merge with grade-merge)")
    p.add_argument("--student", action="append", default=[], help="only this student (repeatable)")
    p.add_argument("--cell-timeout", type=int, default=None, help="seconds per cell (default: the course config)")
    p.add_argument("--submission-timeout", type=float, default=1800, help="seconds per submission (default 1800)")
    p.add_argument("--memory", type=parse_bytes, default=parse_bytes("6G"), help="kernel address-space limit")
    p.add_argument("--max-procs", type=int, default=256, help="processes + threads per kernel (pids cgroup as root, else RLIMIT_NPROC)")
    p.add_argument("--cpu-time", type=int, default=1800, help="CPU seconds per kernel")
    p.add_argument("--sandbox", choices=["auto", "require", "off"], default="auto",
                   help="auto: bubblewrap if it works, else warn loudly; require: refuse without it")
    p.add_argument("--hide", action="append", default=[], help="another folder the kernels must not see")
    p.add_argument("--export", default="grades.csv", help="nbgrader export file (in the course root)")
    p.add_argument("--no-export", action="store_true")
    p.add_argument("--no-feedback", action="store_true")
    p.add_argument("--strict", action="store_true", help="exit 1 when a submission was not graded")
    p.set_defaults(func=grade)

    m = subparsers.add_parser("grade-merge", help="merge shard course folders into one gradebook",
                              description="Merge the gradebooks, autograded/ and feedback/ of course folders graded "
                                          "with --shard on other machines into this course, then export.")
    m.add_argument("assignment")
    m.add_argument("shards", nargs="+", help="course root of each shard")
    m.add_argument("--course", default="assignments")
    m.add_argument("--export", default="grades.csv")
    m.add_argument("--no-export", action="store_true")
    m.set_defaults(func=grade_merge)
