"""Which ADL ranking rule spreads the deleveraging burden most fairly, and which over-uses it?

Research question: when the insurance fund cannot cover a bankrupt close, the venue closes
winners' positions against it (auto-deleveraging). Venues rank the winners differently
(``markets/liquidation/adl.py``): BitMEX/Binance/Bybit by PnL% x effective leverage (``bitmex``),
Hyperliquid by (mark / entry) x (notional / account value) (``hyperliquid``), largest USD
profit first (``profit``), or every opposing winner a slice in proportion to its size
(``pro_rata``, the fair benchmark of Chitra, 2025, arXiv 2512.01112). For the same crash, how
does each rule spread the haircuts over accounts (fairness: dispersion of haircut shares,
concentration of the profit taken, how many accounts are touched) and how much winners'
profit does it close beyond the shortfall it had to cover (efficiency: ``adl_overuse`` =
profit closed - needed, ``adl_overuse_ratio`` = over-use / needed), and on the terms of arXiv
2602.15182 how far does its production ``H_t`` overshoot the need ``B_t^needed`` per ADL wave
(``adl_overshoot``, ``adl_overshoot_net``) and the queue-total overshoot of arXiv 2512.01112
(``adl_queue_overshoot``; docs/mechanisms.md, 7.5)?

Design: the built-in default flash crash (BTC -12% over 30 s at minute 3), shortened to 6
minutes, 2,000 retail traders (whales kept), with the insurance fund at 0 and no fee income
to it (``fund.fee_share=0``) so that every bankrupt close goes to ADL: the question is how ADL
shares a loss, not whether one arises. One cell; the variants set ``venues.cex.adl.ranking``
and nothing else (``simulator/config/mechanisms.py``: bitmex, hyperliquid, profit, pro_rata),
the first (bitmex) is the baseline. 20 replications with common random numbers: replication r
is the same crash and the same traders under every rule, so the paired difference of a
metric against bitmex isolates the ranking; 4 x 20 = 80 runs, about a minute on 2 workers.
The total ADL notional and the shortfall are the same for every rule (the rule only picks
who pays); what differs is who and how much profit it takes.

Reading the metrics: ``adl_needed`` is the shortfall *at the mark*. Here the mark (mostly
the index) stays above the bankruptcy price of the longs while the book, hit by the forced
sales, cannot fill above it, so ADL fires with almost nothing needed at the mark and the
deleveraged shorts are closed *better* than the mark (negative haircuts): the over-use ratio
is then huge and driven by its tiny denominator -- compare rules by ``adl_overuse`` and
``adl_profit_closed`` (USD) instead. For the same reason the summary's ``adl_haircut_gini``
(positive haircuts only) is mostly undefined; this script adds ``adl_profit_gini``, the Gini
of the profit closed per deleveraged account in each run (0: all lost the same; near 1: one
lost it all).

What to look at (``results/experiments/adl_rankings/``): ``adl_rankings.md`` (printed): per
rule and metric the mean with its bootstrap 95% interval and the paired difference from
bitmex; an interval of the difference that excludes 0 is the rule's effect.
``figures/adl_haircuts`` (``compare_plots.adl_haircut_chart``): ECDFs over deleveraged
accounts pooled over seeds of the USD haircut and of the haircut as a share of the profit
closed -- a vertical share curve is pro-rata, a long USD tail means a few accounts bore most.
``figures/adl_overuse``: bars of the over-use and fairness metrics per rule with intervals.
``adl_rankings.csv`` holds the table, ``haircuts.csv`` every deleveraged account of every run.

Usage::

    python experiments/adl_rankings.py
    python experiments/adl_rankings.py --replications 50 --workers 2
    python experiments/adl_rankings.py --quick --no-report
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

if __package__ in (None, ""):  # run as a script: make the `experiments` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from experiments import sweep_experiment as sx  # noqa: E402

NAME = "adl_rankings"
RANKINGS = ("bitmex", "hyperliquid", "profit", "pro_rata")
# Every bankrupt close goes to ADL: no fund, and no liquidation fees feeding one.
ADL_ALWAYS = ["venues.cex.insurance_fund=0", "venues.cex.fund.fee_share=0"]
SET = ["duration=6m", "populations.retail.count=2000", *ADL_ALWAYS]
QUICK_SET = ["duration=2m", "shocks.0.at=30s", "populations.retail.count=300", *ADL_ALWAYS]
METRICS = ("adl_overuse", "adl_overuse_ratio", "adl_profit_closed", "adl_needed",
           "adl_need", "adl_production", "adl_overshoot", "adl_overshoot_net",
           "adl_queue_overshoot", "adl_waves",
           "adl_notional", "adl_accounts", "adl_profit_gini", "adl_haircut_gini",
           "adl_share_std", "adl_share_pooled")
BAR_METRICS = ("adl_overuse", "adl_overshoot", "adl_queue_overshoot", "adl_profit_closed",
               "adl_accounts", "adl_profit_gini", "adl_share_std")
# Computed here from haircuts.csv (not in the summary): how concentrated the profit taken is.
# The summary's adl_haircut_gini only counts positive haircuts, and an ADL at a bankruptcy
# price better than the mark gives negative ones, so it is often undefined (NaN).
PROFIT_GINI = "adl_profit_gini"
EVENT_COLUMNS = ["kind", "venue", "account", "qty", "amount", "balance"]


def sweep(quick: bool, replications: int | None = None) -> dict:
    """The sweep as plain data (``simulator.sweep`` format)."""
    rankings = RANKINGS[::2] if quick else RANKINGS  # quick: bitmex and profit
    return {
        "name": NAME + ("_quick" if quick else ""),
        "description": "ADL ranking rules: haircut fairness and over-use.",
        "base": "default",
        "set": QUICK_SET if quick else SET,
        "variants": [{"name": r, "set": [f"venues.cex.adl.ranking={r}"]} for r in rankings],
        "replications": replications or (2 if quick else 20),
        "seed": 31,
        "common_random_numbers": True,
    }


def haircuts(runs: pd.DataFrame, out: Path) -> pd.DataFrame:
    """Every deleveraged account of every complete run (``adl_fairness.adl_haircuts`` of the
    run folder's event log), tagged with the run's variant, replication and key."""
    from simulator.run.adl_fairness import adl_haircuts

    frames = []
    for row in sx.complete(runs).itertuples(index=False):
        events = pd.read_parquet(out / "runs" / row.run_key / "events.parquet",
                                 columns=EVENT_COLUMNS)
        cuts = adl_haircuts(events)
        cuts.insert(0, "run_key", row.run_key)
        cuts.insert(0, "replication", row.replication)
        cuts.insert(0, "variant", row.variant)
        frames.append(cuts)
    return pd.concat(frames, ignore_index=True)


def with_profit_gini(runs: pd.DataFrame, cuts: pd.DataFrame) -> pd.DataFrame:
    """``runs`` with ``adl_profit_gini``: per run, the Gini of the profit closed per
    deleveraged account (0: every account lost the same profit; near 1: one lost it all)."""
    from simulator.run.adl_fairness import gini

    per_run = cuts.groupby("run_key")["profit_closed"].apply(
        lambda s: gini(np.clip(s.to_numpy(dtype=float), 0, None)))
    return runs.assign(**{PROFIT_GINI: runs["run_key"].map(per_run).astype(float)})


def metric_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per metric and rule: mean [bootstrap 95%], paired difference from the first rule."""
    stats = sx.cell_stats(runs, METRICS)
    cols = ["metric", "variant", "n", "mean", "ci_low", "ci_high", "diff_mean", "diff_ci_low",
            "diff_ci_high"]
    order = {m: i for i, m in enumerate(METRICS)}
    stats = stats.assign(_m=stats["metric"].map(order)).sort_values("_m", kind="stable")
    return stats[cols].reset_index(drop=True)


def overuse_chart(table: pd.DataFrame):
    """Small multiples: per metric, a bar per rule (mean) with its 95% interval."""
    from simulator.charts import style as ps
    from simulator.charts.compare import compact
    from simulator.run import catalogue

    # This experiment's own figure is not a run figure, so not in the catalogue.
    titles = {PROFIT_GINI: "Gini of profit closed per account"}
    metrics = [m for m in BAR_METRICS if m in set(table["metric"])]
    names = list(dict.fromkeys(table["variant"]))
    colors = sx.variant_colors(names)
    cols = 3
    rows = max(1, -(-len(metrics) // cols))
    fig, axes = ps.new_figure(rows, height=3.3 * rows + 0.6, n_cols=cols, width=13.0)
    for ax in axes[len(metrics):]:
        ax.set_visible(False)
    x = np.arange(len(names))
    for ax, metric in zip(axes, metrics, strict=False):
        here = table[table["metric"] == metric].set_index("variant").reindex(names)
        mean = here["mean"].to_numpy(dtype=float)
        err = np.vstack([np.clip(mean - here["ci_low"].to_numpy(dtype=float), 0, None),
                         np.clip(here["ci_high"].to_numpy(dtype=float) - mean, 0, None)])
        ax.bar(x, np.nan_to_num(mean), color=[colors[n] for n in names], edgecolor="0.2",
               lw=0.6)
        ax.errorbar(x, mean, yerr=np.nan_to_num(err), fmt="none", ecolor="0.15", capsize=4,
                    lw=1.1)
        ax.set_xticks(x, names)
        ax.set_title(titles.get(metric) or catalogue.title(metric))
        ax.yaxis.set_major_formatter(compact)
        ax.grid(axis="x", visible=False)
    n = int(table["n"].max()) if len(table) else 0
    fig.suptitle(f"ADL over-use and fairness per ranking rule (mean and 95% bootstrap "
                 f"interval over {n} seeds, the same for every rule)")
    return fig


def main(argv: list[str] | None = None) -> int:
    p = sx.parser(__doc__)
    p.add_argument("--replications", type=int, help="runs per rule (default 20; quick 2)")
    args = p.parse_args(argv)

    def analyse(runs: pd.DataFrame, out: Path) -> None:
        from simulator.charts.compare import adl_haircut_chart
        from simulator.run.result import write_atomic

        done = sx.complete(runs)
        cuts = haircuts(runs, out)
        write_atomic(out / "haircuts.csv", lambda p: cuts.to_csv(p, index=False))
        table = metric_table(with_profit_gini(runs, cuts))
        with_adl = done.groupby("variant", sort=False)["adl_events"].apply(lambda s: (s > 0).sum())
        per_rule = cuts.groupby("variant", sort=False).agg(
            accounts=("haircut", "size"), median_share=("haircut_share", "median"),
            p90_share=("haircut_share", lambda s: s.quantile(0.9)))
        notes = ("Runs with ADL per rule: " + ", ".join(f"{v} {k}" for v, k in with_adl.items())
                 + ".\n\nDeleveraged accounts pooled over seeds, and their haircut share "
                 "(haircut / profit closed at mark):\n\n" + sx.markdown(per_rule.reset_index())
                 + "\n\ndiff_*: paired difference from " + str(runs["variant"].iloc[0])
                 + " over the same seeds.")
        print(sx.write_table(out, NAME, table, "ADL ranking rules: over-use and fairness",
                             notes))
        names = list(dict.fromkeys(runs["variant"]))
        sx.write_chart(out, "adl_haircuts", adl_haircut_chart, cuts, names)
        sx.write_chart(out, "adl_overuse", overuse_chart, table)

    return sx.experiment(args, NAME, lambda: sweep(args.quick, args.replications), analyse)


if __name__ == "__main__":
    raise SystemExit(main())
