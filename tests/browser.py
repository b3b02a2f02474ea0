"""What the browser tests share: Debian's chromium, a free loopback port and a server that always stops."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Without the background-networking flags chromium keeps trying hosts this machine cannot reach.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serve(cmd: list[str], probe: str, cwd: Path, env: dict[str, str], log: Path,
          timeout: float = 90) -> Iterator[subprocess.Popen]:
    """Start ``cmd`` (a server on 127.0.0.1), wait until ``probe`` answers, and always stop it."""
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + timeout
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"{cmd[0]} exited with {proc.returncode}: {log.read_text()[-2000:]}")
                try:
                    with urllib.request.urlopen(probe, timeout=2):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{probe} did not answer within {timeout} s") from None
                    time.sleep(0.5)
            yield proc
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


def launch(pw, profile: Path, width: int = 1280, height: int = 1400):
    """A headless chromium context with a fresh profile (Playwright cannot download its own browser here)."""
    return pw.chromium.launch_persistent_context(str(profile), executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                                 headless=True, viewport={"width": width, "height": height})


_HANGUL_CHECK = r"""() => {
  const hangul = /[\uAC00-\uD7A3]/;
  const canvas = document.createElement("canvas");
  canvas.width = 48; canvas.height = 48;
  const ctx = canvas.getContext("2d", {willReadFrequently: true});
  const draw = (font, ch) => {
    ctx.clearRect(0, 0, 48, 48); ctx.font = font; ctx.fillStyle = "#000"; ctx.textBaseline = "top";
    ctx.fillText(ch, 2, 2);
    return ctx.getImageData(0, 0, 48, 48).data.join(",");
  };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const seen = new Set(), missing = [];
  let checked = 0;
  while (walker.nextNode()) {
    const text = walker.currentNode.textContent, el = walker.currentNode.parentElement;
    if (!el || !hangul.test(text)) continue;
    const style = getComputedStyle(el);
    const font = `${style.fontStyle} ${style.fontWeight} 32px ${style.fontFamily}`;
    const nodef = draw(font, "\uE000");  // a private-use code point: no font has a glyph for it
    for (const ch of text) {
      if (!hangul.test(ch) || seen.has(font + ch)) continue;
      seen.add(font + ch); checked += 1;
      if (draw(font, ch) === nodef) missing.push(`${ch} in "${text.trim().slice(0, 40)}"`);
    }
  }
  return {checked, missing};
}"""


def hangul_without_glyph(page) -> tuple[int, list[str]]:
    """Korean characters on the page that the browser draws as the missing-glyph box.

    Each Hangul syllable of every visible text node is drawn on a canvas in its element's own font stack
    and compared with the drawing of a private-use code point (which no font covers): equal means the
    browser found no font with that glyph (the empty boxes of a machine without a Korean font).

    Returns:
        The number of (font, character) pairs checked and the ones without a glyph.
    """
    result = page.evaluate(_HANGUL_CHECK)
    return result["checked"], result["missing"]
