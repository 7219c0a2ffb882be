"""The web page in a real browser (Debian's chromium driven by Playwright) against the real
gateway and workers (the `gateway` fixture): upload, progress, gallery, downloads, the
jobs list, a job's own page, and a phone-width layout.

The photos go through the real models once: one job uploaded through the page (a person,
a packshot and a truncated photo) is shared by the tests of this module."""

from __future__ import annotations

import io
import re
import time
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest

CHROMIUM = Path("/usr/bin/chromium")
FIXTURES = Path(__file__).parent / "fixtures"
FOOTBALLER = FIXTURES / "person_fullbody_scene_12.jpg"
BOTTLE = FIXTURES / "cosmetics_white_bg_06.jpg"
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
FINISH_TIMEOUT_MS = 240_000  # CPU models take seconds per photo; the test machine may have 2 cores

if not CHROMIUM.exists():
    pytest.skip(
        f"{CHROMIUM} not found (scripts/setup.sh installs it: apt-get install chromium)", allow_module_level=True
    )
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')")
httpx = pytest.importorskip("httpx")


def photo(name: str, data: bytes) -> dict:
    """A file for set_input_files, as the user's browser would pick it."""
    return {"name": name, "mimeType": "image/jpeg", "buffer": data}


def truncated_jpeg() -> bytes:
    """The footballer's first half: the header reads, the pixels end early. The gateway
    accepts it (it checks headers only) and the detect worker fails it."""
    data = FOOTBALLER.read_bytes()
    return data[: len(data) // 2]


# --- browser, client, the shared job -----------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
        )
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def key(gateway) -> str:
    return gateway.api_keys[0]


@pytest.fixture(scope="module")
def client(gateway, key):
    with httpx.Client(base_url=gateway.url, headers={"X-API-Key": key}, timeout=60) as c:
        yield c


def keyed_context(browser, key: str, viewport=DESKTOP):
    """A browser context whose pages start with the key already saved, as after a visit
    where the user entered it."""
    context = browser.new_context(viewport=viewport)
    context.add_init_script(f"localStorage.setItem('catalog.apiKey', {key!r})")
    return context


def wait_finished(page, timeout: float = FINISH_TIMEOUT_MS) -> None:
    sync_api.expect(page.locator("#job-summary")).to_have_text(re.compile(r"^Finished"), timeout=timeout)


def wait_images_loaded(page, selector: str, count: int | None = None) -> None:
    """Every image matching selector shown from a blob: URL and decoded (count: at least)."""
    page.wait_for_function(
        """([sel, n]) => {
            const imgs = [...document.querySelectorAll(sel)];
            return imgs.length >= (n ?? 1)
                && imgs.every(i => i.src.startsWith('blob:') && i.complete && i.naturalWidth > 0);
        }""",
        arg=[selector, count],
        timeout=30_000,
    )


def submit_via_api(client, files: list[tuple[str, bytes]], wait: bool = True) -> str:
    """A job submitted through the API, not the page; waits until it ends when asked."""
    response = client.post("/v1/jobs", files=[("files", (name, data, "image/jpeg")) for name, data in files])
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    deadline = time.monotonic() + FINISH_TIMEOUT_MS / 1000
    while wait and client.get(f"/v1/jobs/{job_id}").json()["finished"] is None:
        assert time.monotonic() < deadline, f"job {job_id} did not finish"
        time.sleep(0.5)
    return job_id


def file_path(url: str, job_id: str) -> str:
    """A manifest file URL as the path inside the catalog (and its ZIP)."""
    prefix = f"/v1/jobs/{job_id}/files/"
    path = urlsplit(url).path
    assert path.startswith(prefix), url
    return path[len(prefix) :]


class UploadedJob:
    def __init__(self, page, job_id: str):
        self.page, self.id = page, job_id


def upload_and_wait(page) -> UploadedJob:
    """The chosen photos uploaded through the page, which is left on the job's own page once
    every photo has ended."""
    page.get_by_role("button", name="Upload and process").click()
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f]+$"), timeout=60_000)
    job = UploadedJob(page, page.url.rsplit("/", 1)[1])
    wait_finished(page)
    return job


