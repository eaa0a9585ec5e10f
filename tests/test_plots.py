"""Behavioural tests for simulator.charts.run on small synthetic run frames (and one real run)."""

from __future__ import annotations

import re

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

from markets.events import COLUMNS, TYPED
from simulator import default_scenario, run
from simulator.charts import run as plots
from simulator.charts import style as plot_style

MARKETS = ("BTC-PERP", "ETH-PERP")
N_SAMPLES = 20

# (time_ms, market, side, generation, price, notional): 3 long (side -1), 2 short (side +1).
# Spread over most of the 19-minute run, so the charts keep their single-column layout.
LIQS = [
    (120_000, "BTC-PERP", -1, 1, 29_500.0, 1_500_000.0),
    (150_000, "ETH-PERP", -1, 1, 1_980.0, 400_000.0),
    (240_000, "BTC-PERP", -1, 2, 29_100.0, 2_000_000.0),
    (270_000, "ETH-PERP", 1, 2, 2_010.0, 300_000.0),
    (900_000, "BTC-PERP", 1, 3, 29_300.0, 800_000.0),
]
# (time_ms, market, qty, price): ADL counterparties; notional = qty * price.
ADLS = [(420_000, "BTC-PERP", 5.0, 29_000.0), (430_000, "ETH-PERP", 20.0, 2_000.0)]
ADL_TOTAL = sum(q * p for _, _, q, p in ADLS)


