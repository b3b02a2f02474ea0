"""load_image handles every input kind and PIL mode; sample photos are the packages' real files."""

from __future__ import annotations

import http.server
import io
import struct
import threading
import warnings
import zlib

import numpy as np
import pytest
import skimage.data
from PIL import Image
from sklearn.datasets import load_sample_image

from course_utils.images import SAMPLES, ImageLoadError, load_image, load_images, sample_image, sample_images


def _png_bytes(img: Image.Image, fmt: str = "PNG", **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def _rgb_reference() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(12, 16, 3), dtype=np.uint8)


@pytest.mark.parametrize("src_kind", ["array", "pil", "bytes", "path"])
def test_rgb_roundtrip_every_input_kind(src_kind, tmp_path):
    ref = _rgb_reference()
    pil = Image.fromarray(ref)
    path = tmp_path / "x.png"
    pil.save(path)
    src = {"array": ref, "pil": pil, "bytes": _png_bytes(pil), "path": str(path)}[src_kind]
    out = load_image(src)
    assert out.dtype == np.uint8 and out.shape == (12, 16, 3)
    np.testing.assert_array_equal(out, ref)


def test_modes_match_pil_conversion():
    ref = _rgb_reference()
    gray = Image.fromarray(ref).convert("L")
    # L, 1, CMYK: PIL's own conversion to RGB is the oracle.
    for img in [gray, gray.convert("1"), Image.fromarray(ref).convert("CMYK")]:
        np.testing.assert_array_equal(load_image(img), np.asarray(img.convert("RGB")))
    # P without transparency.
    pal = Image.fromarray(ref).convert("P")
    np.testing.assert_array_equal(load_image(pal), np.asarray(pal.convert("RGB")))


def test_alpha_is_composited_on_white():
    rgba = np.zeros((2, 2, 4), dtype=np.uint8)
    rgba[0, 0] = [255, 0, 0, 255]  # opaque red stays red
    rgba[0, 1] = [255, 0, 0, 0]  # fully transparent -> white
    rgba[1, 0] = [0, 0, 0, 128]  # half black -> mid grey
    out = load_image(Image.fromarray(rgba, "RGBA"))
    assert out[0, 0].tolist() == [255, 0, 0]
    assert out[0, 1].tolist() == [255, 255, 255]
    assert abs(int(out[1, 0, 0]) - 127) <= 1
    # Same through the array path and LA mode.
    np.testing.assert_array_equal(load_image(rgba), out)
    la = Image.fromarray(rgba[..., [0, 3]], "LA")
    assert load_image(la)[0, 1].tolist() == [255, 255, 255]


def test_palette_with_transparency():
    pal = Image.new("P", (2, 1))
    pal.putpalette([0, 0, 255] + [255, 0, 0] + [0] * 762)
    pal.putpixel((0, 0), 0)
    pal.putpixel((1, 0), 1)
    pal.info["transparency"] = 0  # index 0 (blue) is transparent
    data = _png_bytes(pal, transparency=0)
    out = load_image(data)
    assert out[0, 0].tolist() == [255, 255, 255]
    assert out[0, 1].tolist() == [255, 0, 0]


def test_sixteen_bit_and_float_modes_rescale():
    ramp16 = np.array([[0, 257 * 128, 65535]], dtype=np.uint16)
    pil16 = Image.fromarray(ramp16)
    assert pil16.mode.startswith("I;16")
    out = load_image(pil16)
    assert out[0, :, 0].tolist() == [0, 128, 255]
    np.testing.assert_array_equal(load_image(ramp16), out)
    f = np.array([[0.0, 0.5, 1.0]], dtype=np.float32)
    assert load_image(Image.fromarray(f))[0, :, 1].tolist() == [0, 128, 255]
    assert load_image(f)[0, :, 2].tolist() == [0, 128, 255]
    assert load_image(np.array([[True, False]]))[0, :, 0].tolist() == [255, 0]


def test_exif_orientation_is_applied():
    yy, xx = np.mgrid[0:12, 0:16]
    ref = np.stack([xx * 15, yy * 20, np.full_like(xx, 90)], axis=-1).astype(np.uint8)  # smooth, 12 x 16
    img = Image.fromarray(ref)
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 CW on display
    out = load_image(_png_bytes(img, "JPEG", exif=exif, quality=100))
    assert out.shape == (16, 12, 3)
    expected = np.asarray(Image.fromarray(ref).transpose(Image.Transpose.ROTATE_270))
    assert np.abs(out.astype(int) - expected.astype(int)).mean() < 6  # JPEG loss only


