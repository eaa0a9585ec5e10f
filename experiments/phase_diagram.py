"""Phase diagram: at which shock size and leverage does a drop turn into a deep cascade?

Research question: a cascade is deep when liquidations move the price enough to liquidate the
next layer of traders, generation after generation. Over the plane (exogenous shock size x how
leveraged retail traders are), where is the boundary between "the shock liquidates a few and
stops" and "liquidations feed themselves for many generations", and how does the critical
leverage fall as the shock grows?

Design: the built-in default flash crash (the shock at minute 3 over 30 s, ETH following),
shortened to 6 minutes, 2,000 retail traders (the 20 whales kept at their 3-10x). Two grid
axes: the shock ``shocks.0.move`` from -2% to -20% (from an ordinary bad hour for BTC to a
crash day's first leg), and the retail leverage mix
``populations.retail.leverage``. A mix is summarised by one scalar, its *leverage level* L:
the mix puts half the traders at L, a quarter at L/2 (at least 1x) and a quarter at 2L, so L is
its weighted median and a mix still has a spread of liquidation prices (as real books do)
rather than one cliff; L runs over 2, 3, 5, 10, 20, 50 (log-spaced: a liquidation distance is
about 1/L). 8 x 6 = 48 cells, 3 replications each with common random numbers (replication r is
the same price noise and trader draw in every cell, so the surface is smooth in both
directions), 144 runs, about 2 minutes on 2 workers. Metrics: ``cascade_depth`` (the deepest
generation of liquidations), ``liquidated_notional``, ``amplification`` (traded drawdown over
the exogenous one).

Critical leverage: for each shock, the smallest L of the grid at which the mean cascade depth
reaches ``--depth-threshold`` generations (default 10; the default scenario's own -12% crash
reaches 6-9). Depth is not monotone in L at large shocks: when nearly everyone is wiped out in
the first generation there is no one left for later ones, so a very high leverage can show a
*shallower* (but broader) cascade -- liquidated notional shows the breadth.

What to look at (``results/experiments/phase_diagram/``): ``phase_diagram.md`` (printed): the
per-cell means, then the critical leverage per shock. ``figures/phase_diagram.{png,pdf,svg}``:
heatmaps of mean cascade depth and mean amplification (shock down, leverage across), numbers
in the cells; the outlined cells and the white line mark the critical leverage per shock.

Usage::

    python experiments/phase_diagram.py
    python experiments/phase_diagram.py --depth-threshold 15 --replications 5
    python experiments/phase_diagram.py --quick --no-report
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

if __package__ in (None, ""):  # run as a script: make the `experiments` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from experiments import sweep_experiment as sx  # noqa: E402

NAME = "phase_diagram"
SHOCK = "shocks.0.move"
MIX = "populations.retail.leverage"
SHOCKS = [-0.02, -0.04, -0.06, -0.08, -0.10, -0.12, -0.15, -0.20]
LEVELS = [2, 3, 5, 10, 20, 50]
SET = ["duration=6m", "populations.retail.count=2000"]
QUICK_SET = ["duration=2m", "shocks.0.at=30s", "populations.retail.count=300"]
METRICS = ("cascade_depth", "liquidated_notional", "amplification")


def leverage_mix(level: float) -> dict[float, float]:
    """The mix of leverage level ``level``: half at it, a quarter each at half and double."""
    return {max(level / 2, 1.0): 0.25, float(level): 0.5, 2.0 * level: 0.25}


def leverage_level(mix: dict | str) -> float:
    """The weighted median of a mix (its JSON text as in runs.parquet, or the mapping): the
    inverse of ``leverage_mix``."""
    items = json.loads(mix) if isinstance(mix, str) else mix
    pairs = sorted((float(k), float(w)) for k, w in items.items())
    total = sum(w for _, w in pairs)
    acc = 0.0
    for lev, w in pairs:
        acc += w
        if acc >= total / 2 - 1e-12:
            return lev
    return pairs[-1][0]


def sweep(quick: bool, replications: int | None = None) -> dict:
    """The sweep as plain data (``simulator.sweep`` format)."""
    shocks, levels = ([-0.05, -0.15], [3, 20]) if quick else (SHOCKS, LEVELS)
    return {
        "name": NAME + ("_quick" if quick else ""),
        "description": "Shock size x retail leverage level: cascade depth phase diagram.",
        "base": "default",
        "set": QUICK_SET if quick else SET,
        "axes": [{"path": SHOCK, "values": shocks},
                 {"path": MIX, "values": [leverage_mix(lv) for lv in levels]}],
        "replications": replications or (1 if quick else 3),
        "seed": 4,
        "common_random_numbers": True,
    }


def cell_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (shock, leverage level): runs and the metrics' means, depth with its 95% CI."""
    stats = sx.cell_stats(runs, METRICS)
    wide = stats.pivot_table(index="cell", columns="metric", values="mean")
    depth = stats[stats["metric"] == "cascade_depth"].set_index("cell")
    table = pd.DataFrame({
        "shock": depth[SHOCK].astype(float),
        "leverage_level": depth[MIX].map(leverage_level),
        "runs": depth["n"].astype(int),
        "depth_mean": depth["mean"], "depth_low": depth["ci_low"], "depth_high": depth["ci_high"],
        "liquidated_notional_mean": wide["liquidated_notional"],
        "amplification_mean": wide["amplification"],
    })
    return table.sort_values(["shock", "leverage_level"], ascending=[False, True]).reset_index(
        drop=True)


