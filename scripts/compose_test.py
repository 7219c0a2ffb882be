#!/usr/bin/env python3
"""The Compose cluster, for real (`make compose-test`): build the images, start every
service with Docker Compose, send the sample photos through it, kill a worker in the middle
of a photo, and take it all down again.

    python3 scripts/compose_test.py

1. A Docker engine: the one running, or `dockerd` started here (as root, when installed).
2. Base images: python:3.11-slim and redis:7.4 from Docker Hub. Where Docker Hub cannot be
   reached, stand-ins are made from Debian packages (debootstrap, then docker/local-base/).
   The host's extra CA certificates go to docker/ca/ for the build (a TLS-inspecting proxy).
3. `compose build`, `compose up -d`, then a wait until every service is healthy.
4. tests/fixtures through the project's client (`catalog submit --wait --out`, run from the
   image against the published port), and a check of the manifest it unpacks.
5. One photo more; while it is in the segment stage the segment worker's main process is
   killed (SIGKILL, as the kernel's OOM killer would). Its restart policy must start it
   again, and the photo must still finish (the gateway's sweeper sends a stalled stage again).
6. `compose down -v`, whatever happened (KEEP=1 leaves the cluster up).

Only the standard library is used, so no virtual environment is needed. Environment:
  COMPOSE                   the compose command (default: `docker compose`, else
                            `docker-compose` on PATH, else the one in .venv)
  BASE_IMAGE, REDIS_IMAGE   base images to use as they are, with no Docker Hub check
  KEEP=1                    leave the cluster running
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "build" / "compose-test"  # logs and the unpacked catalog (build/ is ignored by git)
PROJECT = "catalog-compose-test"  # its own project name: a cluster of yours keeps its volumes
GATEWAY = "http://127.0.0.1:8000"
API_KEY = "dev-key-change-me"  # docker-compose.yml's default key
IMAGE = "catalog:cpu"
OFFICIAL = {"BASE_IMAGE": "python:3.11-slim", "REDIS_IMAGE": "redis:7.4"}
STAND_INS = {"BASE_IMAGE": "catalog-local/python:3.11-slim", "REDIS_IMAGE": "catalog-local/redis:7.4"}
DEBIAN = "catalog-local/debian:bookworm"
SERVICES = ("redis", "gateway", "detect", "pose", "segment", "color", "webhooks", "flower")
KILL_PHOTO = ROOT / "tests" / "fixtures" / "person_fullbody_scene_12.jpg"  # goes through every stage
T0 = time.monotonic()


def say(message: str) -> None:
    print(f"[{time.monotonic() - T0:6.1f}s] {message}", flush=True)


def run(*command: str, log: Path | None = None, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    """Run a command; its output goes to `log` when given (shown in part if it fails)."""
    if log is None:
        return subprocess.run(command, check=check, text=True, **kwargs)
    with open(log, "w") as out:
        done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, text=True, **kwargs)
    if check and done.returncode:
        sys.stdout.write("".join(log.read_text().splitlines(keepends=True)[-40:]))
        raise SystemExit(f"failed ({done.returncode}): {shlex.join(command)} (whole output: {log})")
    return done


def output(*command: str) -> str:
    return subprocess.run(command, check=True, text=True, capture_output=True).stdout.strip()


def succeeds(*command: str, timeout: float = 120) -> bool:
    try:
        return subprocess.run(command, capture_output=True, timeout=timeout).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def as_root() -> bool:
    return os.geteuid() == 0


def apt_install(*packages: str) -> None:
    if not (as_root() and shutil.which("apt-get")):
        raise SystemExit(f"please install {' '.join(packages)} (Debian/Ubuntu: apt-get install {' '.join(packages)})")
    say(f"installing {' '.join(packages)} with apt-get")
    run("apt-get", "update", "-qq")
    run("apt-get", "install", "-y", "-qq", *packages, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


# --- 1. the engine ----------------------------------------------------------------------
def ensure_engine() -> None:
    if succeeds("docker", "info"):
        return
    if not shutil.which("dockerd"):
        apt_install("docker.io")  # Debian's Docker engine and client
    if succeeds("docker", "info"):  # the package may have started it
        return
    if not as_root():
        raise SystemExit("no Docker engine answers, and only root can start dockerd here")
    say("starting dockerd (log: /var/log/catalog-dockerd.log)")
    with open("/var/log/catalog-dockerd.log", "a") as log:
        subprocess.Popen(["dockerd"], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    for _ in range(60):
        if succeeds("docker", "info"):
            return
        time.sleep(1)
    raise SystemExit("dockerd did not answer within 60 s: see /var/log/catalog-dockerd.log")


def compose_command() -> list[str]:
    if os.environ.get("COMPOSE"):
        return shlex.split(os.environ["COMPOSE"])
    if succeeds("docker", "compose", "version"):
        return ["docker", "compose"]
    for candidate in (shutil.which("docker-compose"), ROOT / ".venv" / "bin" / "docker-compose"):
        if candidate and Path(candidate).exists():
            return [str(candidate)]
    apt_install("docker-compose")
    return ["docker-compose"]


# --- 2. base images ---------------------------------------------------------------------
def base_images() -> dict[str, str]:
    if os.environ.get("BASE_IMAGE") and os.environ.get("REDIS_IMAGE"):
        chosen = {name: os.environ[name] for name in OFFICIAL}
        say(f"base images as given: {chosen}")
        return chosen
    missing = [image for image in OFFICIAL.values() if not succeeds("docker", "image", "inspect", image)]
    for image in missing:
        say(f"pulling {image} from Docker Hub")
        pull = subprocess.run(["docker", "pull", "-q", image], capture_output=True, text=True, timeout=900)
        if pull.returncode:
            reason = (pull.stderr.strip().splitlines() or ["no answer"])[-1]
            say(f"Docker Hub cannot be reached ({reason[:160]}):")
            say("making stand-ins for python:3.11-slim and redis:7.4 from Debian packages instead")
            make_stand_ins()
            return dict(STAND_INS)
    say("base images: python:3.11-slim and redis:7.4 from Docker Hub")
    return dict(OFFICIAL)


def make_stand_ins() -> None:
    """A minimal Debian 12 (debootstrap, over HTTP from the Debian mirror), imported as an
    image once; on it, the two stand-ins of docker/local-base/ (cached by the builder)."""
    if not succeeds("docker", "image", "inspect", DEBIAN):
        if not as_root():
            raise SystemExit("debootstrap needs root: run as root, or set BASE_IMAGE and REDIS_IMAGE")
        if not shutil.which("debootstrap"):
            apt_install("debootstrap")
        say(f"debootstrap --variant=minbase bookworm, then docker import as {DEBIAN}")
        rootfs = Path(tempfile.mkdtemp(prefix="catalog-rootfs-", dir="/var/tmp"))
        try:
            run(
                "debootstrap",
                "--variant=minbase",
                "bookworm",
                str(rootfs),
                "http://deb.debian.org/debian",
                log=WORK / "debootstrap.log",
            )
            for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):  # apt-get update fills them again
                for entry in (rootfs / cache).glob("*"):
                    if entry.is_file():
                        entry.unlink()
            tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
            run("docker", "import", "-", DEBIAN, stdin=tar.stdout, stdout=subprocess.DEVNULL)
            if tar.wait():
                raise SystemExit("tar of the debootstrap tree failed")
        finally:
            shutil.rmtree(rootfs, ignore_errors=True)
    for name, image in (("python", STAND_INS["BASE_IMAGE"]), ("redis", STAND_INS["REDIS_IMAGE"])):
        say(f"building {image} (docker/local-base/{name}.Dockerfile)")
        run(
            "docker",
            "build",
            "-t",
            image,
            "--build-arg",
            f"DEBIAN={DEBIAN}",
            "-f",
            str(ROOT / "docker" / "local-base" / f"{name}.Dockerfile"),
            str(ROOT / "docker" / "local-base"),
            log=WORK / f"stand-in-{name}.log",
        )


def copy_host_cas() -> None:
    """The host's extra CAs (a corporate or inspecting TLS proxy) for the build stage."""
    found = sorted(Path("/usr/local/share/ca-certificates").rglob("*.crt"))
    target = ROOT / "docker" / "ca"
    for cert in found:
        shutil.copyfile(cert, target / cert.name)
    if found:
        say(f"extra CAs for the build (docker/ca/): {', '.join(c.name for c in found)}")


