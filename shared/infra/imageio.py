"""Decode uploaded product photos into RGB arrays, and encode results back to files.

Every problem with an input file is raised as ImageError. Its message is shown to
the person who uploaded the file (manifest `error` field, HTTP responses), so it says
what is wrong with the file, not how the decoder failed.
"""

from __future__ import annotations

import io
import os
import re
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

MAX_PIXELS = 50_000_000
MIN_SIDE = 32
# The models and every step after decoding work on at most this many pixels: a larger photo
# is shrunk as it is decoded (a JPEG decodes at 1/2, 1/4 or 1/8 scale at once), so a worker's
# memory follows this, not the upload limit. 16 MP covers a 12 MP phone photo and a 4928x3264
# camera frame whole.
WORKING_PIXELS = 16_000_000
# MediaPipe (the person matte of detect, the landmarks of pose) resamples the whole image it
# is given with OpenCV's remap, which asserts `dst.cols < SHRT_MAX && src.cols < SHRT_MAX`
# (and the same of rows): a side of 32,767 px or more aborts the worker process (SIGABRT),
# with no exception to catch, however few pixels the photo has. Pose gives it more than the
# photo: its retry for a person who fills the frame pads the photo by a quarter of its long
# side on each side (services/pose margin_share, 0.25), so the photo's sides must stay at or
# under two thirds of the bound (a 21845 px side, padded to 32769, aborts pose).
SHRT_MAX = 32767
MAX_SIDE = (SHRT_MAX - 1) * 2 // 3  # 21844: padded by 2 x 25 %, 32766

# Only what shop photos come in. Restricting Image.open also keeps uploads away from
# Pillow's rarely used decoders (and from EPS, which would run Ghostscript).
FORMATS = ("JPEG", "PNG", "WEBP", "TIFF", "BMP", "GIF")
_ACCEPTED = "JPEG, PNG, WebP, TIFF, BMP, GIF"
# Their magic numbers, to tell a damaged image (422) from a file that is no image (415).
_MAGIC = {
    b"\xff\xd8\xff": "JPEG",
    b"\x89PNG\r\n\x1a\n": "PNG",
    b"GIF87a": "GIF",
    b"GIF89a": "GIF",
    b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF",
    b"BM": "BMP",
}

# What Pillow raises on damaged data: each decoder has its own habits (PNG raises
# SyntaxError, a truncated JPEG OSError, ...), and Image.open only swallows some of them.
_DAMAGED = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error)

WHITE = (255, 255, 255)  # transparent areas of a packshot go on white by default


class ImageError(ValueError):
    """What is wrong with an image file, worded for the user who uploaded it.

    `code` lets the HTTP layer pick a status without parsing the message: "empty",
    "unsupported" (415), "too_large" (413), "too_small", "bad_shape" (a side or an aspect
    the models cannot take), "corrupt" (422), "unreadable".
    """

    def __init__(self, message: str, code: str = "corrupt"):
        super().__init__(message)
        self.code = code


IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif"}


