"""SamWidget in a real browser: Voila and JupyterLab 4 serve a notebook with the widget (tiny SAM),
Playwright drives Debian's chromium, and the kernel must receive clicks at the right ORIGINAL-image pixel coordinates.

The kernel writes the widget state to a JSON file after every change (``SamWidget.on_change``); the
test reads it, so what is asserted is what Python received, not what the page shows.
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest
from browser import free_port, launch, serve
from PIL import Image

pytestmark = [pytest.mark.browser, pytest.mark.slow]

IMAGE_W, IMAGE_H = 451, 300  # chelsea
DISPLAY_W = 400  # CSS px: the display is scaled, so display and image coordinates differ

CELL = """
import json, os
from course_utils.images import sample_image
from course_utils.models import load_sam
from course_utils.sam import SamSession
from course_utils.widgets import SamWidget

STATE = {state!r}
w = SamWidget(SamSession(load_sam(tiny=True, device="cpu")), sample_image("chelsea"), frontend="canvas",
              display_width={display_w})

def dump(widget):
    state = {{"points": widget.points.tolist(), "labels": widget.labels.tolist(),
             "box": None if widget.box is None else widget.box.tolist(),
             "overlay_len": len(widget.canvas.overlay_src),
             "mask_sum": None if widget.mask is None else int(widget.mask.sum()),
             "error": widget.last_error}}
    with open(STATE + ".tmp", "w") as fh:
        json.dump(state, fh)
    os.replace(STATE + ".tmp", STATE)

w.on_change(dump)
dump(w)
w
"""


def _wait_state(path: Path, predicate, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if path.exists():
            try:
                last = json.loads(path.read_text())
            except json.JSONDecodeError:
                last = None
            if last is not None and predicate(last):
                return last
        time.sleep(0.2)
    raise AssertionError(f"kernel state never matched; last state: {last}")


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)


@pytest.fixture(params=["voila", "jupyterlab"])
def server(request, tmp_path):
    """Serve a notebook that shows the widget; yields (kind, url, state_path). Always shut down."""
    kind = request.param
    state = tmp_path / "state.json"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(CELL.format(state=str(state), display_w=DISPLAY_W))]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb_path = tmp_path / "sam_widget.ipynb"
    nbformat.write(nb, nb_path)
    settings = tmp_path / "lab-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)  # no "news" pop-up over the page (JupyterLab)
    (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false", "checkForUpdates": false}')
    port = free_port()
    env = {**os.environ, "COURSE_UTILS_TINY": "1", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "COURSE_UTILS_CACHE": str(tmp_path / "cache"), "JUPYTER_PLATFORM_DIRS": "1",
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "ws"),
           "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "lab-settings")}
    if kind == "voila":
        cmd = [sys.executable, "-m", "voila", str(nb_path), "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1"]
        url, probe = f"http://127.0.0.1:{port}/", f"http://127.0.0.1:{port}/"
    else:
        cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
               "--IdentityProvider.token=", "--ServerApp.password=", f"--ServerApp.root_dir={tmp_path}",
               "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
               "--LabApp.expose_app_in_browser=True"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")
        url, probe = f"http://127.0.0.1:{port}/lab/tree/{nb_path.name}", f"http://127.0.0.1:{port}/lab"
    with serve(cmd, probe, cwd=tmp_path, env=env, log=tmp_path / f"{kind}.log"):
        yield kind, url, state


def test_clicks_reach_the_kernel_in_image_pixels_and_redraw_the_overlay(server, tmp_path):
    from playwright.sync_api import sync_playwright

    kind, url, state_path = server
    with sync_playwright() as pw:
        context = launch(pw, tmp_path / "chromium-profile")
        try:
            page = context.new_page()
            page.goto(url, timeout=60_000)
            if kind == "jupyterlab":  # run the notebook once its kernel is idle (Voila runs it by itself)
                page.wait_for_function(
                    "() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
                    " const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;"
                    " return !!k && k.status === 'idle'; }", timeout=120_000, polling=500)
                page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
            canvas = page.locator("canvas.cu-sam-canvas")
            canvas.wait_for(state="visible", timeout=120_000)
            page.wait_for_function("document.querySelector('canvas.cu-sam-canvas').width > 0", timeout=60_000)
            initial = _wait_state(state_path, lambda s: s["points"] == [])
            assert initial["overlay_len"] == 0
            canvas.scroll_into_view_if_needed()
            bbox = canvas.bounding_box()
            assert bbox is not None and abs(bbox["width"] - DISPLAY_W) < 1
            before = _pixels(canvas.screenshot())

            # 1. a left click -> positive point at display (200, 100) = image (200 * 451/400, 100 * 300/266)
            cx, cy = 200, 100
            canvas.click(position={"x": cx, "y": cy})
            s = _wait_state(state_path, lambda s: len(s["points"]) == 1)
            x, y = s["points"][0]
            assert abs(x - cx * IMAGE_W / bbox["width"]) < 0.75 and abs(y - cy * IMAGE_H / bbox["height"]) < 0.75
            assert s["labels"] == [1] and s["error"] is None
            assert s["overlay_len"] > 0 and s["mask_sum"] > 0

            # the canvas redraws the overlay: many pixels change, far more than the point marker alone
            deadline = time.monotonic() + 20
            changed = 0.0
            while time.monotonic() < deadline:
                after = _pixels(canvas.screenshot())
                changed = float((np.abs(after - before).sum(axis=2) > 30).mean())
                if changed > 0.05:
                    break
                time.sleep(0.3)
            assert changed > 0.05, f"only {changed:.1%} of the canvas changed after the click"

            # 2. a right click -> negative point
            canvas.click(position={"x": 50, "y": 40}, button="right")
            s = _wait_state(state_path, lambda s: len(s["points"]) == 2)
            page.screenshot(path=str(tmp_path / "after_right_click.png"))
            page.keyboard.press("Escape")  # close any context menu of the host page
            canvas.scroll_into_view_if_needed()
            bbox = canvas.bounding_box()
            assert bbox is not None
            assert s["labels"] == [1, 0]
            assert abs(s["points"][1][0] - 50 * IMAGE_W / bbox["width"]) < 0.75

            # 3. a drag from bottom-right to top-left -> an XYXY box in image pixels
            x0, y0 = bbox["x"] + 300, bbox["y"] + 220
            x1, y1 = bbox["x"] + 120, bbox["y"] + 60
            page.mouse.move(x0, y0)
            page.mouse.down()
            page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, steps=4)
            page.mouse.move(x1, y1, steps=4)
            page.mouse.up()
            s = _wait_state(state_path, lambda s: s["box"] is not None)
            sx, sy = IMAGE_W / bbox["width"], IMAGE_H / bbox["height"]
            expected = [120 * sx, 60 * sy, 300 * sx, 220 * sy]
            assert np.allclose(s["box"], expected, atol=0.75), (s["box"], expected)
            assert len(s["points"]) == 2 and s["error"] is None
        finally:
            context.close()
