"""Shared drawing helpers: Korean text renders, tiny figures are labelled, overlays are exact."""

from __future__ import annotations

import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import plotly.graph_objects as go  # noqa: E402

from course_utils import viz  # noqa: E402
from course_utils.models import RANDOM_WEIGHTS_NOTE  # noqa: E402


def test_korean_titles_render_without_missing_glyphs(tmp_path):
    assert viz.use_korean_font() == "NanumGothic"
    fig, ax = plt.subplots()
    ax.set_title("원본 위의 crop 위치: 고양이")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig.savefig(tmp_path / "ko.png")
    plt.close(fig)
    assert not [w for w in caught if "missing from font" in str(w.message)]


def test_mark_random_labels_matplotlib_and_plotly_only_in_tiny_mode():
    fig = plt.figure()
    viz.mark_random(fig, True)
    assert any(t.get_text() == RANDOM_WEIGHTS_NOTE for t in fig.texts)
    fig2 = plt.figure()
    viz.mark_random(fig2, False)
    assert not fig2.texts
    plt.close("all")
    pfig = viz.mark_random(go.Figure(), True)
    assert pfig.layout.annotations[0].text == RANDOM_WEIGHTS_NOTE


def test_overlay_mask_blends_exactly_inside_the_mask():
    image = np.full((6, 6, 3), 100, dtype=np.uint8)
    mask = np.zeros((6, 6), dtype=bool)
    mask[1:5, 1:5] = True
    out = viz.overlay_mask(image, mask, color=(200, 0, 0), alpha=0.5, outline=False)
    assert out[2, 2].tolist() == [150, 50, 50]  # 0.5 * 100 + 0.5 * colour
    assert out[0, 0].tolist() == [100, 100, 100]


def test_overlay_heatmap_peak_follows_the_map():
    image = np.zeros((32, 32, 3), dtype=np.uint8)
    heat = np.zeros((4, 4))
    heat[0, 3] = 1.0  # top-right patch
    out = viz.overlay_heatmap(image, heat, cmap="gray", alpha=1.0)
    assert out[:8, 24:].mean() > out[24:, :8].mean() + 100
