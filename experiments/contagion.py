"""How much of a venue's cascade comes from another venue, through arbitrage capital and latency?

Research question: arbitrageurs keep one asset's price the same across venues, so they carry
one venue's forced selling into another's book (on 10 Oct 2025 the cascade ran across every
large venue within minutes). How many liquidations does a deep, moderately levered venue
suffer because of a thin, highly levered venue's cascade, and how does that depend on the
arbitrageurs' capital (how far they can carry a move) and latency (how soon)? And what does
the thin venue gain from having its dips bought?

Design: the built-in ``two_venues`` world (BTC -12% in 30 s at minute 2 on both venues' shared
fundamental; ``lev``: 4,000 traders at 5-50x on a thin book; ``deep``: 4,000 traders at 2-10x
on a book twice as deep), 10 minutes, one arbitrageur between the two BTC books (threshold
0.05%, leverage 5). Two axes, crossed: its capital (USD, split between the venues; 100k to
10M, where at 5x leverage it no longer binds) and its latency (0 to 10 s). Two variants:
``no_arbitrage`` (the same arbitrageur with a 99% threshold: it never trades, so its rows are
the same in every cell, a built-in check of common random numbers) and ``arbitrage``. 5
replications with common random numbers: replication r is the same crash and traders
everywhere, so a cell's paired difference against ``no_arbitrage`` is what arbitrage did to
each venue.

Two measures of contagion: the **counterfactual** one, the paired difference in ``deep``'s
liquidations with and without arbitrage (and in ``lev``'s: usually negative, its relief), and
the **attributed** one, ``deep.cross_venue_share``: its liquidations weighted by the part of
their causes that traces back through the cascade graph to ``lev`` (the causes are the
generation a breach needed, so this names where the last push came from, not whether the
breach would have happened anyway: read it beside the counterfactual).

What to look at (``results/experiments/contagion/``): ``contagion.md`` (printed): per cell
the mean extra liquidations on each venue [bootstrap 95%], the attributed share [95%], the
liquidated notional; ``figures/contagion.{png,pdf,svg}``: heatmaps of deep's extra
liquidations, lev's change and deep's attributed share over capital x latency;
``figures/contagion_cascade.{png,pdf,svg}``: one run's cascade graph, liquidations by time and
venue, with the edges that cross venues drawn by the channel that carried them.

Usage::

    python experiments/contagion.py
    python experiments/contagion.py --replications 10
    python experiments/contagion.py --quick --no-report
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

if __package__ in (None, ""):  # run as a script: make the `experiments` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from experiments import sweep_experiment as sx  # noqa: E402

NAME = "contagion"
SCENARIO = Path(__file__).resolve().parent / "scenarios" / "two_venues.yaml"
CAPITAL = "arbitrage.btc.capital"
LATENCY = "arbitrage.btc.latency"
CAPITALS = [1e5, 1e6, 3e6, 1e7]
LATENCIES = ["0ms", "200ms", "1s", "10s"]
QUICK_SET = ["duration=2m", "shocks.0.at=30s", "populations.lev_traders.count=300",
             "populations.deep_traders.count=300"]
METRICS = ("deep.liquidations", "lev.liquidations", "deep.cross_venue_share",
           "deep.liquidated_notional", "lev.liquidated_notional")


def sweep(quick: bool, replications: int | None = None) -> dict:
    """The sweep as plain data (``simulator.sweep`` format)."""
    return {
        "name": NAME + ("_quick" if quick else ""),
        "description": "Arbitrage capital x latency vs liquidations carried across venues.",
        "base": str(SCENARIO),
        "set": QUICK_SET if quick else [],
        "axes": [{"path": CAPITAL, "values": [1e5, 1e7] if quick else CAPITALS},
                 {"path": LATENCY, "values": ["0ms", "1s"] if quick else LATENCIES}],
        "variants": [{"name": "no_arbitrage", "set": ["arbitrage.btc.threshold=0.99"]},
                     {"name": "arbitrage"}],
        "replications": replications or (2 if quick else 5),
        "seed": 29,
        "common_random_numbers": True,
    }


def contagion_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per cell of the arbitrage variant: capital, latency, runs; each venue's extra
    liquidations over no arbitrage (paired) [CI]; deep's attributed share [CI]; notionals."""
    stats = sx.cell_stats(runs, METRICS)
    arb = stats[stats["variant"] == "arbitrage"]

    def metric(name: str) -> pd.DataFrame:
        return arb[arb["metric"] == name].set_index("cell")

    deep, lev, share = (metric(m) for m in ("deep.liquidations", "lev.liquidations",
                                            "deep.cross_venue_share"))
    notional = {m: metric(m)["mean"] for m in ("deep.liquidated_notional",
                                               "lev.liquidated_notional")}
    table = pd.DataFrame({
        "capital": deep[CAPITAL].astype(float),
        "latency_s": deep[LATENCY].map(sx.seconds),
        "runs": deep["n"].astype(int),
        "deep_extra": deep["diff_mean"], "deep_extra_low": deep["diff_ci_low"],
        "deep_extra_high": deep["diff_ci_high"],
        "lev_change": lev["diff_mean"], "lev_change_low": lev["diff_ci_low"],
        "lev_change_high": lev["diff_ci_high"],
        "deep_liquidations": deep["mean"], "lev_liquidations": lev["mean"],
        "deep_attributed_share": share["mean"], "share_low": share["ci_low"],
        "share_high": share["ci_high"],
        "deep_notional": notional["deep.liquidated_notional"],
        "lev_notional": notional["lev.liquidated_notional"],
    })
    return table.sort_values(["capital", "latency_s"]).reset_index(drop=True)


