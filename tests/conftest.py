"""Shared fixtures for the model-backed tests (pose, segment, detect, pipeline).

The models are real and slow on a CPU (ISNet takes seconds per photo), so each photo
goes through a model once per session: the fixtures here are session-scoped and cache
their results, and the tests assert many things on one result.

Photos:
- tests/fixtures/: committed, always present.
- skimage.data: bundled with scikit-image (coffee, astronaut, chelsea).
- ../shared/testdata/public/ beside the project: evaluation photos that may not be
  committed; tests that use them skip when the folder is absent.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from PIL import Image
from skimage import data as samples

from shared.infra.imageio import read_image

if TYPE_CHECKING:  # the fixtures import the product's heavier modules when they run
    import httpx
    from cluster import Cluster

    from catalog.runner import PhotoResult
    from shared.domain.records import ImageRecord, Manifest
    from shared.engine.jobs.store import JobStore

FIXTURES = Path(__file__).parent / "fixtures"
PUBLIC = Path(__file__).resolve().parents[2] / "shared" / "testdata" / "public"

FOOTBALLER = FIXTURES / "person_fullbody_scene_12.jpg"  # full body, action pose, no hat
BOTTLE = FIXTURES / "cosmetics_white_bg_06.jpg"  # supplement bottle packshot on white
SCENE = FIXTURES / "scene_noperson_06.jpg"  # greyscale boxes on a chair, nobody

WHITE = (255, 255, 255)


def pytest_configure(config):
    # mediapipe's protobuf use warns on every first call; pytest's per-test warning
    # capture overrides the filter shared.infra.model_registry sets.
    config.addinivalue_line("filterwarnings", r"ignore:SymbolDatabase\.GetPrototype\(\) is deprecated:UserWarning")


# --- photos ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def public_dir() -> Path:
    """The shared evaluation photos; skips the test when they are not beside the project."""
    if not PUBLIC.is_dir():
        pytest.skip(f"shared test photos not found at {PUBLIC}")
    return PUBLIC


@pytest.fixture(scope="session")
def public_photo(public_dir):
    """Decoded photo from the shared folder, by file name (skips if that file is missing)."""

    def load(name: str) -> np.ndarray:
        path = public_dir / name
        if not path.is_file():
            pytest.skip(f"shared test photo {name} not found in {public_dir}")
        return read_image(path)

    return load


@pytest.fixture(scope="session")
def coffee() -> np.ndarray:
    """A cup of espresso on a saucer (400x600 RGB, CC0)."""
    return samples.coffee()


@pytest.fixture(scope="session")
def bottle() -> np.ndarray:
    return read_image(BOTTLE)


@pytest.fixture(scope="session")
def footballer() -> np.ndarray:
    return read_image(FOOTBALLER)


# --- model results, computed once -----------------------------------------------------


@pytest.fixture(scope="session")
def analysed() -> Callable[[str, Callable[[], np.ndarray]], tuple[np.ndarray, PhotoResult]]:
    """analyse() of a named photo, cached for the session: load is a zero-argument
    function giving the RGB photo (run only on the first request)."""
    from catalog.runner import analyse
    from shared.domain.records import Options

    cache: dict[str, tuple[np.ndarray, PhotoResult]] = {}

    def get(key: str, load: Callable[[], np.ndarray]) -> tuple[np.ndarray, PhotoResult]:
        if key not in cache:
            rgb = load()
            cache[key] = (rgb, analyse(rgb, Options()))
        return cache[key]

    return get


@pytest.fixture(scope="session")
def coffee_mask(coffee) -> np.ndarray:
    """The cup and saucer of skimage's coffee photo: ISNet matte above one half."""
    from services.segment.matte import matte

    mask = matte(coffee) > 0.5
    assert 0.2 < mask.mean() < 0.8, "the coffee matte should hold the cup and saucer, not all or nothing"
    return mask