def collect_photos(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Photos to process: files as given (whatever their suffix, so a bad file is reported, not skipped);
    folders expanded to the image files inside them."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        else:
            found.append(path)
    return found


def decode_image(
    data: bytes,
    *,
    max_pixels: int = MAX_PIXELS,
    min_side: int = MIN_SIDE,
    working_pixels: int | None = None,
) -> np.ndarray:
    """Decode image file bytes into an upright HxWx3 uint8 RGB array (C-contiguous, writable).

    Size limits are checked from the header, before any pixel data is decoded, and so is a
    file too short for the size its header claims. A photo over `working_pixels` comes out
    shrunk to it (aspect kept). Animated GIF/WebP give their first frame; transparency is
    composited onto white.
    """
    with _open(data, max_pixels) as im:
        _check_size(*im.size, max_pixels=max_pixels, min_side=min_side)
        _check_complete(im, len(data))
        target = _working_size(im.size, working_pixels)
        if target is not None:
            im.draft(None, target)  # JPEG only: a reduced decode, never below target
        try:
            im.load()
        except _DAMAGED as e:
            raise ImageError(f"the image data is truncated or corrupt: {e}") from None
        upright = _upright(im)
        return _to_rgb(upright, _working_size(upright.size, working_pixels))  # what draft left over


def read_file(path: str | os.PathLike) -> bytes:
    """A photo file's bytes; a file that cannot be read is an ImageError."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        msg = f"cannot read {os.fspath(path)}: {e.strerror or e}"
        raise ImageError(msg, "unreadable") from None


def read_image(path: str | os.PathLike, *, max_pixels: int = MAX_PIXELS, min_side: int = MIN_SIDE) -> np.ndarray:
    """decode_image() on a file's contents."""
    return decode_image(read_file(path), max_pixels=max_pixels, min_side=min_side)


def upright_size(data: bytes) -> tuple[int, int]:
    """(width, height) as the photo is shown, EXIF rotation applied, from the header alone."""
    with _open(data, MAX_PIXELS) as im:
        w, h = im.size
        try:
            orientation = im.getexif().get(0x0112, 1)  # EXIF Orientation
        except Exception:  # a malformed EXIF block: the photo is kept as stored (_upright)
            orientation = 1
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def image_size(data: bytes) -> tuple[int, int]:
    """(width, height) from the header alone, for cheap validation at upload time.

    This is the size as stored, before EXIF rotation: a portrait phone photo may
    report landscape. Pixel count and short side are the same either way.
    """
    with _open(data, MAX_PIXELS) as im:
        return im.size


def check_header(data: bytes | IO[bytes], *, max_pixels: int = MAX_PIXELS, min_side: int = MIN_SIDE) -> tuple[int, int]:
    """The checks decode_image makes before decoding (type, header, pixel limit, sides and
    shape), without decoding: the gateway refuses bad uploads with these at once. Damage
    past the header shows only when the worker decodes the pixels. `data` may be a seekable
    binary file (an upload's spool): only its header is read, and it is left at its start."""
    try:
        with _open(data, max_pixels) as im:
            _check_size(*im.size, max_pixels=max_pixels, min_side=min_side)
            _check_complete(im, _length(data))
            return im.size
    finally:
        if not isinstance(data, bytes | bytearray | memoryview):
            data.seek(0)


def parse_background(value: str | None) -> tuple[int, int, int] | None:
    """ "transparent" or None -> None (keep alpha); "white" or "#rrggbb" / "#rgb" -> (r, g, b).

    Raises ValueError (not ImageError: it is a bad request parameter, not a bad file).
    """
    if value is None:
        return None
    v = value.strip().lower()
    if v == "transparent":
        return None
    if v == "white":
        return WHITE
    m = re.fullmatch(r"#([0-9a-f]{6}|[0-9a-f]{3})", v)
    if not m:
        raise ValueError(f"invalid background {value!r}: use 'transparent', 'white' or a hex colour like '#f0f0f0'")
    hex6 = m[1] if len(m[1]) == 6 else "".join(c * 2 for c in m[1])
    return int(hex6[0:2], 16), int(hex6[2:4], 16), int(hex6[4:6], 16)


_OUTPUT = {"png": "PNG", "webp": "WEBP", "jpeg": "JPEG", "jpg": "JPEG"}


def encode_image(
    rgb_or_rgba: np.ndarray, fmt: str = "png", *, background: str | None = None, quality: int = 90
) -> bytes:
    """Encode an HxWx3 (RGB) or HxWx4 (RGBA) uint8 array as png, webp or jpeg.

    PNG and WebP keep alpha unless a background colour is given; then (and always for
    JPEG, which has no alpha) transparent areas are composited onto that colour, white
    by default. `quality` applies to webp and jpeg.
    """
    pil_format = _OUTPUT.get(fmt.lower())
    if pil_format is None:
        raise ValueError(f"unsupported output format {fmt!r}: use png, webp or jpeg")
    a = np.ascontiguousarray(rgb_or_rgba)
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] not in (3, 4):
        raise ValueError(f"expected an HxWx3 or HxWx4 uint8 array, got {a.shape} {a.dtype}")
    bg = parse_background(background)

    im = Image.fromarray(a)  # RGB or RGBA, from the shape
    if im.mode == "RGBA" and (bg is not None or pil_format == "JPEG"):
        im = _flatten(im, bg or WHITE)
    # PNG at zlib level 1: a third of the default level's time for files about 11% larger
    # (five public photos' cutouts: 404 ms and 3.8 MiB against 1238 ms and 3.4 MiB).
    options = {"compress_level": 1} if pil_format == "PNG" else {"quality": quality}
    buf = io.BytesIO()
    im.save(buf, pil_format, **options)
    return buf.getvalue()


