"""Concentration of leverage, positions or losses across holders: Herfindahl-Hirschman index,
top-k shares, the Lorenz curve and the Gini coefficient, and a tidy table of them per group.

A cascade is deeper when a few accounts hold most of the leveraged open interest: their
liquidations are large, hit the book at once and exhaust the insurance fund. These measures
say how concentrated a set of non-negative values (notional, margin, shortfall) is.

Pure functions of the values they are given (numpy, pandas): no SimPy, no files, no run or
sweep execution, no randomness. Signed quantities (positions) must be made non-negative by
the caller (e.g. ``abs``): a measure of concentration has no sign.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["CONCENTRATION_COLUMNS", "concentration_table", "gini", "hhi", "lorenz_curve",
           "top_k_share"]

TOP_K = (1, 5, 10)
CONCENTRATION_COLUMNS = ("group", "n", "total", "hhi", "hhi_normalised", "gini",
                         *(f"top{k}_share" for k in TOP_K))


def _values(values, what: str, allow_zero: bool = False) -> np.ndarray:
    x = np.asarray(values, dtype=float).ravel()
    if x.size == 0:
        raise ValueError(f"{what}: no values")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{what}: values must be finite")
    if np.any(x < 0):
        raise ValueError(f"{what}: values must be non-negative (take abs() of signed "
                         f"positions first)")
    if x.sum() <= 0 and not allow_zero:
        raise ValueError(f"{what}: the values sum to zero: nothing to be concentrated")
    return x


def hhi(shares_or_values, normalised: bool = False) -> float:
    """Herfindahl-Hirschman index sum_i s_i^2 of the shares s_i = v_i / sum v.

    Values are turned into shares first, so shares summing to 1 and raw values give the same
    index. Raw: from 1/n (n equal holders) to 1 (one holder). Normalised:
    (HHI - 1/n) / (1 - 1/n), from 0 to 1 whatever n (1 for a single holder, n = 1). The
    competition-authority convention multiplies the raw index by 10,000 (percent shares).
    """
    x = _values(shares_or_values, "hhi")
    s = x / x.sum()
    raw = float(np.sum(s * s))
    if not normalised:
        return raw
    n = s.size
    if n == 1:
        return 1.0
    return float(max(0.0, (raw - 1.0 / n) / (1.0 - 1.0 / n)))


def top_k_share(values, k: int) -> float:
    """Share of the total held by the k largest holders (all of it when k >= n)."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    x = _values(values, "top_k_share")
    top = np.sort(x)[::-1][:k]
    return float(top.sum() / x.sum())


def lorenz_curve(values) -> tuple[np.ndarray, np.ndarray]:
    """Lorenz curve: x = 0, 1/n, ..., 1 (share of holders, smallest first), y = the share of
    the total they hold; both start at 0 and end at 1. The diagonal is perfect equality."""
    x = np.sort(_values(values, "lorenz_curve"))
    n = x.size
    return (np.arange(n + 1) / n,
            np.concatenate([[0.0], np.cumsum(x) / x.sum()]))


def gini(values) -> float:
    """Gini coefficient by the mean-difference formula G = sum_i sum_j |x_i - x_j| / (2 n^2 mu).

    Computed in O(n log n) from the sorted values (x_(1) <= ... <= x_(n)), an identity of the
    double sum: G = 2 sum_i i x_(i) / (n sum x) - (n + 1) / n. 0 for equal values, (n-1)/n
    when one of n holders holds everything (so its maximum depends on n).
    """
    x = np.sort(_values(values, "gini"))
    n = x.size
    ranks = np.arange(1, n + 1)
    return float(max(0.0, 2.0 * np.sum(ranks * x) / (n * x.sum()) - (n + 1.0) / n))


def _row(group, x: np.ndarray) -> dict:
    row = {"group": group, "n": int(x.size), "total": float(x.sum()), "hhi": hhi(x),
           "hhi_normalised": hhi(x, normalised=True), "gini": gini(x)}
    row.update({f"top{k}_share": top_k_share(x, k) for k in TOP_K})
    return row


def concentration_table(frame: pd.DataFrame, value_col: str,
                        group_col: str | None = None) -> pd.DataFrame:
    """Concentration of ``frame[value_col]`` (one row per holder), overall or per group.

    One row per group (``group`` = "all" without ``group_col``; groups in sorted order) with
    columns group, n, total, hhi, hhi_normalised, gini, top1_share, top5_share, top10_share.
    A group whose values are all zero is left out (nothing is concentrated there).
    """
    for col in (value_col, group_col):
        if col is not None and col not in frame.columns:
            raise ValueError(f"concentration_table: no column {col!r} (have "
                             f"{list(frame.columns)})")
    if group_col is None:
        rows = [_row("all", _values(frame[value_col], "concentration_table"))]
    else:
        rows = []
        for group, part in frame.groupby(group_col, sort=True):
            x = _values(part[value_col], "concentration_table", allow_zero=True)
            if x.sum() > 0:
                rows.append(_row(group, x))
    return pd.DataFrame(rows, columns=list(CONCENTRATION_COLUMNS))
