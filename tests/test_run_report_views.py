"""The single-run report's cascade picture and timeline (simulator.charts.cascade,
simulator.charts.timeline, their sections in simulator.report.run): the figures draw what the
run's tables hold (one node per liquidation at its generation, the run's edge kinds in the
legend, the four panels' data equal to the time series and the ADL events, the largest
liquidations marked), large cascades are capped or aggregated as the caption says, the
report holds both sections as inline SVG and is the same from a folder saved without
GraphML, and the figures pass the chart-quality checks.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import matplotlib.style
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import LineCollection, PathCollection
from test_chart_quality import external_refs, problems

from simulator import RunResult, load_scenario, run
from simulator.charts import compare as cp
from simulator.charts import style as ps
from simulator.charts.cascade import cascade_figure, cascade_view
from simulator.charts.timeline import TOP_N, timeline_data, timeline_figure, top_liquidations
from simulator.report.run import build_run_report
from simulator.run.graphs import cascade_edge_table

SMALL = Path(__file__).parent / "data" / "scenario_small.yaml"


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """The small scenario (a -10% BTC shock that cascades), saved with and without GraphML."""
    result = run(load_scenario(SMALL), 3)
    assert result.ok and result.summary["liquidations"] > 20
    base = tmp_path_factory.mktemp("views")
    return result, result.save(base / "full"), result.save(base / "lean", graphs=False)


def _drawn(fig):
    with matplotlib.style.context(ps.STYLE_PATH):
        fig.canvas.draw()
    return fig


# ------------------------------------------------------------------------------ cascade


def _events(rows):
    """Liquidation events (seq, time_ms, generation, notional, venue)."""
    frame = pd.DataFrame(rows, columns=["seq", "time_ms", "generation", "notional", "venue"])
    return frame.assign(kind="liquidation", market="BTC-PERP", account=frame["seq"], amount=0.0)


def _edges(events, pairs):
    return cascade_edge_table([(p, c, k, 1.0) for p, c, k in pairs], events)


def test_small_run_cascade_draws_every_liquidation_at_its_generation(small):
    result, _, _ = small
    view = cascade_view(result.events, result.cascade_edges)
    liq = result.events[result.events["kind"] == "liquidation"]
    assert not view.aggregated and view.shown_cascades == view.total_cascades
    nodes = view.nodes[view.nodes["kind"] == "liquidation"].set_index("seq")
    assert len(nodes) == len(liq) == view.shown_liquidations == result.summary["liquidations"]
    gens = liq.set_index("seq")["generation"].astype(float)
    assert (nodes["x"] == gens.reindex(nodes.index)).all()
    # every recorded edge drawn once, by kind
    assert len(view.segments) == len(result.cascade_edges)
    assert view.segments["kind"].value_counts().to_dict() == \
        result.cascade_edges["kind"].astype(str).value_counts().to_dict()
    fig = _drawn(cascade_figure(result.events, result.cascade_edges, view=view))
    ax = fig.axes[0]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    edge_kinds = {t.removesuffix(" edge").replace(" ", "_") for t in legend if t.endswith("edge")}
    assert edge_kinds == set(result.cascade_edges["kind"].astype(str))
    scatter_points = sum(len(c.get_offsets()) for c in ax.collections
                         if isinstance(c, PathCollection) and c.get_sizes().max() > 14)
    assert scatter_points == len(liq)  # liquidation nodes (waterfall glyphs are size 14)
    lines = sum(len(c.get_segments()) for c in ax.collections if isinstance(c, LineCollection))
    assert lines == len(result.cascade_edges)
    assert "151 liquidations in 5 cascades; shown: all of them" in view.caption


def test_the_layout_puts_children_beside_their_parents():
    # Tree A: 1 -> 3, 2 -> 4 (gen 1: seqs 1, 2; gen 2: 3, 4 with 4 also from 1? no).
    events = _events([(1, 0, 1, 100.0, "v"), (2, 5, 1, 50.0, "v"),
                      (3, 10, 2, 10.0, "v"), (4, 10, 2, 10.0, "v")])
    # 4's parent is 1 (the top row of gen 1), 3's is 2: 4 goes above 3 despite its seq.
    edges = _edges(events, [(1, 4, "book"), (2, 3, "book"), (1, 2, "book")])
    view = cascade_view(events, edges)
    pos = view.nodes.set_index("seq")[["x", "y"]]
    assert pos.loc[1].tolist() == [1.0, 0.5] and pos.loc[2].tolist() == [1.0, -0.5]
    assert pos.loc[4].tolist() == [2.0, 0.5] and pos.loc[3].tolist() == [2.0, -0.5]


def test_a_cap_keeps_the_largest_cascades_and_says_so():
    # Cascades by liquidated notional: B (2 liquidations, 500), A (3, 300), C (1, 50).
    events = _events([(1, 0, 1, 100.0, "v"), (2, 1, 2, 100.0, "v"), (3, 2, 3, 100.0, "v"),
                      (4, 0, 1, 400.0, "w"), (5, 1, 2, 100.0, "v"), (6, 0, 1, 50.0, "v")])
    edges = _edges(events, [(1, 2, "book"), (2, 3, "cross_impact"), (4, 5, "index")])
    view = cascade_view(events, edges, max_liquidations=4)
    assert (view.shown_cascades, view.total_cascades) == (1, 3)
    assert sorted(view.nodes["seq"]) == [4, 5]
    assert (view.shown_liquidations, view.total_liquidations) == (2, 6)
    assert view.caption.endswith("shown: the largest 1 by liquidated notional "
                                 "(2 liquidations).")
    assert cascade_view(events, edges, max_liquidations=5).shown_liquidations == 5
    # Larger than the cap even alone: one node per generation x venue, counts summed.
    agg = cascade_view(events, edges, max_liquidations=1)
    assert agg.aggregated and agg.shown_liquidations == 6
    counts = {(x, v): c for x, v, c in agg.nodes[["x", "venue", "count"]].itertuples(index=False)}
    assert counts == {(1.0, "v"): 2, (1.0, "w"): 1, (2.0, "v"): 2, (3.0, "v"): 1}
    assert agg.segments["count"].sum() == 3 and "aggregated" in agg.caption
    fig = _drawn(cascade_figure(events, edges, view=agg))
    ticks = fig.axes[0].get_yticklabels()
    assert {t.get_position()[1]: t.get_text() for t in ticks} == {
        1.0: "v · BTC-PERP", 0.0: "w · BTC-PERP"}  # rows: venue · market
    legend = {t.get_text() for t in fig.axes[0].get_legend().get_texts()}
    assert {"book edge", "cross impact edge", "index edge"} <= legend


def test_the_aggregated_view_has_a_row_per_market_and_edges_between_them():
    # One venue, two markets: BTC liquidations (1, 3) move ETH's book (2, 4); 5 is a
    # waterfall step without a market, drawn in its cause's row.
    events = _events([(1, 0, 1, 100.0, "v"), (2, 1, 2, 100.0, "v"), (3, 2, 2, 100.0, "v"),
                      (4, 3, 3, 100.0, "v")])
    events.loc[events["seq"].isin([2, 4]), "market"] = "ETH-PERP"
    fund = pd.DataFrame([{"seq": 5, "time_ms": 4, "generation": 3, "notional": 0.0,
                          "venue": "v", "kind": "insurance_fund", "market": None,
                          "account": -1, "amount": 10.0}])
    events = pd.concat([events, fund], ignore_index=True)
    edges = _edges(events, [(1, 2, "book"), (1, 3, "book"), (2, 4, "book"),
                            (4, 5, "waterfall")])
    agg = cascade_view(events, edges, max_liquidations=1)
    rows = agg.nodes.set_index(["x", "kind"])["row"]
    assert rows[(1.0, "liquidation")] == "v · BTC-PERP"
    assert sorted(rows[2.0].tolist()) == ["v · BTC-PERP", "v · ETH-PERP"]
    assert rows[(3.0, "liquidation")] == rows.xs("insurance_fund", level="kind").iloc[0] == (
        "v · ETH-PERP")
    # The contagion between the markets is the one edge between the rows (1 -> 2, BTC to
    # ETH); 1 -> 3, 2 -> 4 and the waterfall stay within their market's row.
    y = dict(agg.nodes[["row", "y"]].itertuples(index=False))
    across = agg.segments[agg.segments["y0"] != agg.segments["y1"]]
    assert across[["y0", "y1", "count"]].values.tolist() == [
        [y["v · BTC-PERP"], y["v · ETH-PERP"], 1]]
    assert agg.segments["count"].sum() == 4


def test_no_liquidations_draws_a_note():
    events = _events([]).astype({"seq": "int64", "time_ms": "int64"})
    view = cascade_view(events, _edges(events, []))
    assert view.nodes.empty and view.caption.startswith("No liquidations")
    fig = _drawn(cascade_figure(events, _edges(events, []), view=view))
    assert [t.get_text() for t in fig.axes[0].texts] == ["no liquidations"]


# ----------------------------------------------------------------------------- timeline


def test_timeline_panels_hold_the_time_series(small):
    result, _, _ = small
    fig = _drawn(timeline_figure(result))
    price, queue, fund, adl = fig.axes
    assert len(fig.axes) == 4
    ts = result.timeseries
    for line in price.get_lines():
        rows = ts[ts["market"] == line.get_label()].sort_values("time_ms")
        mark = rows["mark"].to_numpy()
        np.testing.assert_allclose(line.get_xdata(), rows["time_ms"] / 60_000.0)
        np.testing.assert_allclose(line.get_ydata(), (mark / mark[0] - 1.0) * 100.0)
    assert {ln.get_label() for ln in price.get_lines()} == {"BTC-PERP", "ETH-PERP"}
    per_t = ts.groupby("time_ms")[["liquidation_queue", "insurance_fund"]].first()
    (q,) = queue.get_lines()
    np.testing.assert_array_equal(q.get_ydata(), per_t["liquidation_queue"])
    (f,) = fund.get_lines()
    assert fund.get_ylabel() == "insurance fund (USD k)"  # the fund starts at 2,000 USD
    np.testing.assert_allclose(f.get_ydata(), per_t["insurance_fund"] / 1e3)
    (a,) = adl.get_lines()
    adl_events = result.events[result.events["kind"] == "adl"]
    assert a.get_ydata()[-1] * 1e3 == pytest.approx(adl_events["notional"].sum())
    assert adl.get_ylabel() == "cumulative ADL notional (USD k)"
    assert adl.get_xlabel() == "time (minutes)"


def test_timeline_marks_the_largest_liquidations(small):
    result, _, _ = small
    top = top_liquidations(result.events)
    liq = result.events[result.events["kind"] == "liquidation"]
    assert len(top) == TOP_N
    assert sorted(top["notional"]) == sorted(liq["notional"].nlargest(TOP_N))
    fig = _drawn(timeline_figure(result))
    price = fig.axes[0]
    (marks,) = [c for c in price.collections if isinstance(c, PathCollection)]
    np.testing.assert_allclose(marks.get_offsets()[:, 0], top["time_ms"] / 60_000.0)
    labels = [t.get_text() for t in price.texts]
    assert labels == [f"${n / 1e3:,.1f}k" for n in top["notional"]]  # all under 1M here


def test_money_axes_scale_and_replays_read_utc():
    ts = pd.DataFrame({"time_ms": [0, 60_000, 120_000], "venue": "v", "market": "BTC-PERP",
                       "mark": [100.0, 90.0, 95.0], "liquidation_queue": [0, 3, 1],
                       "insurance_fund": [5e6, 4e6, 4e6]})
    events = pd.DataFrame({"seq": [1, 2], "time_ms": [60_000, 90_000], "kind": ["adl", "adl"],
                           "venue": "v", "market": "BTC-PERP", "price": 90.0,
                           "notional": [400.0, 350.0]})
    epoch = datetime(2025, 10, 10, 21, 0, tzinfo=UTC)
    ts["utc"] = epoch + pd.to_timedelta(ts["time_ms"], unit="ms")
    result = RunResult({}, events, ts, pd.DataFrame(), pd.DataFrame())
    data = timeline_data(result)
    assert data["price"][("v", "BTC-PERP")].tolist() == pytest.approx([0.0, -10.0, -5.0])
    fig = _drawn(timeline_figure(result))
    assert fig.axes[2].get_ylabel() == "insurance fund (USD M)"
    assert fig.axes[2].get_lines()[0].get_ydata().tolist() == [5.0, 4.0, 4.0]
    assert fig.axes[3].get_ylabel() == "cumulative ADL notional (USD)"
    assert fig.axes[3].get_lines()[0].get_ydata().tolist() == [0.0, 400.0, 750.0, 750.0]
    assert fig.axes[3].get_xlabel() == "time (UTC), 2025-10-10"
    ticks = [t.get_text() for t in fig.axes[3].get_xticklabels() if t.get_text()]
    assert ticks and all(re.fullmatch(r"21:\d\d", t) for t in ticks), ticks


# ------------------------------------------------------------------------------ quality


def test_the_new_figures_pass_every_chart_check(small):
    result, _, _ = small
    with matplotlib.style.context(ps.STYLE_PATH):
        figures = {"cascade": cascade_figure(result.events, result.cascade_edges),
                   "cascade_aggregated": cascade_figure(result.events, result.cascade_edges,
                                                        max_liquidations=20),
                   "timeline": timeline_figure(result)}
        assert problems(figures) == {}


def test_adl_haircut_money_ticks_read_dollars():
    cuts = pd.DataFrame({"variant": "base", "haircut": [100.0, 2500.0, 4000.0],
                         "haircut_share": [0.1, 0.2, 0.3]})
    fig = _drawn(cp.adl_haircut_chart(cuts, ["base"]))
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels() if t.get_text()]
    assert ticks and all(t.startswith(("$", "-$", "\N{MINUS SIGN}$")) for t in ticks), ticks
    share = [t.get_text() for t in fig.axes[1].get_xticklabels() if t.get_text()]
    assert share and not any("$" in t for t in share)


# ------------------------------------------------------------------------------- report


def _section(page: str, name: str) -> str:
    match = re.search(rf'<figure id="chart-{name}">(.*?)</figure>', page, re.S)
    assert match is not None, name
    return match.group(1)


def test_report_holds_both_views_inline_from_either_folder(small, tmp_path):
    _, full, lean = small
    assert not (lean / "cascade.graphml").exists() and (full / "cascade.graphml").exists()
    pages = {}
    for name, folder in (("full", full), ("lean", lean)):
        report = build_run_report(folder, tmp_path / name)
        page = report.html.read_text(encoding="utf-8")
        assert "<h2>Cascade graph</h2>" in page and "<h2>Timeline</h2>" in page
        for chart in ("cascade_graph", "timeline"):
            assert "<svg" in _section(page, chart)
            assert (tmp_path / name / "charts" / f"{chart}.svg").is_file()
        assert [p.name for p in report.charts][-2:] == ["cascade_graph.svg", "timeline.svg"]
        assert "shown: all of them" in _section(page, "cascade_graph")
        assert external_refs(page) == []
        pages[name] = [_section(page, c) for c in ("cascade_graph", "timeline")]
    assert pages["full"] == pages["lean"]


def test_a_margin_call_cause_sits_left_of_its_liquidation():
    events = _events([(2, 5, 1, 10.0, "v"), (3, 9, 2, 5.0, "v")])
    call = pd.DataFrame({"seq": [1], "time_ms": [0], "generation": [0], "notional": [0.0],
                         "venue": ["v"], "kind": ["margin_call"], "market": ["BTC-PERP"],
                         "account": [1], "amount": [0.0]})
    events = pd.concat([call, events], ignore_index=True)
    edges = _edges(events, [(1, 2, "book"), (2, 3, "book")])
    view = cascade_view(events, edges)
    pos = view.nodes.set_index("seq")
    assert pos.loc[1, "x"] == pytest.approx(0.6) and pos.loc[1, "kind"] == "margin_call"
    assert view.shown_liquidations == 2
    fig = _drawn(cascade_figure(events, edges, view=view))
    assert "margin call" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