# --- 3. build and start -----------------------------------------------------------------
def containers(compose: list[str], env: dict[str, str], *services: str) -> list[str]:
    ps = subprocess.run([*compose, "ps", "-q", *services], check=True, text=True, capture_output=True, env=env)
    return ps.stdout.split()


def states(ids: list[str]) -> dict[str, tuple[str, str]]:
    """Service name -> (state, health) of each container."""
    template = (
        '{{index .Config.Labels "com.docker.compose.service"}} {{.State.Status}} '
        "{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}"
    )
    found = {}
    for line in output("docker", "inspect", "-f", template, *ids).splitlines():
        service, state, health = line.split()
        found[service] = (state, health)
    return found


def wait_healthy(compose: list[str], env: dict[str, str], timeout: float = 420) -> dict[str, tuple[str, str]]:
    deadline = time.monotonic() + timeout
    while True:
        now = states(containers(compose, env))
        if set(now) >= set(SERVICES) and all(now[s] == ("running", "healthy") for s in SERVICES):
            return now
        if time.monotonic() > deadline:
            raise SystemExit(f"not every service became healthy within {timeout:.0f} s: {now}")
        time.sleep(2)


# --- 4. the sample photos ---------------------------------------------------------------
def submit_fixtures(out: Path) -> dict:
    """`catalog submit tests/fixtures --wait --out DIR`, the client run from the image on the
    host's network (so against the published port), as uid 10001: DIR is opened to it."""
    out.mkdir(parents=True)
    out.chmod(0o777)
    run(
        "docker",
        "run",
        "--rm",
        "--network",
        "host",
        "-e",
        f"CATALOG_URL={GATEWAY}",
        "-e",
        f"CATALOG_API_KEY={API_KEY}",
        "-v",
        f"{ROOT / 'tests' / 'fixtures'}:/photos:ro",
        "-v",
        f"{out}:/out",
        IMAGE,
        "catalog",
        "submit",
        "/photos",
        "--wait",
        "--out",
        "/out/catalog",
    )
    return json.loads((out / "catalog" / "manifest.json").read_text())


