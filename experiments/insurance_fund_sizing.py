"""How large must the insurance fund be before auto-deleveraging (ADL) becomes rare?

Research question: a venue's insurance fund absorbs the bad debt of liquidations that close
beyond the bankruptcy price; when it cannot, the venue deleverages profitable traders (ADL).
For a given market and shock, how does the probability that ADL fires at all, P(ADL), and the
expected ADL notional fall as the fund grows, and what is the smallest fund that keeps
P(ADL) below a target (default 5%)?

Design: the built-in default flash crash (BTC -12% over 30 s at minute 3, ETH following),
shortened to 6 minutes and thinned to 2,000 retail traders (the 20 whales kept) so one run
takes under a second. One axis: the venue's starting fund ``venues.cex.insurance_fund`` on a
1-2-5 log grid from 0 to $500k -- log-spaced because the bad debt of one crash varies
several-fold from seed to seed (at this population's size, about $5k-$40k) and the fund that
matters is not known in advance, so the grid spans decades around it. Three mechanism variants,
because how a venue feeds and uses its fund shifts the curve: ``default`` (the scenario's own:
full market close, a 0.5% fee to the fund, ADL when the fund is empty), ``bitmex`` (the
preset: whole closes at the bankruptcy price, the surplus of every close to the fund) and
``okx`` (the preset: ADL also once the fund has fallen 30% from its peak, so a large fund does
not rule ADL out). Binance's and Bybit's presets (partial closes and fund takeover) are left
out only for run time: their runs take 5-15x longer. 10 replications per cell with common
random numbers: replication r runs on the same seed in every cell and variant, so along the
axis only the fund differs -- the same crash, the same traders -- and the P(ADL) curve moves
with the fund, not with seed noise. 10 x 3 x 10 = 300 runs, about 3 minutes on 2 workers.

P(ADL) is the share of runs with ``adl_events > 0``, with a 95% Wilson score interval (sound at
0 of n, unlike the normal one); E[ADL notional] is the mean with a percentile-bootstrap 95%
interval (``simulator.sweep.stats``). With 10 runs per cell a point estimate of 0% still has a
Wilson upper bound near 28%: "below 5%" is read from the point estimates, and proving it with
confidence would take ~70 runs per cell (``--replications``).

What to look at (``results/experiments/insurance_fund_sizing/``): ``insurance_fund_sizing.md``
(printed at the end): per variant and fund, runs, runs with ADL, P(ADL) [Wilson], E[ADL
notional] [bootstrap], mean bad debt; below it, per variant, the smallest fund from which on
P(ADL) stays below the target. ``figures/insurance_fund_sizing.{png,pdf,svg}``: P(ADL) and
E[ADL notional] against the fund (symlog x so that 0 shows), bands = intervals; the dotted
vertical line is the sufficient fund. ``runs.parquet`` has every run; ``report/`` the generic
sweep report.

Usage::

    python experiments/insurance_fund_sizing.py                  # the design above
    python experiments/insurance_fund_sizing.py --replications 40 --target 0.01
    python experiments/insurance_fund_sizing.py --quick --no-report   # smoke test, seconds
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

if __package__ in (None, ""):  # run as a script: make the `experiments` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from experiments import sweep_experiment as sx  # noqa: E402

NAME = "insurance_fund_sizing"
FUND = "venues.cex.insurance_fund"
FUNDS = [0.0, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5]
SET = ["duration=6m", "populations.retail.count=2000"]
# Quick: the shock moved to 30 s so a 2-minute run still has the whole crash, and made -20%
# so that 300 traders leave bad debt enough for ADL to fire on an empty fund.
QUICK_SET = ["duration=2m", "shocks.0.at=30s", "shocks.0.move=-20%",
             "populations.retail.count=300"]


def sweep(quick: bool, replications: int | None = None) -> dict:
    """The sweep as plain data (``simulator.sweep`` format)."""
    variants = [{"name": "default"}] + ([] if quick else [
        {"name": "bitmex", "preset": "bitmex"}, {"name": "okx", "preset": "okx"}])
    return {
        "name": NAME + ("_quick" if quick else ""),
        "description": "Insurance fund size vs P(ADL) and expected ADL notional.",
        "base": "default",
        "set": QUICK_SET if quick else SET,
        "axes": [{"path": FUND, "values": [0.0, 2e5] if quick else FUNDS}],
        "variants": variants,
        "replications": replications or (2 if quick else 10),
        "seed": 2025,
        "common_random_numbers": True,
    }


def adl_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per variant and fund size: runs, runs with ADL, P(ADL) with its Wilson interval,
    E[ADL notional] with its bootstrap interval, mean bad debt and fund paid."""
    done = sx.complete(runs)
    stats = sx.cell_stats(runs, ["adl_notional"]).set_index(["cell", "variant"])
    rows = []
    for (cell, variant), g in done.groupby(["cell", "variant"], sort=False):
        n, k = len(g), int((g["adl_events"] > 0).sum())
        lo, hi = sx.wilson(k, n)
        s = stats.loc[(cell, variant)]
        rows.append({"variant": variant, "insurance_fund": float(g[FUND].iloc[0]), "runs": n,
                     "runs_with_adl": k, "p_adl": k / n, "p_adl_low": lo, "p_adl_high": hi,
                     "adl_notional_mean": s["mean"], "adl_notional_low": s["ci_low"],
                     "adl_notional_high": s["ci_high"],
                     "bad_debt_mean": float(g["bad_debt"].mean()),
                     "insurance_fund_paid_mean": float(g["insurance_fund_paid"].mean())})
    order = list(dict.fromkeys(runs["variant"]))
    table = pd.DataFrame(rows)
    table["_v"] = table["variant"].map(order.index)
    return table.sort_values(["_v", "insurance_fund"]).drop(columns="_v").reset_index(drop=True)


