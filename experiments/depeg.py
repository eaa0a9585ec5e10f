"""How many cross-margined accounts does a collateral stablecoin's depeg liquidate, with no
position price moving?

Research question: venues take stablecoins other than USD as margin (USDe, USDC, ...), valued
at the venue's own price of the coin, less a haircut. When that coin trades below its peg on
the venue (on 10 Oct 2025 USDe fell to about 0.65 on one venue's book while holding its peg
elsewhere), every account margined in it loses collateral value at once, though no position's
price moved. How many of those accounts breach and are liquidated, and how much bad debt and
insurance fund drawdown follow, against the depth of the depeg, the share of the traders'
collateral held in the coin, and the haircut the venue applies to it?

Design: the ``depeg`` world (``experiments/scenarios/depeg.yaml``): one cross-margined venue,
BTC and ETH perpetuals with their ordinary noise and no shock, 3,000 traders at 2-50x whose
collateral is part USDe (accepted at a haircut) and part USD; from minute 2 the venue values
USDe below its peg, ramped in over 30 s, and keeps it there (a depeg in the model never
recovers); 10 minutes. Three axes, crossed:
the depeg's depth (1% to 10%), the share of each trader's collateral held in USDe (25% to
100%) and the haircut (0% to 5%). Two variants: ``no_depeg`` (the same depeg moved past the
end of the run: it never happens, so its rows are the same in every cell, a built-in check of
common random numbers) and ``depeg``. Replications with common random numbers: replication r
is the same traders and the same price noise everywhere, so a cell's paired difference
against ``no_depeg`` is what the depeg did (the noise alone liquidates a few highly levered
traders in every run). 8 replications.

The haircut, as the model applies it: a population's collateral mix fixes each trader's
collateral value *after* the haircut (the holdings are grossed up by ``1 / (1 - haircut)``),
and a depeg of ``d`` takes ``d x value after haircut`` off the wallet, so a trader's loss is
``share x d`` of its margin whatever the haircut. Leverage is chosen against the credited
margin, so the haircut does not protect the trader from the breach; and the venue's bad debt
is counted against the credited value, so the model gives the haircut no buffer against bad
debt either. The haircut axis is there to show this (its rows should be identical).

What to look at (``results/experiments/depeg/``): ``depeg.md`` (printed): per cell the mean
extra liquidations over no depeg [bootstrap 95%], the extra accounts liquidated, the extra
liquidated notional, the bad debt [95%] and the insurance fund's drawdown below its start
(the fund also earns liquidation fees, so it can end higher than it started);
``figures/depeg.{png,pdf,svg}``: heatmaps of the extra liquidations and the extra liquidated
notional over depth x share, and of the extra liquidations over depth x haircut.

Results (full run, 2026-12-07, 8 replications per cell, 576 runs, 3.5 min on 2 workers):
the price noise alone liquidates 19.5 of the 3,000 traders (mean, every cell alike). A 1%
depeg adds 0.25-0.75 liquidations, 3% adds 0.5-5.6, 5% adds 1.0-11.6 and 10% adds 4.2 [3.5, 5.0]
with a quarter of collateral in USDe, 11.6 [9.5, 14.1] with half and 27.1 [24.2, 30.0] (21.8
accounts, 250k USD notional) with all of it. The cells depend on depth x share only (5% on
half the collateral is exactly 10% on a quarter), and the haircut changed nothing (identical
runs at 0%, 2% and 5%), as the arithmetic above says. No run had bad debt or an insurance fund
payout: the 30 s ramp and a 100/s liquidation engine close the breached accounts while their
equity still covers the close, and the fund only grew by the liquidation fees.

Usage::

    python experiments/depeg.py
    python experiments/depeg.py --replications 10
    python experiments/depeg.py --quick --no-report
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

if __package__ in (None, ""):  # run as a script: make the `experiments` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from experiments import sweep_experiment as sx  # noqa: E402

NAME = "depeg"
SCENARIO = Path(__file__).resolve().parent / "scenarios" / "depeg.yaml"
MOVE = "depegs.0.move"
SHARE = "populations.traders.collateral_mix.USDe"
# Collateral items are addressed by position: they have an ``asset``, not a ``name``.
HAIRCUT = "venues.cex.collateral.0.haircut"
MOVES = [-0.01, -0.03, -0.05, -0.10]
SHARES = [0.25, 0.5, 1.0]
HAIRCUTS = [0.0, 0.02, 0.05]
QUICK_SET = ["duration=4m", "depegs.0.at=1m", "populations.traders.count=600"]
# The fund's drawdown below its start; derived per run, since the summary has start and min.
DRAWDOWN = "insurance_fund_drawdown"
METRICS = ("liquidations", "accounts_liquidated", "liquidated_notional", "bad_debt",
           "insurance_fund_paid", DRAWDOWN)


def sweep(quick: bool, replications: int | None = None) -> dict:
    """The sweep as plain data (``simulator.sweep`` format)."""
    return {
        "name": NAME + ("_quick" if quick else ""),
        "description": "Collateral depeg depth x share x haircut vs liquidations and bad debt.",
        "base": str(SCENARIO),
        "set": QUICK_SET if quick else [],
        "axes": [{"path": MOVE, "values": [-0.03, -0.10] if quick else MOVES},
                 {"path": SHARE, "values": [0.5, 1.0] if quick else SHARES},
                 {"path": HAIRCUT, "values": [0.0, 0.05] if quick else HAIRCUTS}],
        # A depeg's move must be below 0, so "no depeg" is the same depeg after the run ends.
        "variants": [{"name": "no_depeg", "set": ["depegs.0.at=1h"]},
                     {"name": "depeg"}],
        "replications": replications or (2 if quick else 8),
        "seed": 41,
        "common_random_numbers": True,
    }


def with_drawdown(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs with the insurance fund's drawdown below its start (0 if it never dipped)."""
    runs = runs.copy()
    runs[DRAWDOWN] = (runs["insurance_fund_start"] - runs["insurance_fund_min"]).clip(lower=0)
    return runs