def critical_leverage(table: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Per shock: the smallest leverage level whose mean depth reaches ``threshold`` (NaN if
    none does), and the mean depth there."""
    rows = []
    for shock, g in table.groupby("shock", sort=False):
        g = g.sort_values("leverage_level")
        hit = g[g["depth_mean"] >= threshold]
        rows.append({"shock": shock,
                     "critical_leverage": float(hit["leverage_level"].iloc[0]) if len(hit)
                     else np.nan,
                     "depth_there": float(hit["depth_mean"].iloc[0]) if len(hit) else np.nan,
                     "max_mean_depth": float(g["depth_mean"].max())})
    return pd.DataFrame(rows)


def chart(table: pd.DataFrame, critical: pd.DataFrame, threshold: float):
    """Heatmaps of mean cascade depth and mean amplification with the critical leverage."""
    from matplotlib.patches import Rectangle

    from simulator.charts import style as ps
    shocks = sorted(table["shock"].unique(), reverse=True)  # small drop on top
    levels = sorted(table["leverage_level"].unique())
    keyed = table.set_index(["shock", "leverage_level"])

    def grid(col: str) -> np.ndarray:
        return np.array([[keyed[col].get((s, lv), np.nan) for lv in levels] for s in shocks],
                        dtype=float)

    fig, (ax_d, ax_a) = ps.new_figure(1, height=0.45 * len(shocks) + 2.6, n_cols=2, width=13.0)
    xt, yt = [f"{lv:g}x" for lv in levels], [f"{s:.0%}" for s in shocks]
    xlabel, ylabel = "retail leverage level L (mix: L/2, L, 2L)", "exogenous shock"
    sx.heatmap(ax_d, grid("depth_mean"), xt, yt, "mean cascade depth", xlabel, ylabel, ".1f",
               "generations")
    sx.heatmap(ax_a, grid("amplification_mean"), xt, yt, "mean amplification", xlabel, ylabel,
               ".2f", "traded / exogenous drawdown")
    crit = critical.set_index("shock")["critical_leverage"]
    for r, s in enumerate(shocks):
        lv = crit.get(s, np.nan)
        if not np.isfinite(lv):
            continue
        c = levels.index(lv)
        for ax in (ax_d, ax_a):
            ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, ec="white", lw=2.2))
            ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, ec="0.1", lw=0.8))
        # The frontier: a white staircase along the critical cells' left edges, joined to
        # the row above; it stays off the numbers in the cells.
        ax_d.plot([c - 0.5, c - 0.5], [r - 0.5, r + 0.5], color="white", lw=2.0)
        prev = crit.get(shocks[r - 1], np.nan) if r else np.nan
        if np.isfinite(prev):
            ax_d.plot([levels.index(prev) - 0.5, c - 0.5], [r - 0.5, r - 0.5], color="white",
                      lw=2.0)
    n = int(table["runs"].max()) if len(table) else 0
    fig.suptitle(f"cascade phase diagram: shock x leverage ({n} runs per cell, the same seeds "
                 f"in every cell)\noutlined, and the white frontier: the smallest leverage "
                 f"whose mean cascade depth reaches {threshold:g} generations")
    return fig


def main(argv: list[str] | None = None) -> int:
    p = sx.parser(__doc__)
    p.add_argument("--replications", type=int, help="runs per cell (default 3; quick 1)")
    p.add_argument("--depth-threshold", type=float, default=10.0,
                   help="mean cascade depth (generations) that counts as deep (default 10)")
    args = p.parse_args(argv)

    def analyse(runs: pd.DataFrame, out: Path) -> None:
        from simulator.run.result import write_atomic

        table = cell_table(runs)
        critical = critical_leverage(table, args.depth_threshold)
        write_atomic(out / "critical_leverage.csv", lambda p: critical.to_csv(p, index=False))
        lines = [f"- shock {r.shock:.0%}: " + (f"critical leverage {r.critical_leverage:g}x "
                                               f"(mean depth {r.depth_there:.1f})"
                                               if np.isfinite(r.critical_leverage) else
                                               f"no level reaches it (max mean depth "
                                               f"{r.max_mean_depth:.1f})")
                 for r in critical.itertuples(index=False)]
        notes = (f"Critical leverage = smallest leverage level of the grid whose mean cascade "
                 f"depth reaches {args.depth_threshold:g} generations:\n\n" + "\n".join(lines))
        print(sx.write_table(out, NAME, table, "Cascade phase diagram: shock x leverage",
                             notes))
        sx.write_chart(out, NAME, chart, table, critical, args.depth_threshold)

    return sx.experiment(args, NAME, lambda: sweep(args.quick, args.replications), analyse)


if __name__ == "__main__":
    raise SystemExit(main())
