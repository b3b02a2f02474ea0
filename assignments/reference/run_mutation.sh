#!/usr/bin/env bash
# Mutation testing of Assignment 4's hidden tests: mutmut mutates the reference solutions
# (assignments/reference/solutions.py) and runs the notebook's test cells (test_hidden.py) on each mutant.
# A mutant the test cells do not fail "survives": a wrong solution that would get full marks.
#
# Usage (from the repository root):  bash assignments/reference/run_mutation.sh [mutmut names/globs]
# Needs the dev extra (mutmut, hypothesis). Work happens in build/mutation (deleted and made anew);
# the per-function table is printed at the end and written to build/mutation/scores.md.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
MUTMUT="$(dirname "$PY")/mutmut"
WORK="$ROOT/build/mutation"
rm -rf "$WORK" && mkdir -p "$WORK/tests"
"$PY" "$ROOT/assignments/reference/extract.py" --check   # solutions.py must match the notebook
cp "$ROOT/assignments/reference/solutions.py" "$WORK/"
cp "$ROOT/assignments/reference/"{test_hidden.py,hidden.py,extract.py} "$WORK/tests/"
cat > "$WORK/setup.cfg" <<'CFG'
[mutmut]
source_paths = solutions.py
pytest_add_cli_args = -p no:cacheprovider -q
CFG
export ASSIGNMENT4_NOTEBOOK="$ROOT/assignments/source/assignment4/assignment4.ipynb"
export OMP_NUM_THREADS=1 COURSE_UTILS_TINY=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 MPLBACKEND=Agg
cd "$WORK"
"$MUTMUT" run --max-children "${JOBS:-2}" "$@" > run.log 2>&1 || { tail -50 run.log; exit 1; }
"$PY" "$ROOT/assignments/reference/mutation_scores.py" "$WORK" | tee scores.md
