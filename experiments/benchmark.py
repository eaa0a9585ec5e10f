"""How fast is one liqsim run at standard sizes, and how much memory does it take?

Usage::

    python experiments/benchmark.py                  # every size, default repeats
    python experiments/benchmark.py --only default   # one size
    python experiments/benchmark.py --repeat 5       # override the repeats of every size
    python experiments/benchmark.py --sweep 200      # the sweep machinery: 1 vs 2 workers

Standard sizes and targets (wall time of ``simulator.run``: build + simulate + collect; charts
and saving are not part of it):

=============  ==========================================================  ==================
size           what                                                        target
=============  ==========================================================  ==================
default        the built-in default: 10,000 accounts, 2 markets, 15         wall < 3 s
               simulated minutes, a flash crash (BTC -12% in 30 s)
hour-100k      the default world with 10x the traders (retail 99,800 +     wall < 5 s,
               whales 200), 1 simulated hour at 1 s oracle ticks,          peak RSS < 1 GB
               10 s samples, no shock (an ordinary hour of correlated
               GBM); book depth and insurance fund x10, so depth relative
               to open interest is the default's
crash-100k     the same 100k world for 10 simulated minutes with the        none (informative)
               default's flash crash kept
=============  ==========================================================  ==================

Every run happens in its own fresh Python process (``--child``), so one size's memory or
warm caches cannot flatter or burden another; the child times ``run()`` and reads its own
peak resident set size with ``resource.getrusage`` (imports and the scenario included, since
that is what a user's process holds too). Sizes run ``--repeat`` times (default 3 for
``default``, 1 for the 100k sizes).

Reading the output: one row per size. ``wall`` is the best (fastest) run and ``median`` the
median over the repeats; ``simulate`` is the SimPy part of the best run (``build`` draws the
world, ``collect`` builds the tables and summary). ``SimPy ev/s`` is SimPy events processed per
second of simulate time; ``events`` is the number of event-log rows and ``liqs`` the
liquidations (both identical across repeats: the runs are seeded). ``peak RSS`` is the largest
over the repeats. ``result`` is PASS when the best wall time and the peak RSS meet the targets.
The same figures (and every individual run) are written to ``results/benchmark.json``; the
exit status is 1 when a size misses its target. A note under the table flags a busy machine
(1-minute load average above half the CPUs during a run), whose times are inflated.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "results" / "benchmark.json"
MARKER = "BENCHMARK-RESULT "  # the child's one line of JSON on stdout starts with this
GB = 1024**3


@dataclass(frozen=True)
class Size:
    name: str
    what: str
    repeat: int
    max_wall_s: float | None
    max_rss_bytes: int | None
    build: Callable[[], object]  # -> Scenario (imports happen in the child)


def _default():
    from simulator import default_scenario

    return default_scenario()


def _scaled_world(counts: dict[str, int], factor: int, overrides: list[str]):
    """The default world with these population ``counts`` and ``factor`` times the book depth
    and insurance fund (so depth relative to open interest stays the default's)."""
    from simulator import default_scenario

    base = default_scenario()
    data = base.to_dict()
    sets = [f"populations.{name}.count={count}" for name, count in counts.items()]
    for v in data["venues"]:
        sets.append(f"venues.{v['name']}.insurance_fund={v['insurance_fund'] * factor}")
        for m in v["markets"]:
            profile = [[d, c * factor] for d, c in m["depth"]["profile"]]
            sets.append(f"venues.{v['name']}.markets.{m['name']}.depth.profile="
                        f"{json.dumps(profile)}")
    return base.with_overrides(sets + overrides)


# The standard 100k world: the default's retail (9,980) and whales (20) as specified for this
# benchmark, 99,800 and 200 (100,000 accounts), with ten times the default's depth and fund.
COUNTS_100K = {"retail": 99_800, "whales": 200}


def _hour_100k():
    return _scaled_world(COUNTS_100K, 10, ["duration=1h", "clock.sample_interval=10s", "shocks=[]"])


def _crash_100k():
    return _scaled_world(COUNTS_100K, 10, ["duration=10m", "clock.sample_interval=10s"])


SIZES = {
    s.name: s for s in (
        Size("default", "built-in default: 10k accounts, 2 markets, 15 min, flash crash", 3,
             3.0, None, _default),
        Size("hour-100k", "100k accounts, 2 markets, 1 h of 1 s ticks, no shock", 1,
             5.0, 1 * GB, _hour_100k),
        Size("crash-100k", "100k accounts, 2 markets, 10 min, the default's flash crash", 1,
             None, None, _crash_100k),
    )
}


# --- the child: one run in a fresh process ------------------------------------------------------
def _peak_rss_bytes() -> int:
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)  # bytes on macOS, KB on Linux


