"""Dashboard views and panels, driven from Python (the browser test is test_browser_dashboard.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_utils import load_dinov2, load_vit, sample_image
from course_utils.attention import capture_attention
from course_utils.rollout import rollout_map
from course_utils.views import DinoView, VitAttentionView, _model_input, input_to_image_coords
from course_utils.viz import overlay_heatmap


def _coordinate_image(height: int, width: int) -> np.ndarray:
    """R encodes x, G encodes y (in units of 1/255 of the side): a picture that knows where it is."""
    yy, xx = np.mgrid[0:height, 0:width]
    return np.stack([xx * 255 / (width - 1), yy * 255 / (height - 1), np.zeros_like(xx)], -1).round().astype(np.uint8)


@pytest.mark.parametrize("name, shape", [("vit_base", (300, 451)), ("dinov2_vits14", (427, 300))])
def test_input_to_image_coords_inverts_the_real_transform(name, shape):
    loaded = load_vit(name) if name.startswith("vit") else load_dinov2(name)
    image = _coordinate_image(*shape)
    _, seen = _model_input(loaded, image)
    in_h, in_w = seen.shape[:2]
    probes = np.array([[10, 10], [in_w / 2, in_h / 2], [in_w - 12, in_h - 30]])
    mapped = input_to_image_coords(probes, image.shape, (in_h, in_w), loaded.preprocess.config["crop_pct"])
    for (u, v), (x, y) in zip(probes, mapped):
        r, g = seen[int(v), int(u), :2].astype(float)
        # The pixel the model saw at (u, v) carries its original coordinates in R and G.
        assert abs(r / 255 * (shape[1] - 1) - x) < 0.02 * shape[1] + 2
        assert abs(g / 255 * (shape[0] - 1) - y) < 0.02 * shape[0] + 2


def test_vit_view_matches_capture_and_rollout():
    loaded = load_vit("vit_small")
    image = sample_image("chelsea")
    view = VitAttentionView.compute(loaded, image)
    maps = capture_attention(loaded.model, loaded.preprocess(image)[None])
    torch.testing.assert_close(view.maps.attn, maps.attn)
    np.testing.assert_array_equal(view.head_overlay(3, 2), overlay_heatmap(view.seen, maps.patch_map(3, 2)))
    np.testing.assert_array_equal(view.rollout_overlay("max", 0.5),
                                  overlay_heatmap(view.seen, rollout_map(maps, "max", 0.5)))
    assert view.tiny and view.num_layers == 12 and view.num_heads == 6


def test_dino_view_neighbours_and_cluster_seeds():
    loaded = load_dinov2("dinov2_vits14")
    image = sample_image("motorcycle_left")
    gallery = {"same": image.copy(), "coffee": sample_image("coffee"), "rocket": sample_image("rocket")}
    view = DinoView.compute(loaded, image, gallery, progress=False)
    # The identical photo is the nearest neighbour with cosine 1, whatever the weights.
    best, score = view.neighbours(3)[0]
    assert best == "same" and score == pytest.approx(1.0, abs=1e-5)
    k = 4
    labels = view.labels(k)
    coords, point_labels = view.cluster_seed_points(k, positive=2)
    assert sorted(point_labels.tolist()) == sorted([1 if c == 2 else 0 for c in np.unique(labels)])
    # Each seed, mapped forward into the model input, falls on a patch of its own cluster.
    h, w = view.grid
    in_h, in_w = view.seen.shape[:2]
    crop = view.crop_pct
    scale = min(image.shape[:2]) / int(np.floor(min(in_h, in_w) / crop))
    top = (round(image.shape[0] / scale) - in_h) / 2
    left = (round(image.shape[1] / scale) - in_w) / 2
    for (x, y), lab, cluster in zip(coords, point_labels, np.unique(labels)):
        col = int((x / scale - left) * w / in_w)
        row = int((y / scale - top) * h / in_h)
        assert labels[row, col] == cluster
        assert lab == int(cluster == 2)
    with pytest.raises(ValueError, match="out of range"):
        view.cluster_seed_points(k, positive=k)


# --------------------------------------------------------------------------- the widget, from Python


def _small_images():
    return {n: sample_image(n) for n in ["chelsea", "coffee", "rocket"]}


def test_dashboard_tabs_build_lazily_and_sliders_redraw():
    from course_utils.widgets import Dashboard

    dash = Dashboard(images=_small_images(), vit="vit_small", tiny=True)
    vit_tab, dino_tab = dash.tabs[0], dash.tabs[1]
    assert vit_tab.built and not dino_tab.built and vit_tab.error is None
    vit_box = vit_tab.body.children[0]
    sliders = [w for w in vit_box.children[1].children]
    layer = sliders[0]
    images = vit_box.children[3].children[0].children[1]
    before = images.value
    layer.value = 0
    assert images.value != before  # another layer, another picture
    dash.tab.selected_index = 1
    assert dino_tab.built and dino_tab.error is None
    # The neighbours table lists the other photos, never the query itself.
    html_text = dino_tab.body.children[0].children[3].value
    assert "coffee" in html_text and "rocket" in html_text and ">chelsea<" not in html_text


def test_an_error_in_one_tab_leaves_the_others_working():
    from course_utils.widgets import Dashboard

    dash = Dashboard(images=_small_images(), vit="sam_vit_b", dino="dinov2_vits14", tiny=True)
    assert dash.tabs[0].error is not None and "cu-error" in dash.tabs[0].status.value
    dash.tab.selected_index = 1
    assert dash.tabs[1].error is None and dash.tabs[1].body.children
    # A new photo rebuilds the open tab for that photo.
    dash.chooser.value = "rocket"
    assert dash.tabs[1].built and dash.tabs[1].error is None


def test_uploaded_image_becomes_the_current_photo():
    import io

    from PIL import Image

    from course_utils.widgets import Dashboard

    dash = Dashboard(images=_small_images(), vit="vit_small", tiny=True)
    buf = io.BytesIO()
    Image.fromarray(sample_image("astronaut")).save(buf, format="PNG")
    dash._uploaded({"new": ({"name": "me.png", "content": memoryview(buf.getvalue())},)})
    assert dash.image_name == "upload: me.png"
    np.testing.assert_array_equal(dash.image, sample_image("astronaut"))
    dash._uploaded({"new": ({"name": "bad.png", "content": memoryview(b"not an image")},)})
    assert dash.image_name == "upload: me.png"  # a bad upload changes nothing


def test_sam_tab_seeds_point_prompts_from_dino_clusters():
    from course_utils.widgets import Dashboard

    dash = Dashboard(images=_small_images(), vit="vit_small", tiny=True)
    dash.tab.selected_index = 2
    sam_tab = dash.tabs[2]
    assert sam_tab.error is None, sam_tab.error
    box = sam_tab.body.children[0]
    k, positive, button = box.children[1].children
    k.value, positive.value = 3, 1
    button.click()
    assert sam_tab.error is None, sam_tab.error
    widget = box.children[2]
    view = dash._dino_view()
    coords, labels = view.cluster_seed_points(3, 1)
    np.testing.assert_allclose(widget.points, coords, atol=1e-3)
    assert widget.labels.tolist() == labels.tolist() and labels.sum() == 1
    assert widget.masks is not None and widget.masks.shape[1:] == dash.image.shape[:2]
