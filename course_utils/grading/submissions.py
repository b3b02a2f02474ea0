"""Find, repair and normalise one student's submitted notebooks before nbgrader grades them.

Every repair is written into the notes of the :class:`Prepared` result (the class summary shows
them); the student's original files are never modified. What is handled:

* a file that is not valid JSON: a UTF-8 byte-order mark or trailing bytes after the notebook are
  dropped; anything else is reported as unreadable (the student must resubmit);
* outputs of several hundred MB: when the file is larger than ``big_bytes`` every ``"outputs"``
  value is removed by a streaming scan of the memory-mapped file, before the JSON is parsed;
* renamed notebooks (``Copy of assignment4.ipynb``) and notebooks submitted twice: each released
  notebook takes the file of the same name, else the newest other file that shares enough cells
  with the release;
  the files not used are listed;
* nbgrader metadata stripped (Colab's copy): cells are matched to the release by cell id, then by
  content, and get the release's nbgrader metadata back;
* cells deleted, duplicated or reordered: graded and read-only cells missing from the submission
  are restored from the release, duplicates lose their nbgrader metadata (as nbgrader's
  ``DeduplicateIds`` does), and the matched cells are put back in the release's order (the
  student's own extra cells move with the cell they followed);
* edited read-only or test cells: reported; nbgrader's ``OverwriteCells`` grades them with the
  instructor's version (its checksum no longer matches).
"""

from __future__ import annotations

import copy
import json
import mmap
import re
import shutil
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from pathlib import Path

import nbformat
from nbformat import NotebookNode

BIG_BYTES = 32 * 2**20
_TOKEN = re.compile(rb'\s*(?:("[^"\\]*(?:\\.[^"\\]*)*")|([{}\[\],:])|([^\s{}\[\],:"]+))', re.S)


@dataclass
class Prepared:
    """One student's submission after normalisation."""

    student: str
    notebooks: list[str] = field(default_factory=list)  # notebook names written (without .ipynb)
    notes: list[str] = field(default_factory=list)  # what was repaired, for the summary
    problems: list[str] = field(default_factory=list)  # what could not be graded

    @property
    def gradable(self) -> bool:
        return bool(self.notebooks)


