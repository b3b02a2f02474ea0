# Week 4 course kit. `make lab` to study, `make test` to check everything (what CI runs).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed
# matplotlib's font cache lives in the venv: a cache shared with another (deleted) venv of the same
# matplotlib version points at missing font files and floods figures with findfont warnings.
export MPLCONFIGDIR ?= $(abspath $(VENV))/mplconfig

.PHONY: lab test install browser-deps slides-deps lint release mutation slides clean

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

# Debian packages the tests use: chromium for the browser tests (Playwright drives it; it cannot download
# one), a Korean font (without it chromium draws every Korean label as an empty box) and bubblewrap (the
# sandbox that autograding runs each student's kernel in).
APT_PACKAGES := chromium chromium-driver fonts-noto-cjk bubblewrap

browser-deps:  ## Debian's chromium, a Korean font and bubblewrap for the browser and grading tests
	@if ! command -v chromium >/dev/null 2>&1 || ! command -v bwrap >/dev/null 2>&1 \
	    || ! fc-list :lang=ko 2>/dev/null | grep -q .; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq $(APT_PACKAGES) >/dev/null; \
	  else echo "missing: sudo apt-get install $(APT_PACKAGES) (browser tests will be skipped)"; fi; fi

# pytest-xdist workers; each test process uses one torch thread (see tests/conftest.py). Tests that share
# an expensive module fixture (the generated nbgrader course, the built slides) carry an xdist_group mark
# so that one worker builds it once.
JOBS ?= 2

# reveal.js, KaTeX and the Korean font for the slides, from the npm registry (pinned by package-lock.json);
# installed before the tests start rather than inside a loaded test run.
slides-deps: $(STAMP)  ## the slides' npm packages into slides/node_modules
	$(PY) -c "import runpy; runpy.run_path('slides/build.py')['ensure_node_modules']()"

test: $(STAMP) browser-deps slides-deps  ## install everything and run the whole test suite (what CI runs)
	COURSE_UTILS_TINY=1 $(PY) -m pytest -n $(JOBS) --dist loadgroup

lint: $(STAMP)
	$(VENV)/bin/ruff check .

release: $(STAMP)  ## regenerate assignments/release from assignments/source with nbgrader (commit the result)
	cd assignments && PATH="$(abspath $(VENV))/bin:$$PATH" nbgrader validate source/assignment4/*.ipynb 2>&1 \
	  | tee /dev/stderr | grep "passes all the tests" >/dev/null  # nbgrader validate exits 0 even on failure
	cd assignments && PATH="$(abspath $(VENV))/bin:$$PATH" nbgrader generate_assignment assignment4 --force

mutation: $(STAMP)  ## mutation score of Assignment 4's hidden tests per function (mutmut, 6-11 min on 2 cores)
	PYTHON="$(abspath $(PY))" bash assignments/reference/run_mutation.sh

slides: $(STAMP)  ## build the lecture slides (reveal.js HTML + PDF) into slides/build
	$(PY) slides/build.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