@pytest.fixture(scope="module")
def uploaded(browser, gateway, key):
    """A job uploaded through the page by a user who has no key saved yet: the page asks for
    it, the user enters it, picks three photos and uploads; the page is left on the job's
    own page once every photo has ended."""
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.goto(gateway.url + "/")
    # Keys are on and none is saved: the page says so and offers the field.
    sync_api.expect(page.locator("#key-message")).to_contain_text("needs an API key")
    page.get_by_label("API key", exact=True).fill(key)
    page.get_by_role("button", name="Save key").click()
    sync_api.expect(page.locator("#key-panel")).to_be_hidden()

    page.locator("#files").set_input_files(
        [
            photo(FOOTBALLER.name, FOOTBALLER.read_bytes()),
            photo(BOTTLE.name, BOTTLE.read_bytes()),
            photo("truncated.jpg", truncated_jpeg()),
        ]
    )
    sync_api.expect(page.locator("#chosen-summary")).to_contain_text("3 photos chosen")
    yield upload_and_wait(page)
    context.close()


# --- tests -------------------------------------------------------------------------------------


def test_upload_shows_the_gallery_and_downloads_the_catalog(uploaded, client):
    page, job_id = uploaded.page, uploaded.id
    manifest = client.get(f"/v1/jobs/{job_id}/manifest").json()
    records = {r["source"]: r for r in manifest["images"]}
    assert records["person_fullbody_scene_12.jpg"]["status"] == "ok"
    assert records["cosmetics_white_bg_06.jpg"]["status"] == "ok"

    # The footballer: the photo with its skeleton, and a crop per garment.
    person = page.locator('article[data-source="person_fullbody_scene_12.jpg"]')
    sync_api.expect(person).to_have_attribute("data-kind", "person")
    for garment in ("top", "bottom", "shoes"):
        sync_api.expect(person.locator(f'figure.item[data-garment="{garment}"] img.crop')).to_have_count(1)
    wait_images_loaded(page, 'article[data-source="person_fullbody_scene_12.jpg"] img', count=4)
    assert "skeleton" in person.locator("img.preview").get_attribute("alt")

    # The packshot: its cutout, on a checkerboard so transparency shows.
    product = page.locator('article[data-source="cosmetics_white_bg_06.jpg"]')
    sync_api.expect(product).to_have_attribute("data-kind", "product")
    cutout = product.locator('figure.item[data-type="product"] .frame.checker img.crop')
    sync_api.expect(cutout.first).to_be_visible()
    assert urlsplit(cutout.first.get_attribute("data-src")).path.endswith("-cutout.png")
    wait_images_loaded(page, 'article[data-source="cosmetics_white_bg_06.jpg"] img', count=2)

    # Category, swatch hex and colour name, palette: as the manifest says, item by item.
    for source in ("person_fullbody_scene_12.jpg", "cosmetics_white_bg_06.jpg"):
        card = page.locator(f'article[data-source="{source}"]')
        items = records[source]["items"]
        assert card.locator(".hex").all_inner_texts() == [i["color"]["hex"] for i in items]
        assert card.locator(".color-name").all_inner_texts() == [i["color"]["name"] for i in items]
        names = card.locator(".color-name")
        assert [names.nth(k).get_attribute("title") for k in range(len(items))] == [
            i["color"]["css_name"] for i in items
        ]
        assert card.locator(".category > span:first-child").all_inner_texts() == [i["category"] for i in items]
        assert card.locator(".palette").first.locator("span").count() == len(items[0]["color"]["palette"])
    # The words read on the supplement bottle's label, largest print first.
    bottle = records["cosmetics_white_bg_06.jpg"]["items"][0]
    assert any("vitamin" in line.lower() for line in bottle["text"]), bottle["text"]
    shown = page.locator('article[data-source="cosmetics_white_bg_06.jpg"] .pack-text')
    assert shown.inner_text() == " · ".join(bottle["text"][:3])

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-gallery-desktop.png"), full_page=True)

    # One item's file: the same bytes as the API serves.
    top = records["person_fullbody_scene_12.jpg"]["items"][0]
    with page.expect_download() as info:
        person.locator("figure.item").first.get_by_role("button", name=re.compile(r"image$")).click()
    download = info.value
    assert download.suggested_filename.endswith(".jpg")
    assert Path(download.path()).read_bytes() == client.get(top["files"]["image"]).content

    # The whole job as a ZIP: manifest.json and every file the manifest names.
    with page.expect_download() as info:
        page.get_by_role("button", name="Download ZIP").click()
    assert info.value.suggested_filename == f"catalog-{job_id}.zip"
    with zipfile.ZipFile(io.BytesIO(Path(info.value.path()).read_bytes())) as archive:
        names = set(archive.namelist())
    assert "manifest.json" in names
    named = set()
    for record in manifest["images"]:
        if record.get("preview"):
            named.add(file_path(record["preview"], job_id))
        for item in record["items"]:
            named.update(file_path(u, job_id) for u in item["files"].values() if u)
    assert named and named <= names, sorted(named - names)


