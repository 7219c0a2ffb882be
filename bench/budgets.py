"""Peak worker memory for hostile and oversized inputs, against the real cluster.

    .venv/bin/python bench/budgets.py            # about 5 minutes on 2 cores

Starts the local cluster (catalog/local_cluster.py: redis-server, the gateway, one worker
per queue, each one task at a time as the k8s workers run), sends one job per case, and
samples every worker's memory (the PSS of the worker and its pool processes together, as a
container's memory limit counts them) every 100 ms. Prints, per case, how the gateway answered, how
the photos ended, and each worker's peak against its limit in k8s/overlays/cpu. Cases: the
sample photos as a baseline; decompression bombs that pass the upload limits (JPEG, PNG
and GIF headers of 7000x7000 on a few KB, four to a job); the largest photo the upload
limit allows (50 MP); style guides that ask for huge crops and images, and one that nests
500 deep; a 300-character file name. Writes bench/results/budgets.json.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import struct
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil
import yaml
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

from catalog.local_cluster import LocalCluster, free_port  # noqa: E402
from shared.engine.chain import QUEUES  # noqa: E402

FIXTURES = _common.PROJECT_ROOT / "tests" / "fixtures"
PERSON = FIXTURES / "person_fullbody_scene_12.jpg"
PRODUCT = FIXTURES / "cosmetics_white_bg_06.jpg"


def k8s_limits() -> dict[str, int]:
    """Each worker's memory limit in the CPU overlay, in MiB."""
    units = {"Mi": 1, "Gi": 1024}
    limits = {}
    for queue in QUEUES:
        doc = yaml.safe_load((_common.PROJECT_ROOT / f"k8s/overlays/cpu/resources-{queue}.yaml").read_text())
        text = str(_find(doc, "limits")["memory"])
        limits[queue] = int(float(text[:-2]) * units[text[-2:]])
    return limits


def _find(node, key):
    if isinstance(node, dict):
        if key in node:
            return node[key]
        node = list(node.values())
    for child in node if isinstance(node, list) else []:
        if (found := _find(child, key)) is not None:
            return found
    return None


class Sampler(threading.Thread):
    """The peak memory of each worker's process tree since the last reset, in MiB: the sum
    of its processes' PSS (a page shared by the worker and its pool process, as forked,
    counts once, as the container's memory cgroup counts it)."""

    def __init__(self, pids: dict[str, int]):
        super().__init__(daemon=True)
        self.pids, self.peaks = pids, dict.fromkeys(pids, 0.0)
        self.stop = threading.Event()

    def tree_mib(self, pid: int) -> float:
        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return 0.0
        total = 0
        for proc in procs:
            try:
                total += proc.memory_full_info().pss
            except psutil.Error:
                pass
        return total / 2**20

    def run(self) -> None:
        while not self.stop.is_set():
            for name, pid in self.pids.items():
                self.peaks[name] = max(self.peaks[name], self.tree_mib(pid))
            time.sleep(0.1)

    def processes(self) -> set[int]:
        """Every worker process and pool process now running: one that is gone after a case
        was killed (a pool process is never recycled here), e.g. by the kernel's OOM killer."""
        pids = set()
        for pid in self.pids.values():
            try:
                pids |= {pid, *(c.pid for c in psutil.Process(pid).children(recursive=True))}
            except psutil.Error:
                pass
        return pids

    def reset(self) -> dict[str, float]:
        peaks, self.peaks = self.peaks, dict.fromkeys(self.pids, 0.0)
        return {name: round(mib) for name, mib in peaks.items()}


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def jpeg_claiming(width: int, height: int) -> bytes:
    """A 300x300 photo-like JPEG (about 8 KB) whose frame header claims width x height."""
    data = encoded(Image.open(PRODUCT).convert("RGB").resize((300, 300)), "JPEG", quality=75)
    at = data.index(b"\xff\xc0") + 5
    return data[:at] + struct.pack(">HH", height, width) + data[at + 4 :]


