"""How fast is one liqsim run at standard sizes, and how much memory does it take?

Usage::

    python experiments/benchmark.py                  # every size, default repeats
    python experiments/benchmark.py --only default   # one size
    python experiments/benchmark.py --repeat 5       # override the repeats of every size
    python experiments/benchmark.py --sweep 200      # the sweep machinery: 1 vs 2 workers
    python experiments/benchmark.py --sweep 1000 --sweep-workers 2   # 1,000 runs on 2 workers

Every figure is a ratio to a **reference measured in the same process**: 1,000,000
``yield env.timeout(1)`` in one SimPy process (its best of a run before and one after the
measured run). The machines are shared and noisy, so seconds alone mean little; a ratio moves
with the machine. ``cpu x`` (CPU time of ``run()`` over the reference's CPU time) is the one
the targets use, since it does not count time the process spent waiting for a busy machine;
``wall x`` is beside it. ``ms/liq`` is the CPU cost of one liquidation in reference-ms (one
thousandth of the reference's CPU time): it should not grow with the world.

Standard sizes (``run()``: build + simulate + collect; charts and saving are not part of it):

=============  ==========================================================  ==================
size           what                                                        target (cpu x)
=============  ==========================================================  ==================
default        the built-in default: 10,000 accounts, 2 markets, 15         <= 1.0
               simulated minutes, a flash crash (BTC -12% in 30 s)
hour-100k      the default world with 10x the traders (retail 99,800 +     <= 2.5, RSS < 1 GB
               whales 200), 1 simulated hour at 1 s oracle ticks,
               10 s samples, no shock (an ordinary hour of correlated
               GBM); book depth and insurance fund x10, so depth relative
               to open interest is the default's
crash-20k      the default world at 2x, 10 simulated minutes with the       none (the family)
               default's flash crash
crash-100k     the same at 10x                                             <= 5
crash-200k     the same at 20x                                             none (the family)
crash-1M       the same at 100x (optional: ``--only crash-1M``)             <= 60, RSS < 2 GB
day-3x10       a day of 3 venues x 10 markets x 100k accounts per venue     <= 60
               (99.8% retail, 0.2% whales), 1 s ticks, 60 s samples, BTC
               -5% over 2 min at 12 h with the others co-moving (built
               here: ``day_3x10_data``)
=============  ==========================================================  ==================

For the crash family the table is followed by the fitted exponent of CPU time in accounts
(least squares on log-log over the crash sizes measured) and the ratio of the cost per
liquidation at 200k to that at 20k (target <= 1.5: a cascade at linear cost).

Every run happens in its own fresh Python process (``--child``), so one size's memory or
warm caches cannot flatter or burden another; the child times ``run()`` and reads its own
peak resident set size with ``resource.getrusage`` (imports and the scenario included, since
that is what a user's process holds too). Sizes run ``--repeat`` times (default 3 for
``default``, 1 for the others); the best run (lowest CPU ratio) is reported, ``median`` is the
median CPU ratio over the repeats. ``events`` is the number of event-log rows and ``liqs`` the
liquidations (identical across repeats: the runs are seeded). ``peak RSS`` is the largest over
the repeats. ``result`` is PASS when the best CPU ratio and the peak RSS meet the targets.
The same figures (and every individual run) are written to ``results/benchmark.json``; the
exit status is 1 when a size misses its target. A note under the table flags a busy machine
(1-minute load average above half the CPUs during a run), whose wall ratios are inflated.
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
    max_cpu_ratio: float | None  # CPU time of run() over the reference's CPU time
    max_rss_bytes: int | None
    build: Callable[[], object]  # -> Scenario (imports happen in the child)
    optional: bool = False  # run only when named with --only


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


def _counts(factor: int) -> dict[str, int]:
    """The default's retail (9,980) and whales (20) times ``factor``: 10,000 x factor accounts."""
    return {"retail": 9_980 * factor, "whales": 20 * factor}


