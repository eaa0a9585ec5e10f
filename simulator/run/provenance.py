"""Where a result came from: package and library versions, Python, and the git commit."""

from __future__ import annotations

import platform
import subprocess
from functools import cache
from importlib import metadata
from pathlib import Path

_LIBRARIES = ("simpy", "numpy", "pandas", "networkx", "pydantic", "matplotlib", "pyarrow")


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"


@cache
def git_commit() -> str | None:
    """The commit of the source tree this package runs from (with ``-dirty`` if modified)."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=40"], cwd=here,
            capture_output=True, text=True, timeout=5, check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def provenance() -> dict[str, object]:
    return {
        "liqsim_version": _version("liqsim"),
        "python": platform.python_version(),
        "libraries": {name: _version(name) for name in _LIBRARIES},
        "git_commit": git_commit(),
    }