def test_bad_inputs_have_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="sample_image"):
        load_image(tmp_path / "missing.png")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ImageLoadError, match="not an image"):
        load_image(tmp_path / "notes.txt")
    data = _png_bytes(Image.fromarray(_rgb_reference()), "JPEG")
    with pytest.raises(ImageLoadError, match="truncated"):
        load_image(data[: len(data) // 2])
    with pytest.raises(ImageLoadError, match="max_pixels"):
        load_image(_png_bytes(Image.new("L", (100, 100))), max_pixels=5000)
    with pytest.raises(ImageLoadError, match="transpose"):
        load_image(np.zeros((3, 20, 30), dtype=np.uint8))
    with pytest.raises(ImageLoadError, match="NaN"):
        load_image(np.full((4, 4), np.nan, dtype=np.float32))
    with pytest.raises(ImageLoadError, match="directory"):
        load_image(tmp_path)


def test_url_loading_through_loopback_server(tmp_path):
    ref = _rgb_reference()
    Image.fromarray(ref).save(tmp_path / "x.png")
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        np.testing.assert_array_equal(load_image(f"{url}/x.png"), ref)
        with pytest.raises(ImageLoadError, match="Could not download"):
            load_image(f"{url}/missing.png")
    finally:
        server.shutdown()


def test_directory_loading(tmp_path):
    for i in range(3):
        Image.fromarray(np.full((4, 5, 3), i, dtype=np.uint8)).save(tmp_path / f"{i}.png")
    (tmp_path / "readme.txt").write_text("not an image")
    images = load_images(tmp_path)
    assert [int(im[0, 0, 0]) for im in images] == [0, 1, 2]


def test_sample_images_are_the_packages_real_photos():
    np.testing.assert_array_equal(sample_image("chelsea"), skimage.data.chelsea())
    np.testing.assert_array_equal(sample_image("astronaut"), skimage.data.astronaut())
    np.testing.assert_array_equal(sample_image("china"), load_sample_image("china.jpg"))
    left, right, _ = skimage.data.stereo_motorcycle()
    np.testing.assert_array_equal(sample_image("motorcycle_left"), left)
    np.testing.assert_array_equal(sample_image("motorcycle_right"), right)
    # Grayscale and binary photos come back as RGB with equal channels.
    coins = sample_image("coins")
    np.testing.assert_array_equal(coins[..., 0], skimage.data.coins())
    assert (coins[..., 0] == coins[..., 2]).all()
    horse = sample_image("horse")  # an RGBA silhouette composited on white
    agree = (horse[..., 0] < 128) == ~skimage.data.horse()  # skimage marks the background True
    assert agree.mean() > 0.99


def test_every_sample_has_source_and_licence():
    images = sample_images()
    assert set(images) == set(SAMPLES)
    for name, img in images.items():
        assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3, name
        assert SAMPLES[name].source and SAMPLES[name].licence
    with pytest.raises(KeyError, match="chelsea"):
        sample_image("dog")


# --------------------------------------------------------------------------- issue 11 bugs


def test_big_endian_sixteen_bit_tiff_rescales_like_native(tmp_path):
    """A dark 16-bit image must come out dark whatever its byte order (PIL writes and reads the TIFF)."""
    # max <= 255: the case a value-range guess takes for 8-bit; round(v / 257) worked by hand.
    for values, expected in [([0, 100, 128, 200, 255], [0, 0, 0, 1, 1]),
                             ([0, 257 * 3, 257 * 128, 65535, 1], [0, 3, 128, 255, 0])]:
        native = np.array([values], dtype=np.uint16)
        path = tmp_path / "big.tif"
        Image.frombytes("I;16B", (len(values), 1), native.astype(">u2").tobytes()).save(path)
        with Image.open(path) as reread:
            assert reread.mode == "I;16B"             # the file really is big-endian 16-bit
            big = reread.copy()
        little = Image.frombytes("I;16L", (len(values), 1), native.astype("<u2").tobytes())
        for src in [path, path.read_bytes(), big, little, Image.fromarray(native), native.astype(">u2"), native]:
            out = load_image(src)
            assert out[0, :, 0].tolist() == expected, (values, src)
            assert (out[..., 0] == out[..., 2]).all()
    # 32-bit "I" keeps its value-range rule: 0..255 as is, 0..65535 as 16-bit.
    assert load_image(Image.fromarray(np.array([[0, 128, 255]], dtype=np.int32)))[0, :, 0].tolist() == [0, 128, 255]
    i32 = Image.fromarray(np.array([[0, 257 * 128, 65535]], dtype=np.int32))
    assert i32.mode == "I" and load_image(i32)[0, :, 0].tolist() == [0, 128, 255]
    assert load_image(np.array([[0, 257 * 128, 65535]], dtype=">i4"))[0, :, 0].tolist() == [0, 128, 255]


def _png_header(width: int, height: int) -> bytes:
    """A PNG that only claims a size (IHDR, 8-bit grayscale; no pixel data): nothing big is allocated."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def test_max_pixels_governs_pils_bomb_guard(monkeypatch):
    """max_pixels decides, not PIL's own MAX_IMAGE_PIXELS; PIL's setting is back afterwards."""
    # 240 Mpx: above the default max_pixels (200 M) and above PIL's default hard limit (2 x 89.5 M).
    with pytest.raises(ImageLoadError, match=r"more than max_pixels=200000000.*pass a larger max_pixels"):
        load_image(_png_header(20_000, 12_000))
    assert Image.MAX_IMAGE_PIXELS == int(1024 * 1024 * 1024 // 4 // 3)   # PIL's documented default, untouched
    # Shrink PIL's guard (warns above 1000 px, refuses above 2000) to play the same story on small files.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    ref = np.random.default_rng(1).integers(0, 256, size=(60, 100, 3), dtype=np.uint8)  # 6000 px
    data = _png_bytes(Image.fromarray(ref))
    with warnings.catch_warnings():
        warnings.simplefilter("error")                     # no DecompressionBombWarning either
        np.testing.assert_array_equal(load_image(data, max_pixels=6000), ref)
        mid = _png_bytes(Image.fromarray(ref[:, :25]))     # 1500 px: between PIL's warning and error levels
        np.testing.assert_array_equal(load_image(mid, max_pixels=2000), ref[:, :25])
    assert Image.MAX_IMAGE_PIXELS == 1000                  # restored after each call
    for limit in (5999, 2000):                             # below 6000 px, and below half of it
        with pytest.raises(ImageLoadError, match=rf"more than max_pixels={limit}.*pass a larger max_pixels"):
            load_image(data, max_pixels=limit)
    assert Image.MAX_IMAGE_PIXELS == 1000                  # restored after an error too


def _png_raw(width: int, height: int, depth: int, color_type: int, rows: list[bytes], trns: bytes) -> bytes:
    """A PNG written by hand (filter 0 rows, one IDAT, a tRNS chunk): independent of PIL's encoder."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 0)
    idat = zlib.compress(b"".join(b"\x00" + row for row in rows))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"tRNS", trns) + chunk(b"IDAT", idat)
            + chunk(b"IEND", b""))


