"""Tests of simulator.risk.correlation: full-sample, rolling and stressed correlation, and
broken matrices repaired to positive definite (docs/risk.md §2)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from simulator.risk.correlation import (
    correlation_break,
    correlation_from_returns,
    nearest_psd,
    rolling_correlation,
    stressed_correlation,
)


def known_frame() -> pd.DataFrame:
    """u, v orthogonal with zero mean and equal norms: corr(u, u+v) = 4 / (2 sqrt 8) = 1/sqrt 2,
    corr(u, v) = 0, corr(u+v, v) = 1/sqrt 2. Means added to show they do not matter."""
    u = np.array([1.0, -1.0, 1.0, -1.0])
    v = np.array([1.0, 1.0, -1.0, -1.0])
    return pd.DataFrame({"a": u + 0.01, "b": u + v - 0.02, "c": v + 0.5})


def test_correlation_of_a_hand_made_three_asset_set():
    corr = correlation_from_returns(known_frame())
    r = 1.0 / math.sqrt(2.0)
    expected = np.array([[1.0, r, 0.0], [r, 1.0, r], [0.0, r, 1.0]])
    assert corr.to_numpy() == pytest.approx(expected, abs=1e-12)
    assert list(corr.columns) == ["a", "b", "c"] and list(corr.index) == ["a", "b", "c"]


def test_correlation_window_uses_the_last_rows_and_drops_incomplete_rows():
    frame = pd.concat([pd.DataFrame({"a": [5.0, 1.0, 2.0], "b": [-5.0, 2.0, 1.0],
                                     "c": [0.0, np.nan, 3.0]}), known_frame()],
                      ignore_index=True)
    last = correlation_from_returns(frame, window=4)
    assert last.to_numpy() == pytest.approx(correlation_from_returns(known_frame()).to_numpy())
    with pytest.raises(ValueError, match="at least 3"):
        correlation_from_returns(frame, window=2)
    with pytest.raises(ValueError, match="one return column per asset"):
        correlation_from_returns(frame[["a"]])


def test_rolling_correlation_is_tidy_and_matches_the_window_by_hand():
    frame = pd.concat([known_frame(), known_frame().iloc[::-1]], ignore_index=True)
    frame.index = pd.date_range("2025-10-10 21:00", periods=8, freq="min", tz="UTC")
    out = rolling_correlation(frame, window=4)
    assert list(out.columns) == ["time", "a", "b", "rho"]
    # 3 pairs x the 5 full windows of 8 rows, less the window of rows 2-5 where c is constant
    # (-1 four times): no correlation there for (a, c) and (b, c)
    assert len(out) == 3 * 5 - 2
    assert not ((out["time"] == frame.index[5]) & (out["b"] == "c")).any()
    assert out[["a", "b"]].drop_duplicates().values.tolist() == [["a", "b"], ["a", "c"],
                                                                  ["b", "c"]]
    first = out[(out["a"] == "a") & (out["b"] == "b")].iloc[0]
    assert first["time"] == frame.index[3]
    assert first["rho"] == pytest.approx(1.0 / math.sqrt(2.0))
    for row in out.itertuples():
        window = frame.loc[:row.time].iloc[-4:]
        assert row.rho == pytest.approx(np.corrcoef(window[row.a], window[row.b])[0, 1])


def stress_frame() -> pd.DataFrame:
    """20 days; on the 4 worst days of a, b = 2a (rho 1) and c is uncorrelated with a."""
    calm = np.arange(16.0)
    a = np.concatenate([[-5.0, -4.0, -3.0, -2.0], calm])
    b = np.concatenate([[-10.0, -8.0, -6.0, -4.0], calm[::-1]])
    c = np.concatenate([[1.0, -1.0, -1.0, 1.0], (calm % 3) - 1.0])
    return pd.DataFrame({"a": a, "b": b, "c": c})


def test_stressed_correlation_over_the_worst_days_of_the_first_asset():
    frame = stress_frame()
    # pandas' 0.2 quantile of a: -2 + 0.8 * (0 - (-2)) = -0.4, so the 4 crash days
    stressed = stressed_correlation(frame, quantile=0.2)
    assert stressed.attrs["n_obs"] == 4
    assert stressed.loc["a", "b"] == pytest.approx(1.0)
    assert stressed.loc["a", "c"] == pytest.approx(0.0, abs=1e-12)
    assert stressed.to_numpy() == pytest.approx(frame.iloc[:4].corr().to_numpy())
    # the full sample says otherwise: on the calm days b moves against a
    assert correlation_from_returns(frame).loc["a", "b"] < 0.25
    by_name = stressed_correlation(frame[["c", "b", "a"]], quantile=0.2, by="a")
    assert by_name.loc["a", "b"] == pytest.approx(1.0)


def test_stressed_correlation_on_the_equal_weight_index_and_errors():
    frame = stress_frame()
    index = frame.mean(axis=1)
    out = stressed_correlation(frame, quantile=0.25, by="equal_weight")
    worst = frame[index <= index.quantile(0.25)]
    assert out.attrs["n_obs"] == len(worst)
    assert out.to_numpy() == pytest.approx(worst.corr().to_numpy())
    with pytest.raises(ValueError, match="need at least 3"):
        stressed_correlation(frame, quantile=0.05)
    with pytest.raises(ValueError, match="by must be"):
        stressed_correlation(frame, by="sol")


def min_eig(matrix) -> float:
    return float(np.linalg.eigvalsh(np.asarray(matrix, dtype=float)).min())


def test_flip_of_a_2x2():
    corr = pd.DataFrame([[1.0, 0.6], [0.6, 1.0]], index=["btc", "eth"], columns=["btc", "eth"])
    flipped = correlation_break(corr, kind="flip")
    assert isinstance(flipped, pd.DataFrame) and list(flipped.columns) == ["btc", "eth"]
    assert flipped.to_numpy() == pytest.approx(np.array([[1.0, -0.6], [-0.6, 1.0]]), abs=0)
    assert corr.loc["btc", "eth"] == 0.6  # the input is not modified


def test_to_one_sets_every_off_diagonal_and_stays_positive_definite():
    corr = np.array([[1.0, 0.3, 0.2], [0.3, 1.0, 0.25], [0.2, 0.25, 1.0]])
    broken = correlation_break(corr, kind="to_one")
    expected = np.full((3, 3), 0.99)
    np.fill_diagonal(expected, 1.0)
    # 0.99 everywhere is already positive definite (eigenvalues 2.98, 0.01, 0.01): unchanged
    assert broken == pytest.approx(expected, abs=0)
    np.linalg.cholesky(broken)
    # one pair: still positive definite (determinant 0.09), so only that entry moves
    only_ab = correlation_break(corr, kind="to_one", assets=[0, 1], rho=0.95)
    assert only_ab[0, 1] == 0.95 and only_ab[0, 2] == 0.2 and only_ab[1, 2] == 0.25
    # with 0.5 and -0.2 beside it the same break is impossible and gets repaired
    other = np.array([[1.0, 0.3, -0.2], [0.3, 1.0, 0.5], [-0.2, 0.5, 1.0]])
    repaired = correlation_break(other, kind="to_one", assets=[0, 1], rho=0.95)
    assert min_eig(repaired) > 0 and 0.5 < repaired[0, 1] < 0.95


def test_flip_of_one_pair_in_a_3x3_is_repaired_to_psd():
    labels = ["btc", "eth", "sol"]
    corr = pd.DataFrame([[1.0, 0.9, 0.8], [0.9, 1.0, 0.85], [0.8, 0.85, 1.0]],
                        index=labels, columns=labels)
    raw = corr.to_numpy().copy()
    raw[0, 1] = raw[1, 0] = -0.9
    assert min_eig(raw) < 0  # flipping one leg of a tightly correlated triple is impossible
    fixed = correlation_break(corr, kind="flip", assets=[("btc", "eth")])
    values = fixed.to_numpy()
    assert min_eig(values) > 0
    np.linalg.cholesky(values)
    assert np.diag(values) == pytest.approx(np.ones(3), abs=1e-15)
    assert values == pytest.approx(values.T, abs=0)
    assert values[0, 1] < 0 and np.abs(values).max() <= 1.0
    # the flipped sign survives; the repaired matrix is near the broken one
    assert np.abs(values - raw).max() < 0.5
    same = correlation_break(corr, kind="flip", assets=["btc", "eth"])
    assert same.to_numpy() == pytest.approx(values, abs=0)


def test_nearest_psd_of_a_classic_indefinite_matrix():
    # Higham (2002)'s example: eigenvalues 1 - sqrt 2, 1, 1 + sqrt 2
    bad = np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0], [0.0, 1.0, 1.0]])
    assert min_eig(bad) == pytest.approx(1 - math.sqrt(2))
    fixed = nearest_psd(bad)
    assert min_eig(fixed) > 0 and np.diag(fixed) == pytest.approx(np.ones(3))
    good = np.array([[1.0, 0.2], [0.2, 1.0]])
    assert nearest_psd(good) == pytest.approx(good, abs=0)


def test_correlation_break_rejects_bad_input():
    corr = np.array([[1.0, 0.2], [0.2, 1.0]])
    with pytest.raises(ValueError, match="kind must be"):
        correlation_break(corr, kind="sideways")
    with pytest.raises(ValueError, match="not a correlation matrix"):
        correlation_break(np.array([[1.0, 0.2], [0.3, 1.0]]))
    with pytest.raises(ValueError, match="unknown asset"):
        correlation_break(corr, assets=[(0, 5)])
    with pytest.raises(ValueError, match="at least two assets"):
        correlation_break(corr, assets=[0])
