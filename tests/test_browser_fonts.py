"""The Korean-glyph check of the browser tests finds empty boxes when no Korean font is installed."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = [pytest.mark.browser]

PROBE = textwrap.dedent("""
    import sys
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    from playwright.sync_api import sync_playwright
    from browser import hangul_without_glyph, launch
    page_file = Path({tmp!r}) / "korean.html"
    page_file.write_text("<p>ViT attention 시각화</p><button>확인</button>", encoding="utf-8")
    with sync_playwright() as pw:
        context = launch(pw, Path({tmp!r}) / "profile")
        page = context.new_page()
        page.goto(page_file.as_uri())
        checked, missing = hangul_without_glyph(page)
        context.close()
    print(checked, len(missing))
""")


def _probe(tmp_path, env) -> tuple[int, int]:
    code = PROBE.format(tests=os.path.dirname(__file__), tmp=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    checked, missing = out.stdout.split()[-2:]
    return int(checked), int(missing)


def test_this_machine_has_korean_glyphs(tmp_path):
    assert _probe(tmp_path, dict(os.environ)) == (5, 0), "install fonts-noto-cjk (make browser-deps)"


def test_without_a_korean_font_every_syllable_is_flagged(tmp_path):
    conf = tmp_path / "fonts.conf"
    (tmp_path / "nofonts").mkdir()
    conf.write_text(f'<?xml version="1.0"?><fontconfig><dir>{tmp_path / "nofonts"}</dir>'
                    f'<cachedir>{tmp_path / "fc-cache"}</cachedir></fontconfig>')
    assert _probe(tmp_path, {**os.environ, "FONTCONFIG_FILE": str(conf)}) == (5, 5)  # 시 각 화 확 인
