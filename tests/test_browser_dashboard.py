"""The integrated dashboard in a real browser: Voila (the same command the Space runs) in tiny mode,
Playwright driving Debian's chromium: every tab opens without error, a slider changes the figure,
and a screenshot is saved under test-artifacts/."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest
from browser import free_port, hangul_without_glyph, launch, serve

from course_utils import space

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"


def _make_run(directory: Path) -> Path:
    """A small benchmark run (tiny local captioner on the offline mini set) for the Benchmark tab."""
    from course_utils.bench import TransformersProvider, load_mini_captions, run_benchmark

    task = load_mini_captions()
    task.items = task.items[:3]
    run_benchmark(task, [TransformersProvider("blip_caption_base", tiny=True)], run_dir=directory, progress=False)
    return directory


@pytest.fixture
def voila_dashboard(tmp_path):
    notebook = space.dashboard_notebook(tmp_path / "dashboard.ipynb")
    run_dir = _make_run(tmp_path / "run")
    port = free_port()
    env = {**os.environ, "COURSE_UTILS_TINY": "1", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "COURSE_UTILS_CACHE": str(tmp_path / "cache"), "COURSE_UTILS_RUN": str(run_dir),
           "JUPYTER_PLATFORM_DIRS": "1", "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    cmd = space.voila_command(notebook, port, executable=[sys.executable, "-m", "voila"])
    url = f"http://127.0.0.1:{port}/"
    with serve(cmd, url, cwd=tmp_path, env=env, log=tmp_path / "voila.log"):
        yield url


def _panel(page):
    """The visible tab panel of the dashboard."""
    return page.locator(".widget-tab-contents > .lm-Widget:not(.lm-mod-hidden)").first


def _image_sources(page) -> list[str]:
    return _panel(page).locator("img").evaluate_all("els => els.map(e => e.src)")


def test_every_tab_opens_and_a_slider_changes_the_figure(voila_dashboard, tmp_path):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        context = launch(pw, tmp_path / "profile")
        try:
            page = context.new_page()
            page.goto(voila_dashboard, timeout=120_000)
            tabs = page.locator(".lm-TabBar-tab, .p-TabBar-tab")
            tabs.first.wait_for(timeout=180_000)
            assert [t.strip() for t in tabs.all_inner_texts()] == ["ViT attention", "DINOv2", "SAM", "Benchmark"]
            assert "RANDOM WEIGHTS" in page.content()
            # Korean labels have glyphs (a machine without a Korean font draws them as empty boxes)
            checked, missing = hangul_without_glyph(page)
            assert checked > 0 and not missing, f"Korean labels drawn as empty boxes: {missing[:10]}"

            # ViT tab: wait for the attention picture, then move the layer slider with the keyboard.
            _panel(page).locator("img").nth(1).wait_for(timeout=180_000)
            before = _image_sources(page)
            handle = _panel(page).locator(".noUi-handle").first
            handle.focus()
            for _ in range(3):
                page.keyboard.press("ArrowLeft")
            deadline = time.monotonic() + 60
            while _image_sources(page) == before and time.monotonic() < deadline:
                time.sleep(0.3)
            assert _image_sources(page) != before, "moving the layer slider did not change the figure"
            page.screenshot(path=str(ARTIFACTS / "dashboard_vit.png"), full_page=True)

            expectations = {
                "DINOv2": "img",  # PCA and k-means pictures
                "SAM": "canvas.cu-sam-canvas",  # the interactive widget
                "Benchmark": "table",  # the results table of the saved run
            }
            for title, selector in expectations.items():
                tabs.filter(has_text=title).first.click()
                _panel(page).locator(selector).first.wait_for(state="attached", timeout=180_000)
                assert _panel(page).locator(".cu-error").count() == 0, _panel(page).inner_text()
                page.screenshot(path=str(ARTIFACTS / f"dashboard_{title.lower()}.png"), full_page=True)
        finally:
            context.close()
