"""Helpers shared by the comparison benchmarks: the machine, versions, photos, results.

Not a benchmark itself. Every script records the date, the CPU, the package versions, the
load average at start and end, and the exact command, so a figure can be judged later.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import shlex
import statistics
import sys
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
RESULTS = PROJECT_ROOT / "bench" / "results"
PHOTOS = PROJECT_ROOT.parent / "shared" / "testdata" / "public"


def photos(folder: Path = PHOTOS) -> list[Path]:
    return sorted(folder.glob("*.jpg"))


def cpu_info() -> dict:
    """Model name, MHz and flags of the first CPU in /proc/cpuinfo, and the core count."""
    info: dict[str, Any] = {
        "model": platform.processor() or "unknown",
        "mhz": None,
        "flags": [],
        "cores": os.cpu_count(),
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key, value = key.strip(), value.strip()
            if key == "model name" and info["model"] in ("unknown", platform.processor()):
                info["model"] = value
            elif key == "cpu MHz" and info["mhz"] is None:
                info["mhz"] = float(value)
            elif key == "flags" and not info["flags"]:
                info["flags"] = value.split()
            elif key == "cpu family":
                info.setdefault("family", int(value))
            elif key == "model":
                info.setdefault("model_number", int(value))
    except OSError:
        pass
    return info


def machine() -> dict:
    cpu = cpu_info()
    return {
        "cpu": cpu["model"],
        "cpu_family": cpu.get("family"),
        "cpu_model_number": cpu.get("model_number"),
        "cpu_mhz": cpu["mhz"],
        "cores": cpu["cores"],
        "avx512f": "avx512f" in cpu["flags"],
        "fma": "fma" in cpu["flags"],
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def versions(*names: str) -> dict:
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far (ru_maxrss is in KiB on Linux)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def rss_mib() -> float:
    """Current resident set size of this process."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def summary(values: list[float]) -> dict:
    """Median, mean, p90, min and max, rounded."""
    s = sorted(values)
    p90 = s[min(len(s) - 1, int(round(0.9 * (len(s) - 1))))]
    return {
        "median": round(statistics.median(s), 2),
        "mean": round(statistics.fmean(s), 2),
        "p90": round(p90, 2),
        "min": round(s[0], 2),
        "max": round(s[-1], 2),
        "n": len(s),
    }


def code_version() -> str:
    """HEAD of the project, and "+dirty" when services/ or shared/ differ from it."""
    import subprocess

    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "services", "shared"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def command() -> str:
    return " ".join(shlex.quote(a) for a in [".venv/bin/python", *sys.argv])


def header(name: str) -> dict:
    """The record every result file starts with; print the load average too."""
    load = loadavg()
    info = machine()
    print(f"{name}: {info['cpu']}, {info['cores']} cores; load average at start {load}")
    return {
        "benchmark": name,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": info,
        "command": command(),
        "code": code_version(),
        "loadavg_start": load,
    }


def write(name: str, record: dict, out: Path | None = None, quiet: bool = False) -> Path:
    record["loadavg_end"] = loadavg()
    path = out or RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")
    if not quiet:
        print(f"load average at end {record['loadavg_end']}")
        print(f"wrote {path.relative_to(PROJECT_ROOT) if path.is_relative_to(PROJECT_ROOT) else path}")
    return path