def test_failures_are_shown_with_their_reason(uploaded, browser, gateway, key):
    # The truncated photo was accepted and failed in a worker: its row says why.
    page = uploaded.page
    row = page.locator("#photo-list li", has_text="truncated.jpg")
    sync_api.expect(row.locator(".badge")).to_have_text("failed")
    sync_api.expect(row.locator(".image-error")).to_be_visible()
    sync_api.expect(row.locator(".image-error")).to_contain_text("truncated")
    sync_api.expect(page.locator("#job-status")).to_have_text("partial")
    sync_api.expect(page.locator("#job-summary")).to_contain_text("1 failed")

    # A job whose only file is refused at upload: the page stays, and names file and reason.
    context = keyed_context(browser, key)
    page = context.new_page()
    page.goto(gateway.url + "/")
    page.locator("#files").set_input_files([photo("broken.jpg", FOOTBALLER.read_bytes()[:300])])
    page.get_by_role("button", name="Upload and process").click()
    error = page.locator("#upload-error")
    sync_api.expect(error).to_be_visible()
    sync_api.expect(error.locator("li")).to_contain_text("broken.jpg")
    sync_api.expect(error.locator("li")).to_contain_text("truncated or corrupt")
    assert urlsplit(page.url).path == "/"
    context.close()


def test_jobs_list_shows_jobs_and_deletes_one(uploaded, browser, gateway, key, client):
    doomed = submit_via_api(client, [("doomed.jpg", BOTTLE.read_bytes())], wait=False)
    context = keyed_context(browser, key)
    page = context.new_page()
    page.goto(gateway.url + "/")
    shared = page.locator(f'#jobs-list li[data-job-id="{uploaded.id}"]')
    sync_api.expect(shared).to_contain_text("partial")
    sync_api.expect(shared).to_contain_text("person_fullbody_scene_12.jpg")

    row = page.locator(f'#jobs-list li[data-job-id="{doomed}"]')
    sync_api.expect(row).to_contain_text("doomed.jpg")
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name=re.compile("^Delete")).click()
    sync_api.expect(row).to_have_count(0)
    assert client.get(f"/v1/jobs/{doomed}").status_code == 404
    sync_api.expect(shared).to_be_visible()

    # The list links to the job's page.
    shared.get_by_role("link").click()
    page.wait_for_url(f"**/jobs/{uploaded.id}")
    wait_finished(page, timeout=30_000)
    context.close()


def test_job_page_opened_directly_for_an_api_job(browser, gateway, key, client):
    job_id = submit_via_api(client, [("bottle.jpg", BOTTLE.read_bytes())])
    manifest = client.get(f"/v1/jobs/{job_id}/manifest").json()
    context = keyed_context(browser, key)
    page = context.new_page()
    page.goto(f"{gateway.url}/jobs/{job_id}")
    wait_finished(page, timeout=30_000)
    card = page.locator('article[data-source="bottle.jpg"]')
    wait_images_loaded(page, 'article[data-source="bottle.jpg"] img', count=2)
    assert card.locator(".hex").all_inner_texts() == [i["color"]["hex"] for i in manifest["images"][0]["items"]]
    sync_api.expect(page.get_by_role("button", name="Download ZIP")).to_be_enabled()

    # Another key does not see it; the page asks for a key it accepts.
    other = keyed_context(browser, gateway.api_keys[1])
    page = other.new_page()
    page.goto(f"{gateway.url}/jobs/{job_id}")
    sync_api.expect(page.locator("#job-error")).to_contain_text("No such job")
    other.close()
    # A wrong key is refused with a clear request for a valid one.
    wrong = keyed_context(browser, "not-a-key")
    page = wrong.new_page()
    page.goto(f"{gateway.url}/jobs/{job_id}")
    sync_api.expect(page.locator("#key-message")).to_contain_text("not accepted")
    sync_api.expect(page.get_by_label("API key", exact=True)).to_be_focused()
    wrong.close()
    context.close()


