"""The widget layer's picture encoder: lossless PNG, PIL's own resizing, the random-weights strip from the data."""

from __future__ import annotations

import base64
import io
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image, ImageDraw

from course_utils import tiny
from course_utils.widgets.pictures import data_url, encode, png_bytes


@pytest.fixture
def picture():
    return np.random.default_rng(0).integers(0, 256, size=(90, 160, 3), dtype=np.uint8)


def _decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


def test_png_is_lossless_and_resizes_like_pil(picture):
    np.testing.assert_array_equal(_decode(png_bytes(picture)), picture)
    # Shrinking and enlarging: the same pixels PIL's thumbnail / bilinear resize give.
    ref = Image.fromarray(picture)
    ref.thumbnail((64, 64))
    np.testing.assert_array_equal(_decode(png_bytes(picture, max_side=64)), np.asarray(ref))
    big = Image.fromarray(picture).resize((320, 180), Image.BILINEAR)
    np.testing.assert_array_equal(_decode(png_bytes(picture, min_side=320)), np.asarray(big))
    huge = np.zeros((50, 900, 3), np.uint8)
    assert _decode(png_bytes(huge, max_side=None)).shape == (50, 900, 3)  # the SAM form view: never shrunk


def test_the_strip_comes_from_the_data_it_was_drawn_from(picture):
    """Random sources (a view, a concept result, a benchmark row, a bool) add the strip; trained ones do not."""
    trained = SimpleNamespace(random_weights=False)
    for source in (None, trained, {"random_weights": False}, False):
        np.testing.assert_array_equal(_decode(png_bytes(picture, source)), picture)
    for source in (SimpleNamespace(random_weights=True), {"random_weights": True}, True, [trained, True]):
        out = _decode(png_bytes(picture, source))
        strip = out.shape[0] - picture.shape[0]
        np.testing.assert_array_equal(out[strip:], picture)  # the picture itself is untouched, below the strip
        top = out[:strip].reshape(-1, 3)
        red = np.all(top == (200, 0, 0), axis=1).mean()
        light = (top[:, 1] > 100).mean()  # anti-aliased white text: green is 0 on the red strip
        assert red > 0.6 and light > 0.02, (red, light)  # a red strip with white text on it


def test_the_strip_spells_tiny_note_when_it_fits():
    """The strip's text is tiny.NOTE (in up to two lines) or tiny.SHORT_NOTE: drawn the same way, same pixels."""
    for width, text in ((480, [tiny.NOTE]), (120, ["RANDOM WEIGHTS", "(tiny mode)"])):
        gray = np.full((40, width, 3), 128, np.uint8)
        out = _decode(png_bytes(gray, True, max_side=None))
        strip = out.shape[0] - 40
        ref = Image.new("RGB", (width, strip), (200, 0, 0))
        draw = ImageDraw.Draw(ref)
        for i, line in enumerate(text):
            draw.text((4, 3 + 14 * i), line, fill=(255, 255, 255))
        np.testing.assert_array_equal(out[:strip], np.asarray(ref))
    assert " ".join(text) == tiny.SHORT_NOTE


def test_data_url_and_jpeg(picture):
    url = data_url(picture)
    assert url.startswith("data:image/png;base64,")
    np.testing.assert_array_equal(_decode(base64.b64decode(url.split(",", 1)[1])), picture)
    jpeg = data_url(picture, "JPEG")
    assert jpeg.startswith("data:image/jpeg;base64,")
    assert base64.b64decode(jpeg.split(",", 1)[1]) == encode(picture, "JPEG")
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[2:5, 3:6] = (30, 144, 255, 115)
    np.testing.assert_array_equal(_decode(encode(rgba)), rgba)