def _hour_100k():
    return _scaled_world(_counts(10), 10, ["duration=1h", "clock.sample_interval=10s",
                                           "shocks=[]"])


def _crash(factor: int) -> Callable[[], object]:
    """The default world at ``factor`` times its traders, depth and fund: 10 minutes with its
    flash crash kept (the crash family: the same cascade at growing sizes)."""
    return lambda: _scaled_world(_counts(factor), factor,
                                 ["duration=10m", "clock.sample_interval=10s"])


# The day-3x10 world: ten assets, one factor of correlation, three identical venues.
_DAY_ASSETS = (  # name, price, volatility, tick, loading on the common factor
    ("BTC", 100_000, 0.6, 0.1, 0.95), ("ETH", 3_500, 0.8, 0.01, 0.9),
    ("SOL", 150, 1.0, 0.001, 0.85), ("BNB", 600, 0.7, 0.01, 0.8), ("XRP", 0.6, 1.0, 1e-4, 0.8),
    ("DOGE", 0.15, 1.1, 1e-5, 0.8), ("ADA", 0.45, 1.0, 1e-4, 0.8),
    ("AVAX", 30, 1.0, 0.001, 0.8), ("LINK", 15, 1.0, 0.001, 0.8), ("LTC", 80, 0.9, 0.01, 0.75),
)


def day_3x10_data(venues: int = 3, accounts: int = 100_000) -> dict:
    """The day-3x10 benchmark world as scenario data: 24 h at 1 s ticks, ``venues`` venues x 10
    markets, ``accounts`` per venue (99.8% retail, 0.2% whales), BTC -5% over 2 min at 12 h
    moving the other assets with it. Built here so that the benchmark needs nothing outside the
    project (it matches the world issues name by ``day-3x10.yaml``)."""
    loading = [a[4] for a in _DAY_ASSETS]
    corr = [[1.0 if i == j else round(loading[i] * loading[j], 6) for j in range(10)]
            for i in range(10)]
    depth = [[0.001, 20e6 / 13], [0.005, 80e6 / 13], [0.01, 160e6 / 13], [0.02, 20e6],
             [0.05, 500e6 / 13]]
    share = {f"{a[0]}-PERP": 0.1 for a in _DAY_ASSETS}
    markets = [{"name": f"{name}-PERP", "asset": name, "tick": tick,
                "tiers": "binance_btcusdt_2021", "depth": {"profile": depth},
                "resilience": "60s", "recentre": "2m",
                "withdrawal": {"reference_vol": 1.5 * vol, "sensitivity": 1.0, "floor": "20%",
                               "half_life": "30s"}}
               for name, _, vol, tick, _ in _DAY_ASSETS]
    whales = accounts // 500
    populations = []
    for v in range(venues):
        populations += [
            {"name": f"retail{v}", "venue": f"cex{v}", "count": accounts - whales,
             "notional": {"distribution": "lognormal", "median": 6000, "sigma": 1.2},
             "leverage": {1: 0.1, 2: 0.2, 3: 0.2, 5: 0.2, 10: 0.15, 20: 0.1, 50: 0.05},
             "long_share": "65%", "entry_spread": "3%", "markets": share,
             "multi_market_share": "30%", "isolated_share": "15%",
             "response": {"none": 0.6, "top_up": 0.25, "reduce": 0.15, "delay": "20s",
                          "delay_sigma": 0.8}},
            {"name": f"whales{v}", "venue": f"cex{v}", "count": whales,
             "notional": {"distribution": "pareto", "minimum": 250_000, "alpha": 1.6},
             "leverage": {3: 0.4, 5: 0.4, 10: 0.2}, "long_share": "50%", "entry_spread": "8%",
             "markets": share, "multi_market_share": "50%",
             "response": {"none": 0.5, "top_up": 0.5, "delay": "60s"}},
        ]
    return {
        "name": "day-3x10",
        "description": f"24h, {venues} venues x 10 markets, {accounts} accounts per venue, "
                       "BTC -5% over 2m at 12h.",
        "duration": "24h", "seed": 7,
        "clock": {"oracle_interval": "1s", "sample_interval": "60s"},
        "assets": [{"name": n, "price": p, "volatility": vol} for n, p, vol, _, _ in _DAY_ASSETS],
        "correlation": corr,
        "shocks": [{"asset": "BTC", "at": "12h", "move": "-5%", "over": "2m", "co_move": True}],
        "venues": [{"name": f"cex{v}", "insurance_fund": 3_000_000.0,
                    "mark": {"method": "median", "ema_half_life": "20s", "clamp": "5%",
                             "index_impact_share": "30%"},
                    "liquidation": {"fee_rate": "0.5%", "margin_call_level": "80%",
                                    "throughput_per_s": 100, "latency": "200ms"},
                    "markets": markets} for v in range(venues)],
        "populations": populations,
    }


