"""Per-function mutation score of the hidden tests, from a finished ``mutmut run`` (see run_mutation.sh).

Reads mutmut's result file ``mutants/solutions.py.meta`` in the given work folder and the list of
equivalent mutants kept beside this script (``equivalent_mutants.txt``: one ``name  reason`` per line),
and prints a Markdown table: per graded function, mutants generated, killed (a test cell fails or
times out), equivalent, survived, and the score = killed / (generated - equivalent).
"""

from __future__ import annotations

import json
import re
import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
EQUIVALENT = HERE / "equivalent_mutants.txt"
KILLED = {1, 3, 36, 24, -24, 152, 255, -11, -9}  # failed, pytest error, timeout, crashed
SURVIVED = {0}
# Helper classes graded inside another function's test cell.
GRADED_AS = {"Mlp": "Block"}


def equivalent_mutants(path: Path = EQUIVALENT) -> dict[str, str]:
    """mutant name -> one-line reason why it cannot be told apart from the reference."""
    out = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.startswith("#"):
                name, _, reason = line.strip().partition(" ")
                out[name] = reason.strip()
    return out


def function_of(mutant: str) -> str:
    """'solutions.x_dino_loss__mutmut_3' -> 'dino_loss'; 'solutions.xǁBlockǁforward__mutmut_1' -> 'Block'."""
    name = mutant.split(".", 1)[1].rsplit("__mutmut_", 1)[0]
    if name.startswith("xǁ"):
        owner = name.split("ǁ")[1]
        return GRADED_AS.get(owner, owner)
    return re.sub(r"^x_", "", name)


def scores(work: Path) -> dict[str, dict[str, int]]:
    meta = json.loads((work / "mutants" / "solutions.py.meta").read_text(encoding="utf-8"))
    equivalent = equivalent_mutants()
    table: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for mutant, code in meta["exit_code_by_key"].items():
        row = table[function_of(mutant)]
        row["generated"] += 1
        if mutant in equivalent:
            row["equivalent"] += 1
            if code in KILLED:
                print(f"warning: {mutant} is listed as equivalent but was killed", file=sys.stderr)
        elif code in KILLED:
            row["killed"] += 1
        elif code in SURVIVED:
            row["survived"] += 1
            print(f"survived: {mutant}", file=sys.stderr)
        else:
            row["other"] += 1
            print(f"not decided (exit code {code}): {mutant}", file=sys.stderr)
    return table


def main(argv: list[str]) -> int:
    work = Path(argv[1]) if len(argv) > 1 else HERE.parents[1] / "build" / "mutation"
    table = scores(work)
    print("| function | mutants | killed | equivalent | survived | score |")
    print("|---|---:|---:|---:|---:|---:|")
    worst = 1.0
    for name, row in table.items():
        relevant = row["generated"] - row["equivalent"]
        score = row["killed"] / relevant if relevant else 1.0
        worst = min(worst, score)
        print(f"| `{name}` | {row['generated']} | {row['killed']} | {row['equivalent']} | "
              f"{row['survived'] + row['other']} | {100 * score:.0f}% |")
    total = {key: sum(row[key] for row in table.values()) for key in ("generated", "killed", "equivalent")}
    relevant = total["generated"] - total["equivalent"]
    print(f"| **all** | {total['generated']} | {total['killed']} | {total['equivalent']} | "
          f"{relevant - total['killed']} | {100 * total['killed'] / max(relevant, 1):.0f}% |")
    return 0 if worst >= 0.9 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