def test_filters_by_kind_and_category(uploaded):
    page = uploaded.page
    person = page.locator('article[data-source="person_fullbody_scene_12.jpg"]')
    product = page.locator('article[data-source="cosmetics_white_bg_06.jpg"]')
    page.get_by_label("Kind").select_option("product")
    sync_api.expect(person).to_be_hidden()
    sync_api.expect(product).to_be_visible()
    page.get_by_label("Kind").select_option("")
    page.get_by_label("Category").select_option("clothing/tops")
    sync_api.expect(product).to_be_hidden()
    sync_api.expect(person.locator('figure.item[data-garment="top"]')).to_be_visible()
    sync_api.expect(person.locator('figure.item[data-garment="shoes"]')).to_be_hidden()
    page.get_by_label("Category").select_option("")
    sync_api.expect(product).to_be_visible()


def test_needs_review_filter_shows_the_items_the_manifest_flags_with_their_reasons(uploaded, client):
    page = uploaded.page
    manifest = client.get(f"/v1/jobs/{uploaded.id}/manifest").json()
    flagged = [(r["source"], k, i) for r in manifest["images"] for k, i in enumerate(r["items"]) if i["needs_review"]]
    assert all(i["review_reasons"] for _, _, i in flagged)
    page.get_by_role("checkbox", name="Needs review").check()
    shown = page.locator("figure.item:visible")
    sync_api.expect(shown).to_have_count(len(flagged))
    for k in range(len(flagged)):
        assert shown.nth(k).get_attribute("data-review") == "yes"
        reasons = shown.nth(k).locator(".review li").all_inner_texts()
        assert reasons and all(r.startswith("Needs review: ") for r in reasons)
    page.get_by_role("checkbox", name="Needs review").uncheck()
    total = sum(len(r["items"]) for r in manifest["images"])
    sync_api.expect(page.locator("figure.item:visible")).to_have_count(total)


def test_phone_width_has_no_horizontal_overflow(uploaded, browser, gateway, key):
    context = keyed_context(browser, key, viewport=PHONE)
    page = context.new_page()
    page.goto(gateway.url + "/")
    sync_api.expect(page.locator(f'#jobs-list li[data-job-id="{uploaded.id}"]')).to_be_visible()
    assert page.evaluate("document.scrollingElement.scrollWidth <= innerWidth"), "the upload page scrolls sideways"

    page.goto(f"{gateway.url}/jobs/{uploaded.id}")
    wait_finished(page, timeout=30_000)
    wait_images_loaded(page, "#gallery img", count=6)
    assert page.evaluate("document.scrollingElement.scrollWidth <= innerWidth"), "the gallery scrolls sideways"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-gallery-phone.png"), full_page=True)
    context.close()


def test_keyboard_reaches_the_file_picker(browser, gateway, key):
    context = keyed_context(browser, key)
    page = context.new_page()
    page.goto(gateway.url + "/")
    for _ in range(12):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "files":
            break
    else:
        pytest.fail("Tab never reached the file input of the drop zone")
    # The drop zone shows where the focus is.
    outline = page.evaluate("getComputedStyle(document.querySelector('#drop-zone')).outlineStyle")
    assert outline != "none"
    context.close()


# --- style guides ------------------------------------------------------------------------------

BUILTIN_STYLES = ("full-look", "headless", "head-to-knees", "marketplace-square")
LOOK_RECT = '#sp-stage rect[data-output="look"][data-person="0"]'


def rect_box(page, selector: str = LOOK_RECT) -> list[float]:
    return [float(v) for v in page.locator(selector).get_attribute("data-box").split(",")]