def child(name: str) -> dict:
    from simulator import run

    scenario = SIZES[name].build()
    accounts = len(scenario.accounts) + sum(p.count for p in scenario.populations)
    rss_before = _peak_rss_bytes()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    t0 = time.perf_counter()
    result = run(scenario)
    wall = time.perf_counter() - t0
    timings = result.meta["timings"]
    return {
        "wall_s": wall,
        "build_s": timings["build_s"],
        "simulate_s": timings["simulate_s"],
        "collect_s": timings["collect_s"],
        "simpy_events": int(timings["simpy_events"]),
        "simpy_events_per_s": timings["simpy_events"] / max(timings["simulate_s"], 1e-12),
        "event_rows": int(timings["events"]),
        "liquidations": int(result.summary["liquidations"]),
        "accounts": int(accounts),
        "markets": sum(len(v.markets) for v in scenario.venues),
        "simulated_ms": int(result.meta["simulated_ms"]),
        "status": result.meta["status"],
        "peak_rss_bytes": _peak_rss_bytes(),
        "rss_before_run_bytes": rss_before,
        "load_average_1min": load,  # other work on the machine slows the run down
    }


def _spawn(name: str) -> dict:
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", name],
        capture_output=True, text=True, cwd=ROOT,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(MARKER)]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"benchmark child {name!r} failed (exit {proc.returncode}):\n"
                           f"{proc.stderr.strip()[-2000:]}")
    return json.loads(lines[-1].removeprefix(MARKER))