def _day_3x10():
    from simulator.config.scenario import parse_scenario

    return parse_scenario(day_3x10_data())


def day_3x10_linked_data(venues: int = 3, accounts: int = 100_000) -> dict:
    """The day-3x10 world with its venues linked: each venue's index of each asset weights
    every venue's price 0.1 (0.3 in all, as the unlinked world's own index share), and an
    arbitrageur (20M USD, 200 ms, 0.05%) trades every asset between every pair of venues."""
    data = day_3x10_data(venues, accounts)
    names = [v["name"] for v in data["venues"]]
    assets = [a["name"] for a in data["assets"]]
    data["name"] = "day-3x10-linked"
    data["description"] += " Venues linked by index weights and arbitrageurs."
    data["index_weights"] = [{"venue": v, "asset": a, "weights": dict.fromkeys(names, 0.1)}
                             for v in names for a in assets]
    data["arbitrage"] = [{"name": f"{a}-{x}-{y}", "asset": a, "venues": [x, y],
                          "latency": "200ms", "threshold": 0.0005, "capital": 20e6}
                         for a in assets for i, x in enumerate(names) for y in names[i + 1:]]
    return data


def _day_3x10_linked():
    from simulator.config.scenario import parse_scenario

    return parse_scenario(day_3x10_linked_data())


# The reference: the cost of SimPy's own machinery, measured in each child before and after
# its run (the best of the two), so a ratio compares like with like on the same machine.
REFERENCE_TIMEOUTS = 1_000_000

SIZES = {
    s.name: s for s in (
        Size("default", "built-in default: 10k accounts, 2 markets, 15 min, flash crash", 3,
             1.0, None, _default),
        Size("hour-100k", "100k accounts, 2 markets, 1 h of 1 s ticks, no shock", 1,
             2.5, 1 * GB, _hour_100k),
        Size("crash-20k", "20k accounts, 2 markets, 10 min, the default's flash crash", 1,
             None, None, _crash(2)),
        Size("crash-100k", "100k accounts, 2 markets, 10 min, the default's flash crash", 1,
             5.0, None, _crash(10)),
        Size("crash-200k", "200k accounts, 2 markets, 10 min, the default's flash crash", 1,
             None, None, _crash(20)),
        Size("crash-1M", "1M accounts, 2 markets, 10 min, the default's flash crash", 1,
             60.0, 2 * GB, _crash(100), optional=True),
        Size("day-3x10", "3 venues x 10 markets x 100k accounts, 24 h of 1 s ticks, BTC -5%", 1,
             60.0, None, _day_3x10),
        Size("day-3x10-linked", "day-3x10 with index weights and 30 arbitrageurs", 1,
             None, None, _day_3x10_linked, optional=True),
    )
}
MAX_LINKED_COST = 1.5  # day-3x10-linked's CPU ratio over day-3x10's
CRASH_FAMILY = tuple(name for name in SIZES if name.startswith("crash-"))
MAX_COST_GROWTH = 1.5  # cost per liquidation at 200k over that at 20k


