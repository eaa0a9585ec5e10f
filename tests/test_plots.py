"""Behavioural tests for simulator.plots on small synthetic run frames."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure

from simulator import plots

MARKETS = ("BTC-PERP", "ETH-PERP")
N_SAMPLES = 20

# (time_ms, market, side, generation, price, notional): 3 long (side -1), 2 short (side +1).
LIQS = [
    (120_000, "BTC-PERP", -1, 1, 29_500.0, 1_500_000.0),
    (150_000, "ETH-PERP", -1, 1, 1_980.0, 400_000.0),
    (240_000, "BTC-PERP", -1, 2, 29_100.0, 2_000_000.0),
    (270_000, "ETH-PERP", 1, 2, 2_010.0, 300_000.0),
    (390_000, "BTC-PERP", 1, 3, 29_300.0, 800_000.0),
]


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
        "detail": "",
    }


def make_events() -> pd.DataFrame:
    rows = [_row(0, 0, "shock", "BTC-PERP"), _row(60_000, 1, "trade", "BTC-PERP", 1, 1.0, 3e4, 3e4)]
    for i, (t, m, side, gen, price, notional) in enumerate(LIQS):
        rows.append(_row(t, 10 + i, "liquidation", m, side, notional / price, price, notional, gen))
    rows += [
        _row(250_000, 20, "insurance_fund", amount=-400_000.0, balance=4_600_000.0),
        _row(400_000, 21, "insurance_fund", amount=-4_600_000.0, balance=0.0),
        _row(420_000, 22, "adl", "BTC-PERP", amount=250_000.0),
    ]
    df = pd.DataFrame(rows)
    return df.astype({"time_ms": "int64", "seq": "int64", "side": "int8", "generation": "int16"})


def make_timeseries() -> pd.DataFrame:
    rows = []
    for i in range(N_SAMPLES):
        t = i * 60_000
        for m, base in zip(MARKETS, (30_000.0, 2_000.0), strict=True):
            longs = sum(
                n for tt, mm, s, _, _, n in LIQS if mm == m and s == -1 and t - 60_000 < tt <= t
            )
            shorts = sum(
                n for tt, mm, s, _, _, n in LIQS if mm == m and s == 1 and t - 60_000 < tt <= t
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


SUMMARY = {"liquidations": 5, "cascade_depth": 3, "insurance_fund_start": 5e6, "adl_events": 1}


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


def test_insurance_fund_path_and_adl_marker(figures):
    ax = figures["insurance_fund"].axes[0]
    fund = [ln for ln in ax.get_lines() if ln.get_label() == "alpha"][0]
    np.testing.assert_allclose(fund.get_ydata(), [5.0, 4.6, 0.0, 0.0])
    adl = [ln for ln in ax.get_lines() if ln.get_label() == "ADL"][0]
    np.testing.assert_allclose(adl.get_xydata(), [[7.0, 0.0]])
    assert "no ADL" not in [t.get_text() for t in ax.texts]


def test_write_figures_writes_png_and_pdf(tmp_path):
    plt.close("all")
    paths = plots.write_figures(make_events(), make_timeseries(), SUMMARY, tmp_path / "out", "t")
    assert len(paths) == 8
    assert {p.name for p in paths} == {f"{n}.{f}" for n in plots.FIGURES for f in ("png", "pdf")}
    for p in paths:
        head = p.read_bytes()[:8]
        magic = b"\x89PNG\r\n\x1a\n" if p.suffix == ".png" else b"%PDF"
        assert head.startswith(magic)
    # Atomic writes leave no temp files behind, and pyplot never saw a figure.
    assert sorted(x.name for x in (tmp_path / "out").iterdir()) == sorted(p.name for p in paths)
    assert plt.get_fignums() == []


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
