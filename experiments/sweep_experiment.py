"""Shared plumbing of the experiment scripts: options, the sweep, the report, the charts.

Each script in ``experiments/`` answers one research question with one declarative sweep
(``simulator.sweep``): it builds the sweep as plain data, hands it to ``run_sweep`` (resumable:
a rerun into the same folder skips the runs already complete), then reads the sweep folder's
``runs.parquet`` for its own analysis and chart. This module holds only what every script
repeats; the questions, designs and analyses stay in the scripts.

Options every script takes: ``--workers N`` (processes, default 2), ``--out DIR`` (default
``results/experiments/<name>``, ``<name>_quick`` with ``--quick``), ``--quick`` (a tiny smoke
version of the design, seconds not minutes) and ``--no-report`` (skip the sweep report).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
FORMATS = ("png", "pdf", "svg")


class ExperimentError(Exception):
    """A bad option or an invalid sweep: one message, exit code 2."""


def parser(doc: str) -> argparse.ArgumentParser:
    """The common options; the first paragraph of the script's docstring is the help text."""
    p = argparse.ArgumentParser(description=doc.strip().split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    p.add_argument("--out", type=Path, help="sweep folder (default results/experiments/<name>)")
    p.add_argument("--quick", action="store_true", help="a tiny smoke version (seconds)")
    p.add_argument("--no-report", action="store_true", help="do not build the sweep report")
    return p


def out_dir(args: argparse.Namespace, name: str) -> Path:
    """``--out`` or the default folder. The quick version gets its own folder: the sweep
    folder keeps the first sweep.yaml it saw, so mixing designs in one folder would lie."""
    if args.workers < 1:
        raise ExperimentError("--workers: at least 1")
    return args.out or ROOT / "results" / "experiments" / (f"{name}_quick" if args.quick else name)


def build_spec(data: dict[str, Any]):
    """The sweep from plain data, every cell's scenario validated (``plan``) before anything
    runs. A relative ``base`` resolves against the project root."""
    from simulator import ScenarioError
    from simulator.sweep import parse_sweep, plan

    try:
        spec = parse_sweep(data, base_dir=ROOT)
        n_runs = len(plan(spec))
    except ScenarioError as exc:
        raise ExperimentError(f"invalid sweep {data.get('name', '?')!r}: {exc}") from None
    return spec, n_runs


def run(data: dict[str, Any], out: Path, workers: int) -> pd.DataFrame:
    """Run the sweep ``data`` into ``out`` with a progress bar (as ``liqsim sweep`` does) and
    return its runs table (``out/runs.parquet``)."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from simulator.sweep import run_sweep

    spec, total = build_spec(data)
    print(f"{spec.name}: {total} runs, {workers} worker(s) -> {out}", flush=True)
    columns = (TextColumn("runs"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
               TextColumn("{task.fields[failed]} failed"), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("sweep", total=None, failed=0)

        def progress(done: int, todo: int, failures: int) -> None:
            bar.update(task, completed=done, total=todo, failed=failures)

        frame = run_sweep(spec, out, workers=workers, progress=progress)
    failed = frame[frame["status"] != "complete"]
    print(f"{len(frame)} runs, {len(failed)} failed; results in {out / 'runs.parquet'}")
    for _, row in failed.head(5).iterrows():
        print(f"  failed: cell {row['cell']} {row['variant']} rep {row['replication']}: "
              f"{row['error']}")
    return frame


def complete(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs that finished (a failed run is recorded, not analysed)."""
    return runs[runs["status"] == "complete"].copy()


def report(out: Path, skip: bool) -> None:
    """The sweep report (``simulator.report.sweep``), unless skipped; ``liqsim report OUT``
    rebuilds it from the folder at any time."""
    if skip:
        return
    from simulator.report.sweep import build_report

    made = build_report(out)
    print(f"report: {made.html} and {made.markdown}")


def finish(out: Path, runs: pd.DataFrame, no_report: bool) -> int:
    """The report (unless ``no_report``), where everything is, and the exit code."""
    report(out, no_report)
    print(f"results in {out}: runs.parquet (one row per run), statistics.parquet, the "
          f"experiment's table (.md/.csv), figures/" + ("" if no_report else ", report/"))
    return exit_code(runs)


def exit_code(runs: pd.DataFrame) -> int:
    """0 unless every run failed (as compare_mechanisms: failed runs are data)."""
    return 1 if len(runs) and (runs["status"] != "complete").all() else 0


# --- statistics ---------------------------------------------------------------------------


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval of a proportion ``k / n`` (95% by default): the library's
    ``simulator.sweep.scorecard.wilson`` (imported here, when called, so the scripts' --help
    stays fast)."""
    from simulator.sweep.scorecard import wilson as library_wilson

    return library_wilson(k, n, z=z)


def cell_stats(runs: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """``simulator.sweep.stats.cell_statistics`` of the complete runs for ``metrics``: per
    cell, variant and metric the mean, a percentile-bootstrap CI (fixed resampling seed) and
    the paired difference against the first variant."""
    from simulator.sweep.stats import cell_statistics

    done = complete(runs)
    have = [m for m in metrics if m in done.columns]
    return cell_statistics(done, have, baseline=str(runs["variant"].iloc[0]))


# --- output -------------------------------------------------------------------------------


def _fmt(value: Any) -> str:
    if isinstance(value, float | np.floating):
        if not math.isfinite(value):
            return "n/a"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.3g}" if 0 < abs(value) < 1e-3 else f"{value:.4g}"
    return str(value)


def markdown(frame: pd.DataFrame) -> str:
    """A plain Markdown table (no tabulate dependency)."""
    cols = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(_fmt(v) for v in row) + " |")
    return "\n".join(lines)


def write_table(out: Path, name: str, table: pd.DataFrame, title: str, notes: str) -> str:
    """``out/<name>.csv`` and ``out/<name>.md`` (title, the table, then ``notes``); returns the
    Markdown, which the script prints."""
    from simulator.run.result import write_atomic

    write_atomic(out / f"{name}.csv", lambda p: table.to_csv(p, index=False))
    text = f"# {title}\n\n{markdown(table)}\n\n{notes.strip()}\n"
    write_atomic(out / f"{name}.md", lambda p: Path(p).write_text(text))
    return text


def write_chart(out: Path, name: str, draw: Callable[..., Any], *args: Any,
                **kwargs: Any) -> list[Path]:
    """``out/figures/<name>.{png,pdf,svg}`` of the figure ``draw(*args, **kwargs)`` returns.
    The figure is built inside the project's style (artists read rcParams when created) and
    saved atomically (``plot_style.save_atomic``)."""
    import matplotlib.style

    from simulator.charts import style as ps
    folder = out / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    with matplotlib.style.context(ps.STYLE_PATH):
        fig = draw(*args, **kwargs)
        try:
            for fmt in FORMATS:
                path = folder / f"{name}.{fmt}"
                ps.save_atomic(fig, path, fmt)
                paths.append(path)
        finally:
            fig.clear()  # break reference cycles: scripts may draw several charts
    print(f"chart: {folder / name}.{{{','.join(FORMATS)}}}")
    return paths


LINESTYLES = ("-", "--", "-.", ":")


def heatmap(ax, grid: np.ndarray, xticks: Sequence[str], yticks: Sequence[str], title: str,
            xlabel: str, ylabel: str, fmt: str, colorbar_label: str) -> None:
    """A grid of cell values (rows top to bottom) with each value written in its cell."""
    image = ax.imshow(grid, aspect="auto", cmap="viridis", origin="upper")
    ax.figure.colorbar(image, ax=ax, label=colorbar_label, shrink=0.9)
    ax.set_xticks(range(len(xticks)), list(xticks))
    ax.set_yticks(range(len(yticks)), list(yticks))
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(False)
    finite = grid[np.isfinite(grid)]
    mid = (finite.min() + finite.max()) / 2 if finite.size else 0.0
    for r in range(grid.shape[0]):
        for c in range(grid.shape[1]):
            if np.isfinite(grid[r, c]):
                # Dark text on the bright end of viridis, light text on the dark end.
                ax.text(c, r, format(grid[r, c], fmt), ha="center", va="center", fontsize=8,
                        color="0.1" if grid[r, c] > mid else "white")


def seconds(value: object) -> float:
    """A duration as a runs table holds it ("30s", or milliseconds) in seconds."""
    from simulator.config.units import parse_duration

    if isinstance(value, int | float | np.number):
        return float(value) / 1000.0
    return parse_duration(str(value)) / 1000.0


def band(ax, x: np.ndarray, mean: np.ndarray, lo: np.ndarray, hi: np.ndarray, color: str,
         label: str, k: int = 0) -> None:
    """A mean line with markers and a shaded confidence band; the ``k``-th variant gets the
    ``k``-th dash pattern so that identical curves of two variants stay distinguishable."""
    ax.fill_between(x, lo, hi, color=color, alpha=0.15, lw=0)
    ax.plot(x, mean, color=color, marker="o", ms=4, lw=1.4, ls=LINESTYLES[k % 4], label=label)


def variant_colors(names: Sequence[str]) -> dict[str, str]:
    """One colour per variant from the style's colour-blind-safe cycle (compare_plots')."""
    from simulator.charts.compare import variant_colors as colors

    return colors(list(names))


def main_guard(body: Callable[[], int]) -> int:
    """Run a script's body; an ``ExperimentError`` is one line on stderr and exit code 2."""
    try:
        return body()
    except ExperimentError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def experiment(args: argparse.Namespace, name: str, make_sweep: Callable[[], dict[str, Any]],
               analyse: Callable[[pd.DataFrame, Path], None]) -> int:
    """A script's whole run: the sweep ``make_sweep()`` into its folder, then, if any run
    completed, ``analyse(runs, out)`` (the script's own table and chart), the report and
    the exit code. Bad options or an invalid sweep: one line on stderr, exit code 2."""

    def body() -> int:
        out = out_dir(args, name)
        runs = run(make_sweep(), out, args.workers)
        if complete(runs).empty:
            return exit_code(runs)
        analyse(runs, out)
        return finish(out, runs, args.no_report)

    return main_guard(body)
