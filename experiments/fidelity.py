"""Fidelity: do replays of three real BTC crash days reproduce what was published about them?

Research question: with the population sized by calibration to each day's published liquidated
notional, and the venue's rules taken from the matching preset, how close do the replays come
to the day's other public facts (``../shared/reference/venue-rules.md``): the long share of
liquidations, the minute of peak liquidations against the price low, the insurance fund's
moves and, on 10 Oct 2025, Hyperliquid's auto-deleveraging volume and how long it took? The
liquidated total is fitted; everything else is out of sample.

Design, per day (the Binance BTCUSDT 1-minute klines in ``../shared/data/klines``):

- The path is the *traded* price (``mode: traded``): only forced flow beyond each bar's real
  net taker selling moves the book, so the real crash is not counted twice. Entries are drawn
  from the bars before the window (``entries: {source: history}``), by volume, and each account
  holds spare collateral beyond its margin; 60% of accounts long, leverage 2-100x.
- One market stands for the day's whole market: its book and the real flow it absorbs are
  ``MULTIPLE`` times Binance BTCUSDT's (an assumption: Binance's BTC perpetual carried of the
  order of a tenth of the market's liquidations then; BitMEX, the 2020 venue, traded about
  twice Binance futures' volume). The book is Binance's own depth-band file per minute on
  10 Oct 2025 (ask side, the bid side of that file is stale); without such a file it is ten
  minutes of the pre-window traded volume within 1% (the 10 Oct 2025 ratio), and the maker
  withdraws depth with volatility as usual.
- 2020-03-12: 08:00 -> 03:00 UTC next day (the 02:16 low), the ``bitmex`` preset on an inverse
  (coin-margined) venue, its fund 38,000 BTC; target BitMEX's $876M of that day.
  2021-05-19: 11:00 -> 16:00 UTC (the 13:10 low), ``binance``; target $8.6B (market-wide, 24h).
  2025-10-10: 20:00 -> 23:00 UTC (the 21:20 low), ``binance``; target $19.1B (market-wide),
  and the same calibrated world under ``hyperliquid`` for its ADL facts.
  Funds: Binance's shared fund taken as $1B (an assumption of its order then), the market's
  as ``MULTIPLE`` of it; the fund figure compared is Binance's share (1 / ``MULTIPLE``).
  Besides the positions held at the start, traders open positions during the window
  (``arrivals: {share: 30%}``, so they follow the calibrated count; half of them short): the
  shorts that sold the fall with leverage are those a rebound liquidates.
- The world runs at a small ``scale`` of its size (1/200 in 2020, 1/500 in 2021, 1/1000 in
  2025, so each has a few thousand accounts: population, depth, fund and the absorbed flow
  shrink together); figures are reported divided by it.
- Calibration (``simulator.calibrate``): the number of accounts holding positions at the
  start (so the open interest: accounts x mean notional), log-scaled between an eighth and
  eight times a first guess, by Powell (a bounded Brent line search in one dimension) over
  2 seeds (common random numbers), at most 12
  evaluations. Then 4 fresh seeds at the fitted value give every simulated figure's mean and
  its 95% t-interval.

``--quick``: 1/20000 scale, the 2025 and 2021 windows cut to 90 minutes around the low and
2020's to 3 hours, 3 evaluations, 2 seeds (seconds; for tests).

Data: ``../shared/data`` relative to the project root (``--data`` for another folder). The files
are third-party copies without a licence to redistribute: read where they are, never copied.
A missing file is named with where it was looked for, and its day skipped (exit 0 when none is
there).

What to look at (``results/experiments/fidelity/``): ``fidelity.md`` (printed): per day and
quantity the published figure, the simulated mean with its 95% CI over seeds, and what the
comparison is worth (the scopes differ: market-wide totals against one simulated market).
``figures/fidelity.{png,pdf,svg}``: per day, the real price (minute close, low-high band) and the
simulated traded price in UTC; the simulated liquidations per minute in UTC, with the real low
and the published peak marked. ``<day>/fit.md`` and ``fitted.yaml``: each calibration.

Usage::

    python experiments/fidelity.py
    python experiments/fidelity.py --quick
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

if __package__ in (None, ""):  # run as a script: make the `experiments` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from experiments import sweep_experiment as sx  # noqa: E402

NAME = "fidelity"
DATA = sx.ROOT.parent / "shared" / "data"
QUICK_SCALE = 5e-5
MARKET = "BTC-PERP"
COUNT_PATH = "populations.traders.count"
DEPTH_MINUTES = 10.6  # depth within 1% / pre-window quote volume per minute, 10 Oct 2025
SIDE_RATIO = 1.46  # depth within 5% / within 1%, the same snapshot (20:00 UTC)


@dataclass(frozen=True)
class Day:
    day: str
    start: str
    end: str
    quick: tuple[str, str]  # the quick window
    preset: str
    contract: str
    fund: float  # the simulated market's insurance fund(s): USD, or coins if inverse
    fund_share: float  # the published fund's share of them
    multiple: float  # the simulated market's book and absorbed flow, x Binance BTCUSDT's
    target: float  # published liquidated notional, USD (the calibration target)
    target_scope: str
    oi_guess: float  # first guess of the open interest, USD
    depth_file: str | None = None
    variants: tuple[str, ...] = ()  # other presets run on the calibrated world
    scale: float = 1e-3  # the world's size (the full one has millions of accounts)


DAYS = {
    "2020-03-12": Day("2020-03-12", "2020-03-12T08:00Z", "2020-03-13T03:00Z",
                      ("2020-03-13T00:30Z", "2020-03-13T03:00Z"), "bitmex", "inverse",
                      38_000, 1.0, 2.0, 876e6, "BitMEX, 12 Mar", 4e9, scale=5e-3),
    "2021-05-19": Day("2021-05-19", "2021-05-19T11:00Z", "2021-05-19T16:00Z",
                      ("2021-05-19T12:30Z", "2021-05-19T14:00Z"), "binance", "linear", 10e9,
                      0.1, 10.0, 8.6e9, "market-wide, 24 h", 4e10, scale=2e-3),
    "2025-10-10": Day("2025-10-10", "2025-10-10T20:00Z", "2025-10-10T23:00Z",
                      ("2025-10-10T20:40Z", "2025-10-10T22:10Z"), "binance", "linear", 10e9,
                      0.1, 10.0, 19.1e9, "market-wide, 24 h", 8e10,
                      "BTCUSDT-bookDepth-2025-10-10.csv", ("hyperliquid",)),
}
# Published facts (venue-rules.md, "Market-wide facts" and the venues' sections).
FACTS: dict[str, list[tuple[str, str, float, str]]] = {
    # day -> (quantity, variant, published value, what it is / how comparable)
    "2020-03-12": [
        ("liquidated_usd", "bitmex", 876e6, "BitMEX that day (calibrated)"),
        ("fund_drop_btc", "bitmex", 2606.0, "BitMEX fund's largest one-day drop"),
        ("adl_usd", "bitmex", 0.0, "no ADL occurred on BitMEX"),
    ],
    "2021-05-19": [
        ("liquidated_usd", "binance", 8.6e9, "market-wide in 24 h (calibrated)"),
    ],
    "2025-10-10": [
        ("liquidated_usd", "binance", 19.1e9, "market-wide in a day (calibrated)"),
        ("long_share", "binance", 16.7 / 19.1, "market-wide longs $16.7B of $19.1B"),
        ("peak_minus_low_min", "binance", -5.0, "peak ~21:15 UTC, low 21:20"),
        ("fund_paid_usd", "binance", 188e6, "Binance's fund; simulated: its share of the market's"),
        ("adl_usd", "hyperliquid", 2.1e9, "Hyperliquid alone; simulated: the market as HL"),
        ("adl_span_min", "hyperliquid", 12.0, "minutes Hyperliquid's ADL took"),
    ],
}
LEVERAGE = {2: 0.1, 5: 0.2, 10: 0.25, 20: 0.25, 50: 0.15, 100: 0.05}
MEAN_NOTIONAL = 3000 * math.exp(1.4 ** 2 / 2)  # the lognormal's mean (median 3000, sigma 1.4)
ARRIVALS = 0.3  # accounts opening during the window, per account held at the start
SPARE = {0: 0.4, 0.5: 0.2, 1: 0.2, 3: 0.2}


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def klines_of(data: Path, day: str) -> Path:
    return data / "klines" / f"BTCUSDT-1m-{day}.csv"


def window_bars(csv: Path, start: datetime, end: datetime) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The file's bars inside [start, end) and before start."""
    from markets.prices.klines import read_klines

    bars = read_klines(csv, flow=True)
    t0, t1 = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
    inside = bars[(bars["open_time"] >= t0) & (bars["open_time"] < t1)].reset_index(drop=True)
    return inside, bars[bars["open_time"] < t0]


