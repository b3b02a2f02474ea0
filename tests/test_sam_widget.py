"""SamWidget's Python side: prompts -> session calls, undo/clear/select/export, overlay, form fallback."""

from __future__ import annotations

import base64
import io
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image
from segment_anything import SamPredictor

from course_utils.widgets import SamCanvas, SamWidget
from course_utils.widgets import sam_widget as sw


class FakeSession:
    """Torch-free stand-in: mask = pixels within 20 px of any positive point, or inside the box."""

    random_weights = True  # like a tiny SamSession: the widget reads it with course_utils.tiny.is_random

    def __init__(self):
        self.image = None
        self.calls = []

    def set_image(self, image):
        self.image = np.asarray(image)
        return self

    def predict(self, points=None, labels=None, box=None, multimask=True):
        self.calls.append({"points": None if points is None else np.array(points), "labels": labels,
                           "box": None if box is None else np.array(box), "multimask": multimask})
        if box is not None and box[0] >= box[2]:
            raise ValueError("box is not XYXY with x0 < x1")
        h, w = self.image.shape[:2]
        yy, xx = np.mgrid[:h, :w]
        mask = np.zeros((h, w), bool)
        if points is not None:
            for (x, y), lab in zip(points, labels):
                if lab == 1:
                    mask |= (xx - x) ** 2 + (yy - y) ** 2 <= 20 ** 2
        if box is not None:
            mask |= (xx >= box[0]) & (xx < box[2]) & (yy >= box[1]) & (yy < box[3])
        m = 3 if multimask else 1
        masks = np.stack([mask] * m)
        if m == 3:
            masks[0] = False  # candidate 0 empty so that selection matters
        scores = np.array([0.1, 0.9, 0.5]) if m == 3 else np.array([0.7])
        return masks, scores.astype(np.float32), np.zeros((m, 256, 256), np.float32)


@pytest.fixture
def image():
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, size=(120, 200, 3), dtype=np.uint8)


def _decode(data_url):
    header, payload = data_url.split(",", 1)
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(payload))))


def test_click_message_becomes_a_point_and_a_prediction(image):
    session = FakeSession()
    w = SamWidget(session, image, frontend="canvas")
    assert w.canvas.image_width == 200 and w.canvas.image_height == 120 and w.canvas.overlay_src == ""
    w._on_canvas_msg(w.canvas, {"event": "point", "x": 50.5, "y": 60.25, "label": 1}, [])
    np.testing.assert_array_equal(w.points, [[50.5, 60.25]])
    np.testing.assert_array_equal(w.labels, [1])
    call = session.calls[-1]
    np.testing.assert_array_equal(call["points"], [[50.5, 60.25]])
    assert call["multimask"] is True and call["box"] is None  # one click: three candidates
    assert w.selected == 1 and w.scores[1] == w.scores.max()  # best one chosen, not index 0
    # the overlay is an RGBA PNG whose alpha is exactly the chosen mask (transport size = image size here)
    alpha = _decode(w.canvas.overlay_src)[..., 3] > 0
    np.testing.assert_array_equal(alpha, w.mask)
    assert w.canvas.points == [[50.5, 60.25]] and w.canvas.labels == [1]


def test_negative_point_box_undo_clear(image):
    session = FakeSession()
    w = SamWidget(session, image, frontend="canvas")
    w._on_canvas_msg(w.canvas, {"event": "point", "x": 50, "y": 60, "label": 1}, [])
    w._on_canvas_msg(w.canvas, {"event": "point", "x": 150, "y": 20, "label": 0}, [])
    w._on_canvas_msg(w.canvas, {"event": "box", "box": [10, 10, 90, 100]}, [])
    assert session.calls[-1]["multimask"] is False  # several prompts: one mask
    np.testing.assert_array_equal(session.calls[-1]["labels"], [1, 0])
    np.testing.assert_array_equal(w.box, [10, 10, 90, 100])
    assert w.canvas.box == [10.0, 10.0, 90.0, 100.0]
    assert w.masks.shape == (1, 120, 200) and w.mask[50, 50] and not w.mask[5, 150]
    w.set_box([20, 20, 60, 60])
    w.undo()  # restores the previous box
    np.testing.assert_array_equal(w.box, [10, 10, 90, 100])
    w.undo()  # removes the box
    assert w.box is None and len(w.points) == 2
    w.undo()  # removes the negative point
    np.testing.assert_array_equal(w.labels, [1])
    w.clear()
    assert w.masks is None and w.mask is None and w.canvas.overlay_src == "" and w.canvas.points == []
    w.undo()  # nothing to undo: no error


