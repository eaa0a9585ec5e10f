"""Tests for the sweep charts (simulator.charts.sweep and chart_data): axis ordering, the
numbers each chart draws (checked on hand-made frames and run folders), the cascade-size
definition, and ``write_sweep_charts`` on one tiny real sweep (4 runs of 2 minutes with a
large insurance fund, so nothing is deleveraged)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from simulator.charts import sweep as charts
from simulator.charts import sweep_data as cd
from simulator.charts import sweep_plan as chart_plan
from simulator.sweep import parse_sweep, run_sweep

SMALL = Path(__file__).parent / "data" / "scenario_small.yaml"
LOW, HIGH = '{"2": 0.5, "5": 0.5}', '{"10": 0.5, "50": 0.5}'  # stored JSON leverage mixes


def texts(fig: Figure) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts]


# ------------------------------------------------------------------------------ axis values


def test_axis_values_order_numerically_and_keep_their_text():
    assert cd.axis_order(["-8%", "-15%", "-8%"]) == ["-15%", "-8%"]
    assert cd.axis_order(["1e6", "2e5", "30000"]) == ["30000", "2e5", "1e6"]
    assert cd.axis_order([1e6, 1000.0]) == [1000.0, 1e6]
    assert cd.axis_order([HIGH, LOW, HIGH]) == [HIGH, LOW]  # not numbers: first appearance
    assert cd.axis_order(["-5%", "wide"]) == ["-5%", "wide"]
    assert cd.axis_number("-8%") == pytest.approx(-0.08) and cd.axis_number(LOW) is None
    assert cd.axis_label(1e6) == "1,000,000" and cd.axis_label("-8%") == "-8%"


# --------------------------------------------------------------------------------- heatmap


def stats_frame(means: dict[tuple[str, str, str], float]) -> pd.DataFrame:
    """A statistics table: one cascade_depth row per (move, leverage, variant)."""
    cells = {}
    rows = []
    for (move, lev, variant), mean in means.items():
        cell = cells.setdefault((move, lev), len(cells))
        rows.append({"cell": cell, "move": move, "lev": lev, "variant": variant,
                     "metric": "cascade_depth", "n": 2, "mean": mean})
    extra = {**rows[0], "metric": "bad_debt", "mean": 1e9}  # another metric: ignored
    return pd.DataFrame([*rows, extra])


def test_heatmap_cells_hold_the_statistics_means_on_a_shared_scale():
    means = {("-8%", LOW, "base"): 1.0, ("-15%", LOW, "base"): 3.5,
             ("-8%", HIGH, "base"): 17.5, ("-15%", HIGH, "base"): 17.0,
             ("-8%", LOW, "binance"): 1.0, ("-15%", LOW, "binance"): 2.5,
             ("-8%", HIGH, "binance"): 10.0}  # binance at (-15%, HIGH) missing
    fig = charts.heatmap_chart(stats_frame(means), "cascade_depth", "move", "lev")
    panels = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in panels] == ["base", "binance"]
    for ax, variant in zip(panels, ["base", "binance"], strict=True):
        assert [t.get_text() for t in ax.get_xticklabels()] == ["-15%", "-8%"]
        grid = np.ma.filled(ax.images[0].get_array().astype(float), np.nan)
        want = [[means.get((m, lev, variant), np.nan) for m in ("-15%", "-8%")]
                for lev in (LOW, HIGH)]
        np.testing.assert_array_equal(grid, want)
        assert (ax.images[0].norm.vmin, ax.images[0].norm.vmax) == (1.0, 17.5)
    # Shared y; the stored JSON mixes in their short form.
    assert [t.get_text() for t in panels[0].get_yticklabels()] == ["2: 0.5, 5: 0.5",
                                                                    "10: 0.5, 50: 0.5"]
    assert sorted(t.get_text() for t in panels[1].texts) == ["1", "10", "2.5", "n/a"]
    assert len(fig.axes) == 3  # two panels and one colour bar


def test_heatmap_averages_cell_means_over_a_third_axis_and_notes_empty_input():
    stats = stats_frame({("-8%", LOW, "base"): 2.0, ("-15%", LOW, "base"): 4.0})
    stats.insert(3, "fund", 1.0)
    other = stats.assign(fund=2.0, mean=stats["mean"] + 10.0, cell=stats["cell"] + 10)
    fig = charts.heatmap_chart(pd.concat([stats, other]), "cascade_depth", "move", "lev")
    # -15%: (4 + 14) / 2, -8%: (2 + 12) / 2.
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), [[9.0, 7.0]])
    assert "averaged over fund" in fig.get_suptitle()
    empty = charts.heatmap_chart(stats, "no_such_metric", "move", "lev")
    assert "no values of no_such_metric" in texts(empty)


# ------------------------------------------------------------------------- metric vs axis


def runs_frame(values: dict[tuple[str, str, str], list[float]], metric: str) -> pd.DataFrame:
    """A runs table: axes move and lev, then ids, then ``metric``, a run per value."""
    rows, cells = [], {}
    for (move, lev, variant), xs in values.items():
        cell = cells.setdefault((move, lev), len(cells))
        rows += [{"move": move, "lev": lev, "cell": cell, "variant": variant, "replication": r,
                  "seed": r, "run_key": f"{cell}{variant}{r}", "status": "complete",
                  "error": None, metric: x} for r, x in enumerate(xs)]
    return pd.DataFrame(rows)


def test_metric_vs_axis_pools_other_axes_as_the_mean_of_cell_means():
    values = {("-8%", LOW, "base"): [1.0, 3.0], ("-8%", HIGH, "base"): [10.0],
              ("-15%", LOW, "base"): [4.0, 6.0], ("-15%", HIGH, "base"): [20.0, 30.0]}
    runs = runs_frame(values, "cascade_depth")
    stats = cd.pooled_statistics(runs, "cascade_depth", "move", n_boot=500)
    assert stats["label"].tolist() == ["-15%", "-8%"]
    # -8%: cells (1+3)/2 = 2 and 10 weigh the same: 6 (the mean over runs would be 4.67).
    np.testing.assert_allclose(stats["mean"], [(5.0 + 25.0) / 2, (2.0 + 10.0) / 2])
    assert stats["n"].tolist() == [4, 3] and stats["cells"].tolist() == [2, 2]
    # Replication noise only: the single-run cell does not vary, the others do a little.
    assert (stats["ci_low"] <= stats["mean"]).all() and (stats["mean"] <= stats["ci_high"]).all()
    assert stats.loc[1, "ci_high"] - stats.loc[1, "ci_low"] <= 1.0 + 1e-12
    again = cd.pooled_statistics(runs, "cascade_depth", "move", n_boot=500)
    pd.testing.assert_frame_equal(stats, again)  # seeded: same numbers every time

    fig = charts.metric_vs_axis_chart(runs, ["cascade_depth", "missing"], "move", n_boot=500)
    ax = fig.axes[0]
    line = next(line for line in ax.get_lines() if line.get_label() == "base")
    np.testing.assert_allclose(line.get_xdata(), [-0.15, -0.08])  # numeric positions
    np.testing.assert_allclose(line.get_ydata(), stats["mean"])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["-15%", "-8%"]
    assert "pooled over lev" in fig.get_suptitle()


# ---------------------------------------------------------------------------- distribution


def test_distribution_chart_draws_one_ecdf_per_variant_and_notes_no_data():
    frame = pd.DataFrame({"variant": ["a", "a", "a", "b"], "paid": [0.0, 5.0, 5e5, np.nan]})
    fig = charts.distribution_chart(frame, "paid", title="paid", xlabel="USD")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a (n = 3)", "b (no data)"]
    step = ax.get_lines()[0]
    np.testing.assert_allclose(step.get_ydata(), [0.0, 1 / 3, 2 / 3, 1.0])
    assert ax.get_xscale() == "symlog"  # zeros and a spread over five decades
    empty = charts.distribution_chart(frame.iloc[:0], "paid")
    assert "no data" in texts(empty)


# ------------------------------------------------------------------------------- cascades


def test_cascade_sizes_are_connected_liquidations():
    edges = pd.DataFrame({"parent": [1, 2, 1], "child": [2, 3, 10]})  # 10: an ADL event
    sizes = cd.component_sizes([1, 2, 3, 4, 5], edges)
    np.testing.assert_array_equal(sizes, [1, 1, 3])
    # A margin call (seq 20) whose forced reduction caused 4 and 5 joins them, uncounted.
    both = pd.concat([edges, pd.DataFrame({"parent": [20, 20], "child": [4, 5]})])
    np.testing.assert_array_equal(cd.component_sizes([1, 2, 3, 4, 5], both), [2, 3])
    np.testing.assert_array_equal(cd.component_sizes([], edges.iloc[:0]), [])

    s, p = charts.ccdf(sizes)
    np.testing.assert_array_equal(s, [1, 3])
    np.testing.assert_allclose(p, [1.0, 1 / 3])
    fig = charts.cascade_ccdf_chart({"base": sizes, "other": np.zeros(0)})
    ax = fig.axes[0]
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), [1.0, 1 / 3])
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert "no liquidations" in texts(charts.cascade_ccdf_chart({"base": np.zeros(0)}))


# ------------------------------------------------------------------------------ waterfall


def test_waterfall_layers_are_means_of_clipped_amounts_over_complete_runs():
    runs = pd.DataFrame({
        "cell": 0, "variant": ["a", "a", "b", "b", "b"],
        "status": ["complete", "complete", "complete", "complete", "failed"],
        "insurance_fund_paid": [100.0, 300.0, 50.0, 0.0, 1e9],
        "vault_pnl": [-40.0, 20.0, 0.0, 0.0, 0.0],  # a vault profit absorbs nothing
        "adl_haircut": [0.0, 0.0, 30.0, -10.0, 0.0],  # better than the mark: nothing
        "socialized_loss": [0.0, 0.0, 6.0, 0.0, 0.0],
        "venue_loss": [0.0, 8.0, 0.0, 0.0, 0.0],
        "bad_debt": [90.0, 310.0, 0.0, 0.0, 0.0],
    })
    fig = charts.waterfall_chart(runs)
    ax = fig.axes[0]
    heights = [[patch.get_height() for patch in bars] for bars in ax.containers]
    # Layers: fund, vault, ADL, socialized, venue; bars: a, b.
    np.testing.assert_allclose(heights, [[200.0, 25.0], [20.0, 0.0], [0.0, 15.0], [0.0, 3.0],
                                         [4.0, 0.0]])
    diamonds = next(line for line in ax.get_lines() if line.get_label() == "bad debt (mean)")
    np.testing.assert_allclose(diamonds.get_ydata(), [200.0, 0.0])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b"]
    zero = runs.assign(**{c: 0.0 for c in runs.columns[3:]})
    assert "no losses beyond margin" in texts(charts.waterfall_chart(zero))


# ------------------------------------------------------------------- run folders by hand


def fake_run(folder: Path, adl: bool) -> None:
    """A run folder: BTC starts at 100, ETH at 10; liquidations 0 -> 1 -> 2 and 3."""
    folder.mkdir(parents=True)
    ev = pd.DataFrame({
        "time_ms": [60_000, 61_000, 62_000, 90_000, 62_500],
        "seq": [0, 1, 2, 3, 4],
        "kind": ["liquidation"] * 4 + ["adl" if adl else "trade"],
        "venue": "cex", "market": ["BTC-PERP", "BTC-PERP", "BTC-PERP", "ETH-PERP", "BTC-PERP"],
        "account": [1, 2, 3, 4, 9], "qty": [1.0, 2.0, 1.0, 10.0, 1.0],
        "price": [90.0, 85.0, 80.0, 9.5, 80.0], "notional": [90.0, 170.0, 80.0, 95.0, 80.0],
        "amount": [np.nan] * 4 + [5.0], "balance": [np.nan] * 4 + [20.0],
    })
    ev.to_parquet(folder / "events.parquet")
    pd.DataFrame({"parent": [0, 1, 2], "child": [1, 2, 4]}).to_parquet(
        folder / "cascade_edges.parquet")
    pd.DataFrame({"time_ms": [5000, 0, 0], "venue": "cex",
                  "market": ["BTC-PERP", "BTC-PERP", "ETH-PERP"], "mark": [95.0, 100.0, np.nan],
                  "mid": [95.0, 100.0, 10.0]}).to_parquet(folder / "timeseries.parquet")


@pytest.fixture
def fake_sweep(tmp_path: Path) -> Path:
    rows = []
    for k, (variant, adl) in enumerate([("base", False), ("adl", True)]):
        fake_run(tmp_path / "runs" / f"run{k}", adl)
        rows.append({"move": "-8%", "cell": 0, "variant": variant, "replication": 0, "seed": 1,
                     "run_key": f"run{k}", "status": "complete", "error": None,
                     "cascade_depth": 3, "liquidated_notional": 435.0,
                     "insurance_fund_paid": 0.0, "adl_notional": 80.0 * adl, "bad_debt": 0.0,
                     "adl_haircut": 5.0 * adl})
    pd.DataFrame(rows).to_parquet(tmp_path / "runs.parquet")
    return tmp_path


def test_loaders_read_liquidations_sizes_and_haircuts_from_run_folders(fake_sweep):
    dirs = [fake_sweep / "runs" / "run0", fake_sweep / "runs" / "run1"]
    liqs = cd.load_liquidations(dirs, ["base", "adl"])
    assert list(liqs.columns) == list(cd.LIQ_COLUMNS) and len(liqs) == 8
    # Relative to the first sample (t=0: BTC mark 100; ETH has no mark, so its mid 10).
    np.testing.assert_allclose(liqs["price_rel"].iloc[:4], [-10.0, -15.0, -20.0, -5.0])
    np.testing.assert_array_equal(cd.cascade_sizes(dirs[1]), [1, 3])  # ADL child ignored
    assert cd.load_cascade_sizes(dirs, ["base", "adl"])["base"].tolist() == [1, 3]
    cuts = cd.load_haircuts(dirs, ["base", "adl"])
    assert cuts[["variant", "account", "haircut"]].values.tolist() == [["adl", 9, 5.0]]
    assert cd.load_haircuts(dirs[:1], ["base"]).empty

    fig = charts.liquidation_heatmap(liqs)
    panels = fig.axes[:2]  # then the colour bar
    assert [ax.get_title() for ax in panels] == ["base (1 run)", "adl (1 run)"]
    total = panels[0].collections[0].get_array().sum()
    assert total == pytest.approx(liqs.loc[liqs["variant"] == "base", "notional"].sum())
    assert "no liquidations" in texts(charts.liquidation_heatmap(liqs.iloc[:0]))


def test_plan_includes_the_adl_chart_when_accounts_were_deleveraged(fake_sweep):
    plans = {p.name: p for p in chart_plan.plan_charts(fake_sweep)}
    assert set(plans) == {"adl_haircut_distribution", "cascade_size_ccdf",
                          "liquidation_heatmap", "loss_waterfall"}  # one axis value, no fund
    assert plans["adl_haircut_distribution"].args["frame"]["haircut"].tolist() == [5.0]


# --------------------------------------------------------------------- a tiny real sweep


@pytest.fixture(scope="module")
def tiny_sweep(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("chart_sweep")
    spec = parse_sweep({
        "name": "tiny", "base": str(SMALL),
        "set": ["duration=2m", "populations.retail.count=120", "populations.whales.count=3",
                "venues.v.insurance_fund=1e6"],  # a fund this large leaves nothing to ADL
        "axes": [{"path": "shocks.0.move", "values": ["-8%", "-15%"]}],
        "variants": [{"name": "base"}, {"name": "fee",
                                        "set": ["venues.v.liquidation.fee_rate=1%"]}],
        "replications": 1, "seed": 1,
    })
    run_sweep(spec, out)
    return out


def test_write_sweep_charts_writes_every_format_and_skips_what_did_not_happen(tiny_sweep):
    runs = pd.read_parquet(tiny_sweep / "runs.parquet")
    assert runs["adl_events"].sum() == 0 and runs["liquidations"].gt(0).all()
    out = tiny_sweep / "charts"
    written = chart_plan.write_sweep_charts(tiny_sweep, out)
    assert [c.name for c in written] == [
        "metric_vs_shocks_0_move", "insurance_fund_paid_distribution", "cascade_size_ccdf",
        "liquidation_heatmap", "loss_waterfall"]  # one axis: no heatmap; no ADL chart
    for chart in written:
        assert set(chart.paths) == {"png", "pdf", "svg"} and chart.title and chart.caption
        for fmt, path in chart.paths.items():
            assert path == out / f"{chart.name}.{fmt}" and path.stat().st_size > 1000
    assert sorted(p.name for p in out.iterdir()) == sorted(
        p.name for c in written for p in c.paths.values())  # no temporary files left
    assert "cell 1 (shocks.0.move = -15%)" in written[3].caption


def test_every_liquidation_is_in_exactly_one_cascade(tiny_sweep):
    runs = pd.read_parquet(tiny_sweep / "runs.parquet")
    for key, n in zip(runs["run_key"], runs["liquidations"], strict=True):
        assert cd.cascade_sizes(tiny_sweep / "runs" / key).sum() == n


def test_charts_are_deterministic(tiny_sweep, tmp_path):
    # The pooled bootstrap is seeded and SVG ids salted: the same bytes twice.
    plan = next(p for p in chart_plan.plan_charts(tiny_sweep) if p.kind == "metric_vs_axis")
    path = chart_plan.write_chart(plan, tmp_path, ["svg"])["svg"]
    first = path.read_bytes()
    assert chart_plan.write_chart(plan, tmp_path, [".SVG"]) == {"svg": path}
    assert path.read_bytes() == first
