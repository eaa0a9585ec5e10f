"""Historical replay: how do three real BTC crashes play out under different mechanisms?

Research question: replay the real 1-minute BTC price paths of three crash days -- 12 March
2020 ("Black Thursday"), 19 May 2021 and 10 October 2025 -- as the exogenous price of the
simulated market, and ask how deep the liquidation cascade goes, how much it liberates, how far
the traded price overshoots the real path (amplification) and who pays, under the scenario's
own mechanism and two venue presets. Real paths differ from a scripted shock: the fall comes in
legs with rebounds in between, and the market maker's volatility estimate sees the whole day.

Design: the project's replay scenario ``experiments/scenarios/replay_2025_10_10.yaml`` (the
default scenario's traders, book and fund; BTC replayed from Binance klines with ``field:
ohlc``, so each bar's intrabar low and high are kept; ETH simulated around it through a 0.8
correlation) thinned to 2,000 retail traders (the 20 whales kept). One zipped axis, the day:
the kline file (``replays.0.csv``), BTC's start price (the first bar's open, read from the file,
so the replay keeps real levels), a round ETH level of the time, and the duration. A replay
starts at its file's first bar (the scenario format has no start offset), so each window runs
from the file's start to shortly after the day's low:

- 2020-03-12: 06:00 -> 12:00 UTC (6h). 7,650.78 at the open; the first leg's collapse from
  about 7,360 at 10:00 to the low of 5,199.17 at 10:48 (-32% from the running peak). The second
  leg (3,621.81 at 02:16 on 13 March) is 20h in and left out: a 21h run costs too much.
- 2021-05-19: 10:00 -> 14:00 UTC (4h). 40,359.68 at the open, low 28,688.00 at 13:10 (-29%).
- 2025-10-10: 18:00 -> 22:00 UTC (4h, as the scenario file). 117,590.8 at the open, low
  101,516.5 at 21:20 (-14%).

Variants: ``default`` (the scenario's mechanism), ``bitmex`` and ``hyperliquid`` presets (a
fund-first venue vs one with a backstop vault); Binance and Bybit are left out only for run
time (their partial closes and fund takeovers run 5-15x slower). 2 replications with common
random numbers: the BTC path is the data, so replications differ only in the traders, ETH's
path and behaviour, and within a replication every mechanism sees the same of those. 3 x 3 x 2
= 18 runs of 4-6 simulated hours, about 2 minutes on 2 workers. ``--quick``: 300 traders, a
10-second oracle step (the ohlc points are 20 s apart, so the path is unchanged), the maker
every 5 s, samples every minute, the windows cut just after each low, default mechanism only,
one replication.

Data: ``../shared/data/klines/BTCUSDT-1m-<day>.csv`` relative to the project root (``--data``
for another folder). The files are third-party copies without a licence to redistribute: they
are read where they are, never copied into the project. When a file is missing the script
says which and where it looked, and skips those days (exit 0 when none is there).

What to look at (``results/experiments/historical_replay/``): ``historical_replay.md``
(printed): per day the real window (open, low, real drawdown) and per day and mechanism the
mean simulated drawdowns, amplification, liquidated notional, cascade depth, bad debt and ADL.
``figures/historical_replay.{png,pdf,svg}``: per day (columns), the real price (minute close
and the bars' low-high band); each mechanism's simulated traded price (mid, first replication)
relative to the replayed path -- dips below 0 are where forced selling pushed the book under
the real price; and the liquidated notional per minute (mean over replications) -- where it
spikes against the path shows which legs of the crash the book's leverage turned into forced
selling.

Usage::

    python experiments/historical_replay.py
    python experiments/historical_replay.py --data /path/to/klines --replications 4
    python experiments/historical_replay.py --quick --no-report
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import yaml

if __package__ in (None, ""):  # run as a script: make the `experiments` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from experiments import sweep_experiment as sx  # noqa: E402

NAME = "historical_replay"
TEMPLATE = sx.ROOT / "experiments" / "scenarios" / "replay_2025_10_10.yaml"
DATA = sx.ROOT.parent / "shared" / "data" / "klines"
CSV = "replays.0.csv"
# day -> (ETH's round level then, duration, quick duration: just past the day's low)
DAYS = {
    "2020-03-12": (190.0, "6h", "290m"),
    "2021-05-19": (3300.0, "4h", "195m"),
    "2025-10-10": (4350.0, "4h", "205m"),
}
SET = ["populations.retail.count=2000"]
QUICK_SET = ["populations.retail.count=300", "clock.oracle_interval=10s",
             "clock.sample_interval=1m", "venues.cex.maker_interval=5s"]
# BTC's own moves: the summary's exogenous_drawdown / amplification are taken in the market
# with the largest exogenous move, which may be the simulated ETH rather than the replay.
BTC_EXO, BTC_TRADED = "cex:BTC-PERP.exogenous_drawdown", "cex:BTC-PERP.max_drawdown"
METRICS = ("liquidated_notional", "cascade_depth", BTC_EXO, BTC_TRADED, "btc_amplification",
           "amplification", "bad_debt", "adl_notional")


def kline_file(data: Path, day: str) -> Path:
    return data / f"BTCUSDT-1m-{day}.csv"


def base_scenario(out: Path, csv: Path) -> Path:
    """The replay template with its kline path made absolute under the data folder, written
    to ``out/base_scenario.yaml`` (the sweep's base). The template's own relative path would
    tie the experiment to ../shared and ignore ``--data``. Only the path is written, never
    the data."""
    from simulator.run.result import write_atomic

    data = yaml.safe_load(TEMPLATE.read_text())
    data["replays"][0]["csv"] = str(csv.resolve())
    data["description"] = (f"{TEMPLATE.name} with the day (kline file, start prices, duration) "
                           f"set by the historical_replay sweep's axis.\n")
    out.mkdir(parents=True, exist_ok=True)
    path = out / "base_scenario.yaml"
    text = yaml.safe_dump(data, sort_keys=False)
    write_atomic(path, lambda p: Path(p).write_text(text))
    return path


def sweep(days: dict[str, Path], base: Path, quick: bool, replications: int | None) -> dict:
    """The sweep as plain data: one zipped axis over the days."""
    from markets.prices.klines import read_klines

    opens = [float(read_klines(p)["open"].iloc[0]) for p in days.values()]
    variants = [{"name": "default"}]
    if not quick:
        variants += [{"name": "bitmex", "preset": "bitmex"},
                     {"name": "hyperliquid", "preset": "hyperliquid"}]
    return {
        "name": NAME + ("_quick" if quick else ""),
        "description": "Three real BTC crash days replayed under three mechanisms.",
        "base": str(base),
        "set": QUICK_SET if quick else SET,
        "axes": [{"zip": [
            {"path": "name", "values": [f"replay_{d.replace('-', '_')}" for d in days]},
            {"path": CSV, "values": [str(p.resolve()) for p in days.values()]},
            {"path": "assets.BTC.price", "values": opens},
            {"path": "assets.ETH.price", "values": [DAYS[d][0] for d in days]},
            {"path": "duration", "values": [DAYS[d][2 if quick else 1] for d in days]},
        ]}],
        "variants": variants,
        "replications": replications or (1 if quick else 2),
        "seed": 1012,
        "common_random_numbers": True,
    }


def real_window(csv: Path, duration: str) -> dict:
    """The real path within the window: start, open, low and its time, and the drawdown of
    the replayed series (``ohlc``: the points the simulator's fundamental goes through)."""
    from markets.prices.klines import kline_replay_series, read_klines
    from simulator.config.units import parse_duration
    from simulator.run.metrics import drawdown

    df = read_klines(csv)
    end = parse_duration(duration)
    t, p = kline_replay_series(df, "ohlc")
    bars = df[df["open_time"] - df["open_time"].iloc[0] < end]
    low = int(bars["low"].idxmin())
    start = pd.to_datetime(df["open_time"].iloc[0], unit="ms")
    return {"start_utc": f"{start:%Y-%m-%d %H:%M}", "duration": duration,
            "open": float(df["open"].iloc[0]), "low": float(bars["low"].min()),
            "low_utc": f"{pd.to_datetime(bars['open_time'][low], unit='ms'):%H:%M}",
            "real_drawdown": drawdown(p[t <= end])}


def day_of(csv_value: str) -> str:
    return Path(csv_value).stem.removeprefix("BTCUSDT-1m-")


def replay_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per day and mechanism: runs and the metrics' means (liquidated notional with its CI);
    ``btc_amplification`` is BTC's traded over its replayed drawdown."""
    runs = runs.assign(btc_amplification=runs[BTC_TRADED] / runs[BTC_EXO])
    stats = sx.cell_stats(runs, METRICS)
    means = stats.pivot_table(index=["cell", "variant"], columns="metric", values="mean")
    liq = stats[stats["metric"] == "liquidated_notional"].set_index(["cell", "variant"])
    table = pd.DataFrame({"day": liq[CSV].map(day_of).to_numpy(),
                          "variant": liq.index.get_level_values("variant"),
                          "runs": liq["n"].astype(int).to_numpy(),
                          "liquidated_notional_low": liq["ci_low"].to_numpy(),
                          "liquidated_notional_high": liq["ci_high"].to_numpy()})
    for metric in METRICS:
        name = metric.replace("cex:BTC-PERP.", "btc_")
        table[name] = means.loc[liq.index, metric].to_numpy()
    return table


def _paths(runs: pd.DataFrame, out: Path) -> dict[tuple[str, str], dict]:
    """Per (day, variant): the first replication's BTC mid relative to the replayed
    fundamental (the traded price's overshoot), and the liquidated notional per minute
    averaged over replications (summed over markets)."""
    got: dict[tuple[str, str], dict] = {}
    cols = ["time_ms", "market", "fundamental", "mid", "liquidated_long_notional",
            "liquidated_short_notional"]
    for (csv, variant), g in sx.complete(runs).groupby([CSV, "variant"], sort=False):
        per_minute = []
        gap = None
        for row in g.sort_values("replication").itertuples(index=False):
            ts = pd.read_parquet(out / "runs" / row.run_key / "timeseries.parquet", columns=cols)
            if gap is None:
                btc = ts[ts["market"] == "BTC-PERP"]
                gap = (btc["time_ms"].to_numpy() / 3_600_000.0,
                       (btc["mid"] / btc["fundamental"] - 1.0).to_numpy())
            liq = ts["liquidated_long_notional"] + ts["liquidated_short_notional"]
            per_minute.append(liq.groupby(ts["time_ms"] // 60_000).sum())
        liq_mean = pd.concat(per_minute, axis=1).fillna(0.0).mean(axis=1)
        got[(day_of(csv), variant)] = {"gap": gap, "liq": liq_mean}
    return got


def chart(runs: pd.DataFrame, out: Path, days: dict[str, Path], windows: dict[str, dict]):
    """Per day (columns): the real price path; the simulated traded price against it per
    mechanism; the liquidated notional per minute per mechanism."""
    from matplotlib.ticker import PercentFormatter

    from markets.prices.klines import read_klines
    from simulator.charts import style as ps
    from simulator.charts.compare import compact
    from simulator.config.units import parse_duration

    names = list(dict.fromkeys(runs["variant"]))
    colors = sx.variant_colors(names)
    paths = _paths(runs, out)
    n = len(days)
    fig, axes = ps.new_figure(3, height=9.6, n_cols=n, width=5.2 * n + 0.6)
    for k, (day, csv) in enumerate(days.items()):
        ax_p, ax_g, ax_l = axes[k], axes[n + k], axes[2 * n + k]
        win = windows[day]
        df = read_klines(csv)
        minute = (df["open_time"] - df["open_time"].iloc[0]).to_numpy() / 60_000.0
        keep = minute < parse_duration(win["duration"]) / 60_000.0
        hours = minute[keep] / 60.0
        ax_p.fill_between(hours, df["low"][keep], df["high"][keep], step="post", color="0.7",
                          lw=0, label="low-high of the 1-min bar")
        ax_p.plot(hours, df["close"][keep], color="0.1", lw=0.7, label="close")
        for i, name in enumerate(names):
            got = paths.get((day, name))
            if got is None:
                continue
            style = {"color": colors[name], "ls": sx.LINESTYLES[i % 4], "lw": 0.9}
            ax_g.plot(got["gap"][0], got["gap"][1], label=name, **style)
            ax_l.step(got["liq"].index / 60.0, got["liq"].to_numpy(), where="post", label=name,
                      **style)
        xlabel = f"hours from {win['start_utc']} UTC"
        ps.labels(ax_p, f"{day}: real BTC, low {win['low']:,.0f} at {win['low_utc']} UTC "
                  f"(-{win['real_drawdown']:.0%})", xlabel, "price (USD)")
        ps.labels(ax_g, "simulated traded price vs the replayed path (first seed)", xlabel,
                  "mid / replayed price - 1")
        ps.labels(ax_l, "liquidated notional per minute (mean over seeds)", xlabel, "USD")
        ax_g.axhline(0.0, color="0.3", lw=0.8)
        ax_g.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=1))
        ax_p.yaxis.set_major_formatter(compact)
        ax_l.yaxis.set_major_formatter(compact)
        if k == 0:
            ax_p.legend(loc="lower left")
            ax_g.legend(loc="lower left")
    fig.suptitle("historical replay: three real BTC crash paths, the traded price the simulated "
                 "market made of them, and the liquidations (same seeds for every mechanism)")
    return fig


def main(argv: list[str] | None = None) -> int:
    p = sx.parser(__doc__)
    p.add_argument("--data", type=Path, default=DATA,
                   help=f"folder of the kline CSVs (default {DATA})")
    p.add_argument("--replications", type=int, help="runs per day and mechanism (default 2)")
    args = p.parse_args(argv)

    def body() -> int:
        out = sx.out_dir(args, NAME)
        wanted = {d: kline_file(args.data, d) for d in DAYS}
        missing = [p.name for p in wanted.values() if not p.is_file()]
        days = {d: p for d, p in wanted.items() if p.is_file()}
        if missing:
            print(f"{NAME}: missing kline file(s) {', '.join(missing)} (looked in "
                  f"{args.data.resolve()}); they are third-party data kept outside the project "
                  f"(../shared/data/klines) -- " + ("skipping those days." if days else
                                                     "nothing to replay, skipped."))
        if not days:
            return 0
        base = base_scenario(out, next(iter(days.values())))
        spec = sweep(days, base, args.quick, args.replications)
        durations = dict(zip(days, spec["axes"][0]["zip"][-1]["values"], strict=True))
        windows = {d: real_window(p, durations[d]) for d, p in days.items()}
        runs = sx.run(spec, out, args.workers)
        if sx.complete(runs).empty:
            return sx.exit_code(runs)
        table = replay_table(runs)
        real = pd.DataFrame([{"day": d, **w} for d, w in windows.items()])
        notes = ("Real windows (the replay starts at the file's first bar):\n\n"
                 + sx.markdown(real) + "\n\nbtc_exogenous_drawdown is the replayed path's, "
                 "btc_max_drawdown the simulated traded price's, btc_amplification their ratio; "
                 "amplification is the summary's (the market with the largest exogenous move, "
                 "possibly the simulated ETH).")
        print(sx.write_table(out, NAME, table, "Historical replay of three BTC crash days",
                             notes))
        from simulator.run.result import write_atomic

        write_atomic(out / "real_windows.csv", lambda p: real.to_csv(p, index=False))
        sx.write_chart(out, NAME, chart, runs, out, days, windows)
        return sx.finish(out, runs, args.no_report)

    return sx.main_guard(body)


if __name__ == "__main__":
    raise SystemExit(main())