def test_mask_choice_and_export(image, tmp_path):
    w = SamWidget(FakeSession(), image, frontend="canvas")
    with pytest.raises(RuntimeError, match="no mask to export"):
        w.export_mask(tmp_path / "m.png")
    with pytest.raises(IndexError, match="add a prompt first"):
        w.select(0)
    w.add_point(100, 60)
    assert [v for _, v in w.mask_choice.options] == [0, 1, 2]
    w.mask_choice.value = 0  # the UI toggle selects
    assert w.selected == 0 and not w.mask.any() and w.canvas.overlay_src
    w.select(2)
    png = w.export_mask(tmp_path / "m.png")
    np.testing.assert_array_equal(np.asarray(Image.open(png)) > 0, w.mask)
    npy = w.export_mask(tmp_path / "m.npy")
    np.testing.assert_array_equal(np.load(npy), w.mask)
    with pytest.raises(ValueError, match=".png or .npy"):
        w.export_mask(tmp_path / "m.jpg")
    w.export_path = tmp_path / "button.png"
    w.export_button.click()
    assert (tmp_path / "button.png").exists() and "saved" in w.status.value


def test_errors_in_ui_actions_go_to_the_status_line_and_roll_back(image):
    w = SamWidget(FakeSession(), image, frontend="canvas")
    w.add_point(10, 10)
    before = w.canvas.overlay_src
    w._on_canvas_msg(w.canvas, {"event": "box", "box": [90, 10, 20, 40]}, [])  # session refuses it
    assert "not XYXY" in w.status.value and w.box is None and w.canvas.overlay_src == before
    with pytest.raises(ValueError):  # from Python the error is raised
        w.set_box([90, 10, 20, 40])
    assert w.box is None


def test_on_change_callbacks_and_repr(image):
    seen = []
    w = SamWidget(FakeSession(), image, frontend="canvas")
    w.on_change(lambda widget: seen.append(widget.points.tolist()))
    w.add_point(1, 2)
    w.undo()
    assert seen == [[[1.0, 2.0]], []]
    assert "frontend='form'" in repr(w) and "RANDOM WEIGHTS" in w.status.value


def test_random_weights_note_comes_from_the_session_and_its_predictions(image):
    """The status line says RANDOM WEIGHTS (tiny.NOTE) when the session or its last prediction is random."""
    from course_utils import tiny

    class TrainedSession(FakeSession):
        random_weights = False

    class RandomPrediction(tuple):
        random_weights = True

    class RandomMasks(TrainedSession):
        def predict(self, **kwargs):
            return RandomPrediction(super().predict(**kwargs))

    w = SamWidget(TrainedSession(), image, frontend="canvas")
    w.add_point(50, 60)
    assert "RANDOM WEIGHTS" not in w.status.value
    w = SamWidget(RandomMasks(), image, frontend="canvas")
    assert "RANDOM WEIGHTS" not in w.status.value  # nothing predicted yet
    w.add_point(50, 60)
    assert tiny.NOTE in w.status.value
    w = SamWidget(FakeSession(), image, frontend="canvas")  # a random session: from the start
    assert tiny.NOTE in w.status.value


def test_large_images_are_downscaled_for_transport_only():
    big = np.zeros((1000, 2000, 3), np.uint8)
    w = SamWidget(FakeSession(), big, frontend="canvas", max_transport_side=500)
    assert _decode(w.canvas.image_src).shape[:2] == (250, 500)
    assert (w.canvas.image_width, w.canvas.image_height) == (2000, 1000)
    w._on_canvas_msg(w.canvas, {"event": "point", "x": 1500, "y": 800, "label": 1}, [])
    np.testing.assert_array_equal(w.points, [[1500, 800]])  # original pixels go to the session
    assert _decode(w.canvas.overlay_src).shape[:2] == (250, 500)


