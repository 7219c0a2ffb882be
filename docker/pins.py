"""Print pinned requirements from pyproject.toml's [project].dependencies.

Used by docker/Dockerfile so that pyproject.toml stays the one place where versions are set:

    python3.11 docker/pins.py torch torchvision        ->  torch==2.14.1 torchvision==0.29.1
    python3.11 docker/pins.py --all --except torch     ->  every dependency but torch, one a line

Fails (exit 1) when a name is missing or not pinned to one exact version, so a build never
silently installs an unpinned package.
"""

import re
import sys
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def pins(names: list[str], pyproject: Path = PYPROJECT) -> dict[str, str]:
    deps = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    found = {}
    for dep in deps:
        m = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)\s*==\s*([0-9][^\s;,*]*)\s*", dep)
        if m and m.group(1).lower() in {n.lower() for n in names}:
            found[m.group(1).lower()] = m.group(2)
    missing = [n for n in names if n.lower() not in found]
    if missing:
        raise SystemExit(f"pins.py: not pinned to one exact version (==X.Y.Z) in {pyproject}: {', '.join(missing)}")
    return {n: found[n.lower()] for n in names}


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def requirements(leave_out: list[str], pyproject: Path = PYPROJECT) -> list[str]:
    """Every dependency as written, but those named in leave_out (each must be one)."""
    deps = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    names = {_name(dep) for dep in deps}
    unknown = [n for n in leave_out if _name(n) not in names]
    if unknown:
        raise SystemExit(f"pins.py: not a dependency in {pyproject}: {', '.join(unknown)}")
    return [dep for dep in deps if _name(dep) not in {_name(n) for n in leave_out}]


def main(argv: list[str]) -> None:
    if argv[:1] == ["--all"]:
        leave_out = argv[2:] if argv[1:2] == ["--except"] else []
        print("\n".join(requirements(leave_out)))
        return
    print(" ".join(f"{name}=={version}" for name, version in pins(argv).items()))


if __name__ == "__main__":
    main(sys.argv[1:])
