"""The /v1/styles API in front of the real cluster (conftest `gateway`): a guide stored
under one key, used by a job, set as that key's default, previewed and deleted; unseen
and untouchable by a second key; bad guides refused with the field named."""

from __future__ import annotations

from pathlib import Path

from conftest import FOOTBALLER
from test_gateway import client, post_job, wait_finished

STUDIO = """
name: studio
description: Eyes at 20%, feet at 95%, square.
outputs:
  look:
    anchor: {ref: eyes, at: 20}
    bottom: {ref: soles, offset: 5, unit: percent, side: below}
    size: [400, 400]
"""


def studio_job(http, **fields) -> dict:
    accepted = post_job(http, {"model.jpg": Path(FOOTBALLER).read_bytes()}, **fields)
    assert accepted.status_code == 202, accepted.text
    job = wait_finished(http, accepted.json()["id"])
    assert job["status"] == "succeeded", job
    return http.get(f"/v1/jobs/{job['id']}/manifest").json()


def test_a_guide_is_stored_used_made_default_and_deleted_per_key(gateway):
    with client(gateway) as first, client(gateway, "second") as second:
        created = first.post("/v1/styles", content=STUDIO, headers={"Content-Type": "application/yaml"})
        assert created.status_code == 201, created.text
        sha = created.json()["sha256"]
        names = [s["name"] for s in first.get("/v1/styles").json()["styles"]]
        assert "studio" in names and "full-look" in names
        # The second key sees the built-ins only, and nothing of the first key's.
        assert "studio" not in [s["name"] for s in second.get("/v1/styles").json()["styles"]]
        assert second.get("/v1/styles/studio").status_code == 404
        assert second.delete("/v1/styles/studio").status_code == 404
        refused = post_job(second, {"model.jpg": Path(FOOTBALLER).read_bytes()}, style="studio")
        assert refused.status_code == 422 and "no style guide 'studio'" in refused.json()["detail"]

        manifest = studio_job(first, style="studio")
        (record,) = manifest["images"]
        assert record["style"] == {"name": "studio", "sha256": sha}
        (look,) = [i for i in record["items"] if i["type"] == "look"]
        assert look["size"] == [400, 400]
        assert first.get(look["files"]["image"]).status_code == 200

        # The live preview frames the same box as the worker did, from the manifest's keypoints.
        shown = first.post(
            "/v1/styles/preview",
            json={"style": "studio", **{k: record[k] for k in ("width", "height", "keypoints")}},
        )
        assert shown.status_code == 200, shown.text
        assert [o["box"] for o in shown.json()["outputs"] if o["output"] == "look"] == [look["box"]]

        # As the key's default, a job that names no guide follows it; the other key's do not.
        assert first.put("/v1/styles/default", json={"name": "studio"}).json()["default"] == "studio"
        assert studio_job(first)["images"][0]["style"]["name"] == "studio"
        assert studio_job(first, style="none")["images"][0]["style"] is None
        assert second.get("/v1/styles").json()["default"] is None

        replaced = first.post(
            "/v1/styles", content=STUDIO.replace("at: 20", "at: 25"), headers={"Content-Type": "application/yaml"}
        )
        assert replaced.status_code == 200 and replaced.json()["sha256"] != sha

        assert first.delete("/v1/styles/studio").status_code == 204
        assert first.get("/v1/styles/studio").status_code == 404
        assert first.get("/v1/styles").json()["default"] is None
        assert "studio" not in [s["name"] for s in first.get("/v1/styles").json()["styles"]]


def test_bad_guides_are_refused_with_the_field_named(gateway):
    with client(gateway) as http:
        unknown = http.post(
            "/v1/styles", json={"name": "x", "outputs": {"look": {"top": {"ref": "nose"}, "botom": {"ref": "soles"}}}}
        )
        assert unknown.status_code == 422
        assert "outputs.look.botom" in unknown.json()["detail"]
        bad_ref = http.post(
            "/v1/styles",
            content="name: x\noutputs: {top: {top: {ref: ear}, bottom: {ref: garment}}}",
            headers={"Content-Type": "text/yaml"},
        )
        assert bad_ref.status_code == 422 and "outputs.top.top.ref" in bad_ref.json()["detail"]
        builtin = http.post(
            "/v1/styles",
            content=STUDIO.replace("name: studio", "name: headless"),
            headers={"Content-Type": "application/yaml"},
        )
        assert builtin.status_code == 409 and "built-in" in builtin.json()["detail"]
        assert http.delete("/v1/styles/headless").status_code == 409
        assert http.post("/v1/styles", content=b"\x89PNG", headers={"Content-Type": "image/png"}).status_code == 415
        huge = http.post("/v1/styles", content="#" * 70_000, headers={"Content-Type": "text/plain"})
        assert huge.status_code == 413
        assert http.put("/v1/styles/default", json={"name": "nothing-here"}).status_code == 404
        preview = http.post(
            "/v1/styles/preview", json={"guide": "name: x\n", "width": 10, "height": 10, "keypoints": []}
        )
        assert preview.status_code == 422 and "at least one output" in preview.json()["detail"]
        schema = http.get("/v1/styles/schema").json()
        assert "outputs" in schema["properties"]
