"""shared.infra.imageio: every input problem is an ImageError with a message a user can act on.

All images are made in memory (Pillow / numpy / OpenCV, skimage sample photos).
"""

from __future__ import annotations

import io
import random
import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image
from skimage import data as samples

from shared.infra.imageio import (
    ImageError,
    decode_image,
    encode_image,
    image_size,
    parse_background,
    read_image,
)

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


def save(im: Image.Image | np.ndarray, fmt: str = "PNG", **options) -> bytes:
    if isinstance(im, np.ndarray):
        im = Image.fromarray(im)
    buf = io.BytesIO()
    im.save(buf, fmt, **options)
    return buf.getvalue()


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims width x height, with only a few bytes of pixel data behind it."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def assert_rgb_array(a: np.ndarray, shape: tuple[int, int]) -> None:
    assert a.shape == (*shape, 3)
    assert a.dtype == np.uint8
    assert a.flags.c_contiguous and a.flags.writeable


@pytest.fixture(scope="module")
def coffee() -> np.ndarray:
    return samples.coffee()[:200, :300].copy()  # 300x200 RGB photo


# --- not an image -----------------------------------------------------------------


def test_empty_file():
    with pytest.raises(ImageError, match="empty") as e:
        decode_image(b"")
    assert e.value.code == "empty"


@pytest.mark.parametrize(
    "data",
    [
        b"name,price\nshirt,19.99\n",
        random.Random(0).randbytes(5000),
        b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n%%EOF\n",
    ],
    ids=["text", "random-bytes", "pdf"],
)
def test_not_an_image_names_accepted_formats(data):
    with pytest.raises(ImageError, match="not a supported image") as e:
        decode_image(data)
    assert "JPEG" in str(e.value) and "PNG" in str(e.value) and "WebP" in str(e.value)
    assert e.value.code == "unsupported"


def test_image_error_is_a_value_error():
    assert issubclass(ImageError, ValueError)


# --- damaged files ---------------------------------------------------------------