def test_style_preview_follows_the_guide_text(uploaded, browser, gateway, key, client):
    manifest = client.get(f"/v1/jobs/{uploaded.id}/manifest").json()
    record = next(r for r in manifest["images"] if r["source"] == FOOTBALLER.name)
    context = keyed_context(browser, key)
    page = context.new_page()
    refused = []  # what the page's CSP blocked (the overlay must need no inline style)
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(f"{gateway.url}/jobs/{uploaded.id}")
    wait_finished(page, timeout=30_000)

    # The panel opens from the keyboard (a <details>), and lists the guides.
    summary = page.locator("#style-preview > summary")
    summary.focus()
    page.keyboard.press("Enter")
    sync_api.expect(page.locator("#sp-body")).to_be_visible()
    select = page.locator("#sp-style")
    for name in BUILTIN_STYLES:
        sync_api.expect(select.locator(f'option[value="{name}"]')).to_have_count(1)
    select.select_option("full-look")
    text = page.locator("#sp-text")
    sync_api.expect(text).to_have_value(re.compile(r'"name": "full-look"'))
    look = page.locator(LOOK_RECT)
    sync_api.expect(look).to_have_count(1)
    page.wait_for_function(
        """() => {
            const i = document.querySelector('#sp-stage image');
            return i && i.getAttribute('href')?.startsWith('blob:');
        }""",
        timeout=30_000,
    )

    # The box is the server's, in photo pixels, and drawn where it lies on the photo shown.
    expected = client.post(
        "/v1/styles/preview",
        json={
            "style": "full-look",
            "width": record["width"],
            "height": record["height"],
            "keypoints": record["keypoints"],
        },
    )
    assert expected.status_code == 200, expected.text
    want = next(o for o in expected.json()["outputs"] if o["output"] == "look" and o["person"] == 0)
    before = rect_box(page)
    assert before == want["box"]
    photo_on_screen = page.locator("#sp-stage image").bounding_box()
    rect_on_screen = look.bounding_box()
    scale = photo_on_screen["width"] / record["width"]
    assert abs(photo_on_screen["height"] / record["height"] - scale) < 0.01 * scale
    assert abs(rect_on_screen["x"] - (photo_on_screen["x"] + before[0] * scale)) < 4
    assert abs(rect_on_screen["y"] - (photo_on_screen["y"] + before[1] * scale)) < 4
    assert abs(rect_on_screen["width"] - (before[2] - before[0]) * scale) < 6
    assert look.locator("xpath=following-sibling::*[local-name()='text']").text_content() == "look"

    # The eyes at 30% instead of 12%: the crop starts higher in the photo.
    guide = text.input_value()
    edited, n = re.subn(r'"at": 12(?:\.0)?(?=\D)', '"at": 30', guide)
    assert n == 1, guide
    text.fill(edited)
    page.wait_for_function(
        """([sel, y0]) => {
            const r = document.querySelector(sel);
            return r && Number(r.dataset.box.split(",")[1]) < y0;
        }""",
        arg=[LOOK_RECT, before[1]],
        timeout=10_000,
    )
    after = rect_box(page)
    assert after[1] < before[1]
    sync_api.expect(page.locator("#sp-error")).to_be_hidden()
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("#style-preview").screenshot(path=str(ARTIFACTS / "web-style-preview.png"))

    # A field the schema does not know: its path is named, the last good boxes stay.
    text.fill(edited.replace('"look": {', '"look": {\n      "frobnicate": 1,', 1))
    error = page.locator("#sp-error")
    sync_api.expect(error).to_be_visible()
    sync_api.expect(error).to_contain_text("outputs.look.frobnicate")
    assert rect_box(page) == after

    # Saved under a built-in's name: refused, with the server's reason; renamed: saved and listed.
    text.fill(edited)
    sync_api.expect(error).to_be_hidden()
    page.get_by_role("button", name="Save as my guide").click()
    sync_api.expect(page.locator("#sp-saved")).to_contain_text("Not saved")
    text.fill(edited.replace('"name": "full-look"', '"name": "web-test-look"', 1))
    page.get_by_role("button", name="Save as my guide").click()
    try:
        sync_api.expect(page.locator("#sp-saved")).to_contain_text('Saved as your guide "web-test-look"')
        sync_api.expect(select).to_have_value("web-test-look")
        assert client.get("/v1/styles/web-test-look").json()["outputs"]["look"]["anchor"]["at"] == 30
    finally:
        client.delete("/v1/styles/web-test-look")

    # At phone width the panel fits: nothing scrolls sideways.
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.scrollingElement.scrollWidth <= innerWidth"), "the style preview scrolls sideways"
    page.locator("#style-preview").screenshot(path=str(ARTIFACTS / "web-style-preview-phone.png"))
    assert not refused, refused
    context.close()


def test_style_preview_says_when_there_is_no_person(browser, gateway, key, client):
    job_id = submit_via_api(client, [("bottle.jpg", BOTTLE.read_bytes())])
    context = keyed_context(browser, key)
    page = context.new_page()
    page.goto(f"{gateway.url}/jobs/{job_id}")
    wait_finished(page, timeout=30_000)
    page.locator("#style-preview > summary").click()
    sync_api.expect(page.locator("#sp-none")).to_contain_text("no person photo")
    sync_api.expect(page.locator("#sp-body")).to_be_hidden()
    context.close()