def test_form_fallback_adds_typed_points_and_boxes(image, monkeypatch):
    monkeypatch.setenv(sw.FRONTEND_ENV, "form")
    session = FakeSession()
    w = SamWidget(session, image)
    assert w.frontend == "form" and w.canvas is None
    blank = bytes(w.view.value)
    w._x.value, w._y.value = 30, 40
    w.mode_buttons.value = "negative"
    w.form.children[1].children[2].click()  # "Add point"
    np.testing.assert_array_equal(w.points, [[30, 40]])
    np.testing.assert_array_equal(w.labels, [0])
    w._box_text.value = "10, 20, 110, 90"
    w.form.children[2].children[1].click()  # "Set box"
    np.testing.assert_array_equal(w.box, [10, 20, 110, 90])
    assert bytes(w.view.value) != blank
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(w.view.value))), w.composite())
    w._box_text.value = "1, 2, three"
    w.form.children[2].children[1].click()
    assert "four numbers" in w.status.value


def test_bad_frontend_and_missing_image():
    with pytest.raises(ValueError, match="frontend"):
        SamWidget(FakeSession(), np.zeros((4, 4, 3), np.uint8), frontend="qt")
    with pytest.raises(RuntimeError, match="set_image"):
        SamWidget(FakeSession())


def test_with_a_tiny_sam_session_masks_equal_the_raw_predictor():
    from course_utils.images import sample_image
    from course_utils.models import load_sam
    from course_utils.sam import EmbeddingCache, SamSession

    tiny = load_sam(tiny=True, device="cpu")
    img = sample_image("chelsea")
    w = SamWidget(SamSession(tiny, cache=EmbeddingCache()), img, frontend="canvas", display_width=300)
    w._on_canvas_msg(w.canvas, {"event": "point", "x": 225.5, "y": 150.25, "label": 1}, [])
    w._on_canvas_msg(w.canvas, {"event": "point", "x": 40, "y": 30, "label": 0}, [])
    raw = SamPredictor(tiny.model)
    raw.set_image(img)
    masks, scores, _ = raw.predict(np.array([[225.5, 150.25], [40, 30]]), np.array([1, 0]), multimask_output=False)
    np.testing.assert_array_equal(w.masks, masks)
    np.testing.assert_array_equal(w.scores, scores)


def test_widget_module_loads_without_torch():
    """The widget layer imports no torch (nor the torch-using parts of course_utils)."""
    code = textwrap.dedent("""
        import sys
        sys.modules["torch"] = None  # any import of torch now fails
        from course_utils.widgets import SamWidget
        heavy = [m for m in ("torch", "segment_anything", "course_utils.models", "course_utils.sam",
                             "course_utils.bench") if sys.modules.get(m) is not None]
        assert not heavy, heavy
        print("ok", SamWidget.__name__)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "ok SamWidget" in out.stdout


def test_the_whole_widget_layer_loads_without_torch():
    """The dashboard app, the video panel and the old module name load no torch and no model code either."""
    code = textwrap.dedent("""
        import sys
        sys.modules["torch"] = None  # any import of torch now fails
        import course_utils.widgets
        from course_utils.widgets import Dashboard, VideoPanel
        from course_utils.widgets.dashboard import Dashboard as OldName
        assert OldName is Dashboard
        heavy = [m for m in ("torch", "segment_anything", "transformers", "timm", "course_utils.models",
                             "course_utils.views", "course_utils.sam", "course_utils.video", "course_utils.bench")
                 if sys.modules.get(m) is not None]
        assert not heavy, heavy
        print("ok", Dashboard.__name__, VideoPanel.__name__)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "ok Dashboard VideoPanel" in out.stdout


def test_canvas_front_end_ships_with_the_package():
    """The anywidget front end is a file inside the installed package that exports render()."""
    from pathlib import Path

    here = Path(sw.__file__).parent
    esm, css = here / "sam_widget.js", here / "sam_widget.css"
    js = esm.read_text(encoding="utf-8")
    assert str(SamCanvas._esm) == js and str(SamCanvas._css) == css.read_text(encoding="utf-8")
    assert re.search(r"^export default \{ render \};?$", js, re.M), "anywidget needs `export default { render }`"
    assert "function render({ model, el })" in js
    assert ".cu-sam-canvas" in css.read_text(encoding="utf-8")  # the class the browser test waits for