@pytest.fixture(scope="session")
def bottle_object(bottle) -> tuple[np.ndarray, np.ndarray]:
    """The supplement bottle cut out by its matte, cropped to the bottle and scaled to
    350 px high: (rgb, mask)."""
    import cv2

    from services.segment.matte import matte

    mask = matte(bottle) > 0.5
    ys, xs = np.nonzero(mask)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    rgb, mask = bottle[y0:y1, x0:x1], mask[y0:y1, x0:x1]
    size = (round((x1 - x0) * 350 / (y1 - y0)), 350)
    rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    mask = cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool)
    return rgb, mask


def paste(canvas: np.ndarray, truth: np.ndarray, rgb: np.ndarray, mask: np.ndarray, top: int, left: int) -> None:
    """Copy only the object's pixels (mask) of rgb onto canvas at (top, left), and mark
    them in the ground-truth mask."""
    h, w = mask.shape
    canvas[top : top + h, left : left + w][mask] = rgb[mask]
    truth[top : top + h, left : left + w] |= mask


def white_canvas(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    return np.full((height, width, 3), 255, np.uint8), np.zeros((height, width), bool)


def box_of(mask: np.ndarray) -> tuple[int, int, int, int]:
    """x0, y0, x1, y1 (exclusive) of a mask's pixels."""
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def box_contains(outer, inner) -> bool:
    return outer[0] <= inner[0] and outer[1] <= inner[1] and outer[2] >= inner[2] and outer[3] >= inner[3]


def encode(rgb_or_image, fmt: str = "PNG", **options) -> bytes:
    im = Image.fromarray(rgb_or_image) if isinstance(rgb_or_image, np.ndarray) else rgb_or_image
    buf = io.BytesIO()
    im.save(buf, fmt, **options)
    return buf.getvalue()


# --- one catalog run shared by the pipeline tests -----------------------------------------

PAINT = (40, 90, 200)  # the painted product's colour


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims width x height, with only a few bytes of pixel data behind it."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def small(rgb_or_mask: np.ndarray, height: int = 200) -> np.ndarray:
    import cv2

    h, w = rgb_or_mask.shape[:2]
    size = (round(w * height / h), height)
    if rgb_or_mask.dtype == bool:
        return cv2.resize(rgb_or_mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool)
    return cv2.resize(rgb_or_mask, size, interpolation=cv2.INTER_AREA)


def painted_product(mask: np.ndarray, colour=PAINT, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The mask's shape filled with one colour (plus noise, sigma 2) on a white canvas with
    a margin; returns (rgb, ground-truth mask)."""
    canvas, truth = white_canvas(mask.shape[0] + 100, mask.shape[1] + 160)
    noise = np.random.default_rng(seed).normal(0, 2, canvas.shape)
    paint = np.clip(np.array(colour) + noise, 0, 255).round().astype(np.uint8)
    paste(canvas, truth, paint, np.pad(mask, ((50, 50), (80, 80))), 0, 0)
    return canvas, truth


def catalog_inputs(folder: Path, coffee: np.ndarray, coffee_mask: np.ndarray) -> dict[str, Path]:
    """Good photos, awkward-but-valid photos and broken files, by a short name."""
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, bytes] = {}
    cup, cup_mask = small(coffee), small(coffee_mask)  # 300x200, to keep decoding cheap

    files["footballer.jpg"] = FOOTBALLER.read_bytes()
    files["coffee.png"] = encode(coffee)
    files["painted.png"] = encode(painted_product(coffee_mask)[0])

    # Broken files: each must fail alone, with a message a user understands.
    files["not_an_image.jpg"] = b"Order list\n- 2 mugs\n- 1 teapot\n" * 20
    whole = FOOTBALLER.read_bytes()
    files["truncated.jpg"] = whole[: len(whole) // 2]
    files["empty.jpg"] = b""
    files["huge.png"] = png_header(30000, 30000)  # 900 MP: Pillow's own bomb guard
    files["over_limit.png"] = png_header(8000, 7000)  # 56 MP: over the 50 MP limit only

    # Valid but unusual encodings: each must be processed like any photo.
    files["cmyk.jpg"] = encode(Image.fromarray(cup).convert("CMYK"), "JPEG", quality=95)
    files["grey.jpg"] = encode(Image.fromarray(cup).convert("L"), "JPEG", quality=95)
    grey = np.asarray(Image.fromarray(cup).convert("L"))
    files["grey16.png"] = encode(Image.fromarray(grey.astype(np.uint16) * 257))  # mode I;16
    palette = Image.fromarray(cup).quantize(255)  # indices 0..254
    indices = np.asarray(palette).copy()
    indices[~cup_mask] = 255  # the table around the cup becomes transparent
    transparent = Image.fromarray(indices, "P")
    colours = palette.getpalette()
    assert colours is not None  # quantize() made a palette image
    transparent.putpalette(colours[: 255 * 3] + [0, 255, 0])  # transparent index drawn green
    files["palette.png"] = encode(transparent, transparency=255)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored on its side: "rotate 90 degrees clockwise to view"
    files["rotated.jpg"] = encode(np.ascontiguousarray(np.rot90(cup, k=1)), "JPEG", quality=95, exif=exif.tobytes())
    files["tiny.png"] = encode(small(coffee, 40)[:, :40].copy())

    paths = {}
    for name, data in files.items():
        (folder / name).write_bytes(data)
        paths[Path(name).stem] = folder / name
    return paths


@dataclass
class CatalogRun:
    out: Path  # the catalog folder
    manifest: Manifest  # returned by run()
    records: dict[str, ImageRecord]  # by the input's short name ("coffee", "truncated", ...)
    inputs: dict[str, Path]  # the input files by short name
    reported: list[ImageRecord]  # records passed to on_photo, in order


@pytest.fixture(scope="session")
def catalog_run(tmp_path_factory, coffee, coffee_mask) -> CatalogRun:
    """catalog.runner.run on every input of catalog_inputs(), once for the session."""
    from catalog.runner import run

    base = tmp_path_factory.mktemp("catalog")
    inputs = catalog_inputs(base / "inputs", coffee, coffee_mask)
    out = base / "out"
    reported: list[ImageRecord] = []
    manifest = run(list(inputs.values()), out, on_photo=reported.append)
    records = {Path(r.source).stem: r for r in manifest.images}
    return CatalogRun(out, manifest, records, inputs, reported)


PERSON, COFFEE, PACKSHOT, CORRUPT = (
    "person_fullbody_scene_12.jpg",
    "coffee.png",
    "cosmetics_white_bg_06.jpg",
    "corrupt.jpg",
)
CORRUPT_WORDS = ("corrupt", "truncated", "not a supported image")


@pytest.fixture(scope="session")
def photos(coffee) -> dict[str, bytes]:
    """The cluster tests' job: a person photo, two packshots and a corrupt file (the first
    half of a JPEG), by name."""
    whole = FOOTBALLER.read_bytes()
    return {PERSON: whole, COFFEE: encode(coffee), PACKSHOT: BOTTLE.read_bytes(), CORRUPT: whole[: len(whole) // 2]}


@pytest.fixture(scope="session")
def in_process(photos, tmp_path_factory):
    """catalog.runner.run on the same files under the same names: the reference."""
    from catalog.runner import run

    base = tmp_path_factory.mktemp("in-process")
    for name, data in photos.items():
        (base / "in" / name).parent.mkdir(exist_ok=True)
        (base / "in" / name).write_bytes(data)
    out = base / "out"
    manifest = run([base / "in" / name for name in photos], out)
    return out, {Path(r.source).name: r for r in manifest.images}


# --- a real local cluster: redis-server and the four workers (tests/cluster.py) --------------------


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory) -> Iterator[str]:
    """A redis-server of the test session's own, on a free loopback port (skips when
    redis-server is not installed)."""
    from cluster import running_redis

    with running_redis(tmp_path_factory.mktemp("redis")) as url:
        yield url


WEBHOOK_SECRET = "test-webhook-secret"
API_KEYS = ("test-key-shop-a", "test-key-shop-b")


@pytest.fixture(scope="session")
def cluster(redis_url, tmp_path_factory):
    """One worker process per queue (detect, pose, segment, color, webhooks) on the session's Redis,
    with a file:// blob store in a temporary folder; stopped at the end of the session.
    Its env (cluster.env) is the gateway's too: keys on, webhooks signed."""
    from cluster import QUEUES, free_port, running_workers

    base = tmp_path_factory.mktemp("cluster")
    port = free_port()
    env = {
        "CATALOG_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "CATALOG_API_KEYS": ",".join(API_KEYS),
        "CATALOG_PORT": str(port),
        "CATALOG_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "CATALOG_WEBHOOK_ALLOW_PRIVATE": "true",  # the tests' webhook receivers are on loopback
        # Three attempts a second apart, 5 s each: a failing delivery ends within a test.
        "CATALOG_WEBHOOK_MAX_ATTEMPTS": "3",
        "CATALOG_WEBHOOK_BACKOFF_S": "1",
        "CATALOG_WEBHOOK_TIMEOUT_S": "5",
    }
    with running_workers(
        redis_url, (base / "blobs").as_uri(), base / "logs", [(q,) for q in QUEUES], extra_env=env
    ) as running:
        yield running