# --- the child: one run in a fresh process ------------------------------------------------------
def _peak_rss_bytes() -> int:
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)  # bytes on macOS, KB on Linux


def reference() -> tuple[float, float]:
    """(wall s, CPU s) of ``REFERENCE_TIMEOUTS`` ``yield env.timeout(1)`` in one process."""
    import simpy

    def ticker(env):
        for _ in range(REFERENCE_TIMEOUTS):
            yield env.timeout(1)

    env = simpy.Environment()
    env.process(ticker(env))
    w0, c0 = time.perf_counter(), time.process_time()
    env.run()
    return time.perf_counter() - w0, time.process_time() - c0


def child(name: str) -> dict:
    from simulator import run

    scenario = SIZES[name].build()
    accounts = len(scenario.accounts) + sum(p.count for p in scenario.populations)
    ref_before = reference()
    rss_before = _peak_rss_bytes()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    t0, c0 = time.perf_counter(), time.process_time()
    result = run(scenario)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    ref_after = reference()
    ref_wall = min(ref_before[0], ref_after[0])
    ref_cpu = min(ref_before[1], ref_after[1])
    timings = result.meta["timings"]
    liquidations = int(result.summary["liquidations"])
    cpu_ratio = cpu / ref_cpu
    return {
        "reference_wall_s": ref_wall,
        "reference_cpu_s": ref_cpu,
        "wall_ratio": wall / ref_wall,
        "cpu_ratio": cpu_ratio,
        # CPU per liquidation in reference-ms (a thousandth of the reference's CPU time)
        "cost_per_liquidation_ref_ms": cpu_ratio * 1000 / liquidations if liquidations else None,
        "cpu_s": cpu,
        "wall_s": wall,
        "build_s": timings["build_s"],
        "simulate_s": timings["simulate_s"],
        "collect_s": timings["collect_s"],
        "simpy_events": int(timings["simpy_events"]),
        "simpy_events_per_s": timings["simpy_events"] / max(timings["simulate_s"], 1e-12),
        "event_rows": int(timings["events"]),
        "liquidations": liquidations,
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
    best = min(runs, key=lambda r: r["cpu_ratio"])
    peak = max(r["peak_rss_bytes"] for r in runs)
    cpu_ok = size.max_cpu_ratio is None or best["cpu_ratio"] <= size.max_cpu_ratio
    rss_ok = size.max_rss_bytes is None or peak < size.max_rss_bytes
    has_target = size.max_cpu_ratio is not None or size.max_rss_bytes is not None
    complete = all(r["status"] == "complete" for r in runs)
    return {
        "what": size.what,
        "repeat": repeat,
        "target": {"max_cpu_ratio": size.max_cpu_ratio,
                   "max_peak_rss_bytes": size.max_rss_bytes},
        "best": best,
        "median": {
            key: statistics.median(r[key] for r in runs)
            for key in ("cpu_ratio", "wall_ratio", "wall_s", "cpu_s", "build_s", "simulate_s",
                        "collect_s", "simpy_events_per_s", "peak_rss_bytes")
        },
        "peak_rss_bytes": peak,
        "result": ("FAIL" if not complete else
                   ("PASS" if cpu_ok and rss_ok else "FAIL") if has_target else "n/a"),
        "runs": runs,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _target_text(size: Size) -> str:
    parts = []
    if size.max_cpu_ratio is not None:
        parts.append(f"cpu x <= {size.max_cpu_ratio:g}")
    if size.max_rss_bytes is not None:
        parts.append(f"RSS < {size.max_rss_bytes / GB:g} GB")
    return ", ".join(parts) or "none"


def table(figures: dict[str, dict]):
    from rich.table import Table

    t = Table(title="liqsim benchmark: one run() per fresh process, as ratios to the in-process "
                    "SimPy reference (best of repeats)", title_justify="left")
    for col in ("size", "accounts", "sim time", "cpu x", "median", "wall x", "ms/liq", "wall",
                "cpu", "ref cpu", "events", "liqs", "peak RSS", "target", "result"):
        t.add_column(col, justify="left" if col in ("size", "target", "result") else "right")
    for name, f in figures.items():
        b = f["best"]
        colour = {"PASS": "green", "FAIL": "red"}.get(f["result"], "dim")
        cost = b.get("cost_per_liquidation_ref_ms")
        t.add_row(
            name, f"{b['accounts']:,}", f"{b['simulated_ms'] / 60_000:g} min",
            f"{b['cpu_ratio']:.2f}", f"{f['median']['cpu_ratio']:.2f}", f"{b['wall_ratio']:.2f}",
            "–" if cost is None else f"{cost:.2f}", f"{b['wall_s']:.2f} s",
            f"{b['cpu_s']:.2f} s", f"{b['reference_cpu_s']:.3f} s", f"{b['event_rows']:,}",
            f"{b['liquidations']:,}", f"{f['peak_rss_bytes'] / 2**20:,.0f} MB",
            _target_text(SIZES[name]), f"[{colour}]{f['result']}[/]",
        )
    return t


def crash_family(figures: dict[str, dict]) -> dict | None:
    """How the crash family's cost grows: the least-squares exponent of CPU ratio in accounts
    (log-log) and the cost per liquidation at 200k over that at 20k."""
    import numpy as np

    measured = [figures[n]["best"] for n in CRASH_FAMILY if n in figures]
    if len(measured) < 2:
        return None
    accounts = np.log([b["accounts"] for b in measured])
    cpu = np.log([b["cpu_ratio"] for b in measured])
    exponent = float(np.polyfit(accounts, cpu, 1)[0])
    out: dict = {"sizes": [n for n in CRASH_FAMILY if n in figures], "exponent": exponent}
    if "crash-20k" in figures and "crash-200k" in figures:
        small = figures["crash-20k"]["best"]["cost_per_liquidation_ref_ms"]
        big = figures["crash-200k"]["best"]["cost_per_liquidation_ref_ms"]
        if small and big:
            out["cost_growth_20k_to_200k"] = big / small
            out["cost_growth_result"] = "PASS" if big / small <= MAX_COST_GROWTH else "FAIL"
    return out


def write_json(figures: dict[str, dict], path: Path = OUT, family: dict | None = None) -> None:
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
        "question": "how fast is one run at standard sizes (CPU and wall time of run() as "
                    "ratios to an in-process SimPy reference, cost per liquidation, peak RSS)",
        "reference": f"{REFERENCE_TIMEOUTS:,} yield env.timeout(1) in one SimPy process",
        "machine": {"platform": platform.platform(), "processor": platform.machine(),
                    "cpus": os.cpu_count()},
        **provenance(),
        "sizes": sizes,
        "crash_family": family if family is not None else data.get("crash_family"),
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
    parser.add_argument("--repeat", type=int, help="runs per size (default: 3 for default, "
                                                   "1 for the others)")
    parser.add_argument("--child", choices=sorted(SIZES), help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, default=OUT, help=f"output (default {OUT})")
    parser.add_argument("--sweep", type=int, metavar="N",
                        help="instead: N runs of the default scenario through the sweep "
                             "machinery on 1 and 2 workers (targets: >= 1.8x, overhead < 5%%, "
                             "<= 8 min per 1,000 runs on 2 workers)")
    parser.add_argument("--sweep-workers", type=int, choices=(1, 2), action="append",
                        help="with --sweep: only these worker counts (e.g. --sweep 1000 "
                             "--sweep-workers 2 for the 1,000-run target alone)")
    args = parser.parse_args(argv)
    if args.sweep is not None:
        return _sweep(args.sweep, args.json, tuple(sorted(set(args.sweep_workers or (1, 2)))))
    if args.child:
        print(MARKER + json.dumps(child(args.child)), flush=True)
        return 0
    if args.repeat is not None and args.repeat < 1:
        parser.error("--repeat must be at least 1")

    from rich.console import Console

    console = Console()
    if not console.is_terminal:
        console = Console(width=200)  # piped or redirected: don't squeeze the table into 80 columns
    names = args.only or [n for n, size in SIZES.items() if not size.optional]
    figures = {}
    for name in names:
        size = SIZES[name]
        figures[name] = measure(size, args.repeat or size.repeat,
                                lambda text: console.print(f"[dim]{text}[/]", highlight=False))
    console.print(table(figures))
    family = crash_family(figures)
    if family is not None:
        growth = family.get("cost_growth_20k_to_200k")
        grown = ("" if growth is None else
                 f"; cost per liquidation 200k / 20k = {growth:.2f} (target <= "
                 f"{MAX_COST_GROWTH:g}): {family['cost_growth_result']}")
        console.print(f"crash family ({', '.join(family['sizes'])}): CPU time grows as "
                      f"accounts^{family['exponent']:.2f}{grown}", highlight=False)
    busy = max(r["load_average_1min"] for f in figures.values() for r in f["runs"])
    cpus = os.cpu_count() or 1
    if busy > 0.5 * cpus:
        console.print(f"[yellow]note:[/] the machine was busy (1-minute load average up to "
                      f"{busy:.1f} on {cpus} CPUs): times may be inflated", highlight=False)
    linked = linked_cost(figures)
    if linked is not None:
        console.print(f"day-3x10-linked / day-3x10 CPU = {linked['ratio']:.2f} (target <= "
                      f"{MAX_LINKED_COST:g}): {linked['result']}", highlight=False)
    write_json(figures, args.json, family)
    console.print(f"figures written to {args.json}", highlight=False)
    failed = any(f["result"] == "FAIL" for f in figures.values())
    failed |= (linked or {}).get("result") == "FAIL"
    return 1 if failed or (family or {}).get("cost_growth_result") == "FAIL" else 0


def linked_cost(figures: dict[str, dict]) -> dict | None:
    """What linking the day's venues (index weights, arbitrageurs) costs: the CPU ratio of
    day-3x10-linked over day-3x10's, when both were measured."""
    if "day-3x10" not in figures or "day-3x10-linked" not in figures:
        return None
    ratio = (figures["day-3x10-linked"]["best"]["cpu_ratio"]
             / figures["day-3x10"]["best"]["cpu_ratio"])
    return {"ratio": ratio, "result": "PASS" if ratio <= MAX_LINKED_COST else "FAIL"}


def _sweep(runs: int, path: Path, workers: tuple[int, ...]) -> int:
    from rich.console import Console

    sys.path.insert(0, str(ROOT))  # run as a script: make the experiments package importable
    from experiments.sweep_benchmark import sweep_figures

    console = Console()
    f = sweep_figures(runs, lambda text: console.print(f"[dim]{text}[/]", highlight=False),
                      workers)
    parts = []
    if "wall_1_worker_s" in f:
        parts.append(f"1 worker {f['wall_1_worker_s']:.1f} s ({f['runs_per_s_1']:.2f} runs/s), "
                     f"machinery overhead {f['overhead_share']:.1%} of a run (target < 5%)")
    if "wall_2_workers_s" in f:
        parts.append(f"2 workers {f['wall_2_workers_s']:.1f} s ({f['runs_per_s_2']:.2f} runs/s"
                     f", {f['wall_1000_runs_2_workers_s'] / 60:.1f} min per 1,000 runs; target "
                     f"<= {f['target_1000_runs_s'] / 60:.0f} min)")
    if "speedup" in f:
        parts.append(f"speedup {f['speedup']:.2f}x (target >= 1.8x)")
    console.print(f"sweep of {runs} default runs: " + "; ".join(parts) + f": {f['result']}",
                  highlight=False)
    path = path.with_name("benchmark_sweep.json") if path == OUT else path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(f, indent=2))
    console.print(f"figures written to {path}", highlight=False)
    return 0 if f["result"] == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
