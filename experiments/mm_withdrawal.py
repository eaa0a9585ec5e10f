"""How much does the speed of market-maker withdrawal amplify a crash?

Research question: market makers pull depth when realised volatility spikes (on 10 Oct 2025
Binance's ask depth within 1% fell by about 84%), so the liquidations of a crash meet a thinner
book. The simulated maker keeps an exponentially weighted estimate of realised volatility
with half-life ``half_life`` and scales its depth by ``(reference_vol / vol) ** sensitivity``,
never below ``floor`` (``agents/market_maker.py``; the markets' ``withdrawal`` settings). How
does the amplification of the exogenous move (traded drawdown / exogenous drawdown) depend on
how fast the maker reacts (the half-life), and on how far it may pull (the floor)?

Design: the built-in default flash crash (BTC -12% over 30 s at minute 3, ETH following),
shortened to 6 minutes and thinned to 2,000 retail traders (whales kept). One zipped axis: the
half-life of both markets' volatility estimate (``venues.cex.markets.BTC-PERP`` and
``ETH-PERP``'s ``withdrawal.half_life``, moving together so that the whole venue reacts at one
speed), log-spaced from 5 s (reacts within the 30-second shock) to 20 min (barely reacts
before the 6-minute run ends). Three variants: ``no_withdrawal`` (``withdrawal.enabled:
false``, the baseline: the book never thins, so its rows are the same at every half-life --
a built-in check of common random numbers), ``floor_20`` (the scenario's own settings: depth
down to 20%) and ``floor_50`` (the maker keeps at least half its depth). The sensitivity is left
at 1: during a 30-second -12% move the realised volatility is tens of times the reference, so
any sensitivity drives depth to the floor and the floor, not the sensitivity, is what binds.
5 replications with common random numbers: replication r is the same crash and traders in
every cell and variant, and each cell's paired difference against ``no_withdrawal`` is the
amplification that withdrawal adds. 8 x 3 x 5 = 120 runs, about a minute on 2 workers.

What to look at (``results/experiments/mm_withdrawal/``): ``mm_withdrawal.md`` (printed): per
variant and half-life the mean amplification [bootstrap 95%], the amplification added over
no withdrawal (paired, same seeds) [95%], the mean max drawdown and liquidated notional.
``figures/mm_withdrawal.{png,pdf,svg}``: the same against the half-life (log axis) with
interval bands -- a flat stretch on the left means the maker already hits its floor within
the shock, so reacting faster changes nothing; the fall on the right is where the maker is
too slow to withdraw before the liquidations are over.

Usage::

    python experiments/mm_withdrawal.py
    python experiments/mm_withdrawal.py --replications 10
    python experiments/mm_withdrawal.py --quick --no-report
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

if __package__ in (None, ""):  # run as a script: make the `experiments` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from experiments import sweep_experiment as sx  # noqa: E402

NAME = "mm_withdrawal"
MARKETS = ("BTC-PERP", "ETH-PERP")
HALF_LIFE = f"venues.cex.markets.{MARKETS[0]}.withdrawal.half_life"
HALF_LIVES = ["5s", "15s", "30s", "1m", "2m", "5m", "10m", "20m"]
SET = ["duration=6m", "populations.retail.count=2000"]
QUICK_SET = ["duration=2m", "shocks.0.at=30s", "populations.retail.count=300"]
METRICS = ("amplification", "max_drawdown", "liquidated_notional", "cascade_depth")


def _both(field: str, value: object) -> list[str]:
    return [f"venues.cex.markets.{m}.withdrawal.{field}={value}" for m in MARKETS]


def sweep(quick: bool, replications: int | None = None) -> dict:
    """The sweep as plain data (``simulator.sweep`` format)."""
    half_lives = ["5s", "5m"] if quick else HALF_LIVES
    variants = [{"name": "no_withdrawal", "set": _both("enabled", "false")},
                {"name": "floor_20", "set": _both("floor", 0.2)}]
    if not quick:
        variants.append({"name": "floor_50", "set": _both("floor", 0.5)})
    return {
        "name": NAME + ("_quick" if quick else ""),
        "description": "Market-maker withdrawal speed (half-life) vs amplification.",
        "base": "default",
        "set": QUICK_SET if quick else SET,
        "axes": [{"zip": [{"path": f"venues.cex.markets.{m}.withdrawal.half_life",
                           "values": half_lives} for m in MARKETS]}],
        "variants": variants,
        "replications": replications or (2 if quick else 5),
        "seed": 55,
        "common_random_numbers": True,
    }


def withdrawal_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per variant and half-life: runs, amplification [CI], its paired difference from the
    baseline variant [CI], and the means of max drawdown, liquidated notional and depth."""
    stats = sx.cell_stats(runs, METRICS)
    amp = stats[stats["metric"] == "amplification"].set_index(["cell", "variant"])
    means = stats.pivot_table(index=["cell", "variant"], columns="metric", values="mean")
    table = pd.DataFrame({
        "variant": amp.index.get_level_values("variant"),
        "half_life_s": amp[HALF_LIFE].map(sx.seconds).to_numpy(),
        "runs": amp["n"].astype(int).to_numpy(),
        "amplification_mean": amp["mean"].to_numpy(),
        "amplification_low": amp["ci_low"].to_numpy(),
        "amplification_high": amp["ci_high"].to_numpy(),
        "added_amplification": amp["diff_mean"].to_numpy(),
        "added_low": amp["diff_ci_low"].to_numpy(),
        "added_high": amp["diff_ci_high"].to_numpy(),
        "max_drawdown_mean": means.loc[amp.index, "max_drawdown"].to_numpy(),
        "liquidated_notional_mean": means.loc[amp.index, "liquidated_notional"].to_numpy(),
        "cascade_depth_mean": means.loc[amp.index, "cascade_depth"].to_numpy(),
    })
    order = list(dict.fromkeys(runs["variant"]))
    table["_v"] = table["variant"].map(order.index)
    return table.sort_values(["_v", "half_life_s"]).drop(columns="_v").reset_index(drop=True)


