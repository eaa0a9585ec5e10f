"""Correlation matrices of asset returns, their behaviour under stress, and broken matrices for
stress tests.

A cross-margined book is diversified only as long as its assets' correlations hold; in a crash
they jump towards one (or hedges stop hedging). This module measures correlation (full sample,
rolling, over the worst days) and builds the "broken" matrices a stress test feeds back into a
parametric VaR or a scenario (all off-diagonals to 0.99, or chosen signs flipped), repaired to
positive definite so that a Cholesky factorisation still works.

Pure functions of the frames and matrices they are given (pandas, numpy): no SimPy, no files,
no run or sweep execution, no randomness.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np
import pandas as pd

__all__ = ["EQUAL_WEIGHT", "correlation_break", "correlation_from_returns", "nearest_psd",
           "rolling_correlation", "stressed_correlation"]

EQUAL_WEIGHT = "equal_weight"
# Eigenvalue floor of ``nearest_psd``: strictly positive so the repaired matrix is positive
# definite and Cholesky (the path generator's correlation) accepts it.
PSD_FLOOR = 1e-8


def _frame(frame: pd.DataFrame, what: str) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame) or frame.shape[1] < 2:
        raise ValueError(f"{what}: give a DataFrame with one return column per asset (>= 2)")
    if frame.columns.duplicated().any():
        raise ValueError(f"{what}: duplicated asset columns")
    return frame.astype(float)


def correlation_from_returns(frame: pd.DataFrame, window: int | None = None) -> pd.DataFrame:
    """Pearson correlation matrix of the return columns: over the whole sample, or over the
    last ``window`` rows. Rows with a missing value are dropped first (pairwise deletion
    could give a matrix that is not positive semi-definite)."""
    data = _frame(frame, "correlation_from_returns").dropna()
    if window is not None:
        if window < 3:
            raise ValueError(f"window must be at least 3 observations, got {window}")
        data = data.iloc[-window:]
    if len(data) < 3:
        raise ValueError(f"correlation_from_returns: {len(data)} complete rows, need at least 3")
    return data.corr()


def rolling_correlation(frame: pd.DataFrame, window: int) -> pd.DataFrame:
    """Rolling Pearson correlation of every pair of columns over ``window`` rows (pandas
    ``rolling().corr``), tidy: one row per time and pair (a before b in column order) with
    columns time, a, b, rho. The warm-up rows (fewer than ``window`` observations) are left
    out; a window where one series is constant has no correlation and is left out too."""
    data = _frame(frame, "rolling_correlation")
    if window < 3:
        raise ValueError(f"window must be at least 3 observations, got {window}")
    parts = []
    for a, b in combinations(data.columns, 2):
        rho = data[a].rolling(window, min_periods=window).corr(data[b])
        rho = rho[np.isfinite(rho)]
        parts.append(pd.DataFrame({"time": rho.index, "a": a, "b": b,
                                   "rho": rho.to_numpy().clip(-1.0, 1.0)}))
    return pd.concat(parts, ignore_index=True)


def stressed_correlation(frame: pd.DataFrame, quantile: float = 0.05,
                         by: str | None = None) -> pd.DataFrame:
    """Correlation matrix over the stressed rows: those where the stress variable is at or
    below its ``quantile`` (the worst days of a long book).

    The stress variable is the first column (``by=None``), a named column, or the equally
    weighted index (the row mean) with ``by="equal_weight"``. For the stress of a short book
    pass ``-frame``. The number of stressed rows is in ``.attrs["n_obs"]``.
    """
    data = _frame(frame, "stressed_correlation").dropna()
    if not 0 < quantile < 1:
        raise ValueError(f"quantile must lie strictly between 0 and 1, got {quantile}")
    if by is None:
        driver = data.iloc[:, 0]
    elif by in data.columns:
        driver = data[by]
    elif by == EQUAL_WEIGHT:
        driver = data.mean(axis=1)
    else:
        raise ValueError(f"by must be None, a column of the frame or {EQUAL_WEIGHT!r}, got "
                         f"{by!r}")
    stressed = data[driver <= driver.quantile(quantile)]
    if len(stressed) < 3:
        raise ValueError(f"stressed_correlation: only {len(stressed)} rows at or below the "
                         f"{quantile} quantile: need at least 3 (more data or a higher quantile)")
    out = stressed.corr()
    out.attrs["n_obs"] = len(stressed)
    return out


def nearest_psd(matrix, floor: float = PSD_FLOOR):
    """A correlation matrix close to ``matrix`` with every eigenvalue >= ``floor``.

    Eigenvalue clipping: C = V diag(l) V', l -> max(l, floor), then rescaled to a unit diagonal
    (D^-1/2 C D^-1/2, which keeps it positive definite). Simple and one step, not Higham's
    (2002) alternating-projections nearest correlation matrix: close in the Frobenius norm but
    not the closest. A matrix already above the floor comes back unchanged. A DataFrame comes
    back a DataFrame with the same labels.
    """
    values = np.asarray(matrix, dtype=float)
    eigval, eigvec = np.linalg.eigh((values + values.T) / 2.0)
    if eigval.min() >= floor:
        out = values.copy()
    else:
        fixed = (eigvec * np.maximum(eigval, floor)) @ eigvec.T
        d = np.sqrt(np.diag(fixed))
        out = fixed / np.outer(d, d)
        out = (out + out.T) / 2.0
        np.fill_diagonal(out, 1.0)
    if isinstance(matrix, pd.DataFrame):
        return pd.DataFrame(out, index=matrix.index, columns=matrix.columns)
    return out


def _pairs(labels: list, assets) -> list[tuple[int, int]]:
    """Index pairs a break applies to: every pair (None), every pair among named assets, or
    the named (a, b) pairs."""
    position = {label: i for i, label in enumerate(labels)}

    def index(label) -> int:
        if label not in position:
            raise ValueError(f"correlation_break: unknown asset {label!r} (have {labels})")
        return position[label]

    if assets is None:
        return list(combinations(range(len(labels)), 2))
    items = list(assets)
    if items and all(isinstance(a, tuple) for a in items):
        pairs = [(index(a), index(b)) for a, b in items]
        if any(i == j for i, j in pairs):
            raise ValueError("correlation_break: a pair names the same asset twice")
        return pairs
    chosen = sorted({index(a) for a in items})
    if len(chosen) < 2:
        raise ValueError("correlation_break: name at least two assets (or give (a, b) pairs)")
    return list(combinations(chosen, 2))


def correlation_break(corr, kind: str = "to_one", assets: Sequence | None = None,
                      rho: float = 0.99, floor: float = PSD_FLOOR):
    """A broken copy of a correlation matrix, repaired by ``nearest_psd``.

    * ``kind="to_one"``: the chosen off-diagonal entries become ``rho`` (0.99: everything
      falls together).
    * ``kind="flip"``: the chosen entries change sign (a hedge that stops hedging).

    ``assets`` chooses the entries: None = every pair, a list of asset labels = every pair
    among them, a list of (a, b) tuples = those pairs. Labels are the DataFrame's columns, or
    0..n-1 for an array; the result has the input's type.
    """
    if kind not in ("to_one", "flip"):
        raise ValueError(f"kind must be 'to_one' or 'flip', got {kind!r}")
    if not -1 <= rho <= 1:
        raise ValueError(f"rho must lie in [-1, 1], got {rho}")
    values = np.array(corr, dtype=float)
    n = values.shape[0] if values.ndim == 2 else 0
    if values.shape != (n, n) or n < 2:
        raise ValueError(f"correlation_break: need a square matrix of >= 2 assets, got "
                         f"shape {values.shape}")
    if not (np.all(np.isfinite(values)) and np.allclose(values, values.T)
            and np.allclose(np.diag(values), 1.0) and np.all(np.abs(values) <= 1 + 1e-12)):
        raise ValueError("correlation_break: not a correlation matrix (symmetric, unit "
                         "diagonal, entries in [-1, 1])")
    labels = list(corr.columns) if isinstance(corr, pd.DataFrame) else list(range(n))
    for i, j in _pairs(labels, assets):
        values[i, j] = values[j, i] = rho if kind == "to_one" else -values[i, j]
    fixed = nearest_psd(values, floor)
    if isinstance(corr, pd.DataFrame):
        return pd.DataFrame(fixed, index=corr.index, columns=corr.columns)
    return fixed
