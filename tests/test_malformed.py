"""Malformed input against the real gateway and workers (conftest `gateway`: its own
redis-server, four worker processes, uvicorn; keys on). Table-driven: each case asserts the
status, that the message names what was wrong, and nothing else breaks. One job carries
every kind of bad file beside small real photos (tests/fixtures, shrunk) and unusual but
valid encodings: the bad files fail alone, with their reason, and the rest of the job ends
ok through the real workers.

Cases: bad methods, paths (traversal forms, raw and encoded), job ids, headers (keys,
Idempotency-Key, Content-Type), multipart bodies, each option wrong, and files (not an
image, empty, truncated, 1x1, decompression bombs, a JPEG far too short for its header, a
300-character name, a text file named .jpg, GIF, CMYK JPEG, 16-bit PNG, ...)."""

from __future__ import annotations

import io
import socket
import struct
import time
import zlib
from html import escape
from urllib.parse import urlsplit

import httpx
import numpy as np
import pytest
from conftest import API_KEYS, BOTTLE, SCENE
from PIL import Image

NO_JOB = "0123456789abcdef" * 2  # a well-formed id no job has


# --- what is sent -------------------------------------------------------------------------------


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def shrunk(path, side: int = 180) -> Image.Image:
    image = Image.open(path).convert("RGB")
    image.thumbnail((side, side))
    return image


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_claiming(width: int, height: int, *, bad_crc: bool = False) -> bytes:
    """A PNG header that claims width x height, with hardly any pixel data behind it."""
    ihdr = png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    if bad_crc:
        ihdr = ihdr[:-4] + b"\0\0\0\0"
    return b"\x89PNG\r\n\x1a\n" + ihdr + png_chunk(b"IDAT", zlib.compress(b"\0" * 16)) + png_chunk(b"IEND", b"")


def jpeg_claiming(width: int, height: int) -> bytes:
    """A real small JPEG whose frame header (SOF0) claims width x height."""
    data = encode(Image.new("RGB", (64, 64), (180, 40, 40)), "JPEG")
    at = data.index(b"\xff\xc0") + 5
    return data[:at] + struct.pack(">HH", height, width) + data[at + 4 :]


def gif_claiming(width: int, height: int) -> bytes:
    data = encode(Image.new("RGB", (64, 64), (40, 180, 40)).convert("P"), "GIF")
    return data[:6] + struct.pack("<HH", width, height) + data[10:]


def good_photo() -> bytes:
    return encode(shrunk(BOTTLE), "JPEG", quality=90)


PHOTO = good_photo()
SCENE_IMAGE = shrunk(SCENE)
WHOLE_PNG = encode(SCENE_IMAGE, "PNG")

# A file refused alone (the job is refused whole): name, bytes, status, words of the reason.
REFUSED_FILES = [
    ("notes.txt", b"two mugs and a teapot\n" * 20, 415, "not a supported image"),
    ("order.jpg", b"Order list\n- 2 mugs\n- 1 teapot\n" * 20, 415, "not a supported image"),  # text named .jpg
    ("page.jpg", b"<html><script>alert(1)</script></html>", 415, "not a supported image"),
    (
        "drawing.svg",
        b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        415,
        "not a supported image",
    ),
    ("scan.pdf", b"%PDF-1.4\n" + b"x" * 200, 415, "not a supported image"),
    ("photos.jpg", b"PK\x03\x04" + b"\0" * 200, 415, "not a supported image"),  # a ZIP
    ("phone.heic", b"\x00\x00\x00\x18ftypheic" + b"\0" * 200, 415, "not a supported image"),
    ("icon.ico", encode(Image.new("RGB", (48, 48)), "ICO"), 415, "not a supported image"),
    ("empty.jpg", b"", 422, "empty file"),
    ("dot.png", encode(Image.new("RGB", (1, 1)), "PNG"), 422, "too small"),  # 1x1
    ("strip.png", encode(Image.new("RGB", (2000, 20)), "PNG"), 422, "too small"),
    ("head.jpg", PHOTO[:60], 422, "truncated or corrupt"),  # cut inside the header
    ("head.png", WHOLE_PNG[:30], 422, "corrupt"),
    ("crc.png", png_claiming(400, 300, bad_crc=True), 422, "corrupt"),
    ("bomb.png", png_claiming(30000, 30000), 413, "too large"),  # decompression bomb headers
    ("bomb.jpg", jpeg_claiming(65000, 65000), 413, "too large"),
    ("bomb.gif", gif_claiming(65535, 65535), 413, "too large"),
    ("big.png", png_claiming(8000, 7000), 413, "the limit is 50 megapixels"),
    ("short.jpg", jpeg_claiming(7000, 7000), 422, "truncated: its header says 7000x7000"),  # 2 KB as 49 MP
]

