#!/usr/bin/env bash
# The proof of issue 11: `make test` from a fresh clone, N times in a row, while another CPU-bound process
# (a Python busy loop) holds one core. Prints each run's wall time, exit code and pytest's summary line.
#
#   bash benchmarks/busy_make_test.sh [N=3] [REPO=this checkout]
#
# The first run's install uses pip's cache (warm after one `make install`); every run uses a new clone,
# so each includes creating .venv and installing the kit, as CI does.
set -uo pipefail
N="${1:-3}"
REPO="$(cd "${2:-$(dirname "$0")/..}" && pwd)"
WORK="$(mktemp -d)"
python3 -c 'while True: pass' &
BUSY=$!
trap 'kill $BUSY 2>/dev/null; rm -rf "$WORK"' EXIT
echo "repo $REPO at $(git -C "$REPO" rev-parse --short HEAD); busy loop pid $BUSY; $(nproc) cores"
for i in $(seq 1 "$N"); do
  git clone -q "$REPO" "$WORK/run$i"
  [ -d "$REPO/../shared" ] && [ ! -e "$WORK/shared" ] && ln -s "$REPO/../shared" "$WORK/shared"
  start=$(date +%s)
  (cd "$WORK/run$i" && make test > "$WORK/run$i.log" 2>&1)
  rc=$?
  end=$(date +%s)
  summary=$(grep -E "^=+ .*(passed|failed).* =+$" "$WORK/run$i.log" | tail -1)
  pytest_s=$(echo "$summary" | grep -oE "in [0-9.]+s" | tr -dc '0-9.')
  echo "run $i: exit $rc, make test $((end - start)) s, pytest ${pytest_s:-?} s, load $(cut -d' ' -f1-3 /proc/loadavg): $summary"
  [ $rc -ne 0 ] && tail -40 "$WORK/run$i.log"
  rm -rf "$WORK/run$i"
done