def test_upload_form_offers_the_style_guides(browser, gateway, client):
    # The other key's default is preselected; "none" comes first.
    other = gateway.api_keys[1]
    headers = {"X-API-Key": other}
    assert client.put("/v1/styles/default", json={"name": "marketplace-square"}, headers=headers).status_code == 200
    try:
        context = keyed_context(browser, other)
        page = context.new_page()
        page.goto(gateway.url + "/")
        select = page.get_by_label("Style guide")
        sync_api.expect(select).to_have_value("marketplace-square")
        options = select.locator("option")
        assert options.first.inner_text() == "none (aspect and padding)"
        assert options.first.get_attribute("value") == "none"
        values = [o.get_attribute("value") for o in options.all()]
        assert set(BUILTIN_STYLES) <= set(values), values
        context.close()
    finally:
        client.put("/v1/styles/default", json={"name": None}, headers=headers)


def test_upload_with_a_style_guide_shows_the_look(browser, gateway, key, client):
    context = keyed_context(browser, key)
    page = context.new_page()
    page.goto(gateway.url + "/")
    select = page.get_by_label("Style guide")
    sync_api.expect(select).to_have_value("none")  # this key has no default
    select.select_option("full-look")
    page.locator("#files").set_input_files([photo("styled.jpg", FOOTBALLER.read_bytes())])
    page.get_by_role("button", name="Upload and process").click()
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f]+$"), timeout=60_000)
    job_id = page.url.rsplit("/", 1)[1]
    wait_finished(page)

    record = client.get(f"/v1/jobs/{job_id}/manifest").json()["images"][0]
    assert record["style"]["name"] == "full-look"
    card = page.locator('article[data-source="styled.jpg"]')
    sync_api.expect(card.locator(".style-badge")).to_have_text("style: full-look")
    look = card.locator('figure.item[data-type="look"]')
    sync_api.expect(look).to_have_count(1)
    sync_api.expect(look.locator(".item-title strong")).to_have_text("look")
    sync_api.expect(look.locator(".category")).to_have_count(0)
    wait_images_loaded(page, 'article[data-source="styled.jpg"] figure.item[data-type="look"] img')
    item = next(i for i in record["items"] if i["type"] == "look")
    assert look.locator("img.crop").evaluate("i => [i.naturalWidth, i.naturalHeight]") == item["size"]
    # Warnings and outputs not made are listed, one line each.
    warnings = [w for i in record["items"] for w in i["warnings"]]
    assert card.locator(".warnings li").count() == len(warnings)
    assert card.locator(".skipped li").count() == len(record["skipped"])
    ARTIFACTS.mkdir(exist_ok=True)
    card.screenshot(path=str(ARTIFACTS / "web-gallery-styled.png"))
    context.close()


# --- listings --------------------------------------------------------------------------------------


def listings_file(name: str, data: bytes) -> dict:
    return {"name": name, "mimeType": "text/csv", "buffer": data}


@pytest.fixture(scope="module")
def listed(browser, gateway, key):
    """A job uploaded through the page with a listings CSV attached: the footballer listed as
    what he wears (a red T-shirt), the bottle as what it is not (leather trainers)."""
    context = keyed_context(browser, key)
    page = context.new_page()
    page.goto(gateway.url + "/")
    page.locator("#files").set_input_files(
        [photo(FOOTBALLER.name, FOOTBALLER.read_bytes()), photo(BOTTLE.name, BOTTLE.read_bytes())]
    )
    csv = f"file,title,colour\n{FOOTBALLER.name},T-shirt,rouge\n{BOTTLE.name},Baskets en cuir,\n"
    page.get_by_label("Listings (optional)").set_input_files(listings_file("listings.csv", csv.encode()))
    yield upload_and_wait(page)
    context.close()


