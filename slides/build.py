"""Build the Week 4 lecture slides: executed notebook -> offline reveal.js HTML -> PDF.

Usage (from the repository root; ``make slides`` runs the first form)::

    python slides/build.py               # HTML and PDF into slides/build/
    python slides/build.py --no-pdf      # HTML only (no browser needed)
    python slides/build.py --screenshots # also one PNG per slide in slides/build/screens/

Steps:
1. ``npm ci`` in slides/ when slides/node_modules is missing (reveal.js, KaTeX and the Nanum
   Gothic font come from the npm registry, pinned by package-lock.json; nothing from a CDN).
2. Execute ``week4_lecture.ipynb`` with nbclient (working directory slides/, so the notebook
   imports ``figures.py``); every figure is drawn during the build.
3. Export with nbconvert's slides exporter and the offline template in ``template/`` (code
   inputs hidden), and copy reveal.js, KaTeX and the font next to the HTML.
4. Print ``?print-pdf`` to PDF with headless Chromium through Playwright, one page per slide.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
NOTEBOOK = HERE / "week4_lecture.ipynb"
BUILD = HERE / "build"
NODE_MODULES = HERE / "node_modules"
TEMPLATE_DIR = HERE / "template"
TEMPLATE_NAME = "course_reveal"
SLIDE_WIDTH, SLIDE_HEIGHT = 1280, 720
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

# (source inside node_modules, destination inside build/)
ASSETS = [
    ("reveal.js/dist", "reveal.js/dist"),
    ("reveal.js/plugin/notes", "reveal.js/plugin/notes"),
    ("reveal.js/LICENSE", "reveal.js/LICENSE"),
    ("katex/dist/katex.min.js", "katex/katex.min.js"),
    ("katex/dist/katex.min.css", "katex/katex.min.css"),
    ("katex/dist/fonts", "katex/fonts"),
    ("katex/dist/contrib/auto-render.min.js", "katex/contrib/auto-render.min.js"),
    ("katex/LICENSE", "katex/LICENSE"),
    ("@expo-google-fonts/nanum-gothic/400Regular/NanumGothic_400Regular.ttf", "fonts/NanumGothic-Regular.ttf"),
    ("@expo-google-fonts/nanum-gothic/700Bold/NanumGothic_700Bold.ttf", "fonts/NanumGothic-Bold.ttf"),
    ("@expo-google-fonts/nanum-gothic/LICENSE_FONT", "fonts/LICENSE-NanumGothic-OFL.txt"),
]


def log(message: str) -> None:
    print(f"[slides] {message}", flush=True)


def slide_count(notebook: Path = NOTEBOOK) -> int:
    """Number of slides (``slide`` and ``subslide`` cells) in the notebook: the HTML and PDF must match it."""
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    return sum(cell.get("metadata", {}).get("slideshow", {}).get("slide_type") in ("slide", "subslide")
               for cell in nb["cells"])


class MissingToolError(RuntimeError):
    """A tool or package the build needs (npm packages, Chromium) is missing; the message names the fix."""


def ensure_node_modules(attempts: int = 2) -> None:
    """Install the pinned npm packages when slides/node_modules is missing or incomplete.

    npm can exit 0 and still leave files out (its tar extraction logs ``TAR_ENTRY_ERROR ENOENT`` and goes
    on: npm/cli issue 4140, open when read on 2026-12-01; seen here on a loaded machine). So the result is
    checked, and an incomplete install is deleted and installed once more before giving up.
    """
    needed = [NODE_MODULES / src for src, _ in ASSETS]
    if all(p.exists() for p in needed):
        return
    npm = shutil.which("npm")
    if npm is None:
        raise MissingToolError("npm is missing: install Node.js (e.g. `apt-get install nodejs npm`) so that the build "
                          "can fetch reveal.js, KaTeX and the font from the npm registry.")
    problem = ""
    for attempt in range(1, attempts + 1):
        if NODE_MODULES.exists():
            shutil.rmtree(NODE_MODULES)  # npm ci's own removal fails on a half-extracted tree (ENOTEMPTY)
        log(f"installing reveal.js, KaTeX and Nanum Gothic with `npm ci` (attempt {attempt} of {attempts}) ...")
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=HERE)
        missing = [str(p.relative_to(HERE)) for p in needed if not p.exists()]
        if done.returncode == 0 and not missing:
            return
        problem = f"exit code {done.returncode}" + (f", missing {missing}" if missing else "")
        log(f"`npm ci` did not install everything ({problem})")
    raise MissingToolError(f"`npm ci` in {HERE} failed {attempts} times ({problem}). Check the network access to the npm "
                      "registry, then run `make slides-deps` (or `cd slides && npm ci`) again.")


def execute_notebook(timeout: int = 300):
    """Run every cell of the lecture notebook (cwd slides/) and return the executed notebook."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOK, as_version=4)
    env_backup = os.environ.get("MPLBACKEND")
    os.environ.pop("MPLBACKEND", None)  # let the kernel use the inline backend
    try:
        NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(HERE)}},
                       allow_errors=False).execute()
    finally:
        if env_backup is not None:
            os.environ["MPLBACKEND"] = env_backup
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                out["text"] = ""  # warnings belong in the log, not on a slide
    return nb


