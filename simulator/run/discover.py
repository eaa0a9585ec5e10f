"""Finding stored runs: every run folder under a results directory, newest first.

A run folder is one holding a readable ``run.json`` with a scenario and a ``summary.json``
(``RunResult.save``). Only those two small files are read, never the tables, so listing a
results directory of many runs stays quick. A sweep folder (``manifest.json``) below the root
is skipped, so its hundreds of runs do not bury the others: list them by naming the sweep
folder itself. Reads; writes nothing.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from simulator.run.provenance import run_label

__all__ = ["StoredRun", "find_runs", "read_run"]

SWEEP_MARKERS = ("manifest.json", "runs.parquet")


@dataclass(frozen=True)
class StoredRun:
    """What a run folder says about itself, for listings."""

    folder: Path
    label: str
    created: datetime
    seed: int | None
    status: str
    summary: dict[str, Any]

    def figure(self, key: str) -> float:
        """A summary figure, NaN when the run did not record it (or it is undefined)."""
        value = self.summary.get(key)
        return float(value) if isinstance(value, int | float) else math.nan


def read_run(folder: str | Path) -> StoredRun | None:
    """The run stored in ``folder``, or None when it is not a (readable) run folder."""
    folder = Path(folder)
    try:
        meta = json.loads((folder / "run.json").read_text())
        summary = json.loads((folder / "summary.json").read_text())
    except (OSError, ValueError):
        return None
    if not (isinstance(meta, dict) and isinstance(meta.get("scenario"), dict)
            and isinstance(summary, dict)):
        return None
    seed = meta.get("seed")
    return StoredRun(
        folder=folder,
        # Runs saved before labels were recorded get the label their scenario implies.
        label=str(meta.get("label") or run_label(meta["scenario"])),
        created=_created(meta.get("created"), folder / "run.json"),
        seed=seed if isinstance(seed, int) else None,
        status=str(meta.get("status") or "unknown"),
        summary=summary,
    )


def _created(text: object, fallback: Path) -> datetime:
    """The recorded date (UTC), else the time run.json was last written."""
    if isinstance(text, str):
        try:
            stamp = datetime.fromisoformat(text)
        except ValueError:
            pass
        else:
            return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
    return datetime.fromtimestamp(fallback.stat().st_mtime, UTC)


def find_runs(root: str | Path) -> list[StoredRun]:
    """Every run folder under ``root`` (``root`` itself included), newest first; ties in
    folder order, so the listing is the same each time."""
    found: list[StoredRun] = []
    top = os.fspath(root)
    for here, dirs, files in os.walk(top):
        if "run.json" in files:
            run = read_run(here)
            if run is not None:
                found.append(run)
                dirs.clear()  # a run folder holds figures/, not more runs
                continue
        if here != top and any(marker in files for marker in SWEEP_MARKERS):
            dirs.clear()
        dirs.sort()
    found.sort(key=lambda r: r.folder.as_posix())
    found.sort(key=lambda r: r.created, reverse=True)
    return found