# --- the parent: repeats, summary, table, JSON ------------------------------------------------
def measure(size: Size, repeat: int, say: Callable[[str], None]) -> dict:
    runs = []
    for k in range(repeat):
        say(f"{size.name}: run {k + 1}/{repeat} ...")
        runs.append(_spawn(size.name))
    best = min(runs, key=lambda r: r["wall_s"])
    peak = max(r["peak_rss_bytes"] for r in runs)
    wall_ok = size.max_wall_s is None or best["wall_s"] < size.max_wall_s
    rss_ok = size.max_rss_bytes is None or peak < size.max_rss_bytes
    has_target = size.max_wall_s is not None or size.max_rss_bytes is not None
    complete = all(r["status"] == "complete" for r in runs)
    return {
        "what": size.what,
        "repeat": repeat,
        "target": {"max_wall_s": size.max_wall_s, "max_peak_rss_bytes": size.max_rss_bytes},
        "best": best,
        "median": {
            key: statistics.median(r[key] for r in runs)
            for key in ("wall_s", "build_s", "simulate_s", "collect_s", "simpy_events_per_s",
                        "peak_rss_bytes")
        },
        "peak_rss_bytes": peak,
        "result": ("FAIL" if not complete else
                   ("PASS" if wall_ok and rss_ok else "FAIL") if has_target else "n/a"),
        "runs": runs,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _target_text(size: Size) -> str:
    parts = []
    if size.max_wall_s is not None:
        parts.append(f"wall < {size.max_wall_s:g} s")
    if size.max_rss_bytes is not None:
        parts.append(f"RSS < {size.max_rss_bytes / GB:g} GB")
    return ", ".join(parts) or "none"


def table(figures: dict[str, dict]):
    from rich.table import Table

    t = Table(title="liqsim benchmark: one run() per fresh process (best of repeats)",
              title_justify="left")
    for col in ("size", "accounts", "sim time", "wall", "median", "simulate", "build",
                "collect", "SimPy ev/s", "events", "liqs", "peak RSS", "target", "result"):
        t.add_column(col, justify="left" if col in ("size", "target", "result") else "right")
    for name, f in figures.items():
        b = f["best"]
        colour = {"PASS": "green", "FAIL": "red"}.get(f["result"], "dim")
        t.add_row(
            name, f"{b['accounts']:,}", f"{b['simulated_ms'] / 60_000:g} min",
            f"{b['wall_s']:.2f} s", f"{f['median']['wall_s']:.2f} s", f"{b['simulate_s']:.2f} s",
            f"{b['build_s']:.2f} s", f"{b['collect_s']:.2f} s",
            f"{b['simpy_events_per_s']:,.0f}", f"{b['event_rows']:,}", f"{b['liquidations']:,}",
            f"{f['peak_rss_bytes'] / 2**20:,.0f} MB", _target_text(SIZES[name]),
            f"[{colour}]{f['result']}[/]",
        )
    return t


def write_json(figures: dict[str, dict], path: Path = OUT) -> None:
    """Merge into ``path`` (sizes not run this time keep their earlier figures); atomic."""
    from simulator.run.provenance import provenance

    data: dict = {}
    if path.exists():
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            data = {}
    sizes = data.get("sizes", {}) if isinstance(data.get("sizes"), dict) else {}
    sizes.update(figures)
    data = {
        "question": "how fast is one run at standard sizes (wall time of run(), peak RSS)",
        "machine": {"platform": platform.platform(), "processor": platform.machine(),
                    "cpus": os.cpu_count()},
        **provenance(),
        "sizes": sizes,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=2)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=sorted(SIZES), action="append",
                        help="run only this size (repeatable)")
    parser.add_argument("--repeat", type=int, help="runs per size (default: 3 / 1 / 1)")
    parser.add_argument("--child", choices=sorted(SIZES), help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, default=OUT, help=f"output (default {OUT})")
    parser.add_argument("--sweep", type=int, metavar="N",
                        help="instead: N runs of the default scenario through the sweep "
                             "machinery on 1 and 2 workers (targets: >= 1.8x, overhead < 5%%)")
    args = parser.parse_args(argv)
    if args.sweep is not None:
        return _sweep(args.sweep, args.json)
    if args.child:
        print(MARKER + json.dumps(child(args.child)), flush=True)
        return 0
    if args.repeat is not None and args.repeat < 1:
        parser.error("--repeat must be at least 1")

    from rich.console import Console

    console = Console()
    if not console.is_terminal:
        console = Console(width=200)  # piped or redirected: don't squeeze the table into 80 columns
    names = args.only or list(SIZES)
    figures = {}
    for name in names:
        size = SIZES[name]
        figures[name] = measure(size, args.repeat or size.repeat,
                                lambda text: console.print(f"[dim]{text}[/]", highlight=False))
    console.print(table(figures))
    busy = max(r["load_average_1min"] for f in figures.values() for r in f["runs"])
    cpus = os.cpu_count() or 1
    if busy > 0.5 * cpus:
        console.print(f"[yellow]note:[/] the machine was busy (1-minute load average up to "
                      f"{busy:.1f} on {cpus} CPUs): times may be inflated", highlight=False)
    write_json(figures, args.json)
    console.print(f"figures written to {args.json}", highlight=False)
    return 0 if all(f["result"] != "FAIL" for f in figures.values()) else 1


def _sweep(runs: int, path: Path) -> int:
    from rich.console import Console

    sys.path.insert(0, str(ROOT))  # run as a script: make the experiments package importable
    from experiments.sweep_benchmark import sweep_figures

    console = Console()
    f = sweep_figures(runs, lambda text: console.print(f"[dim]{text}[/]", highlight=False))
    console.print(
        f"sweep of {runs} default runs: 1 worker {f['wall_1_worker_s']:.1f} s "
        f"({f['runs_per_s_1']:.2f} runs/s), 2 workers {f['wall_2_workers_s']:.1f} s "
        f"({f['runs_per_s_2']:.2f} runs/s): speedup {f['speedup']:.2f}x (target >= 1.8x); "
        f"machinery overhead {f['overhead_share']:.1%} of a run (target < 5%): {f['result']}",
        highlight=False)
    path = path.with_name("benchmark_sweep.json") if path == OUT else path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(f, indent=2))
    console.print(f"figures written to {path}", highlight=False)
    return 0 if f["result"] == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