def chart(table: pd.DataFrame):
    """Amplification, the amplification added over no withdrawal (95% bands), and mean
    cascade depth against the half-life, per variant."""
    from simulator.charts import style as ps
    names = list(dict.fromkeys(table["variant"]))
    colors = sx.variant_colors(names)
    fig, axes = ps.new_figure(1, height=4.3, n_cols=3, width=15.0)
    ax_a, ax_d, ax_l = axes
    xlabel = "maker's volatility half-life (s, log scale)"
    ps.labels(ax_a, "amplification of the exogenous move", xlabel,
              "traded / exogenous drawdown")
    ps.labels(ax_d, "amplification added by withdrawal", xlabel,
              f"paired difference from {names[0]}")
    ps.labels(ax_l, "cascade depth", xlabel, "mean generations per run")
    for k, name in enumerate(names):
        g = table[table["variant"] == name].sort_values("half_life_s")
        x = g["half_life_s"].to_numpy(dtype=float)
        sx.band(ax_a, x, g["amplification_mean"].to_numpy(), g["amplification_low"].to_numpy(),
                g["amplification_high"].to_numpy(), colors[name], name, k)
        if name != names[0]:
            sx.band(ax_d, x, g["added_amplification"].to_numpy(), g["added_low"].to_numpy(),
                    g["added_high"].to_numpy(), colors[name], name, k)
        # Depth is a count with little spread per cell: the mean only.
        ax_l.plot(x, g["cascade_depth_mean"], color=colors[name], marker="o", ms=4, lw=1.4,
                  ls=sx.LINESTYLES[k % 4], label=name)
    ax_d.axhline(0.0, color="0.3", lw=0.8)
    for ax in axes:
        ax.set_xscale("log")
    ax_a.legend(loc="best")
    n = int(table["runs"].max()) if len(table) else 0
    fig.suptitle(f"market-maker withdrawal speed: a shorter half-life pulls depth sooner "
                 f"({n} runs per point, the same seeds everywhere; bands: 95% bootstrap)")
    return fig


def main(argv: list[str] | None = None) -> int:
    p = sx.parser(__doc__)
    p.add_argument("--replications", type=int, help="runs per cell (default 5; quick 2)")
    args = p.parse_args(argv)

    def analyse(runs: pd.DataFrame, out: Path) -> None:
        table = withdrawal_table(runs)
        lines = []
        for name, g in table.groupby("variant", sort=False):
            g = g.sort_values("half_life_s")
            fast, slow = g.iloc[0], g.iloc[-1]
            lines.append(f"- {name}: amplification {fast.amplification_mean:.3f} at "
                         f"{fast.half_life_s:g} s, {slow.amplification_mean:.3f} at "
                         f"{slow.half_life_s:g} s (added over {table['variant'].iloc[0]}: "
                         f"{fast.added_amplification:+.3f} -> {slow.added_amplification:+.3f})")
        notes = "Fastest vs slowest withdrawal:\n\n" + "\n".join(lines)
        print(sx.write_table(out, NAME, table, "Market-maker withdrawal speed vs amplification",
                             notes))
        sx.write_chart(out, NAME, chart, table)

    return sx.experiment(args, NAME, lambda: sweep(args.quick, args.replications), analyse)


if __name__ == "__main__":
    raise SystemExit(main())