def chart(table: pd.DataFrame):
    """Heatmaps over capital x latency: deep's extra liquidations, lev's change, deep's
    attributed cross-venue share."""
    from simulator.charts import style as ps
    capitals = sorted(table["capital"].unique())
    latencies = sorted(table["latency_s"].unique())
    keyed = table.set_index(["capital", "latency_s"])

    def grid(col: str) -> np.ndarray:
        return np.array([[keyed[col].get((c, lat), np.nan) for lat in latencies]
                         for c in reversed(capitals)], dtype=float)

    fig, axes = ps.new_figure(1, height=0.5 * len(capitals) + 2.8, n_cols=3, width=16.0)
    xt = [f"{lat:g} s" for lat in latencies]
    yt = [f"{c:,.0f}" for c in reversed(capitals)]
    xlabel, ylabel = "arbitrageur's latency", "arbitrageur's capital (USD)"
    sx.heatmap(axes[0], grid("deep_extra"), xt, yt, "deep: extra liquidations", xlabel, ylabel,
               "+.1f", "liquidations vs no arbitrage (paired)")
    sx.heatmap(axes[1], grid("lev_change"), xt, yt, "lev: change in liquidations", xlabel,
               ylabel, "+.1f", "liquidations vs no arbitrage (paired)")
    sx.heatmap(axes[2], grid("deep_attributed_share"), xt, yt,
               "deep: share attributed to lev", xlabel, ylabel, ".2f",
               "cross-venue share of liquidations")
    n = int(table["runs"].max()) if len(table) else 0
    fig.suptitle(f"contagion through an arbitrageur: capital x latency ({n} runs per cell, "
                 f"the same seeds in every cell and variant)")
    return fig


KIND_COLORS = {"arbitrage": "#d62728", "cross_impact": "#9467bd", "index": "#2ca02c"}