def export_html(nb, html: Path) -> None:
    """Export the executed notebook to reveal.js HTML with the offline template, inputs hidden."""
    from nbconvert import SlidesExporter

    exporter = SlidesExporter(
        extra_template_basedirs=[str(TEMPLATE_DIR)],
        template_name=TEMPLATE_NAME,
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        reveal_url_prefix="reveal.js",
        reveal_theme="white",
        reveal_transition="none",
        reveal_number="c/t",
        reveal_width=str(SLIDE_WIDTH),
        reveal_height=str(SLIDE_HEIGHT),
    )
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": NOTEBOOK.stem}})
    html.write_text(body, encoding="utf-8")


def copy_assets(build: Path) -> None:
    for src, dst in ASSETS:
        source, target = NODE_MODULES / src, build / dst
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True)
        else:
            shutil.copy2(source, target)


def _route_offline(route) -> None:
    url = route.request.url
    if url.startswith(("file://", "data:", "http://127.0.0.1", "http://localhost")):
        route.continue_()
    else:
        route.abort()


GOTO_JS = "(i) => { const ix = Reveal.getIndices(Reveal.getSlides()[i]); Reveal.slide(ix.h, ix.v); }"


def slide_heights(page, screenshots: Path | None = None) -> list[int]:
    """Visit every slide of a loaded deck; return each slide's content height in CSS px (optionally screenshot it)."""
    heights = []
    for i in range(page.evaluate("Reveal.getTotalSlides()")):
        page.evaluate(GOTO_JS, i)
        page.wait_for_timeout(50)
        heights.append(page.evaluate("Reveal.getCurrentSlide().scrollHeight"))
        if screenshots is not None:
            page.screenshot(path=str(screenshots / f"slide-{i + 1:02d}.png"))
    return heights


def CHROMIUM_EXECUTABLE() -> str:  # noqa: N802 (reads like the constant it stands for)
    """Chromium to drive: $CHROMIUM, else Debian's /usr/bin/chromium, else `chromium` on PATH."""
    return os.environ.get("CHROMIUM") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists()
                                         else shutil.which("chromium") or "/usr/bin/chromium")


def render_pdf(html: Path, pdf: Path, screenshots: Path | None = None) -> None:
    """Print the slides to PDF (and optionally screenshot each slide) with headless Chromium, offline."""
    from playwright.sync_api import sync_playwright

    executable = CHROMIUM_EXECUTABLE()
    if not Path(executable).exists():
        raise MissingToolError(f"Chromium not found at {executable}: `apt-get install chromium` (or `make browser-deps`), "
                         "set CHROMIUM=/path/to/chromium, or build with --no-pdf.")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": SLIDE_WIDTH, "height": SLIDE_HEIGHT})
            page.route("**/*", _route_offline)
            if screenshots is not None:
                screenshots.mkdir(parents=True, exist_ok=True)
                page.goto(html.as_uri())
                page.wait_for_selector("body[data-reveal-ready]")
                page.evaluate("document.fonts.ready")
                for number, height in enumerate(slide_heights(page, screenshots), start=1):
                    if height > SLIDE_HEIGHT:
                        log(f"warning: slide {number} content is {height}px tall (> {SLIDE_HEIGHT}px)")
            page.goto(html.as_uri() + "?print-pdf")
            page.wait_for_selector("body[data-reveal-ready]")
            page.evaluate("document.fonts.ready")
            page.wait_for_timeout(500)
            page.pdf(path=str(pdf), prefer_css_page_size=True, print_background=True)
        finally:
            browser.close()


def build(pdf: bool = True, screenshots: bool = False, out: Path = BUILD) -> dict[str, Path]:
    """Build ``week4_lecture.html`` (+ assets) and ``week4_lecture.pdf`` into ``out``; return their paths."""
    start = time.perf_counter()
    ensure_node_modules()
    out.mkdir(parents=True, exist_ok=True)
    log(f"executing {NOTEBOOK.name} ({slide_count()} slides) ...")
    nb = execute_notebook()
    html = out / f"{NOTEBOOK.stem}.html"
    export_html(nb, html)
    copy_assets(out)
    log(f"wrote {html}")
    result = {"html": html}
    if pdf:
        pdf_path = out / f"{NOTEBOOK.stem}.pdf"
        render_pdf(html, pdf_path, out / "screens" if screenshots else None)
        log(f"wrote {pdf_path}")
        result["pdf"] = pdf_path
    log(f"done in {time.perf_counter() - start:.0f} s")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-pdf", action="store_true", help="build the HTML only")
    parser.add_argument("--screenshots", action="store_true", help="also save one PNG per slide in build/screens")
    parser.add_argument("--out", type=Path, default=BUILD, help="output directory (default slides/build)")
    args = parser.parse_args(argv)
    try:
        build(pdf=not args.no_pdf, screenshots=args.screenshots, out=args.out)
    except MissingToolError as exc:
        print(f"[slides] {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