def depeg_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per cell of the depeg variant: depth, share, haircut, runs; extra liquidations over no
    depeg (paired) [CI]; extra accounts and notional; bad debt [CI]; fund paid and drawdown."""
    stats = sx.cell_stats(with_drawdown(runs), METRICS)
    dep = stats[stats["variant"] == "depeg"]

    def metric(name: str) -> pd.DataFrame:
        return dep[dep["metric"] == name].set_index("cell")

    liq, accounts, notional, debt, paid, drawdown = (metric(m) for m in METRICS)
    table = pd.DataFrame({
        "depth": -liq[MOVE].astype(float),
        "share": liq[SHARE].astype(float),
        "haircut": liq[HAIRCUT].astype(float),
        "runs": liq["n"].astype(int),
        "extra_liquidations": liq["diff_mean"], "extra_low": liq["diff_ci_low"],
        "extra_high": liq["diff_ci_high"],
        "liquidations": liq["mean"], "no_depeg_liquidations": liq["mean"] - liq["diff_mean"],
        "extra_accounts": accounts["diff_mean"],
        "extra_notional": notional["diff_mean"],
        "bad_debt": debt["mean"], "bad_debt_low": debt["ci_low"], "bad_debt_high": debt["ci_high"],
        "fund_paid": paid["mean"], "fund_drawdown": drawdown["mean"],
    })
    return table.sort_values(["haircut", "share", "depth"]).reset_index(drop=True)


def chart(table: pd.DataFrame):
    """Heatmaps: extra liquidations and liquidated notional over depth x share (at the
    smallest haircut), and extra liquidations over depth x haircut (at the largest share)."""
    from simulator.charts import style as ps
    depths = sorted(table["depth"].unique())
    shares = sorted(table["share"].unique())
    haircuts = sorted(table["haircut"].unique())
    keyed = table.set_index(["depth", "share", "haircut"])

    def grid(col: str, rows: list[float], key) -> np.ndarray:
        # Rows top to bottom from the largest value, as the contagion heatmaps.
        return np.array([[keyed[col].get(key(d, r), np.nan) for d in depths]
                         for r in reversed(rows)], dtype=float)

    def by_share(d: float, s: float) -> tuple:
        return d, s, haircuts[0]

    def by_haircut(d: float, h: float) -> tuple:
        return d, shares[-1], h

    fig, axes = ps.new_figure(1, height=0.5 * max(len(shares), len(haircuts)) + 2.8, n_cols=3,
                              width=16.0)
    xt = [f"{d:.0%}" for d in depths]
    xlabel = "depeg depth (the venue's USDe price below its peg)"
    share_ticks = [f"{s:.0%}" for s in reversed(shares)]
    share_label = "share of collateral in USDe"
    sx.heatmap(axes[0], grid("extra_liquidations", shares, by_share), xt, share_ticks,
               f"extra liquidations (haircut {haircuts[0]:.0%})", xlabel, share_label, "+.1f",
               "liquidations vs no depeg (paired)")
    sx.heatmap(axes[1], grid("extra_notional", shares, by_share) / 1e3, xt, share_ticks,
               f"extra liquidated notional (haircut {haircuts[0]:.0%})", xlabel, share_label,
               "+,.0f", "thousand USD vs no depeg (paired)")
    sx.heatmap(axes[2], grid("extra_liquidations", haircuts, by_haircut), xt,
               [f"{h:.0%}" for h in reversed(haircuts)],
               f"extra liquidations (share {shares[-1]:.0%})", xlabel, "haircut on USDe",
               "+.1f", "liquidations vs no depeg (paired)")
    n = int(table["runs"].max()) if len(table) else 0
    fig.suptitle(f"a collateral depeg with no position price moving ({n} runs per cell, the "
                 f"same seeds in every cell and variant)")
    return fig


def headline(table: pd.DataFrame) -> str:
    """The notes under the table: the worst cell, and how much the haircut changed."""
    worst = table.sort_values(["extra_liquidations", "depth"]).iloc[-1]
    # The haircut's effect: the largest spread of a (depth, share) pair's extra liquidations
    # across haircuts (0 when, as the model prices it, the haircut does not matter).
    spread = table.groupby(["depth", "share"])["extra_liquidations"].agg(np.ptp).max()
    return (f"Most liquidations: a {worst.depth:.0%} depeg with {worst.share:.0%} of collateral "
            f"in USDe (haircut {worst.haircut:.0%}): {worst.extra_liquidations:+.1f} "
            f"liquidations over no depeg [{worst.extra_low:+.1f}, {worst.extra_high:+.1f}], "
            f"{worst.extra_accounts:+.1f} accounts, {worst.extra_notional:+,.0f} USD notional; "
            f"bad debt {worst.bad_debt:,.0f} USD. Over every cell the mean bad debt is at most "
            f"{table['bad_debt'].max():,.0f} USD and the fund's drawdown below its start at most "
            f"{table['fund_drawdown'].max():,.0f} USD. Largest change across haircuts at one "
            f"depth and share: {spread:.2f} liquidations.")


def main(argv: list[str] | None = None) -> int:
    p = sx.parser(__doc__)
    p.add_argument("--replications", type=int, help="runs per cell (default 8; quick 2)")
    args = p.parse_args(argv)

    def analyse(runs: pd.DataFrame, out: Path) -> None:
        table = depeg_table(runs)
        print(sx.write_table(out, NAME, table, "A collateral depeg with no price moving",
                             headline(table)))
        sx.write_chart(out, NAME, chart, table)

    return sx.experiment(args, NAME, lambda: sweep(args.quick, args.replications), analyse)


if __name__ == "__main__":
    raise SystemExit(main())
