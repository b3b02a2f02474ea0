# Week 4 course kit. `make lab` to study, `make test` to check everything (what CI runs).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed
# matplotlib's font cache lives in the venv: a cache shared with another (deleted) venv of the same
# matplotlib version points at missing font files and floods figures with findfont warnings.
export MPLCONFIGDIR ?= $(abspath $(VENV))/mplconfig

.PHONY: lab test install browser-deps lint release slides clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(STAMP): $(PY) pyproject.toml
	$(PIP) install --quiet -e ".[lab,api,dev]"
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (course_utils)" >/dev/null
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install course_utils with every extra

lab: $(STAMP)  ## open JupyterLab on labs/ (set COURSE_UTILS_TINY=1 to work offline)
	$(VENV)/bin/jupyter lab labs/ $$( [ "$$(id -u)" = 0 ] && echo --allow-root )

browser-deps:  ## Debian's chromium for the browser tests (Playwright drives it; it cannot download one)
	@command -v chromium >/dev/null 2>&1 && command -v bwrap >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium chromium-driver bubblewrap >/dev/null; \
	  else echo "chromium missing: sudo apt-get install chromium (browser tests will be skipped)"; fi; }

test: $(STAMP) browser-deps  ## install everything and run the whole test suite (what CI runs)
	COURSE_UTILS_TINY=1 $(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .

release: $(STAMP)  ## regenerate assignments/release from assignments/source with nbgrader (commit the result)
	cd assignments && PATH="$(abspath $(VENV))/bin:$$PATH" nbgrader validate source/assignment4/*.ipynb 2>&1 \
	  | tee /dev/stderr | grep "passes all the tests" >/dev/null  # nbgrader validate exits 0 even on failure
	cd assignments && PATH="$(abspath $(VENV))/bin:$$PATH" nbgrader generate_assignment assignment4 --force

slides: $(STAMP)  ## build the lecture slides (reveal.js HTML + PDF) into slides/build
	$(PY) slides/build.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