def cascade_chart(result, title: str):
    """One run's liquidations by time (x) and venue (lanes, generation within the lane), with
    the cascade edges: within a venue faint, across venues coloured by their channel."""
    from simulator.charts import style as ps
    ev = result.events
    liq = ev[ev["kind"] == "liquidation"].set_index("seq")
    venues = list(dict.fromkeys(liq["venue"]))
    top = max(int(liq["generation"].max()), 1) if len(liq) else 1
    y = {s: venues.index(v) + 0.8 * (g - 1) / top
         for s, v, g in zip(liq.index, liq["venue"], liq["generation"], strict=True)}
    x = (liq["time_ms"] / 60_000.0).to_dict()
    edges = result.cascade_edges
    edges = edges[edges["parent"].isin(liq.index) & edges["child"].isin(liq.index)]
    fig, (ax,) = ps.new_figure(1, height=4.8, width=12.0)
    ps.labels(ax, title, "time (min)", "venue")
    from matplotlib.collections import LineCollection

    cross = (liq.loc[edges["parent"], "venue"].to_numpy()
             != liq.loc[edges["child"], "venue"].to_numpy())
    segments = np.array([[(x[p], y[p]), (x[c], y[c])]
                         for p, c in zip(edges["parent"], edges["child"], strict=True)])
    if len(segments):  # thousands of edges: one collection per style, not a line each
        ax.add_collection(LineCollection(segments[~cross], colors="0.75", linewidths=0.3,
                                         alpha=0.4, zorder=1))
        kinds = edges["kind"].to_numpy()
        for kind, color in KIND_COLORS.items():
            these = cross & (kinds == kind)
            if these.any():
                ax.add_collection(LineCollection(segments[these], colors=color,
                                                 linewidths=0.9, alpha=0.8, zorder=2))
                ax.plot([], [], color=color, lw=1.5, label=f"across venues: {kind}")
    ax.scatter(list(x.values()), [y[s] for s in x], s=6, c="0.15", zorder=3)
    ax.plot([], [], color="0.75", lw=1.0, label="within a venue")
    for k in range(len(venues)):  # one shaded lane per venue
        ax.axhspan(k - 0.05, k + 0.85, color="0.5" if k % 2 else "0.8", alpha=0.12, lw=0,
                   zorder=0)
    ax.set_yticks([k + 0.4 for k in range(len(venues))],
                  [f"{v}\n(gen 1 to {top}, bottom up)" for v in venues])
    ax.legend(loc="upper left")
    return fig


def main(argv: list[str] | None = None) -> int:
    p = sx.parser(__doc__)
    p.add_argument("--replications", type=int, help="runs per cell (default 5; quick 2)")
    args = p.parse_args(argv)

    def analyse(runs: pd.DataFrame, out: Path) -> None:
        from simulator.run.result import RunResult

        table = contagion_table(runs)
        big = table.sort_values(["deep_extra", "capital"]).iloc[-1]
        notes = (f"Most contagion: capital {big.capital:,.0f} USD at {big.latency_s:g} s "
                 f"latency, {big.deep_extra:+.1f} liquidations on deep "
                 f"[{big.deep_extra_low:+.1f}, {big.deep_extra_high:+.1f}] and "
                 f"{big.lev_change:+.1f} on lev; attributed share on deep "
                 f"{big.deep_attributed_share:.2f}.")
        print(sx.write_table(out, NAME, table, "Contagion through an arbitrageur", notes))
        sx.write_chart(out, NAME, chart, table)
        # The cascade graph of replication 0 in that cell.
        done = sx.complete(runs)
        pick = done[(done["variant"] == "arbitrage") & (done[CAPITAL] == big.capital)
                    & (done[LATENCY].map(sx.seconds) == big.latency_s)
                    & (done["replication"] == 0)]
        result = RunResult.load(out / "runs" / str(pick["run_key"].iloc[0]))
        sx.write_chart(out, f"{NAME}_cascade", cascade_chart, result,
                       f"one run's cascade graph (capital {big.capital:,.0f} USD, latency "
                       f"{big.latency_s:g} s, replication 0)")

    return sx.experiment(args, NAME, lambda: sweep(args.quick, args.replications), analyse)


if __name__ == "__main__":
    raise SystemExit(main())
