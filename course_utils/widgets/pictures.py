"""The widget layer's one picture encoder: HWC uint8 arrays -> PNG / JPEG bytes and data URLs.

Every picture a widget shows goes through :func:`png_bytes` (``ipywidgets.Image`` values) or
:func:`data_url` (the SAM canvas). A picture computed from random weights gets a red strip with
:data:`course_utils.tiny.NOTE` (or :data:`~course_utils.tiny.SHORT_NOTE` where the full note does not
fit) burnt into it; whether it is random is read from the data it was drawn from
(:func:`course_utils.tiny.is_random`). PIL and numpy only.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np

from .. import tiny

__all__ = ["encode", "png_bytes", "data_url"]

_LINE = 14  # pixels per text line of the random-weights strip


def _save(pil: Any, fmt: str) -> bytes:
    buf = io.BytesIO()
    pil.save(buf, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return buf.getvalue()


def encode(image: np.ndarray, fmt: str = "PNG") -> bytes:
    """Encode an HWC uint8 RGB (or RGBA, or HxW gray) array as ``fmt`` ("PNG" or "JPEG", quality 90)."""
    from PIL import Image

    return _save(Image.fromarray(np.asarray(image, dtype=np.uint8)), fmt)


def data_url(image: np.ndarray, fmt: str = "PNG") -> str:
    """``data:image/...;base64,...`` URL of :func:`encode` (for front ends that take URLs)."""
    mime = "image/jpeg" if fmt == "JPEG" else "image/png"
    return f"data:{mime};base64,{base64.b64encode(encode(image, fmt)).decode('ascii')}"


def _wrap(draw: Any, text: str, width: int) -> list[str]:
    """``text`` broken into lines of at most ``width`` pixels (at word boundaries)."""
    lines: list[str] = []
    for word in text.split():
        if lines and draw.textlength(f"{lines[-1]} {word}") <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines


def _banner_lines(draw: Any, width: int) -> list[str]:
    """The note in at most two lines of ``width`` pixels, else the short note (wrapped as needed)."""
    lines = _wrap(draw, tiny.NOTE, width - 8)
    return lines if len(lines) <= 2 else _wrap(draw, tiny.SHORT_NOTE, width - 8)


def png_bytes(image: np.ndarray, *sources: Any, max_side: int | None = 640, min_side: int = 0) -> bytes:
    """PNG of an HWC uint8 picture, resized to fit ``min_side``..``max_side`` (long side).

    Args:
        image: The picture (HWC uint8 RGB).
        *sources: What the picture was computed from (a view, a concept result, video masks, a
            model...). When :func:`course_utils.tiny.is_random` says any of them is random, a red
            strip with the random-weights note is added above the picture.
        max_side: Shrink (keeping the aspect ratio) when the long side is larger; ``None``: never.
        min_side: Enlarge (bilinear) when the long side is smaller; 0: never.

    Returns:
        The PNG file's bytes.
    """
    from PIL import Image, ImageDraw

    pil = Image.fromarray(np.asarray(image, dtype=np.uint8))
    if max_side is not None and max(pil.size) > max_side:
        pil.thumbnail((max_side, max_side))
    elif min_side and max(pil.size) < min_side:
        scale = min_side / max(pil.size)
        pil = pil.resize((round(pil.width * scale), round(pil.height * scale)), Image.BILINEAR)
    if tiny.is_random(*sources):
        lines = _banner_lines(ImageDraw.Draw(pil), pil.width)
        strip = _LINE * len(lines) + 4
        canvas = Image.new("RGB", (pil.width, pil.height + strip), (200, 0, 0))
        canvas.paste(pil.convert("RGB"), (0, strip))
        draw = ImageDraw.Draw(canvas)
        for i, line in enumerate(lines):
            draw.text((4, 3 + i * _LINE), line, fill=(255, 255, 255))
        pil = canvas
    return _save(pil, "PNG")