def sufficient_fund(table: pd.DataFrame, target: float) -> dict[str, float | None]:
    """Per variant, the smallest fund from which on every larger fund of the grid also has
    P(ADL) < ``target`` (None if even the largest does not): a single lucky cell below a
    cell with ADL does not count."""
    out: dict[str, float | None] = {}
    for variant, g in table.groupby("variant", sort=False):
        g = g.sort_values("insurance_fund")
        ok = (g["p_adl"] < target).to_numpy()
        # The last position where the target fails; the fund after it is sufficient.
        bad = np.flatnonzero(~ok)
        first = 0 if bad.size == 0 else int(bad[-1]) + 1
        out[str(variant)] = float(g["insurance_fund"].iloc[first]) if first < len(g) else None
    return out


def chart(table: pd.DataFrame, target: float, sufficient: dict[str, float | None]):
    """P(ADL) and E[ADL notional] against the fund size, per variant, with interval bands."""
    from simulator.charts import style as ps
    from simulator.charts.compare import compact

    names = list(dict.fromkeys(table["variant"]))
    colors = sx.variant_colors(names)
    fig, (ax_p, ax_n) = ps.new_figure(1, height=4.4, n_cols=2, width=12.0)
    ps.labels(ax_p, "probability that ADL fires", "starting insurance fund (USD)",
              "P(ADL) = share of runs with ADL")
    ps.labels(ax_n, "expected ADL notional", "starting insurance fund (USD)",
              "mean ADL notional per run (USD)")
    for k, name in enumerate(names):
        g = table[table["variant"] == name].sort_values("insurance_fund")
        x = g["insurance_fund"].to_numpy(dtype=float)
        sx.band(ax_p, x, g["p_adl"].to_numpy(), g["p_adl_low"].to_numpy(),
                g["p_adl_high"].to_numpy(), colors[name], f"{name} (95% Wilson)", k)
        sx.band(ax_n, x, g["adl_notional_mean"].to_numpy(), g["adl_notional_low"].to_numpy(),
                g["adl_notional_high"].to_numpy(), colors[name], f"{name} (95% bootstrap)",
                k)
        fund = sufficient.get(name)
        if fund is not None:
            for ax in (ax_p, ax_n):
                ax.axvline(fund, color=colors[name], ls=":", lw=1.2)
    ax_p.axhline(target, color="0.3", ls="--", lw=0.9, label=f"target {target:.0%}")
    positive = table.loc[table["insurance_fund"] > 0, "insurance_fund"]
    lin = float(positive.min()) if len(positive) else 1.0
    top = float(table["insurance_fund"].max()) if len(table) else 1.0
    ticks = [0.0] + [10.0**e for e in range(int(np.floor(np.log10(lin))),
                                           int(np.ceil(np.log10(max(top, lin)))) + 1)]
    for ax in (ax_p, ax_n):
        # symlog: linear below the smallest positive fund, so the fund of 0 gets a place.
        ax.set_xscale("symlog", linthresh=lin, linscale=0.6)
        ax.set_xlim(-0.15 * lin, top * 1.3)
        ax.set_xticks([t for t in ticks if t <= top * 1.3])
        ax.xaxis.set_major_formatter(compact)
    ax_n.yaxis.set_major_formatter(compact)
    ax_p.set_ylim(-0.02, 1.02)
    ax_p.legend(loc="center left")  # free: the curves start at the top, end at the bottom
    ax_n.legend(loc="lower left")
    n = int(table["runs"].max()) if len(table) else 0
    fig.suptitle(f"ADL against insurance fund size ({n} runs per point, the same seeds at "
                 f"every size)\ndotted: smallest fund from which on P(ADL) < {target:.0%}")
    return fig


def main(argv: list[str] | None = None) -> int:
    p = sx.parser(__doc__)
    p.add_argument("--replications", type=int, help="runs per cell (default 10; quick 2)")
    p.add_argument("--target", type=float, default=0.05, help="P(ADL) target (default 0.05)")
    args = p.parse_args(argv)

    def analyse(runs: pd.DataFrame, out: Path) -> None:
        table = adl_table(runs)
        sufficient = sufficient_fund(table, args.target)
        lines = [f"- {v}: " + (f"P(ADL) < {args.target:.0%} from a fund of ${f:,.0f} on"
                               if f is not None else
                               f"P(ADL) >= {args.target:.0%} somewhere up to the largest fund")
                 for v, f in sufficient.items()]
        notes = (f"Smallest fund of the grid from which on P(ADL) stays below "
                 f"{args.target:.0%} (point estimates):\n\n" + "\n".join(lines))
        print(sx.write_table(out, NAME, table, "Insurance fund size vs ADL", notes))
        sx.write_chart(out, NAME, chart, table, args.target, sufficient)

    return sx.experiment(args, NAME, lambda: sweep(args.quick, args.replications), analyse)


if __name__ == "__main__":
    raise SystemExit(main())