@dataclass
class Gateway:
    url: str  # http://127.0.0.1:<port>
    api_keys: tuple[str, ...]  # two valid keys (keys are on)
    jobs: JobStore  # on the cluster's Redis and blob store
    cluster: Cluster
    webhook_secret: str = WEBHOOK_SECRET


@pytest.fixture(scope="session")
def gateway(cluster, cluster_jobs) -> Iterator[Gateway]:
    """The gateway (uvicorn, its own process) in front of the session's cluster, API keys on."""
    from cluster import running_gateway

    with running_gateway(cluster.env, cluster.logs, port=int(cluster.env["CATALOG_PORT"])) as url:
        yield Gateway(url, API_KEYS, cluster_jobs, cluster)


@pytest.fixture(scope="session")
def cluster_jobs(cluster):
    """A JobStore on the cluster's Redis and blob store (as the gateway would have)."""
    from shared.engine.jobs.store import JobStore
    from shared.infra.storage import BlobStore

    return JobStore.from_url(cluster.redis_url, BlobStore(cluster.storage_url))


@pytest.fixture(scope="session")
def webhook_receiver():
    from cluster import running_webhook_receiver

    with running_webhook_receiver() as receiver:
        yield receiver


@dataclass
class ApiJob:
    id: str
    accepted: httpx.Response  # the POST's
    final: dict  # GET /v1/jobs/{id} once finished
    api_key: str
    webhook_path: str


@pytest.fixture(scope="session")
def api_job(gateway, photos, webhook_receiver) -> ApiJob:
    """The main job of the cluster tests, submitted through the gateway like a client does:
    a person photo, two packshots and a corrupt file in one request, with an idempotency
    key and a webhook; polled over HTTP to its end."""
    import time

    import httpx

    key = gateway.api_keys[0]
    files = [("files", (name, data, "image/jpeg")) for name, data in photos.items()]
    hook = "/hooks/main-job"
    accepted = httpx.post(
        f"{gateway.url}/v1/jobs",
        files=files,
        timeout=60,
        data={"webhook_url": webhook_receiver.url + hook},
        headers={"X-API-Key": key, "Idempotency-Key": "main-job-1"},
    )
    assert accepted.status_code == 202, accepted.text
    job_id = accepted.json()["id"]
    deadline = time.monotonic() + 300
    while True:
        body = httpx.get(f"{gateway.url}/v1/jobs/{job_id}", headers={"X-API-Key": key}, timeout=30).json()
        if body["finished"]:
            return ApiJob(job_id, accepted, body, key, hook)
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job_id} not finished after 300 s: {body}\n{gateway.cluster.log_tail()}")
        time.sleep(0.5)
