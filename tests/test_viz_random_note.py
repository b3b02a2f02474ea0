"""Every figure reads "random weights" from the data it draws: the note once for random data, none otherwise."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from course_utils import tiny, viz  # noqa: E402
from course_utils.attention import AttentionMaps  # noqa: E402
from course_utils.concept import ConceptResult  # noqa: E402
from course_utils.sam import SamPrediction  # noqa: E402

IMAGE = np.random.default_rng(0).integers(0, 256, (24, 32, 3), dtype=np.uint8)


def _notes(fig) -> int:
    return sum(t.get_text() == tiny.NOTE for t in fig.texts)


def _maps(random_weights: bool) -> AttentionMaps:
    g = torch.Generator().manual_seed(0)
    attn = torch.rand(1, 2, 2, 1 + 6, 7, generator=g).softmax(-1)  # CLS + 2x3 grid, 2 blocks, 2 heads
    return AttentionMaps(attn=attn, num_prefix_tokens=1, grid=(2, 3), random_weights=random_weights)


def _prediction(random_weights: bool) -> SamPrediction:
    masks = np.zeros((3, 24, 32), dtype=bool)
    masks[:, 4:12, 5:20] = True
    return SamPrediction(masks, np.array([0.2, 0.9, 0.5], np.float32), np.zeros((3, 256, 256), np.float32),
                         random_weights)


def _concept(random_weights: bool) -> ConceptResult:
    masks = np.zeros((2, 24, 32), dtype=bool)
    masks[0, 2:10, 2:10], masks[1, 12:20, 15:30] = True, True
    boxes = np.array([[2, 2, 10, 10], [15, 12, 30, 20]], np.float32)
    return ConceptResult(masks, boxes, np.array([0.8, 0.6], np.float32), "cup", (24, 32), 0.5, random_weights)


FIGURES = {
    "show_attention": lambda r: viz.show_attention(IMAGE, _maps(r), layers=(0, 1)),
    "show_attention_heads": lambda r: viz.show_attention_heads(IMAGE, _maps(r), layer=-1),
    "show_sam_prediction": lambda r: viz.show_sam_prediction(IMAGE, _prediction(r), points=[(8, 8)], labels=[1]),
    "show_concept": lambda r: viz.show_concept(IMAGE, _concept(r), title="two cups"),
}


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_random_data_carries_the_note_once_and_pretrained_data_none(name):
    random_fig = FIGURES[name](True)
    assert _notes(random_fig) == 1
    viz.mark_random(random_fig, True)  # stamping again does not add a second note
    assert _notes(random_fig) == 1
    clean = FIGURES[name](False)
    assert _notes(clean) == 0 and not any("RANDOM" in t.get_text() for t in clean.texts)
    plt.close("all")


def test_the_note_does_not_overlap_the_panels():
    fig = viz.show_attention(IMAGE, _maps(True), layers=0)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    note = next(t for t in fig.texts if t.get_text() == tiny.NOTE).get_window_extent(renderer)
    for ax in fig.axes:
        assert note.y0 >= ax.get_tightbbox(renderer).y1 - 1  # the title of each panel ends below the note
    plt.close("all")


def test_attention_explorer_note_follows_the_maps():
    assert tiny.NOTE in viz.attention_explorer(IMAGE, _maps(True)).children[0].value
    clean = viz.attention_explorer(IMAGE, _maps(False))
    assert not any("RANDOM" in str(getattr(c, "value", "")) for c in clean.children)


def test_show_attention_draws_a_given_rollout_map():
    from course_utils.rollout import rollout_map

    maps = _maps(False)
    given = np.zeros((2, 3), np.float32)
    given[1, 2] = 1.0
    fig = viz.show_attention(IMAGE, maps, layers=0, rollout=given)
    np.testing.assert_array_equal(fig.axes[-1].images[0].get_array(), viz.overlay_heatmap(IMAGE, given, 0.6, "inferno"))
    default = viz.show_attention(IMAGE, maps, layers=0)  # the maps' own rollout, as rollout.rollout_map computes it
    np.testing.assert_array_equal(default.axes[-1].images[0].get_array(),
                                  viz.overlay_heatmap(IMAGE, rollout_map(maps), 0.6, "inferno"))
    plt.close("all")


def test_plain_photos_have_no_note_unless_given_random_data():
    assert _notes(viz.show_images([IMAGE, IMAGE])) == 0
    assert _notes(viz.show_images([IMAGE], data=_maps(True))) == 1
    assert _notes(viz.show_images([IMAGE], data=_maps(False))) == 0
    plt.close("all")


def test_mark_random_keeps_the_old_keywords_with_a_warning():
    with pytest.warns(DeprecationWarning):
        fig = viz.mark_random(plt.figure(), tiny=True)
    assert _notes(fig) == 1
    with pytest.warns(DeprecationWarning):
        assert _notes(viz.mark_random(plt.figure(), model=_maps(False))) == 0
    plt.close("all")


def test_rows_and_results_without_random_weights_get_no_note():
    rows = [{"model": "vit", "n_train": 10, "seed": 0, "accuracy": 0.5, "params": 100, "steps": 1, "seconds": 0.0,
             "random_weights": False}]
    assert _notes(viz.plot_data_efficiency(rows)) == 0
    plt.close("all")


def test_import_viz_loads_no_torch_no_models_and_changes_no_setting():
    code = textwrap.dedent("""
        import sys
        import matplotlib
        before = dict(matplotlib.rcParams)
        import course_utils.viz as viz
        heavy = [m for m in ("torch", "course_utils.models", "segment_anything") if m in sys.modules]
        assert not heavy, heavy
        assert dict(matplotlib.rcParams) == before, "importing viz changed matplotlib settings"
        with viz.korean_font():
            assert matplotlib.rcParams["font.family"][0] == "NanumGothic"
        assert dict(matplotlib.rcParams) == before, "korean_font() did not restore the settings"
        with viz.korean_font():
            matplotlib.interactive(True)  # what pyplot does when the inline backend is first resolved
        assert matplotlib.is_interactive(), "korean_font() reset a setting other than the font"
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr[-3000:]
