"""Print pinned requirements from pyproject.toml's [project].dependencies.

Used by docker/Dockerfile so that pyproject.toml stays the one place where versions are set:

    python3.11 docker/pins.py torch torchvision        ->  torch==2.14.1 torchvision==0.29.1

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


def main(argv: list[str]) -> None:
    print(" ".join(f"{name}=={version}" for name, version in pins(argv).items()))


if __name__ == "__main__":
    main(sys.argv[1:])
