"""Every lab notebook runs top to bottom in tiny mode, within its time budget, and shows figures."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
from nbrun import ROOT, NotebookFailed, count_images, outputs_text, run_notebook

LABS = sorted((ROOT / "labs").glob("*.ipynb"))
# Seconds allowed on a 2-core CI machine in tiny mode (from the issues' "done when").
BUDGET = {"lab4_3_sam.ipynb": 180}


@pytest.mark.slow
@pytest.mark.parametrize("path", LABS, ids=[p.name for p in LABS])
def test_lab_runs_in_tiny_mode(path: Path):
    budget = BUDGET.get(path.name, 120)
    # Headless execution here sometimes stalls between two cells, with the kernel idle and the client
    # waiting (seen after ipywidgets.interact cells; never in JupyterLab). A stalled run is repeated once,
    # loudly; the second run must pass every check.
    try:
        nb, seconds = run_notebook(path, timeout=100)
    except NotebookFailed as exc:
        nb, seconds = None, float("inf")
        first = str(exc)[-300:]
    else:
        first = f"{seconds:.0f} s"
    if seconds >= budget:
        warnings.warn(f"{path.name}: first run stalled or failed ({first}); running it again", stacklevel=1)
        nb, seconds = run_notebook(path, timeout=100)
    assert seconds < budget, f"{path.name} took {seconds:.0f} s"
    text = outputs_text(nb)
    assert "TINY MODE" in text or "RANDOM WEIGHTS" in text or "random" in text.lower()
    assert count_images(nb) >= 1, "a lab shows pictures"


@pytest.mark.parametrize("path", LABS, ids=[p.name for p in LABS])
def test_lab_committed_without_outputs(path: Path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    dirty = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code" and (c.get("outputs") or
                                                                                    c.get("execution_count"))]
    assert not dirty, f"cells {dirty} carry outputs; clear them before committing"


OFFLINE_LABS = [p for p in LABS if p.name.startswith("lab4_")]


@pytest.mark.slow
@pytest.mark.parametrize("path", OFFLINE_LABS, ids=[p.name for p in OFFLINE_LABS])
def test_lab_without_weights_stops_with_the_fix(path: Path, tmp_path):
    """Offline and not in tiny mode, a lab stops at its first pretrained load and names the fixes."""
    with pytest.raises(NotebookFailed) as info:
        run_notebook(path, env={"COURSE_UTILS_TINY": "0", "COURSE_UTILS_CACHE": str(tmp_path / "empty"),
                                "HF_HUB_OFFLINE": "1"})
    text = str(info.value)
    assert "WeightsUnavailableError" in text and "fetch-weights" in text and "COURSE_UTILS_TINY=1" in text
