"""The lecture slides build to offline reveal.js HTML and a PDF, and render completely in Chromium."""

from __future__ import annotations

import importlib.util
import re
import shutil
from pathlib import Path

import pytest
from browser import hangul_without_glyph

# One worker builds the slides once for every test of this file (pytest-xdist --dist loadgroup).
pytestmark = pytest.mark.xdist_group("slides")

ROOT = Path(__file__).resolve().parents[1]
SLIDES = ROOT / "slides"


def _load_build():
    spec = importlib.util.spec_from_file_location("slides_build", SLIDES / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def build_module():
    return _load_build()


@pytest.fixture(scope="module")
def built(build_module, tmp_path_factory):
    """Build HTML and PDF once into a temporary directory (npm ci runs if node_modules is missing)."""
    if shutil.which("npm") is None and not (SLIDES / "node_modules").exists():
        pytest.fail("npm is missing and slides/node_modules is absent: the slides build cannot fetch reveal.js")
    out = tmp_path_factory.mktemp("slides_build")
    return build_module.build(pdf=True, out=out)


def _pdf_pages(pdf: Path) -> int:
    try:
        from pypdf import PdfReader
    except ImportError:
        return len(re.findall(rb"/Type\s*/Page(?!s)", pdf.read_bytes()))
    return len(PdfReader(str(pdf)).pages)


def test_notebook_is_committed_without_outputs():
    """The source notebook carries no outputs or execution counts (the build executes it)."""
    import nbformat

    nb = nbformat.read(SLIDES / "week4_lecture.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "expected code cells that draw the figures"
    assert all(not c.outputs and c.execution_count is None for c in code)
    assert nb.cells[0].metadata["slideshow"]["slide_type"] in ("slide", "skip")


@pytest.mark.slow
@pytest.mark.browser
def test_html_is_offline(built):
    """No script, stylesheet or image is loaded from the network."""
    html = built["html"].read_text(encoding="utf-8")
    # Warnings printed while the figures were drawn would show up as pink boxes on the slides.
    assert 'data-mime-type="application/vnd.jupyter.stderr"' not in html, "a slide cell wrote to stderr"
    external = re.findall(r"""(?:src|href)=["'](https?:)?//[^"']+""", html)
    assert not external, f"external resources in the HTML: {external[:5]}"
    for asset in ("reveal.js/dist/reveal.js", "reveal.js/dist/reveal.css", "katex/katex.min.js",
                  "fonts/NanumGothic-Regular.ttf"):
        assert (built["html"].parent / asset).is_file(), asset


@pytest.mark.slow
@pytest.mark.browser
def test_slides_render_in_chromium(built, build_module):
    """Headless Chromium, network blocked: every slide is there, no image is broken, nothing overflows."""
    from playwright.sync_api import sync_playwright

    expected = build_module.slide_count()
    blocked: list[str] = []

    def route(r):
        url = r.request.url
        if url.startswith(("file://", "data:", "http://127.0.0.1")):
            r.continue_()
        else:
            blocked.append(url)
            r.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=build_module.CHROMIUM_EXECUTABLE(),
                                    args=build_module.CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": build_module.SLIDE_WIDTH, "height": build_module.SLIDE_HEIGHT})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.route("**/*", route)
            page.goto(built["html"].as_uri())
            page.wait_for_selector("body[data-reveal-ready]", timeout=30_000)
            page.evaluate("document.fonts.ready")
            assert page.evaluate("Reveal.getTotalSlides()") == expected
            leaves = page.evaluate("document.querySelectorAll('.reveal .slides section:not(.stack)').length")
            assert leaves == expected
            images = page.evaluate("Array.from(document.images).map(i => [i.complete, i.naturalWidth])")
            assert len(images) >= 10, "expected the code-drawn figures as images"
            broken = [i for i, (complete, width) in enumerate(images) if not complete or width == 0]
            assert not broken, f"broken images: {broken}"
            assert page.evaluate("document.querySelectorAll('.katex').length") > 5, "KaTeX did not render"
            fonts_ok = page.evaluate("document.fonts.check('24px NanumGothic', '한국어')")
            assert fonts_ok, "the Korean web font did not load"
            checked, missing = hangul_without_glyph(page)
            assert checked > 20 and not missing, f"Korean text drawn as empty boxes: {missing[:10]}"
            heights = build_module.slide_heights(page)
            too_tall = [(i + 1, h) for i, h in enumerate(heights) if h > build_module.SLIDE_HEIGHT]
            assert not too_tall, f"slides whose content overflows: {too_tall}"
            assert not errors, errors
        finally:
            browser.close()
    assert not blocked, f"the page tried to reach the network: {blocked[:5]}"


@pytest.mark.slow
@pytest.mark.browser
def test_pdf_has_one_page_per_slide(built, build_module):
    """The PDF exists and has (at least) one page per slide."""
    pdf = built["pdf"]
    assert pdf.is_file() and pdf.stat().st_size > 50_000
    assert _pdf_pages(pdf) >= build_module.slide_count()


def _fake_npm(folder: Path, script: str) -> Path:
    """An ``npm`` on PATH that runs ``script`` (sh) in its working folder and counts its calls."""
    npm = folder / "bin" / "npm"
    npm.parent.mkdir()
    npm.write_text(f"#!/bin/sh\necho x >> {folder / 'calls'}\n{script}\n")
    npm.chmod(0o755)
    return npm


@pytest.mark.parametrize("script, calls, ok", [
    # npm exits 0 but leaves a file out (npm/cli issue 4140), the second install is complete
    ('mkdir -p node_modules/pkg; [ -s ../calls2 ] && touch node_modules/pkg/b; echo x >> ../calls2; touch node_modules/pkg/a',
     2, True),
    ("mkdir -p node_modules/pkg; touch node_modules/pkg/a", 2, False),  # never complete: a clear error
    ("mkdir -p node_modules/pkg/leftover; exit 1", 2, False),  # npm fails twice: a clear error
])
def test_npm_install_is_checked_and_retried_once(build_module, tmp_path, monkeypatch, script, calls, ok):
    here = tmp_path / "slides"
    here.mkdir()
    npm = _fake_npm(tmp_path, script.replace("../calls2", str(tmp_path / "calls2")))
    monkeypatch.setenv("PATH", f"{npm.parent}:/usr/bin:/bin")
    monkeypatch.setattr(build_module, "HERE", here)
    monkeypatch.setattr(build_module, "NODE_MODULES", here / "node_modules")
    monkeypatch.setattr(build_module, "ASSETS", [("pkg/a", "a"), ("pkg/b", "b")])
    if ok:
        build_module.ensure_node_modules()
        assert (here / "node_modules" / "pkg" / "b").exists()
    else:
        with pytest.raises(build_module.MissingToolError, match="failed 2 times.*make slides-deps"):
            build_module.ensure_node_modules()
    assert len((tmp_path / "calls").read_text().split()) == calls
    if ok:
        build_module.ensure_node_modules()  # complete: no further npm call
        assert len((tmp_path / "calls").read_text().split()) == calls