def product_canvas(side: int) -> Image.Image:
    """A white sweep side x side with a product-sized dark block: compresses to a few KB."""
    canvas = Image.new("RGB", (side, side), "white")
    canvas.paste((150, 30, 40), (side // 3, side // 4, 2 * side // 3, 3 * side // 4))
    return canvas


def largest_photo() -> bytes:
    """The person photo enlarged to the 50 MP upload limit."""
    photo = Image.open(PERSON).convert("RGB")
    return encoded(photo.resize((5773, 8660), Image.Resampling.BILINEAR), "JPEG", quality=85)


LARGEST_OUTPUT = """
name: largest
outputs:
  look: {top: {ref: head_top, offset: 1, unit: head, side: above}, bottom: {ref: soles, offset: 1, unit: head,
         side: below}, size: [3464, 4618], on_fail: pad}
  top: {top: {ref: shoulders, offset: 1, unit: head, side: above}, bottom: {ref: garment}, size: [3464, 4618]}
  bottom: {top: {ref: hips, offset: 1, unit: head, side: above}, bottom: {ref: garment}, size: [3464, 4618]}
product: {size: [3464, 4618]}
"""
HUGE_OFFSETS = (
    '{"name":"huge","outputs":{"look":{"top":{"ref":"eyes","offset":100,"unit":"head","side":"above"},'
    '"bottom":{"ref":"soles","offset":100,"unit":"head","side":"below"},"on_fail":"pad"}}}'
)


def cases() -> list[dict]:
    person, product = PERSON.read_bytes(), PRODUCT.read_bytes()
    lying_jpeg = jpeg_claiming(7000, 7000)
    bomb_png = encoded(product_canvas(7000), "PNG")
    bomb_gif = encoded(product_canvas(7000).convert("P"), "GIF")
    return [
        {"case": "sample photos (baseline)", "files": [("person.jpg", person), ("product.jpg", product)]},
        {
            "case": "4 JPEGs of 8 KB claiming 7000x7000",
            "files": [(f"b{i}.jpg", lying_jpeg) for i in range(4)],
        },
        {"case": "4 PNGs of 7000x7000 in a few KB", "files": [(f"b{i}.png", bomb_png) for i in range(4)]},
        {"case": "4 GIFs of 7000x7000 in a few KB", "files": [(f"b{i}.gif", bomb_gif) for i in range(4)]},
        {"case": "a 50 MP photo (the upload limit)", "files": [("large.jpg", largest_photo())]},
        {"case": "a 300-character file name", "files": [("B" * 300 + ".jpg", person)]},
        {"case": "guide: 100 heads above and below", "guide": HUGE_OFFSETS, "files": [("person.jpg", person)]},
        {"case": "guide: nested 500 deep", "guide": "[" * 500 + "]" * 500, "files": [("person.jpg", person)]},
        {
            "case": "guide: 16 MP images as PNG",
            "guide": LARGEST_OUTPUT,
            "files": [("person.jpg", person), ("product.jpg", product)],
            "form": {"format": "png"},
        },
    ]


def run_case(http: httpx.Client, case: dict) -> dict:
    out: dict = {"case": case["case"], "bytes": sum(len(data) for _, data in case["files"])}
    form = dict(case.get("form", {}))
    if "guide" in case:
        saved = http.post("/v1/styles", content=case["guide"], headers={"Content-Type": "application/yaml"})
        out["guide_status"] = saved.status_code
        if saved.status_code >= 300:
            out["answer"] = saved.json()["detail"][:160]
            return out
        form["style"] = saved.json()["name"]
    started = time.monotonic()
    answer = http.post("/v1/jobs", files=[("files", f) for f in case["files"]], data=form)
    out["post_status"] = answer.status_code
    if answer.status_code != 202:
        out["answer"] = answer.json().get("detail", "")[:160]
        return out
    job_id = answer.json()["id"]
    while (job := http.get(f"/v1/jobs/{job_id}").json())["finished"] is None:
        time.sleep(0.2)
    out["job_s"] = round(time.monotonic() - started, 1)
    out["photos"] = [
        {"status": i["status"], "error": i.get("error"), "skipped": len(i.get("skipped") or [])} for i in job["images"]
    ]
    manifest = http.get(f"/v1/jobs/{job_id}/manifest").json()
    out["skipped"] = [s["reason"] for r in manifest["images"] for s in r.get("skipped") or []][:3]
    out["scaled_from"] = [r.get("scaled_from") for r in manifest["images"]]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    record = _common.header("budgets")
    limits = k8s_limits()
    base = Path(tempfile.mkdtemp(prefix="catalog-budgets-"))
    os.environ.pop("CATALOG_REDIS_URL", None)
    os.environ.pop("CATALOG_API_KEYS", None)
    os.environ["CATALOG_STORAGE_URL"] = (base / "blobs").as_uri()
    cluster = LocalCluster(base, free_port(), segment_processes=1)
    cluster.start(timeout=300)
    sampler = Sampler({queue: cluster.children[queue].pid for queue in QUEUES})
    sampler.start()
    results = []
    try:
        with httpx.Client(base_url=cluster.url, timeout=600) as http:
            for case in cases():
                sampler.reset()
                before = sampler.processes()
                result = run_case(http, case)
                time.sleep(0.5)  # the last sample after the job ends
                result["peak_mib"] = sampler.reset()
                result["processes_killed"] = len(before - sampler.processes())
                result["within_limits"] = all(result["peak_mib"][q] <= limits[q] for q in QUEUES)
                results.append(result)
                print(
                    f"{result['case']:<40} post {result.get('guide_status', '')}{result.get('post_status', '')}"
                    f" {result.get('job_s', '-'):>5} s peaks {result['peak_mib']}"
                    f" {'within' if result['within_limits'] else 'OVER'} limits"
                    f" {[p['status'] for p in result.get('photos', [])] or result.get('answer', '')}",
                    flush=True,
                )
    finally:
        sampler.stop.set()
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)
    internal = [p for r in results for p in r.get("photos", []) if "internal error" in (p["error"] or "")]
    killed = sum(r["processes_killed"] for r in results)
    server_errors = sum(r.get(k, 0) >= 500 for r in results for k in ("guide_status", "post_status"))
    record |= {"k8s_limits_mib": limits, "cases": results, "internal_errors": len(internal)}
    record |= {"processes_killed": killed, "server_errors": server_errors}
    record["all_within_limits"] = all(r["within_limits"] for r in results)
    print(f"limits (MiB): {limits}; all within: {record['all_within_limits']}")
    print(f"internal errors: {len(internal)}; worker processes killed: {killed}; 5xx answers: {server_errors}")
    _common.write("budgets", record, args.out)
    return 0 if record["all_within_limits"] and not internal and not killed and not server_errors else 1


if __name__ == "__main__":
    sys.exit(main())