def test_trns_transparency_in_gray_and_rgb_pngs_is_composited_on_white():
    """The tRNS colour key (PNG spec) of L, 1, I;16 and RGB PNGs becomes white, like palette transparency."""
    gray = np.array([[10, 50, 200], [50, 0, 255]], dtype=np.uint8)
    out = load_image(_png_bytes(Image.fromarray(gray), transparency=50))    # PIL writes the tRNS chunk
    expected = np.where(gray == 50, 255, gray)
    np.testing.assert_array_equal(out, np.repeat(expected[..., None], 3, axis=-1))
    rgb = np.array([[[1, 2, 3], [9, 9, 9]], [[1, 2, 4], [1, 2, 3]]], dtype=np.uint8)
    out = load_image(_png_bytes(Image.fromarray(rgb), transparency=(1, 2, 3)))
    expected = rgb.copy()
    expected[0, 0] = expected[1, 1] = 255                                  # only the exact key colour
    np.testing.assert_array_equal(out, expected)
    wide = np.array([[1000, 1001, 65535, 0]], dtype=np.uint16)
    pil16 = Image.fromarray(wide)
    assert pil16.mode == "I;16"
    out = load_image(_png_bytes(pil16, transparency=1000))
    assert out[0, :, 1].tolist() == [255, 4, 255, 0]                      # 1001 / 257 = 3.9 -> 4
    bits = Image.fromarray(np.array([[True, False, True]]))
    out = load_image(_png_bytes(bits, transparency=0))                    # black is the key
    assert out[0, :, 0].tolist() == [255, 255, 255] and bits.mode == "1"
    # 2-bit grayscale: samples 0..3 (PIL shows them as 0, 85, 170, 255); the key 2 is a 2-bit sample.
    two_bit = _png_raw(4, 1, 2, 0, [bytes([0b00011011])], struct.pack(">H", 2))
    assert load_image(two_bit)[0, :, 0].tolist() == [0, 85, 255, 255]
    # 16-bit RGB: PIL keeps the high byte of each sample; the key is matched at that precision.
    px = [(0x1234, 0x5678, 0x9ABC), (0x0100, 0x0200, 0x0300), (0x1234, 0x5678, 0x9ABC)]
    rows = [b"".join(struct.pack(">HHH", *p) for p in px)]
    out = load_image(_png_raw(3, 1, 16, 2, rows, struct.pack(">HHH", 0x1234, 0x5678, 0x9ABC)))
    assert out[0].tolist() == [[255, 255, 255], [1, 2, 3], [255, 255, 255]]
    # No tRNS chunk: nothing changes.
    np.testing.assert_array_equal(load_image(_png_bytes(Image.fromarray(gray)))[..., 0], gray)