def concentrated_liqs() -> list[tuple]:
    """A burst of 60 liquidations in 30 s (300-330 s) of a 19-minute run, plus one tiny
    early one (under 1% of the notional, so outside the active window's core)."""
    rows = [(60_000, "BTC-PERP", -1, 1, 29_900.0, 1_000.0)]
    for i in range(60):
        market, price = ("BTC-PERP", 29_000.0 - 10 * i) if i % 2 else ("ETH-PERP", 1_990.0 - i)
        side = 1 if i % 5 == 0 else -1
        rows.append((300_000 + 500 * i, market, side, 1 + i // 6, price, 50_000.0 + 1_000 * i))
    rows.append((330_000, "BTC-PERP", -1, 11, 28_300.0, 60_000.0))
    return rows


def _row(
    t,
    seq,
    kind,
    market="",
    side=0,
    qty=0.0,
    price=np.nan,
    notional=np.nan,
    gen=0,
    amount=np.nan,
    balance=np.nan,
):
    return {
        "time_ms": t,
        "seq": seq,
        "kind": kind,
        "venue": "alpha",
        "market": market,
        "account": 7 if market else -1,
        "side": side,
        "qty": qty,
        "price": price,
        "notional": notional,
        "generation": gen,
        "cause": -1,
        "amount": amount,
        "balance": balance,
    }


def make_events(liqs=LIQS) -> pd.DataFrame:
    rows = [_row(0, 0, "shock", "BTC-PERP"), _row(60_000, 1, "trade", "BTC-PERP", 1, 1.0, 3e4, 3e4)]
    for i, (t, m, side, gen, price, notional) in enumerate(liqs):
        rows.append(_row(t, 10 + i, "liquidation", m, side, notional / price, price, notional, gen))
    rows += [
        _row(250_000, 1000, "insurance_fund", amount=-400_000.0, balance=4_600_000.0),
        _row(400_000, 1001, "insurance_fund", amount=-4_600_000.0, balance=0.0),
    ]
    for i, (t, m, qty, price) in enumerate(ADLS):
        rows.append(_row(t, 1002 + i, "adl", m, 1, qty, price, qty * price, amount=250_000.0))
    df = pd.DataFrame(rows).sort_values(["time_ms", "seq"], kind="stable")
    for name in TYPED:  # the typed columns these kinds leave empty
        df[name] = pd.Series([None] * len(df), index=df.index, dtype=COLUMNS[name])
    return df.astype({"time_ms": "int64", "seq": "int64", "side": "int8", "generation": "int16"})


def make_timeseries(liqs=LIQS) -> pd.DataFrame:
    rows = []
    for i in range(N_SAMPLES):
        t = i * 60_000
        for m, base in zip(MARKETS, (30_000.0, 2_000.0), strict=True):
            longs = sum(
                n for tt, mm, s, _, _, n in liqs if mm == m and s == -1 and t - 60_000 < tt <= t
            )
            shorts = sum(
                n for tt, mm, s, _, _, n in liqs if mm == m and s == 1 and t - 60_000 < tt <= t
            )
            rows.append(
                {
                    "time_ms": t,
                    "venue": "alpha",
                    "market": m,
                    "asset": m[:3],
                    "fundamental": base,
                    "index": base,
                    "mark": base * (1 - 0.002 * i),
                    "mid": base * (1 - 0.0021 * i),
                    "depth_bid_1pct": 1e6,
                    "depth_ask_1pct": 1e6,
                    "depth_factor": 1.0,
                    "open_interest": 10.0,
                    "open_interest_usd": 10 * base,
                    "insurance_fund": 5e6,
                    "liquidation_queue": 0,
                    "liquidations": 0,
                    "liquidated_long_notional": float(longs),
                    "liquidated_short_notional": float(shorts),
                }
            )
    return pd.DataFrame(rows)


SUMMARY = {"liquidations": 5, "cascade_depth": 3, "insurance_fund_start": 5e6, "adl_events": 2}


@pytest.fixture(scope="module")
def figures() -> dict[str, Figure]:
    return plots.make_figures(make_events(), make_timeseries(), SUMMARY, title="test run")


def test_make_figures_returns_all_named_figures(figures):
    assert tuple(figures) == plots.FIGURES
    assert all(isinstance(f, Figure) for f in figures.values())
    assert all(f.get_suptitle() == "test run" for f in figures.values())


def test_price_paths_panels_and_liquidation_points(figures):
    fig = figures["price_paths"]
    assert len(fig.axes) == 2
    assert [ax.get_title() for ax in fig.axes] == list(MARKETS)
    assert all(ax.get_ylabel() == "price (USD)" for ax in fig.axes)
    offsets = np.vstack(
        [
            c.get_offsets()
            for ax in fig.axes
            for c in ax.collections
            if isinstance(c, PathCollection)
        ]
    )
    assert offsets.shape == (5, 2)
    expected = np.array([(t / 60_000, p) for t, _, _, _, p, _ in LIQS])
    got = offsets[np.lexsort((offsets[:, 1], offsets[:, 0]))]
    np.testing.assert_allclose(got, expected[np.lexsort((expected[:, 1], expected[:, 0]))])
    # Each point sits on its own market's panel.
    btc = np.vstack([c.get_offsets() for c in fig.axes[0].collections])
    assert sorted(btc[:, 1]) == sorted(p for _, m, _, _, p, _ in LIQS if m == "BTC-PERP")
    # The top panel's legend explains the generation colours and the side markers.
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["gen 1", "gen 2", "gen 3", "long liq. (sell)", "short liq. (buy)"]


def test_price_paths_colour_by_generation_and_marker_by_side(figures):
    fig = figures["price_paths"]
    colls = [c for ax in fig.axes for c in ax.collections if isinstance(c, PathCollection)]
    for c in colls:
        for x, y in c.get_offsets():
            ((t, _, side, gen, _, _),) = [r for r in LIQS if r[0] / 60_000 == x and r[4] == y]
            assert np.allclose(
                c.get_facecolor()[0][:3],
                plt.matplotlib.colors.to_rgb(plots.GENERATION_COLORS[gen - 1]),
            )
            # Triangle apex (the x == 0 vertex) points down for longs (side -1), up for shorts.
            verts = c.get_paths()[0].vertices
            apex_y = verts[np.isclose(verts[:, 0], 0.0), 1][0]
            assert np.sign(apex_y) == side


def test_generation_bars_are_counts(figures):
    ax = figures["generations"].axes[0]
    heights = [p.get_height() for p in ax.patches]
    assert heights == [2, 2, 1]
    assert [p.get_x() + p.get_width() / 2 for p in ax.patches] == [1, 2, 3]
    assert [t.get_text() for t in ax.texts] == ["2", "2", "1"]
    twin = figures["generations"].axes[1]
    np.testing.assert_allclose(twin.get_lines()[0].get_ydata(), [1.9, 2.3, 0.8])


def test_liquidated_notional_mirrors_longs_and_shorts(figures):
    ax = figures["liquidated_notional"].axes[0]
    heights = np.array([p.get_height() for p in ax.patches])
    long_total = sum(n for _, _, s, _, _, n in LIQS if s == -1)
    short_total = sum(n for _, _, s, _, _, n in LIQS if s == 1)
    assert heights[heights > 0].sum() == pytest.approx(long_total / 1e6)
    assert heights[heights < 0].sum() == pytest.approx(-short_total / 1e6)
    assert {"longs", "shorts"} <= {t.get_text() for t in ax.get_legend().get_texts()}


def test_insurance_fund_path_and_adl_rug(figures):
    ax = figures["insurance_fund"].axes[0]
    fund = [ln for ln in ax.get_lines() if ln.get_label() == "alpha"][0]
    np.testing.assert_allclose(fund.get_ydata(), [5.0, 4.6, 0.0, 0.0])
    # ADL events are one rug collection: short ticks in axes coordinates along the bottom.
    (rug,) = [c for c in ax.collections if isinstance(c, LineCollection)]
    segs = rug.get_segments()
    np.testing.assert_allclose(sorted(s[0, 0] for s in segs), [t / 60_000 for t, *_ in ADLS])
    assert all(s[0, 1] == 0.0 and 0.0 < s[1, 1] <= 0.1 for s in segs)
    assert "no ADL" not in [t.get_text() for t in ax.texts]
    labels = [t.get_text() for t in figures["insurance_fund"].axes[-1].get_legend().get_texts()]
    assert labels == ["alpha", "ADL event", "cumulative ADL notional"]


def test_insurance_fund_cumulative_adl_ends_at_total(figures):
    fig = figures["insurance_fund"]
    assert len(fig.axes) == 2  # the fund and, on a twin axis, the cumulative ADL notional
    twin = fig.axes[1]
    assert twin.get_ylabel() == "cumulative ADL notional (USD M)"
    (line,) = twin.get_lines()
    assert line.get_ydata()[0] == 0.0
    assert line.get_ydata()[-1] == pytest.approx(ADL_TOTAL / 1e6, rel=1e-12)
    assert line.get_xdata()[-1] == pytest.approx(N_SAMPLES - 1)  # held to the run's end
    assert np.all(np.diff(line.get_ydata()) >= 0)


def test_write_figures_writes_png_and_pdf(tmp_path):
    # From a small real run's frames. One write only: embedding the font in each PDF
    # takes about half a second.
    plt.close("all")
    scenario = default_scenario().with_overrides(
        ["populations.retail.count=400", "populations.whales.count=5", "duration=5m"]
    )
    result = run(scenario)
    assert result.summary["liquidations"] > 0
    paths = plots.write_figures(
        result.events, result.timeseries, result.summary, tmp_path / "out", "t"
    )
    assert len(paths) == 8
    assert {p.name for p in paths} == {f"{n}.{f}" for n in plots.FIGURES for f in ("png", "pdf")}
    for p in paths:
        head = p.read_bytes()[:8]
        magic = b"\x89PNG\r\n\x1a\n" if p.suffix == ".png" else b"%PDF"
        assert head.startswith(magic)
    # Atomic writes leave no temp files behind, and pyplot never saw a figure.
    assert sorted(x.name for x in (tmp_path / "out").iterdir()) == sorted(p.name for p in paths)
    assert plt.get_fignums() == []


def test_spread_out_liquidations_get_no_zoom(figures):
    assert plots.active_window(make_events(), make_timeseries()) is None
    assert len(figures["price_paths"].axes) == 2  # one column: a panel per market
    assert len(figures["liquidated_notional"].axes) == 1
    assert not any(ax.patches for ax in figures["price_paths"].axes)  # no zoom shading
    # Empty sample intervals draw no bar, but the time axis still spans the whole run.
    lo, hi = figures["liquidated_notional"].axes[0].get_xlim()
    assert lo <= 0.0 and hi >= N_SAMPLES - 1


# ------------------------------------------------------------- concentrated liquidations


@pytest.fixture(scope="module")
def burst():
    liqs = concentrated_liqs()
    events, ts = make_events(liqs), make_timeseries(liqs)
    figs = plots.make_figures(events, ts, SUMMARY)
    return liqs, events, ts, figs


def _window_seconds(ax) -> tuple[float, float]:
    """The run times (s) a zoom axes spans, read from its label and x limits."""
    (start_min,) = re.fullmatch(r"seconds from ([0-9.]+) min", ax.get_xlabel()).groups()
    x0, x1 = ax.get_xlim()
    return float(start_min) * 60 + x0, float(start_min) * 60 + x1


def test_active_window_of_a_burst(burst):
    liqs, events, ts, _ = burst
    win = plots.active_window(events, ts)
    # Core 300-330 s (the early outlier is under 1% of the notional), padded 15 s each
    # side; start floored to a 0.1-minute grid, end to whole 1 s bins (~60 per window).
    assert win.start_ms <= 285_000 and win.start_ms > 285_000 - 6_000
    assert win.start_ms % 6_000 == 0
    assert 345_000 <= win.end_ms < 346_000
    assert win.bin_s == 1


def test_price_paths_zoom_column(burst):
    liqs, events, ts, figs = burst
    fig = figs["price_paths"]
    assert len(fig.axes) == 4  # 2 markets x (full run, zoom)
    full, zoom = fig.axes[0::2], fig.axes[1::2]
    assert [ax.get_title() for ax in full] == list(MARKETS)
    assert [ax.get_title() for ax in zoom] == [f"{m}: active window" for m in MARKETS]
    for left, right in zip(full, zoom, strict=True):
        assert left.get_ylim() == right.get_ylim()  # y shared per row
    # The zoom axes cover the active window: the burst, padded by 15 s each side.
    w0, w1 = _window_seconds(zoom[-1])
    assert w0 <= 285 and w1 >= 345 and w1 - w0 < 70
    assert zoom[0].get_xlim() == zoom[1].get_xlim()
    # The left panels shade the same window (in minutes).
    for ax in full:
        (span,) = ax.patches  # axvspan: a Rectangle in data x, axes y
        lo, hi = span.get_x(), span.get_x() + span.get_width()
        assert (lo * 60, hi * 60) == pytest.approx((w0, w1))
    # Every liquidation in the window is drawn in the zoom, in seconds from its start;
    # the early outlier is not.
    pts = np.vstack([c.get_offsets() for ax in zoom for c in ax.collections])
    inside = sorted(t / 1000 - w0 for t, *_ in liqs if w0 <= t / 1000 <= w1)
    assert len(inside) == len(liqs) - 1
    np.testing.assert_allclose(sorted(pts[:, 0]), inside)
    assert zoom[-1].get_legend() is None and fig.axes[1].get_legend() is not None  # gen legend
    fig.canvas.draw()


def test_liquidated_notional_zoom_panel(burst):
    liqs, events, ts, figs = burst
    fig = figs["liquidated_notional"]
    assert len(fig.axes) == 2
    full, zoom = fig.axes
    win = plots.active_window(events, ts)
    assert "1 s bins" in zoom.get_title()
    w0, w1 = _window_seconds(zoom)
    assert (w0, w1) == pytest.approx((win.start_ms / 1000, win.end_ms / 1000))
    heights = np.array([p.get_height() for p in zoom.patches])
    in_win = [r for r in liqs if win.start_ms <= r[0] <= win.end_ms]
    long_total = sum(n for _, _, s, _, _, n in in_win if s == -1)
    short_total = sum(n for _, _, s, _, _, n in in_win if s == 1)
    assert heights[heights > 0].sum() == pytest.approx(long_total / 1e6, rel=1e-9)
    assert heights[heights < 0].sum() == pytest.approx(-short_total / 1e6, rel=1e-9)
    fig.canvas.draw()
    longs = [p for p in zoom.patches if p.get_height() > 0]
    shorts = [p for p in zoom.patches if p.get_height() < 0]
    assert all(p.get_facecolor() == to_rgba(plot_style.LONG_COLOR) for p in longs)
    assert all(p.get_facecolor() == to_rgba(plot_style.SHORT_COLOR) for p in shorts)
    # Bars are 1 s wide (90% drawn) and lie inside the window.
    assert {round(p.get_width(), 9) for p in zoom.patches} == {0.9}
    assert min(p.get_x() for p in zoom.patches) >= 0.0
    assert max(p.get_x() for p in zoom.patches) < w1 - w0
    # The full-run panel is unchanged: per-sample bars, shaded where the zoom is.
    full_heights = np.array([p.get_height() for bars in full.containers for p in bars])
    assert full_heights[full_heights > 0].sum() == pytest.approx(
        sum(n for _, _, s, _, _, n in liqs if s == -1) / 1e6)


# ------------------------------------------------------------------------- generations


def test_tick_step_thins_ticks_past_25():
    steps = {n: plot_style.tick_step(n) for n in (1, 20, 25, 26, 40, 50, 51, 120, 126, 600)}
    assert steps == {1: 1, 20: 1, 25: 1, 26: 2, 40: 2, 50: 2, 51: 5, 120: 5, 126: 10, 600: 50}


def test_generation_bars_twenty_generations():
    fig = Figure()
    ax = fig.subplots()
    gens = np.arange(1, 21)
    plot_style.generation_bars(ax, gens, gens * 3, "liquidations")
    assert list(ax.get_xticks()) == list(range(1, 21))  # every generation up to 25
    assert [t.get_text() for t in ax.texts] == [str(3 * g) for g in gens]  # counts written
    assert {t.get_fontsize() for t in ax.texts} == {7}  # in smaller type past 15
    black = to_rgba(plot_style.GENERATION_COLORS[-1])
    assert {p.get_facecolor() for p in ax.patches[7:]} == {black}  # gen >= 8 share a colour


def test_generations_many_generations_stay_readable():
    liqs = [(1_000 * g, "BTC-PERP", -1, g, 29_000.0, 1e5 * g) for g in range(1, 41)]
    ax = plots.make_figures(make_events(liqs), None, {})["generations"].axes[0]
    assert len(ax.patches) == 40
    assert list(ax.get_xticks()) == [2 * k for k in range(1, 21)]  # every 2nd
    assert len(ax.texts) == 0  # bars too narrow for count labels
    black = to_rgba(plot_style.GENERATION_COLORS[-1])
    assert {p.get_facecolor() for p in ax.patches[7:]} == {black}


def test_empty_inputs_still_draw():
    empty_events = make_events().iloc[0:0]
    figs = plots.make_figures(empty_events, make_timeseries(), {})
    assert tuple(figs) == plots.FIGURES
    for name in ("price_paths", "generations"):
        notes = [t.get_text() for ax in figs[name].axes for t in ax.texts]
        assert "no liquidations" in notes
    assert "no ADL" in [t.get_text() for t in figs["insurance_fund"].axes[0].texts]
    # Completely empty frames (no columns at all, or None) must not raise, even when rendered.
    for fig in plots.make_figures(pd.DataFrame(), None, None).values():
        fig.canvas.draw()


def _fingerprint(fig: Figure) -> list:
    """What a figure draws, as plain data: limits, texts and every artist's coordinates."""
    out = []
    for ax in fig.axes:
        out += [ax.get_xlim(), ax.get_ylim(), ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
        out += [t.get_text() for t in ax.texts]
        out += [ln.get_xydata().tolist() for ln in ax.get_lines()]
        out += [c.get_offsets().tolist() for c in ax.collections if isinstance(c, PathCollection)]
        out += [(p.get_x(), p.get_y(), p.get_width(), p.get_height()) for p in ax.patches]
    return out


def test_figures_are_deterministic(burst):
    liqs, events, ts, figs = burst
    again = plots.make_figures(events.copy(), ts.copy(), SUMMARY)
    for name in plots.FIGURES:
        assert _fingerprint(again[name]) == _fingerprint(figs[name]), name
