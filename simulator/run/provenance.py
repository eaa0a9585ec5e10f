"""Where a result came from: package and library versions, Python, the git commit, the date,
and the run's label (scenario, presets and overrides), with a filesystem-safe form of it.

Knows scenarios only as data (``Scenario.to_dict()``); must not run or draw anything.
"""

from __future__ import annotations

import platform
import re
import subprocess
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import cache
from importlib import metadata
from pathlib import Path

# An override that picks a preset shows as the preset (``default+binance``), not as a --set.
_PRESET_OVERRIDE = re.compile(r"^venues\.[^.=]+\.preset=")
_UNSAFE = re.compile(r"[^A-Za-z0-9._+=-]+")
SLUG_CHARS = 80  # the label's part of a folder name; the hash beside it keeps names unique
_LIBRARIES = ("simpy", "numpy", "pandas", "networkx", "pydantic", "matplotlib", "pyarrow")


@cache  # installed versions do not change while a process runs; a sweep asks per run
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
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def run_label(scenario: Mapping[str, object], overrides: Sequence[str] = ()) -> str:
    """What was run, for people: the scenario's name, its venues' presets and the ``--set``
    overrides as given, e.g. ``default+hyperliquid set:shocks.0.move=-20%``."""
    venues = scenario.get("venues") or []
    presets = [str(v["preset"]) for v in venues if isinstance(v, Mapping) and v.get("preset")]
    parts = ["+".join([str(scenario.get("name") or "scenario"), *dict.fromkeys(presets)])]
    for text in overrides:
        text = re.sub(r"\s*=\s*", "=", text.strip(), count=1)
        if not _PRESET_OVERRIDE.match(text):
            parts.append(f"set:{text}")
    return " ".join(parts)


def label_slug(label: str) -> str:
    """``label`` as a portable file name part: ``default+hyperliquid_shocks.0.move=-20pct``
    (``%`` spelled out, ``set:`` dropped, anything else unsafe as ``-``, at most 80 chars)."""
    words = [w.replace("%", "pct") for w in label.split(" set:")]
    slug = "_".join(_UNSAFE.sub("-", w).strip("-") for w in words if w.strip())
    return slug[:SLUG_CHARS].strip("-_.") or "run"
