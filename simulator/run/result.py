"""``RunResult``: a run's tables, graphs and metadata, and its run folder on disk.

Run folder (DESIGN section 8): ``run.json`` (scenario as run, label, seed, versions, git
commit, date, timings, status and error), ``summary.json`` (the flat figures, then ``units``:
each figure's unit from ``catalogue``), ``events.parquet``, ``timeseries.parquet``,
``accounts.parquet``, ``cascade_edges.parquet``, ``market_graph.graphml`` (the graph that wired
the run: venues, markets, indices, collateral, account groups; small, always written),
``cascade.graphml`` and ``exposure.graphml`` (per account).
Charts (``figures/``) are drawn from a saved run by ``simulator.charts.run.write_figures``,
never here: this module must not know matplotlib. Every file is written to a temporary name and
renamed into place, so a reader never sees half a file; ``run.json`` is written first (as
"writing") and last (final status).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import networkx as nx
import pandas as pd

from simulator.run.graphs import cascade_graph, exposure_graph

TABLES = ("events", "timeseries", "accounts", "cascade_edges")
UNITS_KEY = "units"  # summary.json's mapping of figure -> unit, after the figures
UTC_COLUMN = "utc"  # a replay's run: time_ms on the UTC clock (simulator.run.epoch)


@dataclass
class RunResult:
    summary: dict[str, Any]
    events: pd.DataFrame
    timeseries: pd.DataFrame
    accounts: pd.DataFrame
    cascade_edges: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)
    market_graph: nx.DiGraph | None = None  # the graph that wired the run

    @cached_property
    def cascade(self) -> nx.DiGraph:
        return cascade_graph(self.events, self.cascade_edges)

    @cached_property
    def exposure(self) -> nx.DiGraph:
        return exposure_graph(self.accounts)

    @property
    def units(self) -> dict[str, str]:
        """The unit of every summary figure (``catalogue.UNITS``)."""
        # Imported here: importing simulator must not load the catalogue, so that
        # ``python -m simulator.run.catalogue`` runs it as a fresh module.
        from simulator.run.catalogue import units_of

        return units_of(self.summary)

    @property
    def ok(self) -> bool:
        return self.meta.get("status") == "complete"

    def event_log_hash(self) -> str:
        """SHA-256 of the event log's content (values and column types, not the index).

        The ``utc`` column of a replay's run is left out: it is ``time_ms`` read on a clock
        (``simulator.run.epoch``), so the hash is the same with or without it."""
        events = self.events
        if UTC_COLUMN in events.columns:
            events = events.drop(columns=UTC_COLUMN)
        digest = hashlib.sha256()
        digest.update(",".join(f"{c}:{t}" for c, t in events.dtypes.items()).encode())
        digest.update(pd.util.hash_pandas_object(events, index=False).to_numpy().tobytes())
        return digest.hexdigest()

    # --- disk -----------------------------------------------------------------------------
    def save(self, folder: str | Path, graphs: bool = True) -> Path:
        """Write the run folder. ``graphs=False`` skips the GraphML copies of the graphs
        (for other tools; ``load`` rebuilds both graphs from the tables), which take longer
        to write than a whole run: sweeps store their many runs without them."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        write_json(folder / "run.json", {**self.meta, "status": "writing"})
        write_json(folder / "summary.json", {**self.summary, UNITS_KEY: self.units})
        for name in TABLES:
            table = getattr(self, name)
            write_atomic(folder / f"{name}.parquet", lambda p, t=table: t.to_parquet(p))
        if self.market_graph is not None:
            write_atomic(folder / "market_graph.graphml",
                         lambda p: nx.write_graphml(self.market_graph, p))
        if graphs:
            write_atomic(folder / "cascade.graphml", lambda p: nx.write_graphml(self.cascade, p))
            write_atomic(folder / "exposure.graphml", lambda p: nx.write_graphml(self.exposure, p))
        write_json(folder / "run.json", self.meta)
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> RunResult:
        folder = Path(folder)
        meta = json.loads((folder / "run.json").read_text())
        summary = stored_figures(json.loads((folder / "summary.json").read_text()))
        tables = {name: pd.read_parquet(folder / f"{name}.parquet") for name in TABLES}
        wiring = folder / "market_graph.graphml"
        graph = nx.read_graphml(wiring) if wiring.exists() else None
        return cls(summary=summary, meta=meta, market_graph=graph, **tables)


def stored_figures(stored: dict[str, Any]) -> dict[str, Any]:
    """A summary as stored (``summary.json``, a sweep manifest) back as figures: without the
    ``units`` mapping (the catalogue gives units; older files have none), and with JSON's
    null back as NaN (undefined figures, e.g. amplification without a fall, are written so)."""
    return {k: math.nan if v is None else v for k, v in stored.items() if k != UNITS_KEY}


def json_safe(value: Any) -> Any:
    """``value`` with numpy scalars as Python ones and non-finite floats as None (JSON null)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if hasattr(value, "item"):
        return json_safe(value.item())
    return value


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as JSON, atomically."""
    text = json.dumps(json_safe(data), indent=2, sort_keys=False)
    write_atomic(path, lambda p: Path(p).write_text(text + "\n"))


def write_atomic(path: Path, write: Callable[[str], object]) -> None:
    """Call ``write(temp_path)`` then rename it to ``path``: readers never see half a file."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        # mkstemp creates 0600; give the file the mode an ordinary write would have.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