def check_manifest(manifest: dict, expected: int) -> list[str]:
    """One line per photo; fails unless every photo is ok with items that have a category
    (a look has none) and a colour."""
    lines, problems = [], []
    for image in manifest["images"]:
        items = image["items"]
        if image["status"] != "ok" or not items:
            problems.append(f"{image['source']}: {image['status']} {image.get('error') or 'no items'}")
        for item in items:
            if item["type"] != "look" and not item.get("category"):
                problems.append(f"{image['source']}: an item without a category")
            if not (item.get("color") or {}).get("name"):
                problems.append(f"{image['source']}: an item without a colour")
        described = ", ".join(
            f"{i.get('category') or i['type']} {(i.get('color') or {}).get('name', '?')}" for i in items
        )
        lines.append(f"{image['source']}: {image['status']}, {image.get('kind')}, {len(items)} items: {described}")
    if len(manifest["images"]) != expected:
        problems.append(f"{len(manifest['images'])} photos in the manifest, {expected} sent")
    if problems:
        raise SystemExit("manifest check failed:\n  " + "\n  ".join(problems))
    return lines


# --- 5. a worker killed mid-photo -------------------------------------------------------
def api(method: str, path: str, body: bytes | None = None, content_type: str | None = None) -> dict:
    headers = {"X-API-Key": API_KEY, **({"Content-Type": content_type} if content_type else {})}
    request = urllib.request.Request(GATEWAY + path, data=body, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def submit_one(photo: Path) -> str:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{photo.name}"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + photo.read_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return api("POST", "/v1/jobs", body, f"multipart/form-data; boundary={boundary}")["id"]


def kill_mid_photo(compose: list[str], env: dict[str, str]) -> dict[str, float | int]:
    (segment,) = containers(compose, env, "segment")
    restarts = int(output("docker", "inspect", "-f", "{{.RestartCount}}", segment))
    job = submit_one(KILL_PHOTO)
    sent = time.monotonic()
    while (state := api("GET", f"/v1/jobs/{job}"))["images"][0]["stage"] != "segment":
        if state["status"] in ("succeeded", "partial", "failed") or time.monotonic() - sent > 120:
            raise SystemExit(f"the photo never reached segment: {state}")
        time.sleep(0.1)
    time.sleep(0.3)  # the worker takes the task off the queue and starts the matte
    pid = int(output("docker", "inspect", "-f", "{{.State.Pid}}", segment))
    os.kill(pid, 9)  # the container's main process (celery's parent), from the host
    killed = time.monotonic()
    say(f"killed the segment worker (pid {pid} on the host) {killed - sent:.1f} s after the photo was sent")
    restarted = None
    while True:
        state = api("GET", f"/v1/jobs/{job}")
        info = output("docker", "inspect", "-f", "{{.RestartCount}} {{.State.Status}}", segment).split()
        if restarted is None and int(info[0]) > restarts and info[1] == "running":
            restarted = time.monotonic() - killed
            say(f"segment worker restarted by its restart policy after {restarted:.1f} s (restarts: {info[0]})")
        if state["status"] in ("succeeded", "partial", "failed"):
            break
        if time.monotonic() - killed > 300:
            raise SystemExit(f"the photo did not finish within 300 s of the kill: {state}")
        time.sleep(1)
    finished = time.monotonic() - killed
    image = state["images"][0]
    if restarted is None:
        raise SystemExit("the killed segment worker was not restarted")
    if state["status"] != "succeeded" or image["status"] != "ok":
        raise SystemExit(f"the photo of the killed worker did not finish ok: {state}")
    say(f"the photo finished ok {finished:.1f} s after the kill (job {state['status']})")
    return {"restart_s": restarted, "finish_s": finished}


# --- the whole run ----------------------------------------------------------------------
def image_size(image: str) -> str:
    return output("docker", "image", "ls", image, "--format", "{{.Size}}") or "?"


def main() -> int:
    if WORK.exists():
        shutil.rmtree(WORK)
    WORK.mkdir(parents=True)
    ensure_engine()
    tool = compose_command()
    compose = [*tool, "-p", PROJECT, "--project-directory", str(ROOT), "-f", str(ROOT / "docker-compose.yml")]
    say(
        f"engine: Docker {output('docker', 'version', '-f', '{{.Server.Version}}')}; "
        f"compose: {shlex.join(tool)}, {output(*tool, 'version').splitlines()[0]}"
    )
    times: dict[str, float] = {}

    started = time.monotonic()
    images = base_images()
    times["base images"] = time.monotonic() - started
    env = {**os.environ, **images}
    copy_host_cas()

    started = time.monotonic()
    say(f"building {IMAGE} from docker/Dockerfile on {images['BASE_IMAGE']} (log: {WORK / 'build.log'})")
    run(*compose, "build", "gateway", env=env, log=WORK / "build.log")  # one image for every service
    times["build"] = time.monotonic() - started
    say(f"built in {times['build']:.0f} s")

    try:
        started = time.monotonic()
        run(*compose, "up", "-d", "--no-build", env=env, log=WORK / "up.log")
        times["up -d"] = time.monotonic() - started
        health = wait_healthy(compose, env)
        times["all healthy"] = time.monotonic() - started
        say(
            f"up -d in {times['up -d']:.1f} s; every service healthy after {times['all healthy']:.1f} s: "
            + ", ".join(f"{s} {h[1]}" for s, h in health.items())
        )

        started = time.monotonic()
        count = len([p for p in (ROOT / "tests" / "fixtures").iterdir() if p.suffix.lower() == ".jpg"])
        manifest = submit_fixtures(WORK / "out")
        times["job"] = time.monotonic() - started
        for line in check_manifest(manifest, count):
            say(f"  {line}")
        say(f"{count} of {count} photos ok through `catalog submit` in {times['job']:.1f} s")

        kill = kill_mid_photo(compose, env)
        wait_healthy(compose, env)
        say("every service healthy again")
    except BaseException:
        run(*compose, "logs", "--no-color", "--tail", "200", env=env, log=WORK / "logs.txt", check=False)
        say(f"the services' last log lines: {WORK / 'logs.txt'}")
        raise
    finally:
        if os.environ.get("KEEP") != "1":
            started = time.monotonic()
            run(*compose, "down", "-v", env=env, log=WORK / "down.log", check=False)
            say(f"down -v in {time.monotonic() - started:.1f} s")

    print("\ncompose test passed")
    print(
        f"  base images      {images['BASE_IMAGE']} ({image_size(images['BASE_IMAGE'])}), "
        f"{images['REDIS_IMAGE']} ({image_size(images['REDIS_IMAGE'])}), ready in {times['base images']:.0f} s"
    )
    print(f"  build            {times['build']:.0f} s, {IMAGE} {image_size(IMAGE)}")
    print(
        f"  start            up -d {times['up -d']:.1f} s, all {len(SERVICES)} services healthy "
        f"{times['all healthy']:.1f} s"
    )
    print(f"  job              {count} photos through `catalog submit --wait --out` in {times['job']:.1f} s")
    print(
        f"  worker killed    restarted after {kill['restart_s']:.1f} s, its photo ok "
        f"{kill['finish_s']:.1f} s after the kill"
    )
    print(f"  total            {time.monotonic() - T0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
