"""Tests of simulator.risk.concentration: HHI, top-k shares, Lorenz curve, Gini and the
per-group table (docs/risk.md §3)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simulator.risk.concentration import (
    CONCENTRATION_COLUMNS,
    concentration_table,
    gini,
    hhi,
    lorenz_curve,
    top_k_share,
)


def mean_difference_gini(x) -> float:
    """The textbook double sum, to check the O(n log n) identity against."""
    x = np.asarray(x, dtype=float)
    return float(np.abs(x[:, None] - x[None, :]).sum() / (2 * x.size**2 * x.mean()))


def test_hhi_raw_and_normalised_by_hand():
    # shares 0.5, 0.3, 0.2: 0.25 + 0.09 + 0.04 = 0.38
    assert hhi([0.5, 0.3, 0.2]) == pytest.approx(0.38)
    assert hhi([50.0, 30.0, 20.0]) == pytest.approx(0.38)  # raw values give the same index
    assert hhi([0.5, 0.3, 0.2], normalised=True) == pytest.approx((0.38 - 1 / 3) / (2 / 3))
    assert hhi([7.0] * 4) == pytest.approx(0.25)
    assert hhi([7.0] * 4, normalised=True) == pytest.approx(0.0, abs=1e-15)
    assert hhi([0.0, 0.0, 9.0]) == 1.0 and hhi([0.0, 0.0, 9.0], normalised=True) == 1.0
    assert hhi([3.0], normalised=True) == 1.0


def test_top_k_share():
    values = [5.0, 1.0, 3.0, 1.0]
    assert top_k_share(values, 1) == pytest.approx(0.5)
    assert top_k_share(values, 2) == pytest.approx(0.8)
    assert top_k_share(values, 10) == 1.0
    with pytest.raises(ValueError, match="k must be at least 1"):
        top_k_share(values, 0)


def test_lorenz_curve_by_hand():
    x, y = lorenz_curve([3.0, 1.0, 2.0, 4.0])
    assert x.tolist() == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0])
    assert y.tolist() == pytest.approx([0.0, 0.1, 0.3, 0.6, 1.0])
    # Gini is one minus twice the area under the Lorenz curve (trapezoids are exact here)
    area = np.sum((y[1:] + y[:-1]) / 2 * np.diff(x))
    assert gini([3.0, 1.0, 2.0, 4.0]) == pytest.approx(1 - 2 * area)


def test_gini_textbook_values():
    assert gini([4.0] * 9) == pytest.approx(0.0, abs=1e-15)
    for n in (2, 5, 40):
        assert gini([0.0] * (n - 1) + [10.0]) == pytest.approx((n - 1) / n)
    assert gini([1.0, 2.0, 3.0, 4.0, 5.0]) == pytest.approx(0.2667, abs=5e-5)  # 40 / 150
    x = np.random.default_rng(8).lognormal(0, 1.5, size=300)
    assert gini(x) == pytest.approx(mean_difference_gini(x), rel=1e-12)
    # scale-free and order-free
    assert gini(x * 1e6) == pytest.approx(gini(x), rel=1e-12)
    assert gini(x[::-1]) == pytest.approx(gini(x), rel=1e-12)


def test_measures_reject_what_has_no_concentration():
    with pytest.raises(ValueError, match="non-negative"):
        gini([1.0, -2.0])
    with pytest.raises(ValueError, match="sum to zero"):
        hhi([0.0, 0.0])
    with pytest.raises(ValueError, match="no values"):
        lorenz_curve([])
    with pytest.raises(ValueError, match="finite"):
        top_k_share([1.0, np.inf], 1)


def test_concentration_table_overall_and_per_group():
    frame = pd.DataFrame({
        "venue": ["b", "a", "a", "b", "b", "c"],
        "notional": [10.0, 1.0, 1.0, 30.0, 60.0, 0.0],
    })
    overall = concentration_table(frame, "notional")
    assert list(overall.columns) == list(CONCENTRATION_COLUMNS)
    assert overall.loc[0, "group"] == "all" and overall.loc[0, "n"] == 6
    assert overall.loc[0, "total"] == pytest.approx(102.0)
    assert overall.loc[0, "gini"] == pytest.approx(gini(frame["notional"]))
    per = concentration_table(frame, "notional", group_col="venue").set_index("group")
    assert per.index.tolist() == ["a", "b"]  # c holds nothing: left out
    assert per.loc["a", "hhi"] == pytest.approx(0.5)
    assert per.loc["a", "hhi_normalised"] == pytest.approx(0.0, abs=1e-15)
    assert per.loc["a", "gini"] == pytest.approx(0.0, abs=1e-15)
    # b: shares 0.1, 0.3, 0.6 -> 0.01 + 0.09 + 0.36 = 0.46; top holder 60%
    assert per.loc["b", "hhi"] == pytest.approx(0.46)
    assert per.loc["b", "top1_share"] == pytest.approx(0.6)
    assert per.loc["b", "top5_share"] == 1.0
    with pytest.raises(ValueError, match="no column 'leverage'"):
        concentration_table(frame, "leverage")
    with pytest.raises(ValueError, match="non-negative"):
        concentration_table(frame.assign(notional=-frame["notional"]), "notional", "venue")
