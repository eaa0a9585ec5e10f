"""Which report a folder gets: a run folder (``run.json``) its run page, a sweep or comparison
folder (``runs.parquet``) its sweep report; anything else is a ``ReportError``.

Looks at file names only; the builders read the files. Must not run simulations.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path

from simulator.report.page import Report, ReportError

__all__ = ["FolderKind", "build_folder_report", "folder_kind"]


class FolderKind(Enum):
    RUN = "run"
    SWEEP = "sweep"


def folder_kind(folder: str | Path) -> FolderKind:
    """The kind of results ``folder`` holds; ``ReportError`` when it holds none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ReportError(f"{folder}: no such folder")
    if (folder / "runs.parquet").is_file():
        return FolderKind.SWEEP
    if (folder / "run.json").is_file():
        return FolderKind.RUN
    raise ReportError(f"{folder}: not a run or sweep folder (no run.json, no runs.parquet); "
                      "give a folder written by liqsim run or liqsim sweep")


def build_folder_report(folder: str | Path, out_dir: str | Path | None = None) -> Report:
    """The report the folder's kind calls for, written into ``out_dir`` (default
    ``<folder>/report``)."""
    match folder_kind(folder):
        case FolderKind.RUN:
            from simulator.report.run import build_run_report

            return build_run_report(folder, out_dir)
        case FolderKind.SWEEP:
            from simulator.report.sweep import build_report

            return build_report(folder, out_dir)
