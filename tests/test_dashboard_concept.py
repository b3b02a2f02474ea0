"""Dashboard: the DINO tab's DINOv2 / DINOv3 switch and the SAM tab's SAM 3 concept-prompt box (tiny models)."""

from __future__ import annotations

import numpy as np

from course_utils.images import sample_image


def _small_images():
    return {"chelsea": sample_image("chelsea")[:160, :240], "coffee": sample_image("coffee")[:200, :300]}


def test_dino_switch_recomputes_with_dinov3():
    """Switching to DINOv3 rebuilds the tab from DINOv3 features (16 px patches, 5 prefix tokens)."""
    from course_utils.features import extract_features
    from course_utils.widgets import Dashboard

    dash = Dashboard(images=_small_images(), vit="vit_small", tiny=True)
    dash.tab.selected_index = 1
    dino_tab = dash.tabs[1]
    assert dino_tab.error is None and dash._dino_view().features.patch_size == 14
    switch = dino_tab.body.children[0].children[-1]
    switch.value = "dino3"
    assert dino_tab.error is None, dino_tab.error
    view = dash._dino_view()
    assert view.features.model_name == "dinov3_vits16" and view.features.patch_size == 16
    ref = extract_features(dash.model("dino3"), [dash.image])  # the oracle: the same extraction, directly
    np.testing.assert_allclose(view.features.cls[:1].numpy(), ref.cls.numpy(), rtol=1e-5, atol=1e-6)
    assert "dinov3_vits16" in dino_tab.body.children[0].children[0].value or "RANDOM" in \
        dino_tab.body.children[0].children[0].value


def test_sam_tab_concept_box_shows_every_instance(monkeypatch):
    """Typing a concept runs segment_concept on the current photo; bad input shows an error in the tab only."""
    from course_utils.concept import segment_concept
    from course_utils.widgets import Dashboard

    dash = Dashboard(images=_small_images(), vit="vit_small", tiny=True)
    dash.tab.selected_index = 2
    sam_tab = dash.tabs[2]
    assert sam_tab.error is None, sam_tab.error
    concept_box = sam_tab.body.children[0].children[3]  # after the SAM widget, before the video panel
    phrase, threshold, button = concept_box.children[1].children
    phrase.value, threshold.value = "cat", 0.0
    button.click()
    assert sam_tab.error is None, sam_tab.error
    shown = dash._models["last_concept"]
    ref = segment_concept(dash.model("sam3"), dash.image, "cat", threshold=0.0)
    np.testing.assert_allclose(shown.scores, ref.scores)
    assert len(shown) == 20 and concept_box.children[3].value  # picture drawn
    assert "RANDOM WEIGHTS" in concept_box.children[2].value
    phrase.value = "   "
    button.click()
    assert sam_tab.error is not None and "phrase is empty" in sam_tab.error
    dash.tab.selected_index = 1  # the other tabs keep working
    assert dash.tabs[1].error is None