def scenario(d: Day, data: Path, quick: bool) -> dict[str, Any]:
    """The day's world as plain scenario data (its kline and depth paths absolute)."""
    start, end = (utc(t) for t in (d.quick if quick else (d.start, d.end)))
    csv = klines_of(data, d.day)
    inside, before = window_bars(csv, start, end)
    within_1 = DEPTH_MINUTES * float(before["quote_volume"].tail(120).mean())
    depth: dict[str, Any] = {"profile": [["1%", within_1], ["5%", within_1 * SIDE_RATIO]],
                             "scale": d.multiple}
    withdrawal: dict[str, Any] = {"reference_vol": 1.0, "floor": "20%"}
    book = data / d.depth_file if d.depth_file else None
    if book is not None and book.is_file():
        # The real book per minute already holds the makers' withdrawal: do not add ours.
        depth.update(csv=str(book.resolve()), side="ask", start=start.isoformat(),
                     end=end.isoformat(), at=start.isoformat())
        withdrawal = {"enabled": False}
    minutes = int((end - start).total_seconds() // 60)
    open_price = float(inside["open"].iloc[0])
    return {
        "name": f"fidelity_{d.day.replace('-', '_')}",
        "description": f"{d.day} {start:%H:%M}-{end:%H:%M} UTC replayed as the traded price "
                       f"({d.preset} preset); population calibrated by experiments/fidelity.py",
        "duration": f"{minutes}m", "seed": 1, "scale": QUICK_SCALE if quick else d.scale,
        "clock": {"oracle_interval": "5s" if quick else "2s", "sample_interval": "1m"},
        "assets": [{"name": "BTC", "price": open_price, "volatility": 0.6}],
        "replays": [{"asset": "BTC", "csv": str(csv.resolve()), "start": start.isoformat(),
                     "end": end.isoformat(), "field": "ohlc", "mode": "traded",
                     "absorbed_share": d.multiple}],
        "venues": [{
            "name": "market", "preset": d.preset, "contract": d.contract,
            "insurance_fund": d.fund * (open_price if d.contract == "inverse" else 1.0),
            "markets": [{"name": MARKET, "asset": "BTC", "tick": 0.1,
                         "tiers": "binance_btcusdt_2021", "depth": depth, "resilience": "60s",
                         "recentre": "2m", "withdrawal": withdrawal}],
        }],
        "populations": [{
            "name": "traders", "venue": "market", "count": guess_count(d),
            "markets": {MARKET: 1},
            "notional": {"distribution": "lognormal", "median": 3000, "sigma": 1.4},
            "leverage": LEVERAGE, "long_share": 0.6, "entries": {"source": "history"},
            "spare_collateral": SPARE,
            "response": {"none": 0.7, "top_up": 0.2, "reduce": 0.1, "delay": "30s"},
            # Traders who open during the window, half of them short: those who sold the
            # fall with leverage are the shorts a rebound liquidates.
            "arrivals": {"share": ARRIVALS, "start": "0s", "end": f"{minutes}m",
                         "long_share": 0.5},
        }],
    }


def guess_count(d: Day) -> int:
    """Accounts holding positions at the start, full size, for the first-guess open interest."""
    return round(d.oi_guess / MEAN_NOTIONAL)


def fit_day(d: Day, base, quick: bool, out: Path):
    """Calibrate the day's accounts (so its open interest) to its published liquidated
    notional."""
    from simulator.calibrate import calibrate
    from simulator.calibrate.report import write_fit
    from simulator.calibrate.spec import CalibrationSpec, check_parameters

    scale = base.scale
    spec = CalibrationSpec(
        description=f"{d.day}: accounts to the published liquidated notional",
        seeds=[1, 2], method="powell", max_evaluations=3 if quick else 12,
        parameters=[{"path": COUNT_PATH, "low": guess_count(d) // 8,
                     "high": guess_count(d) * 8, "log": True, "integer": True}],
        targets=[{"metric": "liquidated_notional", "value": d.target * scale,
                  "name": "liquidated_notional"}])
    check_parameters(spec, base)
    fit = calibrate(spec, base, progress=lambda k, n, best: print(
        f"  {d.day}: evaluation {k}/{n}, best objective {best:.3g}", flush=True))
    write_fit(fit, out / d.day, figure=not quick)
    return fit


def liquidated_per_minute(ts: pd.DataFrame) -> pd.Series:
    """Liquidated notional (long plus short, summed over markets) per run minute."""
    liq = ts["liquidated_long_notional"] + ts["liquidated_short_notional"]
    return liq.groupby(ts["time_ms"] // 60_000).sum()


def measure(result, d: Day, scale: float, low_minute: float) -> dict[str, float]:
    """One run's figures in full-size units."""
    s = result.summary
    liq = float(s["liquidated_notional"])
    ts = result.timeseries
    per_minute = liquidated_per_minute(ts)
    peak = float(per_minute.idxmax()) if per_minute.max() > 0 else math.nan
    adl = result.events[result.events["kind"] == "adl"]
    span = ((adl["time_ms"].max() - adl["time_ms"].min()) / 60_000 if len(adl) else math.nan)
    # An inverse venue's fund is in BTC; the summary values it in USD at the start price
    # (insurance_fund_start) and at the last mark (the rest).
    first_mark, last_mark = (float(ts[col].iloc[k]) for col, k in
                             (("fundamental", 0), ("mark" if "mark" in ts else "mid", -1)))
    drop_btc = float(s["insurance_fund_start"]) / first_mark - float(
        s["insurance_fund_end"]) / last_mark
    return {
        "liquidated_usd": liq / scale,
        "long_share": float(s["liquidated_long_notional"]) / liq if liq > 0 else math.nan,
        "peak_minus_low_min": peak - low_minute,
        "peak_minute": peak,
        "fund_paid_usd": float(s["insurance_fund_paid"]) / scale * d.fund_share,
        "fund_drop_btc": drop_btc / scale * d.fund_share,
        "adl_usd": float(s["adl_notional"]) / scale,
        "adl_span_min": span,
    }


def replicate(fitted, d: Day, variant: str, seeds: list[int], low_minute: float):
    """The fitted world under ``variant`` at fresh ``seeds``: per-seed figures, the first
    seed's result and the liquidated notional per minute (full size) averaged over seeds (for
    the chart)."""
    from simulator.run.runner import run

    sc = fitted if variant == d.preset else fitted.with_overrides(
        [f"venues.market.preset={variant}"])
    rows, first, minutes = [], None, []
    for seed in seeds:
        r = run(sc, seed)
        rows.append({"seed": seed, **measure(r, d, fitted.scale, low_minute)})
        first = first or r
        minutes.append(liquidated_per_minute(r.timeseries) / fitted.scale)
    per_minute = pd.concat(minutes, axis=1).fillna(0.0).mean(axis=1)
    return pd.DataFrame(rows), first, per_minute


def fidelity_rows(d: Day, per_variant: dict[str, pd.DataFrame]) -> list[dict[str, Any]]:
    """The day's table: each published fact against the simulated mean and its 95% CI."""
    from simulator.calibrate import mean_ci

    rows = []
    for quantity, variant, published, note in FACTS[d.day]:
        values = per_variant[variant][quantity].dropna().to_numpy()
        mean, _sd, half = mean_ci(values) if values.size else (math.nan, math.nan, math.nan)
        rows.append({"day": d.day, "preset": variant, "quantity": quantity,
                     "published": published, "simulated": mean, "ci_low": mean - half,
                     "ci_high": mean + half, "seeds": int(values.size),
                     "sim/published": mean / published if published else math.nan,
                     "note": note})
    for quantity in ("long_share", "peak_minus_low_min", "fund_paid_usd", "adl_usd"):
        if any(q == quantity for q, *_ in FACTS[d.day]):
            continue
        values = per_variant[d.preset][quantity].dropna().to_numpy()
        if values.size:
            mean, _sd, half = mean_ci(values)
            rows.append({"day": d.day, "preset": d.preset, "quantity": quantity,
                         "published": math.nan, "simulated": mean, "ci_low": mean - half,
                         "ci_high": mean + half, "seeds": int(values.size),
                         "sim/published": math.nan, "note": "not published: simulated only"})
    return rows


def chart(days: dict[str, dict[str, Any]]):
    """Per day (columns): the real and simulated price in UTC; liquidations per minute."""
    from simulator.charts import style as ps
    from simulator.charts.compare import compact

    n = len(days)
    fig, axes = ps.new_figure(2, height=7.0, n_cols=n, width=5.2 * n + 0.6)
    for k, (day, got) in enumerate(days.items()):
        ax_p, ax_l = axes[k], axes[n + k]
        bars, epoch, result = got["bars"], got["epoch"], got["first"]
        minute = (bars["open_time"] - int(epoch.timestamp() * 1000)).to_numpy() / 60_000.0
        ax_p.fill_between(minute, bars["low"], bars["high"], step="post", color="0.75", lw=0,
                          label="real: low-high of the minute")
        ax_p.plot(minute, bars["close"], color="0.1", lw=0.8, label="real: close")
        ts = result.timeseries
        ax_p.plot(ts["time_ms"] / 60_000.0, ts["mid"], color="C0", lw=0.9,
                  label=f"simulated traded price ({got['preset']}, seed {got['seed']})")
        liq = got["per_minute"]
        ax_l.bar(liq.index, liq.to_numpy(), width=1.0, color="C3", lw=0,
                 label=f"simulated ({got['preset']}), mean over seeds")
        for ax in (ax_p, ax_l):
            ax.axvline(got["low_minute"], color="0.3", ls="--", lw=0.8, label="real low")
            if got.get("published_peak") is not None:
                ax.axvline(got["published_peak"], color="C2", ls=":", lw=1.0,
                           label="published peak")
            ps.time_axis(ax, epoch)
            if minute[-1] > 12 * 60:  # a day-long window's clock labels carry the date
                ax.tick_params(axis="x", labelrotation=25)
        ps.labels(ax_p, f"{day}: BTC, real and simulated", ax_p.get_xlabel(), "price (USD)")
        ps.labels(ax_l, "liquidated notional per minute (full size)", ax_l.get_xlabel(), "USD")
        ax_p.yaxis.set_major_formatter(compact)
        ax_l.yaxis.set_major_formatter(compact)
        ax_l.legend(loc="best")
        if k == 0:
            ax_p.legend(loc="lower left")
    fig.suptitle("fidelity: three real crash days replayed as the traded price, populations "
                 "calibrated to the published liquidated notional")
    return fig


def run_day(d: Day, data: Path, quick: bool, out: Path) -> tuple[list[dict], dict[str, Any]]:
    from simulator.config import parse_scenario
    from simulator.run.runner import run  # noqa: F401  (imported early: fail before fitting)

    base = parse_scenario(scenario(d, data, quick))
    print(f"{d.day}: calibrating the accounts to ${d.target:,.0f} liquidated "
          f"({d.target_scope})")
    fit = fit_day(d, base, quick, out)
    start, end = (utc(t) for t in (d.quick if quick else (d.start, d.end)))
    bars, _ = window_bars(klines_of(data, d.day), start, end)
    low_at = int(bars["open_time"][bars["low"].idxmin()])
    low_minute = (low_at - int(start.timestamp() * 1000)) / 60_000.0
    seeds = [101, 102] if quick else [101, 102, 103, 104]
    per_variant, first, per_minute = {}, None, None
    for variant in (d.preset, *d.variants):
        print(f"{d.day}: {len(seeds)} seeds under {variant}", flush=True)
        frame, r, minutes = replicate(fit.fitted, d, variant, seeds, low_minute)
        per_variant[variant] = frame
        if first is None:  # the day's own preset is charted
            first, per_minute = r, minutes
    runs = per_variant[d.preset]
    peak = {"2025-10-10": utc("2025-10-10T21:15Z")}.get(d.day)
    chart_data = {"bars": bars, "epoch": start, "first": first, "preset": d.preset,
                  "seed": seeds[0], "per_minute": per_minute, "low_minute": low_minute,
                  "published_peak": None if peak is None else
                  (peak - start).total_seconds() / 60.0}
    fitted_oi = fit.parameters[0]["value"] * MEAN_NOTIONAL  # the count's expected notional
    print(f"{d.day}: fitted {fit.parameters[0]['value']:,} accounts (open interest about "
          f"${fitted_oi:,.0f}); liquidated "
          f"${runs['liquidated_usd'].mean():,.0f} over {len(seeds)} fresh seeds")
    return fidelity_rows(d, per_variant), {**chart_data, "oi": fitted_oi,
                                           "at_bound": bool(fit.parameters[0]["at_bound"])}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.strip().split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DATA,
                   help=f"folder with klines/ and the depth-band file (default {DATA})")
    p.add_argument("--out", type=Path, help="output folder (default results/experiments/"
                                            "fidelity, fidelity_quick with --quick)")
    p.add_argument("--quick", action="store_true", help="a tiny smoke version (seconds)")
    p.add_argument("--days", nargs="+", choices=sorted(DAYS), help="only these days")
    args = p.parse_args(argv)
    out = args.out or sx.ROOT / "results" / "experiments" / (NAME + "_quick" * args.quick)
    wanted = {day: DAYS[day] for day in (args.days or DAYS)}
    missing = [klines_of(args.data, d) for d in wanted if not klines_of(args.data, d).is_file()]
    for path in missing:
        print(f"{NAME}: missing kline file {path.name} (looked in {path.parent.resolve()}); "
              f"it is third-party data kept outside the project (../shared/data/klines)")
    days = {day: d for day, d in wanted.items() if klines_of(args.data, day).is_file()}
    if not days:
        print(f"{NAME}: no crash day's data found, nothing to replay.")
        return 0
    for d in days.values():
        if d.depth_file and not (args.data / d.depth_file).is_file():
            print(f"{NAME}: {d.day}: no depth-band file {d.depth_file} in {args.data}: the "
                  f"book is the volume-based profile instead")
    out.mkdir(parents=True, exist_ok=True)
    rows, charted = [], {}
    for day, d in days.items():
        got, chart_data = run_day(d, args.data, args.quick, out)
        rows += got
        charted[day] = chart_data
    table = pd.DataFrame(rows)
    fitted = ", ".join(f"{day} ${c['oi'] / 1e9:,.1f}B" for day, c in charted.items())
    hits = [day for day, c in charted.items() if c["at_bound"]]
    scales = ", ".join(f"{d.day} {QUICK_SCALE if args.quick else d.scale:g}"
                       for d in days.values())
    notes = (
        f"Simulated: mean over fresh seeds and its 95% t-interval, at full size (the world ran "
        f"at {scales} of it). Fitted open interest (accounts "
        f"x mean notional): {fitted}"
        + (f" (at a bound of the search: {', '.join(hits)})" if hits else "") + ". "
        "liquidated_usd is the calibration target; the rest is out of sample. Scopes differ: "
        "published totals are market-wide (all coins, all venues) or one venue's, the "
        "simulation one BTC market standing for the market (its book and absorbed flow "
        f"{', '.join(f'{d.day} x{d.multiple:g}' for d in days.values())} Binance BTCUSDT's). "
        "peak_minus_low_min: the minute of the most simulated liquidations minus the minute "
        "of the real low (negative: before it). fund_drop_btc: the fund's net fall over the "
        "window in BTC. fund_paid_usd: Binance's share of what the market's funds paid. "
        "adl_span_min: first to last ADL event.")
    print(sx.write_table(out, NAME, table, "Fidelity: three crash days, simulated vs published",
                         notes))
    sx.write_chart(out, NAME, chart, charted)
    print(f"results in {out}: {NAME}.md/.csv, figures/, <day>/ (each calibration)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
