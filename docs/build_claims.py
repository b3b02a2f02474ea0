"""Claims ledger: every number, date, attribution and capability stated in the teaching text.

The ledger is data, ``docs/claims/*.yaml`` (every file in that folder is read). Each file is a YAML
list of entries::

    - claim: "What the text says, in English"
      numbers: ["88.55%", "Table 2"]   # strings exactly as written in the text
      where: [slides/week4_lecture.ipynb]
      source: "Dosovitskiy et al. 2021, arXiv 2010.11929, Table 2"   # primary source ...
      checked: "2026-12-01"                                          # ... and the date it was read
      # or, for numbers computed by this repository:
      # measured: "python -c 'from course_utils.zoo import vit_zoo_table; ...'"
      # an entry that could not be checked says so: checked: "unverified" (and the text marks it)

This script renders the ledger into ``docs/claims.md`` (``python docs/build_claims.py``) and checks it
against the text (``python docs/build_claims.py --check``; ``tests/test_claims.py`` runs the same
checks):

- **Coverage**: every *number token* of the markdown of each covered file (:data:`COVERED`) is a
  token of some entry's ``numbers`` whose ``where`` lists that file.
- **No stale entries**: every ledger number occurs verbatim in at least one of its ``where`` files,
  and every ``where`` file contains at least one of the entry's numbers.

A *number token* is a run of digits with optional decimal/thousands separators and an optional
``%``, ``B``, ``M`` or ``K`` suffix (``88.55%``, ``1.1B``, ``142M``, ``2010.11929``). Only markdown cells
are read; code cells, inline code spans (`` `...` ``) and HTML tags themselves are ignored, and so are:

- slide and list numbering: ``Part 3``, ``Q2.``, a line starting ``1.`` (an ordered list), the number
  that starts a heading (``## 3. DINO``, ``### 1.2 Multi-head``), a cross-reference to a lab's own
  section (``5절``), a table row whose first cell is a bare number (the Lab / Assignment part tables);
- exponents and subscripts in math (``N^2``, ``\\theta_t``, ``head_1``);
- names that contain digits, listed explicitly in :data:`NAME_PATTERNS` (``ViT-B/16``, ``DINOv2``,
  ``SAM 2``, ``ImageNet-21k``, ``BLEU-4``, ``top-1``...). A name is not a claim about a quantity;
  the facts behind it (that the model exists, its licence) are ledger entries by their other numbers
  or by the registry (``course_utils/model_facts.py``).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLAIMS_DIR = ROOT / "docs" / "claims"
OUTPUT = ROOT / "docs" / "claims.md"

# Files whose every number token must be in the ledger (the test enforces these).
COVERED = [
    "slides/week4_lecture.ipynb",
    "labs/lab4_1_vit_attention.ipynb",
    "labs/lab4_2_dinov2.ipynb",
    "labs/lab4_3_sam.ipynb",
    "labs/lab4_4_benchmark.ipynb",
    "assignments/source/assignment4/assignment4.ipynb",
]
# Files with ledger entries but not yet full coverage (stated in docs/claims.md).
PARTIAL: list[str] = []

NAME_PATTERNS = [
    r"ViT-[A-Za-z]+/\d+", r"ViT-[A-Za-z]+\b", r"DeiT-[A-Z]+\d*", r"DeiT\s?III", r"DINOv\d", r"\bSAM\s?\d",
    r"BLIP-2", r"LLaVA-1\.5", r"LLaVA-NeXT", r"GPT-[\w.]+", r"Llama\s?\d(?:\.\d)?", r"Qwen\d(?:\.\d)?-VL",
    r"OPT-\d+(?:\.\d+)?B", r"Vicuna-\d+B", r"ImageNet-\d+k", r"IN-\d+k", r"JFT-\d+M", r"LVD-\d+M",
    r"SA-1B", r"SA-V", r"VQA\s?v2", r"BLEU-\d(?:\.\.\d)?", r"CIDEr-D", r"top-\d", r"recall@\d+", r"@\d+",
    r"Gemini\s?\d(?:\.\d)?", r"Claude\s?\d(?:\.\d)?", r"CLIP\s?ViT-L/\d+", r"\bv\d\b", r"\bT5\b",
    r"Flan-T5", r"Q-Former", r"\bx86\b", r"reveal\.js", r"\bfp16\b", r"\b\d+-bit\b", r"\bRGB\b",
    r"\bk-NN\b", r"\bk-means\b", r"\b1-NN\b", r"\bL2\b", r"\b2D\b", r"\b1D\b", r"\b3D\b", r"\bO\(N\^2\)",
    r"Data engine \d", r"4-\d\b", r"Lab 4(?:-\d)?", r"Assignment 4", r"\d주차", r"Lab\s4\sPart\s\d",
    r"Part\s\d+(?![–-])", r"\bQ\d+\b", r"BSD-3-Clause", r"Apache-2\.0", r"SAM\s?2\.1", r"\bDINO\b v1", r"MMMU", r"ChartQA",
    # the labs' cross-references to their own numbered sections ("5절에서" = "in section 5")
    r"\d+절",
    r"CIFAR-\d+", r"\bgpt-\d[\w.-]*",  # dataset name; API model ids as the catalogue spells them
]
_NAME_RE = re.compile("|".join(f"(?:{p})" for p in NAME_PATTERNS))
NUMBER_RE = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*(?:\s?%|[BMK](?![A-Za-z]))?")


@dataclass
class Entry:
    """One ledger entry (see the module docstring)."""

    claim: str
    numbers: list[str]
    where: list[str]
    source: str = ""
    checked: str = ""
    measured: str = ""
    file: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def status(self) -> str:
        if self.measured:
            return "measured here"
        if self.checked == "unverified":
            return "UNVERIFIED"
        return f"checked {self.checked}"


def load_ledger(folder: Path = CLAIMS_DIR) -> list[Entry]:
    """Every entry of every ``*.yaml`` file in ``folder``, validated.

    Raises:
        ValueError: an entry lacks a key, or has neither ``source`` + ``checked`` nor ``measured``.
    """
    import yaml

    entries: list[Entry] = []
    files = sorted(folder.glob("*.yaml"))
    if not files:
        raise ValueError(f"No ledger files in {folder}.")
    for path in files:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or []
        if not isinstance(data, list):
            raise ValueError(f"{path.name}: the ledger file must be a YAML list of entries.")
        for i, raw in enumerate(data):
            where = f"{path.name} entry {i + 1} ({str(raw.get('claim', ''))[:50]!r})"
            # `numbers` may be an empty list: a capability or attribution claim with no number in it
            missing = [k for k in ("claim", "where") if not raw.get(k)] + ([] if isinstance(raw.get("numbers"), list)
                                                                          else ["numbers"])
            if missing:
                raise ValueError(f"{where}: missing {', '.join(missing)}.")
            if not raw.get("measured") and not (raw.get("source") and raw.get("checked")):
                raise ValueError(f"{where}: give `source` and `checked` (a date or 'unverified'), or `measured`.")
            known = {"claim", "numbers", "where", "source", "checked", "measured"}
            entries.append(Entry(str(raw["claim"]), [str(n) for n in raw["numbers"]], list(raw["where"]),
                                 str(raw.get("source", "")), str(raw.get("checked", "")),
                                 str(raw.get("measured", "")), path.name,
                                 {k: v for k, v in raw.items() if k not in known}))
    return entries


def markdown_text(path: Path) -> str:
    """The text a reader sees: markdown cells of a notebook (or a whole ``.md`` file)."""
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        return "\n\n".join("".join(c["source"]) if isinstance(c["source"], list) else c["source"]
                           for c in cells if c["cell_type"] == "markdown")
    return path.read_text(encoding="utf-8")


def _strip(text: str) -> str:
    text = re.sub(r"```.*?```", " ", text, flags=re.S)  # fenced code
    text = re.sub(r"`[^`\n]*`", " ", text)  # inline code spans
    text = re.sub(r"<[^>\n]*>", " ", text)  # HTML tags (their text stays)
    text = re.sub(r"[\^_]\{?[\w\\]+\}?", " ", text)  # exponents / subscripts in math
    text = re.sub(r"^\s*\d+\.\s", " ", text, flags=re.M)  # ordered-list numbering
    # section numbers that open a heading, "## 3." / "### 1.2" (a dot is required: "## 2017 ..." stays)
    text = re.sub(r"^(#{1,6}\s+)\d+\.(?:\d+\.?)*(?=\s)", r"\1", text, flags=re.M)
    text = re.sub(r"^\|\s*\d+\s*\|", "| |", text, flags=re.M)  # part-number column of a table
    return _NAME_RE.sub(" ", text)


def number_tokens(text: str, strip: bool = True) -> list[str]:
    """The number tokens of ``text`` (see the module docstring), normalised (no space before ``%``)."""
    return [t.replace(" ", "") for t in NUMBER_RE.findall(_strip(text) if strip else text)]


def _norm(s: str) -> str:
    return re.sub(r"\s+", " ", s)


@dataclass
class Report:
    uncovered: dict[str, list[str]]
    stale: list[str]

    @property
    def ok(self) -> bool:
        return not self.stale and not any(self.uncovered.values())


def check(entries: list[Entry], covered: Iterable[str] = COVERED, root: Path = ROOT) -> Report:
    """Coverage of ``covered`` files and staleness of every entry (see the module docstring)."""
    raw: dict[str, str] = {}

    def raw_text(rel: str) -> str:
        if rel not in raw:
            path = root / rel
            raw[rel] = markdown_text(path) if path.exists() else ""
        return raw[rel]

    def text(rel: str) -> str:  # whitespace-normalised, for the verbatim checks
        return _norm(raw_text(rel))

    stale = []
    for e in entries:
        for rel in e.where:
            if not (root / rel).exists():
                stale.append(f"{e.file}: {e.claim[:60]!r}: {rel} does not exist")
            elif e.numbers and not any(_norm(n) in text(rel) for n in e.numbers):
                stale.append(f"{e.file}: {e.claim[:60]!r}: none of {e.numbers} is in {rel} any more")
        for n in e.numbers:
            if not any(_norm(n) in text(rel) for rel in e.where):
                stale.append(f"{e.file}: {e.claim[:60]!r}: {n!r} is in none of {e.where}")
    uncovered: dict[str, list[str]] = {}
    for rel in covered:
        allowed = {t for e in entries if rel in e.where for n in e.numbers for t in number_tokens(n, strip=False)}
        missing = [t for t in number_tokens(raw_text(rel)) if t not in allowed]
        uncovered[rel] = sorted(set(missing), key=missing.index)
    return Report(uncovered, stale)


def render(entries: list[Entry]) -> str:
    """docs/claims.md: one table per text file."""
    out = ["# Claims ledger", "",
           "Every number, date, attribution and capability the slides, labs and assignment state, with its primary source and the",
           "date it was read, or the command that measures it here. Generated from `docs/claims/*.yaml` by",
           "`python docs/build_claims.py` (do not edit by hand); `tests/test_claims.py` keeps it and the text",
           "in step. Sources were read through stored copies of the pages (the `search` tool of the kit's",
           "maintainers); 'checked' is the date we read them. UNVERIFIED entries are marked as such in the text.",
           "", "## Coverage", "",
           "- Full coverage (every number token is in the ledger, enforced by the test): "
           + ", ".join(f"`{c}`" for c in COVERED) + ".",
           *(["- Entries but not full coverage yet (the known slips and the key claims): "
              + ", ".join(f"`{c}`" for c in PARTIAL) + "."] if PARTIAL else []),
           "- What counts as a number token, and which names with digits are ignored: see the docstring of",
           "  `docs/build_claims.py`.", ""]
    by_file: dict[str, list[Entry]] = {}
    for e in entries:
        for rel in e.where:
            by_file.setdefault(rel, []).append(e)
    for rel in sorted(by_file, key=lambda r: (r not in COVERED, r)):
        out += [f"## `{rel}`", "", "| claim | as written | source | status |", "|---|---|---|---|"]
        for e in by_file[rel]:
            src = e.measured and f"`{e.measured}`" or e.source
            nums = ", ".join(e.numbers).replace("|", "\\|")
            out.append(f"| {e.claim.replace('|', '/')} | {nums} | {src.replace('|', '/')} | {e.status} |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="check coverage and staleness; write nothing")
    args = parser.parse_args(argv)
    entries = load_ledger()
    report = check(entries)
    for rel, missing in report.uncovered.items():
        if missing:
            print(f"{rel}: numbers not in the ledger: {', '.join(missing)}", file=sys.stderr)
    for line in report.stale:
        print(f"stale: {line}", file=sys.stderr)
    if not args.check:
        OUTPUT.write_text(render(entries), encoding="utf-8")
        print(f"wrote {OUTPUT.relative_to(ROOT)} ({len(entries)} entries)")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