def test_jpeg_cut_in_half(coffee):
    data = save(coffee, "JPEG")
    with pytest.raises(ImageError, match="truncated or corrupt") as e:
        decode_image(data[: len(data) // 2])
    assert e.value.code == "corrupt"


def test_png_with_damaged_pixel_data(coffee):
    data = bytearray(save(coffee))
    idat = data.find(b"IDAT")
    data[idat + 100 : idat + 110] = bytes(10)
    with pytest.raises(ImageError, match="truncated or corrupt"):
        decode_image(bytes(data))


def test_png_chunk_with_bad_checksum_is_corrupt_not_unsupported(coffee):
    data = bytearray(save(coffee))
    data[20] ^= 0xFF  # inside IHDR: its CRC no longer matches
    with pytest.raises(ImageError, match="truncated or corrupt.*PNG"):
        decode_image(bytes(data))


def test_mangled_files_only_ever_raise_image_error():
    """Cut and byte-flipped files of every format: a result or an ImageError, nothing else."""
    small = samples.astronaut()[::8, ::8].copy()  # 64x64
    rng = random.Random(1)
    for fmt in ("JPEG", "PNG", "WEBP", "TIFF", "BMP", "GIF"):
        original = save(small, fmt)
        for i in range(40):
            data = bytearray(original)
            if i % 2:
                data = data[: rng.randrange(1, len(data))]
            else:
                for _ in range(rng.randrange(1, 6)):
                    data[rng.randrange(len(data))] = rng.randrange(256)
            try:
                out = decode_image(bytes(data))
            except ImageError:
                continue
            assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3


# --- size limits ------------------------------------------------------------------


def test_too_many_pixels_states_size_and_limit():
    data = save(Image.new("RGB", (1000, 600)))
    with pytest.raises(ImageError, match="too large") as e:
        decode_image(data, max_pixels=500_000)
    assert "1000x600" in str(e.value) and "0.5 megapixels" in str(e.value)
    assert e.value.code == "too_large"


def test_size_limit_is_checked_from_the_header_before_decoding():
    # 64 MP claimed, but hardly any pixel data: decoding would fail as truncated,
    # so "too large" proves the pixels were never decoded.
    with pytest.raises(ImageError, match="too large: 8000x8000 px.*limit is 50 megapixels"):
        decode_image(png_header(8000, 8000))


def test_pillow_decompression_bomb_error_becomes_image_error():
    # 900 MP: Pillow itself refuses this inside Image.open.
    with pytest.raises(ImageError, match="too large: 900 megapixels") as e:
        decode_image(png_header(30000, 30000))
    assert e.value.code == "too_large"


@pytest.mark.filterwarnings("error")
def test_pillow_decompression_bomb_warning_as_error_becomes_image_error():
    # 100 MP: Pillow only warns, which raises when warnings are errors.
    with pytest.raises(ImageError, match="too large.*pixels"):
        decode_image(png_header(10000, 10000))


def test_too_small():
    with pytest.raises(ImageError, match="too small: 20x20 px; at least 32 px") as e:
        decode_image(save(Image.new("RGB", (20, 20))))
    assert e.value.code == "too_small"
    with pytest.raises(ImageError, match="too small: 100x20"):
        decode_image(save(Image.new("RGB", (100, 20))))


def test_small_but_big_enough():
    assert_rgb_array(decode_image(save(Image.new("RGB", (40, 40), RED))), (40, 40))


# --- formats and colour modes ---------------------------------------------------------


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF", "BMP", "GIF"])
def test_every_accepted_format_decodes(coffee, fmt):
    out = decode_image(save(coffee, fmt))
    assert_rgb_array(out, (200, 300))
    tolerance = 25 if fmt == "GIF" else 6  # GIF has a 256-colour palette
    assert np.abs(out.astype(int) - coffee).mean() < tolerance


def test_lossless_round_trip_is_exact(coffee):
    assert np.array_equal(decode_image(save(coffee, "PNG")), coffee)


def test_cmyk_jpeg(coffee):
    data = save(Image.fromarray(coffee).convert("CMYK"), "JPEG", quality=95)
    assert b"Adobe" in data[:1000]  # Pillow writes Adobe-style inverted CMYK
    out = decode_image(data)
    assert_rgb_array(out, (200, 300))
    assert np.abs(out.astype(int) - coffee).mean() < 4


def test_greyscale_gives_three_equal_channels():
    grey = np.tile(np.arange(256, dtype=np.uint8), (40, 1))
    out = decode_image(save(grey))
    assert_rgb_array(out, (40, 256))
    for channel in range(3):
        assert np.array_equal(out[..., channel], grey)


def test_bilevel_image():
    im = Image.new("1", (64, 64), 0)
    im.paste(1, (0, 0, 32, 64))
    out = decode_image(save(im))
    assert (out[:, :32] == 255).all() and (out[:, 32:] == 0).all()


def test_16_bit_greyscale_is_scaled_not_clipped():
    gradient = np.linspace(0, 65535, 1024).round().astype(np.uint16)
    data = save(np.tile(gradient, (40, 1)))
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    out = decode_image(data)
    row = out[0, :, 0]
    assert row[0] == 0 and row[-1] == 255
    assert (np.diff(row.astype(int)) >= 0).all()  # monotonic
    assert abs(int(row[512]) - 128) <= 1  # mid-grey stays mid-grey (clipping makes it 255)
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()


def test_16_bit_greyscale_tiff():
    gradient = np.linspace(0, 65535, 256).round().astype(np.uint16)
    ok, data = cv2.imencode(".tiff", np.tile(gradient, (40, 1)))
    out = decode_image(data.tobytes())
    assert out[0, 0, 0] == 0 and out[0, -1, 0] == 255 and abs(int(out[0, 128, 0]) - 128) <= 1


def test_16_bit_rgb_png():
    # Pillow cannot write 48-bit PNG; OpenCV can (it takes BGR order).
    rgb16 = np.zeros((40, 64, 3), np.uint16)
    rgb16[..., 0] = np.linspace(0, 65535, 64).round().astype(np.uint16)
    rgb16[..., 1] = 32768
    rgb16[..., 2] = 65535
    ok, data = cv2.imencode(".png", rgb16[..., ::-1])
    out = decode_image(data.tobytes())
    assert_rgb_array(out, (40, 64))
    expected = (rgb16 / 257).round()
    assert np.abs(out - expected).max() <= 1
    assert tuple(out[0, -1]) == (255, 128, 255)


def test_float_tiff_in_0_to_1():
    ramp = np.tile(np.linspace(0, 1, 64, dtype=np.float32), (40, 1))
    out = decode_image(save(Image.fromarray(ramp, "F"), "TIFF"))
    row = out[0, :, 0]
    assert row[0] == 0 and row[-1] == 255 and (np.diff(row.astype(int)) >= 0).all()


# --- transparency goes on white ---------------------------------------------------------


def test_rgba_is_composited_on_white():
    rgba = np.zeros((40, 60, 4), np.uint8)
    rgba[..., :3] = (200, 0, 0)
    rgba[:, :20, 3] = 0  # transparent
    rgba[:, 20:40, 3] = 255  # opaque
    rgba[:, 40:, 3] = 128  # half
    out = decode_image(save(rgba))
    assert (out[:, :20] == WHITE).all()
    assert (out[:, 20:40] == (200, 0, 0)).all()
    assert np.abs(out[0, 50].astype(int) - (228, 127, 127)).max() <= 1


def test_greyscale_with_alpha_is_composited_on_white():
    la = Image.new("LA", (40, 40), (0, 0))
    la.paste((0, 255), (0, 0, 20, 40))
    out = decode_image(save(la))
    assert (out[:, :20] == 0).all() and (out[:, 20:] == 255).all()


def test_palette_png_with_transparent_index():
    im = Image.new("P", (40, 40), 0)
    im.putpalette([0, 0, 0, *RED, *BLUE] + [0] * (253 * 3))
    im.paste(1, (0, 0, 20, 40))  # red on the left, index 0 (transparent) on the right
    im.paste(2, (0, 0, 20, 10))  # a blue band at the top left
    data = save(im, transparency=0)
    out = decode_image(data)
    assert (out[:, 20:] == WHITE).all()
    assert (out[10:, :20] == RED).all() and (out[:10, :20] == BLUE).all()


def test_rgb_png_with_transparent_colour_key():
    im = Image.new("RGB", (40, 40), GREEN)
    im.paste(RED, (0, 0, 20, 40))
    out = decode_image(save(im, transparency=GREEN))
    assert (out[:, :20] == RED).all() and (out[:, 20:] == WHITE).all()


# --- orientation and animation ----------------------------------------------------------


def test_exif_orientation_6_is_turned_upright():
    # Stored landscape 96x64 with a red block at the stored top-left. Orientation 6 means
    # "rotate 90 degrees clockwise to view": upright it is 64x96, block at the top-right.
    stored = np.zeros((64, 96, 3), np.uint8)
    stored[:16, :16] = RED
    exif = Image.Exif()
    exif[0x0112] = 6
    out = decode_image(save(stored, "JPEG", quality=95, exif=exif.tobytes()))
    assert out.shape == (96, 64, 3)
    assert (np.abs(out[2:14, -14:-2].astype(int) - RED) < 30).all()
    assert np.abs(out.astype(int) - np.rot90(stored, k=-1)).mean() < 3


def test_image_without_exif_is_unchanged(coffee):
    assert decode_image(save(coffee)).shape == (200, 300, 3)


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_animation_gives_first_frame(fmt):
    frames = [Image.new("RGB", (64, 48), c) for c in (RED, GREEN, BLUE)]
    data = save(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert Image.open(io.BytesIO(data)).n_frames == 3
    out = decode_image(data)
    assert_rgb_array(out, (48, 64))
    assert (np.abs(out.astype(int) - RED) <= 2).all()


# --- read_image and image_size -------------------------------------------------------------


def test_read_image(tmp_path, coffee):
    path = tmp_path / "photo.jpg"
    path.write_bytes(save(coffee, "JPEG"))
    assert read_image(path).shape == (200, 300, 3)
    with pytest.raises(ImageError, match="too small"):
        read_image(path, min_side=500)


def test_read_image_unreadable_path(tmp_path):
    with pytest.raises(ImageError, match="cannot read .*missing.png: No such file") as e:
        read_image(tmp_path / "missing.png")
    assert e.value.code == "unreadable"
    with pytest.raises(ImageError, match="cannot read"):
        read_image(tmp_path)  # a directory


def test_image_size_reads_the_header_only():
    assert image_size(save(Image.new("RGB", (300, 200)))) == (300, 200)
    assert image_size(png_header(8000, 6000)) == (8000, 6000)  # no real pixel data


@pytest.mark.parametrize(
    "data, message",
    [(b"", "empty"), (b"hello", "not a supported image"), (png_header(30000, 30000), "too large")],
)
def test_image_size_errors(data, message):
    with pytest.raises(ImageError, match=message):
        image_size(data)


# --- encoding ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def cutout() -> np.ndarray:
    """A product cut-out: opaque red square on a transparent 64x64 canvas."""
    rgba = np.zeros((64, 64, 4), np.uint8)
    rgba[16:48, 16:48] = (*RED, 255)
    return rgba


def opened(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


@pytest.mark.parametrize("fmt, tolerance", [("png", 0), ("webp", 8), ("jpeg", 8)])
def test_encode_rgb_round_trip(coffee, fmt, tolerance):
    data = encode_image(coffee, fmt)
    assert opened(data).format == fmt.upper()
    assert np.abs(decode_image(data).astype(int) - coffee).mean() <= tolerance


@pytest.mark.parametrize("fmt", ["png", "webp"])
@pytest.mark.parametrize("background", [None, "transparent"])
def test_encode_keeps_alpha_where_the_format_has_it(cutout, fmt, background):
    im = opened(encode_image(cutout, fmt, background=background))
    assert im.mode == "RGBA"
    out = np.asarray(im)
    assert np.array_equal(out[..., 3], cutout[..., 3])
    assert (np.abs(out[20:44, 20:44, :3].astype(int) - RED) <= 4).all()


def test_encode_jpeg_flattens_alpha_onto_white(cutout):
    out = decode_image(encode_image(cutout, "jpeg"))
    assert (np.abs(out[:8, :8].astype(int) - WHITE) <= 3).all()
    assert (np.abs(out[24:40, 24:40].astype(int) - RED) <= 8).all()


@pytest.mark.parametrize("fmt", ["png", "webp", "jpeg"])
def test_encode_onto_hex_background(cutout, fmt):
    im = opened(encode_image(cutout, fmt, background="#f0f0f0"))
    assert im.mode == "RGB"
    out = np.asarray(im).astype(int)
    assert (np.abs(out[:8, :8] - 240) <= 3).all()
    assert (np.abs(out[24:40, 24:40] - RED) <= 8).all()


def test_encode_onto_white(cutout):
    out = np.asarray(opened(encode_image(cutout, "png", background="white")))
    assert (out[:16] == 255).all() and (out[16:48, 16:48] == RED).all()


def test_encode_rejects_bad_input(coffee):
    with pytest.raises(ValueError, match="background"):
        encode_image(coffee, "png", background="#12345")
    with pytest.raises(ValueError, match="output format"):
        encode_image(coffee, "gif")
    with pytest.raises(ValueError, match="uint8"):
        encode_image(coffee.astype(np.float32), "png")


@pytest.mark.parametrize(
    "value, expected",
    [
        (None, None),
        ("transparent", None),
        ("white", WHITE),
        ("#f0f0f0", (240, 240, 240)),
        (" #FF8000 ", (255, 128, 0)),
        ("#fff", WHITE),
    ],
)
def test_parse_background(value, expected):
    assert parse_background(value) == expected


@pytest.mark.parametrize("value", ["#12345", "f0f0f0", "#gggggg", "blue", "", "#f0f0f0ff"])
def test_parse_background_rejects_bad_values(value):
    with pytest.raises(ValueError, match="invalid background.*hex colour"):
        parse_background(value)