def cutout(rgb: np.ndarray, alpha: np.ndarray | None, box: tuple[int, int, int, int]) -> np.ndarray:
    """RGBA crop of the box of a photo, a matte (HxW in [0, 1], or uint8) as its alpha channel (None:
    opaque). Where the box passes the photo's edge (a padded crop) it is transparent."""
    x0, y0, x1, y1 = box
    h, w = rgb.shape[:2]
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if (sx0, sy0, sx1, sy1) == (x0, y0, x1, y1):  # inside the photo: a plain slice
        a = np.full((y1 - y0, x1 - x0), 255, np.uint8) if alpha is None else _alpha_bytes(alpha[y0:y1, x0:x1])
        return np.dstack([rgb[y0:y1, x0:x1], a])
    out = np.zeros((y1 - y0, x1 - x0, 4), np.uint8)
    if sx1 > sx0 and sy1 > sy0:
        inside = (slice(sy0 - y0, sy1 - y0), slice(sx0 - x0, sx1 - x0))
        out[inside][..., :3] = rgb[sy0:sy1, sx0:sx1]
        out[inside][..., 3] = 255 if alpha is None else _alpha_bytes(alpha[sy0:sy1, sx0:sx1])
    return out


def sized_cutout(
    rgb: np.ndarray,
    alpha: np.ndarray | None,
    box: tuple[int, int, int, int],
    size: tuple[int, int],
    fill: tuple[int, int, int] | None = None,
) -> np.ndarray:
    """cutout() of the box resized to `size`, made from the part inside the photo alone, so
    a box far past the photo's edge (a padded crop) costs the output's pixels, not its own.
    Outside the photo it is `fill` (opaque) or transparent."""
    x0, y0, x1, y1 = box
    h, w = rgb.shape[:2]
    out = np.zeros((size[1], size[0], 4), np.uint8)
    if fill is not None:
        out[...] = (*fill, 255)
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    fx, fy = size[0] / (x1 - x0), size[1] / (y1 - y0)
    dx0, dy0 = round((sx0 - x0) * fx), round((sy0 - y0) * fy)
    dx1, dy1 = round((sx1 - x0) * fx), round((sy1 - y0) * fy)
    if dx1 > dx0 and dy1 > dy0:
        part = resize_to(cutout(rgb, alpha, (sx0, sy0, sx1, sy1)), (dx1 - dx0, dy1 - dy0))
        if fill is not None:
            part = np.dstack([on_colour(part, fill), np.full(part.shape[:2], 255, np.uint8)])
        out[dy0:dy1, dx0:dx1] = part
    return out


def _alpha_bytes(alpha: np.ndarray) -> np.ndarray:
    if alpha.dtype == np.uint8:
        return alpha
    return (np.clip(alpha, 0, 1) * 255).round().astype(np.uint8)


