"""Every lab notebook runs top to bottom in tiny mode, says its weights are random, and shows figures.

No test here measures how long a notebook took: the per-cell timeout of `run_notebook` only catches a
hang. Lab timings belong in benchmarks/.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from nbrun import ROOT, NotebookFailed, count_images, figure_texts, outputs_text, run_notebook

from course_utils.models import RANDOM_WEIGHTS_NOTE

LABS = sorted((ROOT / "labs").glob("*.ipynb"))
#: What each loader prints when tiny mode hands out a random model (course_utils.models._announce_tiny).
TINY_ANNOUNCEMENT = "[course_utils] TINY MODE:"


@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("path", LABS, ids=[p.name for p in LABS])
def test_lab_runs_in_tiny_mode(path: Path):
    nb = run_notebook(path)
    text = outputs_text(nb)
    assert count_images(nb) >= 1, "a lab shows pictures"
    if path.name.startswith("lab4_"):
        # every lab loads at least one model; in tiny mode the loader says it is random ...
        assert TINY_ANNOUNCEMENT in text, f"{path.name}: no loader said it handed out random weights"
    figures = figure_texts(nb)
    if path.name in {"lab4_1_vit_attention.ipynb", "lab4_2_dinov2.ipynb", "lab4_3_sam.ipynb"}:
        # ... and the figures drawn from the models' outputs carry the note (viz.mark_random)
        marked = [f for f in figures if any(RANDOM_WEIGHTS_NOTE in t for t in f)]
        assert marked, f"{path.name}: none of its {len(figures)} figures says RANDOM WEIGHTS"


@pytest.mark.parametrize("path", LABS, ids=[p.name for p in LABS])
def test_lab_committed_without_outputs(path: Path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    dirty = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code" and (c.get("outputs") or
                                                                                    c.get("execution_count"))]
    assert not dirty, f"cells {dirty} carry outputs; clear them before committing"


OFFLINE_LABS = [p for p in LABS if p.name.startswith("lab4_")]


@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("path", OFFLINE_LABS, ids=[p.name for p in OFFLINE_LABS])
def test_lab_without_weights_stops_with_the_fix(path: Path, tmp_path):
    """Offline and not in tiny mode, a lab stops at its first pretrained load and names the fixes."""
    with pytest.raises(NotebookFailed) as info:
        run_notebook(path, env={"COURSE_UTILS_TINY": "0", "COURSE_UTILS_CACHE": str(tmp_path / "empty"),
                                "HF_HUB_OFFLINE": "1"})
    text = str(info.value)
    assert "WeightsUnavailableError" in text and "fetch-weights" in text and "COURSE_UTILS_TINY=1" in text