def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def strip_outputs_streaming(src: Path, dst: Path) -> int:
    """Copy a notebook file with the value of every ``"outputs"`` key replaced by ``[]``.

    The file is memory-mapped and scanned token by token, so a notebook with hundreds of MB of
    outputs is never loaded into Python objects.

    Returns:
        The number of bytes removed.

    Raises:
        ValueError: the file is not JSON (unbalanced brackets).
    """
    spans: list[tuple[int, int]] = []
    with open(src, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
        pos, size, prev_key = 0, len(data), None
        while pos < size:
            m = _TOKEN.match(data, pos)
            if m is None:
                if data[pos:].strip():
                    raise ValueError(f"not JSON at byte {pos}")
                break
            pos = m.end()
            if m.lastindex == 1 and m.end(1) - m.start(1) <= 20:
                prev_key = data[m.start(1):m.end(1)]
                continue
            if m.lastindex == 2 and data[m.start(2):m.end(2)] == b":" and prev_key == b'"outputs"':
                start, depth = pos, 0
                while True:  # skip one JSON value
                    v = _TOKEN.match(data, pos)
                    if v is None:
                        raise ValueError(f"unterminated outputs value at byte {start}")
                    pos = v.end()
                    if v.lastindex == 2:
                        ch = data[v.start(2):v.end(2)]
                        depth += ch in (b"[", b"{")
                        depth -= ch in (b"]", b"}")
                    if depth <= 0:
                        break
                spans.append((start, pos))
            prev_key = None
        removed, last = 0, 0
        with open(dst, "wb") as out:
            for start, end in spans:
                out.write(data[last:start])
                out.write(b" []")
                removed += end - start
                last = end
            out.write(data[last:])
    return removed


def read_notebook(path: Path, scratch: Path, notes: list[str], big_bytes: int = BIG_BYTES) -> NotebookNode | None:
    """Read a submitted notebook, repairing what can be repaired; None (with a note) when unreadable."""
    size = path.stat().st_size
    source = path
    if size > big_bytes:
        stripped = scratch / (path.name + ".stripped")
        try:
            removed = strip_outputs_streaming(path, stripped)
        except ValueError as exc:
            notes.append(f"{path.name}: {size / 2**20:.0f} MB and not valid JSON ({exc})")
            return None
        notes.append(f"{path.name}: {removed / 2**20:.0f} MB of outputs stripped before grading "
                     f"(file was {size / 2**20:.0f} MB)")
        source = stripped
    raw = source.read_bytes()
    if source is not path:
        source.unlink()
    text = raw.decode("utf-8", errors="replace")
    if text.startswith("\ufeff"):
        text = text[1:]
        notes.append(f"{path.name}: UTF-8 byte-order mark removed")
    try:
        obj, end = json.JSONDecoder().raw_decode(text.lstrip())
    except json.JSONDecodeError as exc:
        notes.append(f"{path.name}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); "
                     "not graded: ask the student to resubmit the .ipynb file")
        return None
    if text.lstrip()[end:].strip():
        notes.append(f"{path.name}: {len(text.lstrip()[end:].strip())} bytes after the notebook's JSON ignored")
    if not isinstance(obj, dict) or "cells" not in obj:
        notes.append(f"{path.name}: JSON but not a notebook (no 'cells'); not graded")
        return None
    try:
        return nbformat.reads(json.dumps(obj), as_version=4)
    except Exception as exc:  # noqa: BLE001 - any nbformat failure is reported, never raised
        notes.append(f"{path.name}: not a readable notebook ({exc.__class__.__name__}: {exc}); not graded")
        return None


_STUB_LINES = {"# YOUR CODE HERE", "raise NotImplementedError()", "YOUR ANSWER HERE"}


def _similarity(ref: str, student: str, locked: bool) -> float:
    """How much of the release cell is still in the student's cell: whole-text ratio for read-only cells,
    the share of the release's non-stub lines (signature, docstring) for answer cells."""
    if locked:
        matcher = SequenceMatcher(None, ref, student, autojunk=False)
        return matcher.ratio() if matcher.quick_ratio() >= 0.8 else 0.0
    lines = {line.strip() for line in ref.splitlines() if line.strip()}
    lines = {line for line in lines if not any(line.startswith(stub) for stub in _STUB_LINES)}
    if not lines:
        return 0.0
    theirs = {line.strip() for line in student.splitlines()}
    return len(lines & theirs) / len(lines)


def _match_score(nb: NotebookNode, release: NotebookNode) -> float:
    """Share of the release's cells found in ``nb`` (same id, grade id or unchanged source)."""
    ids = {c.get("id") for c in release.cells}
    gids = {nbgrader_meta(c).get("grade_id") for c in release.cells} - {None}
    sources = {c.source.strip() for c in release.cells if c.source.strip()}
    hits = sum(1 for c in nb.cells if c.get("id") in ids or nbgrader_meta(c).get("grade_id") in gids
               or c.source.strip() in sources)
    return hits / max(1, len(release.cells))


def restore(nb: NotebookNode, release: NotebookNode, name: str, notes: list[str]) -> NotebookNode:
    """Give back nbgrader metadata, deleted graded cells and the release's order to a submitted notebook."""
    rel_cells = release.cells
    graded_rel = {i for i, c in enumerate(rel_cells) if nbgrader_meta(c)}
    by_gid = {nbgrader_meta(c)["grade_id"]: i for i, c in enumerate(rel_cells) if nbgrader_meta(c).get("grade_id")}
    by_id = {c.get("id"): i for i, c in enumerate(rel_cells) if c.get("id")}
    match: dict[int, int] = {}  # student index -> release index
    taken: set[int] = set()
    duplicated, stripped, tampered, edited = [], 0, [], []
    for s, cell in enumerate(nb.cells):  # 1. by grade id (first copy wins, as in nbgrader's DeduplicateIds)
        gid = nbgrader_meta(cell).get("grade_id")
        if gid is None:
            continue
        if gid in by_gid and by_gid[gid] not in taken:
            match[s] = by_gid[gid]
            taken.add(by_gid[gid])
        else:
            (duplicated if gid in by_gid else tampered).append(gid)
            cell.metadata.pop("nbgrader", None)
    for s, cell in enumerate(nb.cells):  # 2. by cell id
        r = by_id.get(cell.get("id"))
        if s not in match and r is not None and r not in taken and rel_cells[r].cell_type == cell.cell_type:
            match[s], _ = r, taken.add(r)
    pairs = []  # 3. by content, best first (every release cell, so that plain cells anchor the positions)
    for r in sorted(set(range(len(rel_cells))) - taken):
        answer = bool(nbgrader_meta(rel_cells[r]).get("solution"))
        for s, cell in enumerate(nb.cells):
            if s not in match and cell.cell_type == rel_cells[r].cell_type and not nbgrader_meta(cell):
                score = _similarity(rel_cells[r].source, cell.source, not answer)
                if score >= (0.5 if answer else 0.8):
                    pairs.append((score, s, r))
    for _, s, r in sorted(pairs, reverse=True):
        if s not in match and r not in taken:
            match[s], _ = r, taken.add(r)
    for r in sorted(graded_rel - taken):  # 4. by position: the first free cell between the same neighbours
        before = [s for s, rr in match.items() if rr < r]
        after = [s for s, rr in match.items() if rr > r]
        lo, hi = max(before, default=-1), min(after, default=len(nb.cells))
        free = [s for s in range(lo + 1, hi) if s not in match and nb.cells[s].cell_type == rel_cells[r].cell_type
                and not nbgrader_meta(nb.cells[s])]
        if free:
            match[free[0]], _ = r, taken.add(r)
    for s, r in match.items():
        cell, ref = nb.cells[s], rel_cells[r]
        meta = nbgrader_meta(ref)
        if meta:
            if not nbgrader_meta(cell):
                stripped += 1
            elif {k: v for k, v in nbgrader_meta(cell).items() if k != "checksum"} != \
                    {k: v for k, v in meta.items() if k != "checksum"}:
                tampered.append(meta["grade_id"])
            cell.metadata["nbgrader"] = copy.deepcopy(meta)
            if meta.get("locked") and cell.source.strip() != ref.source.strip():
                edited.append(meta["grade_id"])
        cell["id"] = ref.get("id", cell.get("id"))
    missing = sorted(graded_rel - taken)
    order = sorted(match, key=lambda s: match[s])
    reordered = order != sorted(match)
    # Rebuild: release order for matched cells; each unmatched student cell follows the cell it followed.
    groups: dict[int, list[NotebookNode]] = {-1: []}
    anchor = -1
    for s, cell in enumerate(nb.cells):
        if s in match:
            anchor = match[s]
            groups[anchor] = [cell]
        else:
            groups.setdefault(anchor, []).append(cell)
    for r in missing:
        restored = copy.deepcopy(rel_cells[r])
        groups[r] = [restored]
    cells = list(groups[-1])
    for r in sorted(k for k in groups if k >= 0):
        cells.extend(groups[r])
    nb.cells = cells
    if stripped:
        notes.append(f"{name}: nbgrader metadata restored on {stripped} cells (stripped by the editor)")
    if duplicated:
        notes.append(f"{name}: duplicated graded cells (first copy graded): {', '.join(duplicated)}")
    if tampered:
        notes.append(f"{name}: nbgrader metadata edited on {', '.join(tampered)}; the release's metadata is used")
    if missing:
        gids = [nbgrader_meta(rel_cells[r]).get("grade_id", "?") for r in missing]
        notes.append(f"{name}: deleted cells restored from the release: {', '.join(gids)}")
    if reordered:
        notes.append(f"{name}: cells were reordered; graded in the release's order")
    if edited:
        notes.append(f"{name}: edited read-only/test cells {', '.join(edited)}: graded with the instructor's version")
    return nb


def prepare_submission(student: str, src: Path, dest: Path, releases: dict[str, NotebookNode],
                       big_bytes: int = BIG_BYTES) -> Prepared:
    """Write a normalised copy of ``src`` (one student's assignment folder) into ``dest``.

    Args:
        student: the student id.
        src: ``submitted/<student>/<assignment>``.
        dest: the worker's ``submitted/<student>/<assignment>`` (created).
        releases: notebook name (no ``.ipynb``) -> released notebook.
        big_bytes: files larger than this get their outputs stripped by streaming.

    Returns:
        The :class:`Prepared` record (notebooks written, notes, problems).
    """
    result = Prepared(student)
    dest.mkdir(parents=True, exist_ok=True)
    for item in src.rglob("*"):
        if item.is_file() and item.suffix != ".ipynb" and ".ipynb_checkpoints" not in item.parts:
            target = dest / item.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(item, target)
    files = sorted(p for p in src.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    read: dict[Path, NotebookNode] = {}
    for path in files:
        nb = read_notebook(path, dest, result.notes, big_bytes)
        if nb is not None:
            read[path] = nb
    used: set[Path] = set()
    for name, release in releases.items():
        exact = [p for p in read if p.name == f"{name}.ipynb"]
        others = sorted(((p.stat().st_mtime, p) for p in read if p not in used and p.name != f"{name}.ipynb"
                         and _match_score(read[p], release) >= 0.3), reverse=True)  # newest first
        if exact:
            chosen = exact[0]
        elif others:
            chosen = others[0][1]
            result.notes.append(f"{name}.ipynb: graded the renamed file '{chosen.relative_to(src)}'")
        else:
            result.problems.append(f"{name}.ipynb: no readable notebook matches it (nbgrader gives it 0 points)")
            continue
        extra = [o[1] for o in others if o[1] != chosen]
        if extra:
            result.notes.append(f"{name}.ipynb: submitted more than once; graded '{chosen.relative_to(src)}', "
                                f"ignored {', '.join(repr(str(p.relative_to(src))) for p in extra)}")
            used.update(extra)
        used.add(chosen)
        nb = restore(read[chosen], release, f"{name}.ipynb", result.notes)
        nbformat.write(nb, dest / f"{name}.ipynb")
        result.notebooks.append(name)
    unreadable = [p for p in files if p not in read]
    if unreadable and not result.notebooks:
        result.problems.append("no readable notebook: " + ", ".join(p.name for p in unreadable))
    return result