def resize_to(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """An image at width x height: area-averaged when shrinking, bicubic when growing."""
    import cv2

    h, w = image.shape[:2]
    if (w, h) == tuple(size):
        return image
    shrink = size[0] * size[1] < w * h
    return cv2.resize(image, tuple(size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)


def on_white(rgba: np.ndarray) -> np.ndarray:
    """An RGBA image composited onto white, as RGB."""
    return on_colour(rgba, WHITE)


def on_colour(rgba: np.ndarray, rgb: tuple[int, int, int]) -> np.ndarray:
    """An RGBA image composited onto an opaque colour, as RGB."""
    a = rgba[..., 3:].astype(np.float32) / 255.0
    return (rgba[..., :3] * a + np.array(rgb, np.float32) * (1 - a)).round().astype(np.uint8)


def png_bytes(array: np.ndarray) -> bytes:
    """Lossless PNG of a uint8 array (HxW grey or HxWx4), fast rather than small: for
    intermediates between stages."""
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, "PNG", compress_level=1)
    return buf.getvalue()


def read_png(data: bytes) -> np.ndarray:
    """A PNG as the uint8 array it was written from."""
    with Image.open(io.BytesIO(data)) as im:
        return np.array(im)


def array_bytes(array: np.ndarray) -> bytes:
    """An array as .npy bytes, exact (for float intermediates between stages)."""
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


def read_array(data: bytes) -> np.ndarray:
    return np.load(io.BytesIO(data), allow_pickle=False)


# --- internals ---------------------------------------------------------------------


def _open(data: bytes | IO[bytes], max_pixels: int) -> Image.Image:
    """Image.open (lazy: header only) with every failure turned into an ImageError. A file
    object is read from its start, and put back there."""
    if isinstance(data, bytes | bytearray | memoryview):
        source: IO[bytes] = io.BytesIO(data)
        head = bytes(data[:16])
    else:
        source = data
        source.seek(0)
        head = source.read(16)
        source.seek(0)
    if not head:
        raise ImageError("empty file (0 bytes)", "empty")
    try:
        return Image.open(source, formats=FORMATS)
    except UnidentifiedImageError:
        # Pillow also says "cannot identify" when a known format's header is damaged
        # (e.g. a PNG chunk with a bad checksum).
        if fmt := _sniff(head):
            msg = f"the image data is truncated or corrupt: unreadable {fmt} header"
            raise ImageError(msg) from None
        raise ImageError(f"not a supported image; accepted formats: {_ACCEPTED}", "unsupported") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        # Pillow refuses huge headers inside Image.open (over 2 * Image.MAX_IMAGE_PIXELS,
        # ~179 MP; over ~89 MP when warnings are errors), before we can read im.size.
        # We leave that global limit alone: it is a backstop for every Pillow user in the
        # process, and ours is lower (a max_pixels above ~179 MP is capped by it).
        # Pillow's message has only the pixel count, not the dimensions.
        m = re.search(r"\((\d+) pixels\)", str(e))
        found = f"{int(m[1]) / 1e6:.0f} megapixels" if m else "too many pixels"
        raise ImageError(
            f"image too large: {found}; the limit is {max_pixels / 1e6:g} megapixels", "too_large"
        ) from None
    except _DAMAGED as e:  # recognised as an image, but the header is damaged
        raise ImageError(f"the image data is truncated or corrupt: {e}") from None


def _sniff(data: bytes) -> str | None:
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    return next((fmt for magic, fmt in _MAGIC.items() if data.startswith(magic)), None)


def _check_size(w: int, h: int, *, max_pixels: int, min_side: int) -> None:
    if w * h > max_pixels:
        raise ImageError(
            f"image too large: {w}x{h} px ({w * h / 1e6:.1f} megapixels); the limit is {max_pixels / 1e6:g} megapixels",
            "too_large",
        )
    if max(w, h) > MAX_SIDE:
        raise ImageError(f"image too long: {w}x{h} px; the models take at most {MAX_SIDE} px on a side", "bad_shape")
    if min(w, h) < min_side:
        raise ImageError(f"image too small: {w}x{h} px; at least {min_side} px on each side", "too_small")


def _length(data: bytes | IO[bytes]) -> int:
    if isinstance(data, bytes | bytearray | memoryview):
        return len(data)
    data.seek(0, io.SEEK_END)
    return data.tell()


# Huffman-coded JPEG (baseline, extended, progressive, lossless) spends at least one bit on
# every 8x8 block of the first component: its DC coefficient has a code of one bit or more.
# Arithmetic-coded frames (SOF9 and up) can spend less, so they are not judged.
_HUFFMAN_FRAMES = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7}