def test_a_listing_is_shown_beside_what_the_photo_shows(listed, client):
    page = listed.page
    manifest = client.get(f"/v1/jobs/{listed.id}/manifest").json()
    records = {Path(r["source"]).name: r for r in manifest["images"]}
    assert records[FOOTBALLER.name]["listing"]["verdict"] == "agree"
    assert records[BOTTLE.name]["listing"]["verdict"] == "disagree"
    for name, record in records.items():
        panel = page.get_by_role("region", name=f"Listing of {name}")
        sync_api.expect(panel.locator(".listing-head .badge")).to_have_text(record["listing"]["verdict"])
        rows = panel.locator("tbody tr")
        sync_api.expect(rows).to_have_count(len(record["listing"]["checks"]))
        for k, check in enumerate(record["listing"]["checks"]):
            cells = rows.nth(k).locator("td")
            sync_api.expect(cells.nth(0)).to_have_text(check["listed"])
            sync_api.expect(cells.nth(1)).to_have_text(check.get("seen") or "nothing")
            sync_api.expect(cells.nth(2)).to_have_text(check["verdict"])
    # What a user reads: the shirt listed red and seen red; the bottle listed as trainers.
    shirt = page.get_by_role("region", name=f"Listing of {FOOTBALLER.name}").locator('tr[data-field="colour"]')
    sync_api.expect(shirt.locator("td")).to_have_text(["red", "red", "agree"])
    bottle = page.get_by_role("region", name=f"Listing of {BOTTLE.name}").locator('tr[data-field="category"]')
    seen = records[BOTTLE.name]["items"][0]["category"]
    sync_api.expect(bottle.locator("td")).to_have_text(["shoes/sneakers", seen, "disagree"])
    sync_api.expect(bottle.get_by_role("rowheader")).to_have_text("category (product 1)")
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator(f'article[data-source="{BOTTLE.name}"]').screenshot(path=str(ARTIFACTS / "web-listing.png"))


def test_the_mismatches_filter_shows_only_the_photos_whose_listing_disagrees(listed, browser, gateway, key):
    page = listed.page
    shirt = page.locator(f'article[data-source="{FOOTBALLER.name}"]')
    bottle = page.locator(f'article[data-source="{BOTTLE.name}"]')
    page.get_by_role("checkbox", name="Mismatches").check()
    sync_api.expect(page.locator("article.card:visible")).to_have_count(1)
    sync_api.expect(bottle).to_be_visible()
    sync_api.expect(shirt).to_be_hidden()
    page.get_by_role("checkbox", name="Mismatches").uncheck()
    sync_api.expect(shirt).to_be_visible()

    # At phone width the listed-beside-seen table wraps, it does not scroll the page sideways.
    context = keyed_context(browser, key, viewport=PHONE)
    phone = context.new_page()
    phone.goto(f"{gateway.url}/jobs/{listed.id}")
    wait_finished(phone, timeout=30_000)
    sync_api.expect(phone.locator("section.listing")).to_have_count(2)
    assert phone.evaluate("document.scrollingElement.scrollWidth <= innerWidth"), "the listing scrolls sideways"
    ARTIFACTS.mkdir(exist_ok=True)
    phone.locator(f'article[data-source="{BOTTLE.name}"]').screenshot(path=str(ARTIFACTS / "web-listing-phone.png"))
    context.close()


@pytest.mark.parametrize(
    "data, said",
    [
        # refused by the page: a spreadsheet's CSV in another encoding than UTF-8
        (f"file,title\n{FOOTBALLER.name},Robe d'été\n".encode("cp1252"), "is not a UTF-8 text file"),
        # refused by the API, whose 422 names what is wrong
        (b"name,title\nx.jpg,Top\n", "no 'file' column"),
        (f"file,title\n{FOOTBALLER.name},Top\nother.jpg,Jeans\n".encode(), "for files that were not sent: other.jpg"),
    ],
)
def test_a_listings_file_that_cannot_be_read_says_why(browser, gateway, key, client, data, said):
    jobs_before = [j["id"] for j in client.get("/v1/jobs").json()["jobs"]]
    context = keyed_context(browser, key)
    page = context.new_page()
    page.goto(gateway.url + "/")
    page.locator("#files").set_input_files([photo(FOOTBALLER.name, FOOTBALLER.read_bytes())])
    page.get_by_label("Listings (optional)").set_input_files(listings_file("listings.csv", data))
    page.get_by_role("button", name="Upload and process").click()
    sync_api.expect(page.locator("#upload-error")).to_contain_text(said)
    assert urlsplit(page.url).path == "/"
    assert [j["id"] for j in client.get("/v1/jobs").json()["jobs"]] == jobs_before, "no job was made"
    context.close()