# The mixed job: good files must end ok, bad ones fail with their reason.
# name -> (bytes, declared content type, final status, words of the error or None)
half = len(PHOTO) // 2
MIXED = {
    "bottle.jpg": (PHOTO, "image/jpeg", "ok", None),
    "scene.png": (WHOLE_PNG, "image/png", "ok", None),
    "moving.gif": (encode(SCENE_IMAGE.convert("P"), "GIF"), "image/gif", "ok", None),
    "print.jpg": (encode(SCENE_IMAGE.convert("CMYK"), "JPEG", quality=92), "image/jpeg", "ok", None),
    "deep.png": (
        encode(Image.fromarray(np.asarray(SCENE_IMAGE.convert("L")).astype(np.uint16) * 257), "PNG"),
        "image/png",
        "ok",
        None,
    ),  # 16-bit greyscale
    "declared-text.jpg": (PHOTO, "text/plain", "ok", None),  # the bytes count, not the declared type
    "<img src=x onerror=alert(1)>.jpg": (PHOTO, "image/jpeg", "ok", None),  # a hostile name is a label
    "B" * 300 + ".jpg": (PHOTO, "image/jpeg", "ok", None),  # longer than a file system's name
    "cut.jpg": (PHOTO[:half], "image/jpeg", "failed", "truncated"),  # header fine, pixels cut
    "cut.png": (WHOLE_PNG[: len(WHOLE_PNG) // 2], "image/png", "failed", "truncated"),
    **{name: (data, "image/jpeg", "failed", words) for name, data, _, words in REFUSED_FILES},
}


# --- how it is sent --------------------------------------------------------------------------------


def client(gateway, key: str | None = API_KEYS[0]) -> httpx.Client:
    return httpx.Client(base_url=gateway.url, headers={"X-API-Key": key} if key else {}, timeout=60)


def post_one(http: httpx.Client, name: str, data: bytes, **fields) -> httpx.Response:
    return http.post("/v1/jobs", files=[("files", (name, data, "image/jpeg"))], data=fields)


def multipart(*parts: tuple[bytes, bytes], boundary: bytes = b"XyZ", end: bool = True) -> bytes:
    body = b"".join(b"--" + boundary + b"\r\n" + head + b"\r\n\r\n" + data + b"\r\n" for head, data in parts)
    return body + (b"--" + boundary + b"--\r\n" if end else b"")


FILE_PART = b'Content-Disposition: form-data; name="files"; filename="bottle.jpg"\r\nContent-Type: image/jpeg'


def raw(gateway, lines: list[str], body: bytes = b"") -> tuple[int, bytes]:
    """A request sent as written (no client normalises its method, path or headers): the
    status and the response's head and body, as bytes."""
    parts = urlsplit(gateway.url)
    head = "\r\n".join([*lines, f"Host: {parts.netloc}", "Connection: close"]).encode() + b"\r\n\r\n"
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as s:
        s.sendall(head + body)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return int(data.split(b" ", 2)[1]), data


def said(response: httpx.Response) -> str:
    """The answer's words, for looking up what it names (FastAPI's 422 lists field errors)."""
    return response.text.lower()


# --- methods ---------------------------------------------------------------------------------------------

METHOD_CASES = [
    ("PUT", "/v1/jobs"),
    ("PATCH", "/v1/jobs"),
    ("DELETE", "/v1/jobs"),
    ("TRACE", "/v1/jobs"),
    ("BREW", "/v1/jobs"),
    ("get", "/v1/jobs"),  # methods are case-sensitive
    ("POST", f"/v1/jobs/{NO_JOB}"),
    ("PUT", f"/v1/jobs/{NO_JOB}"),
    ("POST", f"/v1/jobs/{NO_JOB}/files/index.html"),
    ("DELETE", f"/v1/jobs/{NO_JOB}/archive"),
    ("PUT", f"/v1/jobs/{NO_JOB}/manifest"),
    ("POST", "/healthz"),
    ("DELETE", "/metrics"),
]
STANDARD = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


@pytest.mark.parametrize("method, path", METHOD_CASES, ids=[f"{m} {p[:24]}" for m, p in METHOD_CASES])
def test_a_method_a_route_does_not_take_is_405_with_allow(gateway, method, path):
    status, data = raw(gateway, [f"{method} {path} HTTP/1.1", f"X-API-Key: {API_KEYS[0]}"])  # "get" stays "get"
    head, _, body = data.partition(b"\r\n\r\n")
    assert status == 405, data
    assert b"method not allowed" in body.lower()
    headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n")[1:])
    allowed = set(headers["allow"].split(", "))
    assert allowed and allowed <= STANDARD and method not in allowed, allowed


# --- paths ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def a_job(gateway) -> str:
    """A job of the caller's to aim paths at (one small photo; not waited for)."""
    with client(gateway) as http:
        response = post_one(http, "cup.jpg", PHOTO)
    assert response.status_code == 202, response.text
    return response.json()["id"]


TRAVERSALS = [
    "..%2F..%2Fetc%2Fpasswd",  # encoded slashes
    "%2e%2e/%2e%2e/etc/passwd",  # encoded dots
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",  # both
    "..%5C..%5Cwindows%5Cwin.ini",  # backslashes
    "look%2F..%2F..%2F..%2Fblobs",  # down, then up and out
    "%2Fetc%2Fpasswd",  # absolute
    "C:%5Cwindows",  # a drive
    "look//top.jpg",  # an empty segment
    "%00",  # NUL
    "manifest.json%00.png",
    "look/%2e/top.jpg",  # a dot segment
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_a_file_path_out_of_the_catalog_is_400(gateway, a_job, path):
    with client(gateway) as http:
        response = http.get(f"/v1/jobs/{a_job}/files/{path}")
    assert response.status_code == 400, response.text
    assert "invalid file path" in said(response) and "path inside the catalog" in said(response)


@pytest.mark.parametrize("path", ["%252e%252e%252fetc%252fpasswd", "..;/x", "~/x", "look/" + "a" * 3000])
def test_an_odd_but_clean_path_is_just_a_missing_file(gateway, a_job, path):
    with client(gateway) as http:
        response = http.get(f"/v1/jobs/{a_job}/files/{path}")
    assert response.status_code == 404 and "no file" in said(response), response.text


RAW_TRAVERSALS = [
    ("/v1/jobs/{job}/files/../../../../etc/passwd", 400),  # the server does not normalise: the route refuses
    ("/v1/jobs/{job}/files/look/../../../etc/passwd", 400),
    ("/static/../../../../etc/passwd", 404),
    ("/static/..%2f..%2fservices%2fgateway%2fapp.py", 404),
    ("/static/%2e%2e/%2e%2e/pyproject.toml", 404),
    ("/v1/jobs/../../static/app.js", 404),
]


@pytest.mark.parametrize("target, status", RAW_TRAVERSALS)
def test_raw_traversal_targets_reach_no_file_outside(gateway, a_job, target, status):
    code, body = raw(gateway, [f"GET {target.format(job=a_job)} HTTP/1.1", f"X-API-Key: {API_KEYS[0]}"])
    assert code == status, body
    assert b"root:" not in body and b"import" not in body and b"[project]" not in body
    assert (b"invalid file path" if status == 400 else b"Not Found") in body


# --- job ids ------------------------------------------------------------------------------------------

BAD_IDS = ["abc", "A" * 32, "a" * 31, "a" * 33, "g" * 32, "%00", "%2e%2e", "-1", "%20", "a" * 2000, NO_JOB]


@pytest.mark.parametrize("job_id", BAD_IDS, ids=lambda j: j[:12])
def test_an_unknown_or_malformed_job_id_is_404(gateway, job_id):
    with client(gateway) as http:
        response = http.get(f"/v1/jobs/{job_id}")
    assert response.status_code == 404, response.text
    assert response.json()["detail"].startswith("no job")


@pytest.mark.parametrize("suffix", ["/manifest", "/archive", "/files/index.html"])
def test_every_job_route_answers_404_for_an_unknown_id(gateway, suffix):
    with client(gateway) as http:
        response = http.get(f"/v1/jobs/{NO_JOB}{suffix}")
        deleted = http.delete(f"/v1/jobs/{NO_JOB}")
    assert response.status_code == 404 and f"no job {NO_JOB}" in said(response)
    assert deleted.status_code == 404 and f"no job {NO_JOB}" in said(deleted)


# --- headers: keys, Idempotency-Key, Content-Type -----------------------------------------------------------

KEY_CASES = [
    ({}, "an api key is required"),
    ({"X-API-Key": "not-a-key"}, "unknown api key"),
    ({"X-API-Key": "k" * 10_000}, "unknown api key"),
    ({"X-API-Key": b"k\xe9y"}, "unknown api key"),  # not ASCII
    ({"X-API-Key": API_KEYS[0][:-1]}, "unknown api key"),  # a prefix of a real key
    ({"Authorization": "Basic dGVzdC1rZXktc2hvcC1hOg=="}, "an api key is required"),
    ({"Authorization": "Bearer not-a-key"}, "unknown api key"),
    ({"Authorization": API_KEYS[0]}, "an api key is required"),  # no scheme
]


@pytest.mark.parametrize("headers, words", KEY_CASES, ids=[f"key{i}" for i in range(len(KEY_CASES))])
def test_a_missing_or_bad_key_is_401(gateway, headers, words):
    with client(gateway, None) as http:
        response = http.get("/v1/jobs", headers=headers)
        posted = http.post("/v1/jobs", headers=headers, files=[("files", ("a.jpg", PHOTO))])
    for answer in (response, posted):
        assert answer.status_code == 401, answer.text
        assert words in said(answer) and answer.headers["www-authenticate"] == "Bearer"


def test_an_empty_bearer_is_401(gateway):
    status, body = raw(gateway, ["GET /v1/jobs HTTP/1.1", "Authorization: Bearer "])
    assert status == 401 and b"API key" in body


def test_an_idempotency_key_over_255_characters_is_422_naming_it(gateway):
    with client(gateway) as http:
        response = http.post("/v1/jobs", headers={"Idempotency-Key": "k" * 256}, files=[("files", ("a.jpg", PHOTO))])
    assert response.status_code == 422, response.text
    assert "idempotency-key" in said(response) and "255" in said(response)


@pytest.mark.parametrize(
    "content_type, body, status, words",
    [
        (None, b"hello", 422, "files"),  # no Content-Type at all
        ("application/json", b'{"files": []}', 422, "files"),
        ("text/plain", b"photo.jpg", 422, "files"),
        ("application/x-www-form-urlencoded", b"aspect=1:1", 422, "files"),
        ("multipart/form-data", multipart((FILE_PART, PHOTO)), 400, "boundary"),  # no boundary
        ("multipart/form-data; boundary=Other", multipart((FILE_PART, PHOTO)), 400, "multipart"),  # the wrong one
    ],
    ids=["none", "json", "text", "urlencoded", "no-boundary", "wrong-boundary"],
)
def test_a_post_without_a_multipart_form_is_refused_naming_why(gateway, content_type, body, status, words):
    headers = {"Content-Type": content_type} if content_type else {}
    with client(gateway) as http:
        response = http.post("/v1/jobs", headers=headers, content=body)
    assert response.status_code == status, response.text
    assert words in said(response)


# --- multipart bodies -----------------------------------------------------------------------------------

MULTIPART_CASES = [
    ("no-files-field", multipart((b'Content-Disposition: form-data; name="aspect"', b"1:1")), 422, "files"),
    ("files-as-text", multipart((b'Content-Disposition: form-data; name="files"', b"photo.jpg")), 422, "files"),
    (
        "empty-part",
        multipart((b'Content-Disposition: form-data; name="files"; filename="a.jpg"', b"")),
        422,
        "empty file",
    ),
    ("part-without-name", multipart((b'Content-Disposition: form-data; filename="a.jpg"', PHOTO)), 400, "name"),
    ("truncated", multipart((FILE_PART, PHOTO))[:4000], 422, "files"),  # cut inside the file, no closing line
    (
        "no-closing-boundary",
        multipart((b'Content-Disposition: form-data; name="aspect"', b"1:1"), end=False),
        422,
        "files",
    ),
    ("garbage", b"\x00\xff" * 500, 400, "multipart"),
    (
        "huge-field",
        multipart((b'Content-Disposition: form-data; name="aspect"', b"x" * 1_100_000), (FILE_PART, PHOTO)),
        400,
        "maximum size",
    ),
    (
        "too-many-fields",
        multipart(
            *[(f'Content-Disposition: form-data; name="f{i}"'.encode(), b"x") for i in range(1001)], (FILE_PART, PHOTO)
        ),
        400,
        "too many fields",
    ),
]


@pytest.mark.parametrize("body, status, words", [c[1:] for c in MULTIPART_CASES], ids=[c[0] for c in MULTIPART_CASES])
def test_a_malformed_multipart_body_is_refused_naming_why(gateway, body, status, words):
    with client(gateway) as http:
        before = len(http.get("/v1/jobs").json()["jobs"])
        response = http.post("/v1/jobs", headers={"Content-Type": "multipart/form-data; boundary=XyZ"}, content=body)
        assert response.status_code == status, response.text
        assert words in said(response)
        assert len(http.get("/v1/jobs").json()["jobs"]) == before  # nothing stored


def test_too_many_files_is_413(gateway):
    with client(gateway) as http:
        response = http.post("/v1/jobs", files=[("files", (f"{i}.png", b"x")) for i in range(201)])
    assert response.status_code == 413 and "too many files" in said(response), response.text


# --- options ----------------------------------------------------------------------------------------------

OPTION_CASES = [
    ("garments", "socks"),
    ("garments", "top,socks"),
    ("garments", "TOP"),
    ("garments", "top;bottom"),
    ("aspect", "2:3"),
    ("aspect", "3/4"),
    ("aspect", "square"),
    ("padding", "-0.1"),
    ("padding", "2"),
    ("padding", "nan"),
    ("padding", "abc"),
    ("padding", "1e309"),
    ("swatch_size", "0"),
    ("swatch_size", "3"),
    ("swatch_size", "100000"),
    ("swatch_size", "abc"),
    ("swatch_size", "1.5"),
    ("swatch_size", "-50"),
    ("palette_size", "0"),
    ("palette_size", "13"),
    ("palette_size", "x"),
    ("palette_size", "5.5"),
    ("format", "gif"),
    ("format", "JPEG "),
    ("format", "bmp"),
    ("background", "red"),
    ("background", "#12345"),
    ("background", "#gggggg"),
    ("background", "x" * 100),
    ("webhook_url", "ftp://example.com/hook"),
    ("webhook_url", "http://"),
    ("webhook_url", "not a url"),
    ("webhook_url", "javascript:alert(1)"),
    ("webhook_url", "http://" + "a" * 70_000 + ".com/hook"),  # over CATALOG_WEBHOOK_URL_MAX_CHARS
    ("webhook_url", "http://localhost./hook"),  # does not resolve: refused, even with private allowed
    ("webhook_url", "http://[::1/hook"),
    ("webhook_url", "http://exa mple.com/hook"),
]


@pytest.mark.parametrize("field, value", OPTION_CASES, ids=[f"{f}={v[:12]}" for f, v in OPTION_CASES])
def test_each_bad_option_is_422_naming_the_field(gateway, field, value):
    with client(gateway) as http:
        response = post_one(http, "bottle.jpg", PHOTO, **{field: value})
    assert response.status_code == 422, response.text
    assert field in said(response), response.text
    assert isinstance(response.json()["detail"], str)  # our wording, not a list of field errors


# --- files: each alone, the job refused whole ---------------------------------------------------------------


@pytest.mark.parametrize("name, data, status, words", REFUSED_FILES, ids=[f[0] for f in REFUSED_FILES])
def test_a_job_of_one_bad_file_is_refused_with_the_reason(gateway, name, data, status, words):
    with client(gateway) as http:
        response = post_one(http, name, data)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["detail"].startswith(f"{name}: ") and words in body["detail"]
    assert [f["name"] for f in body["files"]] == [name] and words in body["files"][0]["error"]


# --- one job, every bad file beside good ones ---------------------------------------------------------------


@pytest.fixture(scope="module")
def mixed(gateway) -> tuple[dict, dict]:
    """The mixed job as accepted (POST answer) and as finished."""
    files = [("files", (name, data, kind)) for name, (data, kind, _, _) in MIXED.items()]
    with client(gateway) as http:
        accepted = http.post("/v1/jobs", files=files)
        assert accepted.status_code == 202, accepted.text
        job_id = accepted.json()["id"]
        deadline = time.monotonic() + 300
        while (final := http.get(f"/v1/jobs/{job_id}").json())["finished"] is None:
            assert time.monotonic() < deadline, final
            time.sleep(0.5)
    return accepted.json(), final


def by_source(job: dict) -> dict[str, dict]:
    return {image["source"]: image for image in job["images"]}


@pytest.mark.parametrize("name", list(MIXED))
def test_in_a_mixed_job_each_file_ends_as_it_should(mixed, name):
    accepted, final = mixed
    _, _, status, words = MIXED[name]
    first, last = by_source(accepted)[name], by_source(final)[name]
    assert last["status"] == status, last
    if status == "ok":
        assert first["status"] == "queued" and last["error"] is None
        assert all(run["status"] == "done" for run in last["stages"].values()), last["stages"]
    else:
        assert words in last["error"], last
        if name in dict((f[0], f) for f in REFUSED_FILES):  # refused at upload: failed from the start
            assert first["status"] == "failed" and words in first["error"] and first["error_code"]


def test_the_mixed_job_is_partial_and_its_good_photos_are_in_the_catalog(gateway, mixed):
    accepted, final = mixed
    good = [name for name, (_, _, status, _) in MIXED.items() if status == "ok"]
    assert [i["source"] for i in accepted["images"]] == list(MIXED)  # every file, in upload order
    assert final["status"] == "partial"
    assert final["progress"] == {"done": len(MIXED), "total": len(MIXED), "failed": len(MIXED) - len(good)}
    with client(gateway) as http:
        manifest = http.get(f"/v1/jobs/{final['id']}/manifest").json()
        records = {r["source"]: r for r in manifest["images"]}
        for name in good:
            assert records[name]["status"] == "ok" and records[name]["preview"], records[name]
            assert http.get(records[name]["preview"]).status_code == 200
        page = http.get(f"/v1/jobs/{final['id']}/files/index.html").text
    hostile = "<img src=x onerror=alert(1)>.jpg"
    assert hostile not in page and escape(hostile) in page  # a name is shown, never run


# --- what a refusal says: never the input itself ---------------------------------------------------------

MARK = "RAW-INPUT-" + "z" * 300  # what must not come back


@pytest.mark.parametrize(
    "send",
    [
        lambda http: http.post(
            "/v1/jobs",
            content=multipart((b'Content-Disposition: form-data; name="files"', MARK.encode())),
            headers={"Content-Type": "multipart/form-data; boundary=XyZ"},
        ),
        lambda http: http.post("/v1/jobs", headers={"Idempotency-Key": MARK}, files=[("files", ("a.jpg", PHOTO))]),
        lambda http: post_one(http, "a.jpg", PHOTO, style=MARK),
        lambda http: post_one(http, "a.jpg", PHOTO, webhook_url="http://" + MARK + ".example/hook"),
        lambda http: post_one(http, "a.jpg", PHOTO, background=MARK),
        lambda http: post_one(http, MARK + ".jpg", b"not a photo"),
        lambda http: http.put("/v1/styles/default", json={"name": 5, "extra": MARK}),
        lambda http: http.post("/v1/styles/preview", json={"width": MARK, "height": 1, "keypoints": []}),
    ],
    ids=[
        "files-as-text",
        "idempotency-key",
        "style",
        "webhook_url",
        "background",
        "file-name",
        "json-extra",
        "json-type",
    ],
)
def test_a_refusal_says_what_was_wrong_and_echoes_nothing_sent(gateway, send):
    with client(gateway) as http:
        response = send(http)
    assert response.status_code in (415, 422), response.text
    assert MARK not in response.text and len(response.text) < 4000, response.text[:500]
    if "RAW-INPUT" in response.text:  # only a refused file's name, cut short, to say which
        assert response.json()["files"][0]["name"].endswith("..."), response.text
    detail = response.json()["detail"]
    if isinstance(detail, list):  # FastAPI's field errors: where and what, no input
        assert detail and all(set(e) == {"type", "loc", "msg"} for e in detail), detail


def deep_json(depth: int) -> bytes:
    return b'{"name": ' + b"[" * depth + b"]" * depth + b"}"


@pytest.mark.parametrize("path, method", [("/v1/styles/default", "PUT"), ("/v1/styles/preview", "POST")])
def test_a_json_body_nested_too_deep_or_too_large_is_refused_not_a_500(gateway, path, method):
    with client(gateway) as http:
        for depth in (33, 100_000):  # one past CATALOG_MAX_JSON_DEPTH, and a parser's RecursionError
            response = http.request(
                method, path, content=deep_json(depth), headers={"Content-Type": "application/json"}
            )
            assert response.status_code == 422, response.text[:300]
            assert "CATALOG_MAX_JSON_DEPTH" in response.json()["detail"]
        big = b'{"name": "' + b"x" * (1100 * 1024) + b'"}'
        response = http.request(method, path, content=big, headers={"Content-Type": "application/json"})
        assert response.status_code == 413 and "CATALOG_MAX_JSON_KB" in response.json()["detail"], response.text[:300]
        strings = b'{"name": "' + b"[" * 5000 + b'"}'  # brackets in a string nest nothing
        response = http.request(method, path, content=strings, headers={"Content-Type": "application/json"})
        assert response.status_code != 500 and "CATALOG_MAX_JSON_DEPTH" not in response.text