def _check_complete(im: Image.Image, length: int) -> None:
    """Refuse a JPEG whose file is too short to hold the pixels its header claims.

    libjpeg fills missing data with grey and only warns, so a 6 KB file whose header says
    7000x7000 would otherwise decode as a 49 MP photo, at that cost, and pass as fine."""
    if not isinstance(im, ImageFile.ImageFile) or im.format != "JPEG" or _jpeg_frame(im) not in _HUFFMAN_FRAMES:
        return
    w, h = im.size
    needed = -(-w // 8) * -(-h // 8) // 8  # one bit per 8x8 block, in bytes
    if length < needed:
        raise ImageError(
            f"the image data is truncated: its header says {w}x{h} px, which takes at least "
            f"{needed / 1024:.0f} KiB, and the file has {length / 1024:.0f} KiB"
        )


def _jpeg_frame(im: ImageFile.ImageFile) -> int | None:
    """The second byte of the JPEG's start-of-frame marker (0xC0 baseline, 0xC2
    progressive, 0xC9 arithmetic, ...), from a walk over the segments before it."""
    fp = im.fp
    assert fp is not None
    where = fp.tell()
    try:
        fp.seek(2)  # after SOI
        while (marker := fp.read(2))[:1] == b"\xff" and len(marker) == 2:
            code = marker[1]
            if 0xC0 <= code <= 0xCF and code not in (0xC4, 0xC8, 0xCC):  # not DHT, JPG, DAC
                return code
            size = fp.read(2)
            if len(size) < 2 or code == 0xDA:  # start of scan: no frame before it
                return None
            fp.seek(int.from_bytes(size, "big") - 2, io.SEEK_CUR)
        return None
    finally:
        fp.seek(where)


def _working_size(size: tuple[int, int], working_pixels: int | None) -> tuple[int, int] | None:
    """The size a photo of `size` is shrunk to, or None when it fits."""
    w, h = size
    if working_pixels is None or w * h <= working_pixels:
        return None
    scale = (working_pixels / (w * h)) ** 0.5
    return max(1, int(w * scale)), max(1, int(h * scale))


def _upright(im: Image.Image) -> Image.Image:
    """Apply the EXIF orientation, so a phone photo stored sideways comes out upright."""
    try:
        return ImageOps.exif_transpose(im)
    except Exception:
        # A malformed EXIF block damages metadata, not pixels: keep the photo as stored
        # rather than reject an image that decoded fine.
        return im


def _to_rgb(im: Image.Image, size: tuple[int, int] | None = None) -> np.ndarray:
    """The image as HxWx3 uint8, resized to `size` (width, height) where given: shrunk
    while still in Pillow, so the whole photo is never copied out at full size."""
    if im.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        # 16-bit greyscale (PNG, TIFF). Pillow's convert("L") clips at 255 rather than
        # scaling, which would turn nearly the whole image white. 32-bit "I" is taken
        # as 16-bit too (older Pillow opens 16-bit PNG so).
        grey = (np.clip(np.asarray(im), 0, 65535) / 257).round()
    elif im.mode == "F":
        # Float TIFFs are normally 0..1; any other range is read as 0..255.
        grey = np.nan_to_num(np.asarray(im, dtype=np.float64))
        grey = (grey * 255 if grey.max() <= 1.0 else grey).clip(0, 255).round()
    else:
        grey = None
    if grey is not None:
        grey = grey.astype(np.uint8)
        return np.repeat((grey if size is None else resize_to(grey, size))[..., None], 3, axis=2)

    bands = im.getbands()
    if "A" in bands or "a" in bands or "transparency" in im.info:
        # RGBA, LA, PA, and P/L/RGB with a transparent colour (PNG tRNS, GIF).
        im = _flatten(im.convert("RGBA"), WHITE)
    else:
        # L, 1, P, CMYK (Pillow already undoes Adobe's inverted CMYK), YCbCr, ...
        # 16-bit-per-channel RGB(A) PNG/TIFF arrive as 8-bit from Pillow already.
        im = im.convert("RGB")
    if size is not None:
        im = im.resize(size, Image.Resampling.BOX)  # area-averaged, as resize_to shrinks
    return np.array(im, dtype=np.uint8)  # a C-contiguous, writable copy


def _flatten(im: Image.Image, rgb: tuple[int, int, int]) -> Image.Image:
    """Composite an RGBA image onto an opaque colour; returns RGB."""
    background = Image.new("RGBA", im.size, (*rgb, 255))
    return Image.alpha_composite(background, im).convert("RGB")
