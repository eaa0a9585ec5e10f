"""Value-at-Risk and Expected Shortfall: historical and parametric estimators, the Kupiec
backtest, and the returns and portfolio losses they are computed on.

Conventions: a *loss* is positive (a gain is a negative loss); a level ``p`` such as 0.99 is
the confidence level, so VaR_p is the p-quantile of the loss distribution and 1 - p the
expected exceedance rate. Returns are log returns unless said otherwise. Parametric horizons
scale annualised volatilities with a 365-day year (crypto trades every day).

Pure functions of the data they are given: no SimPy, no run or sweep execution, no files
except kline CSVs read through ``markets.prices.klines.read_klines``, no global random state
(bootstraps use the generator the caller passes).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset
from scipy import stats
from scipy.special import xlogy

from markets.prices.klines import read_klines

__all__ = ["CRYPTO_YEAR_DAYS", "DEFAULT_LEVELS", "VAR_COLUMNS", "historical_portfolio_losses",
           "historical_var_es", "kupiec_pof", "order_statistic_ranks", "parametric_var_es",
           "returns_from_klines", "tail_stats", "var_backtest"]

CRYPTO_YEAR_DAYS = 365
DEFAULT_LEVELS: tuple[float, ...] = (0.95, 0.99, 0.999)
VAR_COLUMNS = ("level", "var", "var_low", "var_high", "es", "es_low", "es_high", "n")
# Bootstrap resamples are drawn in blocks of at most this many numbers, so that a long return
# series does not need an n_boot x n matrix at once.
_BOOT_BLOCK = 4_000_000
_KLINE_FIELDS = {"open": "first", "high": "max", "low": "min", "close": "last"}


def _levels(levels: Sequence[float]) -> np.ndarray:
    out = np.asarray(levels, dtype=float).ravel()
    if out.size == 0:
        raise ValueError("levels: give at least one confidence level")
    if not np.all((out > 0) & (out < 1)):
        raise ValueError(f"levels must lie strictly between 0 and 1, got {list(out)}")
    return out


def _losses(losses) -> np.ndarray:
    x = np.asarray(losses, dtype=float).ravel()
    if x.size == 0:
        raise ValueError("losses: the sample is empty")
    if not np.all(np.isfinite(x)):
        raise ValueError("losses: every value must be finite (drop NaN before estimating)")
    return x


def _rank(n: int, p: float) -> int:
    """1-based rank of the empirical p-quantile: the smallest loss whose empirical CDF >= p.

    The product n*p is rounded to 12 digits first so that e.g. 0.95 * 100 = 95.00000000000001
    gives rank 95, not 96."""
    return max(1, math.ceil(round(n * p, 12)))


def order_statistic_ranks(n: int, p: float, ci: float = 0.95) -> tuple[int, int]:
    """Ranks (j, k), 1-based, of the distribution-free interval [L_(j), L_(k)] for the
    p-quantile of a continuous distribution from n draws.

    P(L_(j) <= q_p <= L_(k)) = B(k-1) - B(j-1) with B the Binomial(n, p) CDF. The interval is
    equal-tailed: j is the largest rank with B(j-1) <= (1-ci)/2 and k the smallest with
    B(k-1) >= (1+ci)/2, so the coverage is at least ``ci``. j = 0 (no lower rank exists) or
    k = n + 1 (no upper rank) mean the sample is too small for that side of the interval.
    """
    if n < 1:
        raise ValueError("order_statistic_ranks: n must be at least 1")
    if not 0 < ci < 1:
        raise ValueError(f"ci must lie strictly between 0 and 1, got {ci}")
    cdf = stats.binom.cdf(np.arange(n + 1), n, p)
    tail = (1.0 - ci) / 2.0
    j = int(np.count_nonzero(cdf <= tail))
    k = int(np.count_nonzero(cdf < 1.0 - tail)) + 1
    return j, k


def tail_stats(sorted_rows: np.ndarray, p: float) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise (VaR, ES) of ascending-sorted samples (one sample per row), the estimators of
    ``historical_var_es``: VaR the order statistic L_(ceil(n p)), ES the mean of the losses at
    or above it."""
    n = sorted_rows.shape[1]
    var = sorted_rows[:, _rank(n, p) - 1]
    tail = sorted_rows >= var[:, None]
    es = np.where(tail, sorted_rows, 0.0).sum(axis=1) / tail.sum(axis=1)
    return var, es


def historical_var_es(losses, levels: Sequence[float] = DEFAULT_LEVELS,
                      rng: np.random.Generator | None = None, n_boot: int = 2000,
                      ci: float = 0.95) -> pd.DataFrame:
    """Empirical VaR and ES of a loss sample (positive = loss), one row per level.

    * VaR_p: the smallest sample loss whose empirical CDF reaches p, i.e. the order statistic
      L_(ceil(n p)) (numpy's ``method="inverted_cdf"``): always an observed loss, so the
      order-statistic interval and the backtest speak about the same number.
    * ES_p: the mean of the losses >= VaR_p (so ES >= VaR by construction).
    * var_low / var_high: the distribution-free ``ci`` interval [L_(j), L_(k)] of
      ``order_statistic_ranks``; NaN where the sample is too small for that rank to exist.
    * es_low / es_high: percentile bootstrap (``n_boot`` resamples with replacement drawn from
      ``rng``); NaN without ``rng``, so nothing here is random unless the caller asks for it.
    """
    x = np.sort(_losses(losses))
    ps = _levels(levels)
    n = x.size
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    boot: dict[float, tuple[float, float]] = {}
    if rng is not None:
        block = max(1, _BOOT_BLOCK // n)
        parts: list[dict[float, np.ndarray]] = []
        done = 0
        while done < n_boot:
            rows = min(block, n_boot - done)
            sample = np.sort(x[rng.integers(0, n, size=(rows, n))], axis=1)
            parts.append({p: tail_stats(sample, p)[1] for p in ps})
            done += rows
        alpha = (1.0 - ci) / 2.0
        for p in ps:
            es_boot = np.concatenate([part[p] for part in parts])
            low, high = np.quantile(es_boot, [alpha, 1.0 - alpha])
            boot[p] = (float(low), float(high))
    rows = []
    for p in ps:
        var, es = (float(v[0]) for v in tail_stats(x[None, :], p))
        j, k = order_statistic_ranks(n, p, ci)
        es_low, es_high = boot.get(p, (math.nan, math.nan))
        rows.append({"level": float(p), "var": var,
                     "var_low": float(x[j - 1]) if j >= 1 else math.nan,
                     "var_high": float(x[k - 1]) if k <= n else math.nan,
                     "es": es, "es_low": es_low, "es_high": es_high, "n": n})
    return pd.DataFrame(rows, columns=list(VAR_COLUMNS))


def parametric_var_es(weights_usd, vols, corr, horizon_days: float,
                      levels: Sequence[float] = DEFAULT_LEVELS, dist: str = "normal",
                      dof: float = 4.0) -> pd.DataFrame:
    """VaR and ES of a linear USD position vector under a zero-mean normal or Student-t.

    sigma_p = sqrt(w' S w) with S = D C D * horizon_days / 365 (D: annualised vols, C: the
    correlation matrix). Normal: VaR = z_p sigma, ES = sigma phi(z_p) / (1-p). Student-t with
    ``dof`` = nu > 2, scaled to the same standard deviation: with t = t_nu^-1(p),
    VaR = t sigma sqrt((nu-2)/nu), ES = sigma sqrt((nu-2)/nu) (nu + t^2)/(nu-1) f_nu(t)/(1-p).
    Columns: level, sigma, var, es, dist.
    """
    w = np.atleast_1d(np.asarray(weights_usd, dtype=float))
    v = np.atleast_1d(np.asarray(vols, dtype=float))
    c = np.atleast_2d(np.asarray(corr, dtype=float))
    if w.ndim != 1 or v.shape != w.shape or c.shape != (w.size, w.size):
        raise ValueError(f"parametric_var_es: {w.size} weights need {w.size} vols and a "
                         f"{w.size}x{w.size} correlation matrix, got vols {v.shape} and "
                         f"corr {c.shape}")
    if not (np.all(np.isfinite(w)) and np.all(np.isfinite(v)) and np.all(np.isfinite(c))):
        raise ValueError("parametric_var_es: weights, vols and corr must be finite")
    if np.any(v < 0):
        raise ValueError("parametric_var_es: vols must be non-negative")
    if not np.allclose(c, c.T) or not np.allclose(np.diag(c), 1.0):
        raise ValueError("parametric_var_es: corr must be symmetric with a unit diagonal")
    if not horizon_days > 0:
        raise ValueError(f"horizon_days must be positive, got {horizon_days}")
    if dist not in ("normal", "t"):
        raise ValueError(f"dist must be 'normal' or 't', got {dist!r}")
    if dist == "t" and not dof > 2:
        raise ValueError(f"dof must exceed 2 (finite variance), got {dof}")
    ps = _levels(levels)
    cov = np.outer(v, v) * c * (horizon_days / CRYPTO_YEAR_DAYS)
    variance = float(w @ cov @ w)
    if variance < -1e-12 * max(1.0, float(np.abs(w) @ np.abs(cov) @ np.abs(w))):
        raise ValueError("parametric_var_es: w' S w < 0: corr is not positive semi-definite")
    sigma = math.sqrt(max(variance, 0.0))
    if dist == "normal":
        z = stats.norm.ppf(ps)
        var = z * sigma
        es = sigma * stats.norm.pdf(z) / (1.0 - ps)
    else:
        t = stats.t.ppf(ps, dof)
        scale = math.sqrt((dof - 2.0) / dof)
        var = t * sigma * scale
        es = sigma * scale * (dof + t**2) / (dof - 1.0) * stats.t.pdf(t, dof) / (1.0 - ps)
    return pd.DataFrame({"level": ps, "sigma": sigma, "var": var, "es": es, "dist": dist})


def kupiec_pof(exceedances: int, n: int, level: float) -> tuple[float, float]:
    """Kupiec's (1995) proportion-of-failures likelihood ratio and its chi-square(1) p-value.

    With x exceedances in n days and expected rate p = 1 - level:
    LR = -2 ln[(1-p)^(n-x) p^x] + 2 ln[(1-x/n)^(n-x) (x/n)^x], with 0 ln 0 = 0, so x = 0 gives
    -2 n ln(1-p) and x = n gives -2 n ln p.
    """
    x, n = int(exceedances), int(n)
    if n < 1:
        raise ValueError(f"kupiec_pof: n must be at least 1, got {n}")
    if not 0 <= x <= n:
        raise ValueError(f"kupiec_pof: exceedances must lie in 0..n ({n}), got {x}")
    if not 0 < level < 1:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level}")
    p = 1.0 - level
    phat = x / n
    # xlogy(0, 0) = 0: the limit the likelihood needs at x = 0 and x = n.
    null = xlogy(n - x, 1.0 - p) + xlogy(x, p)
    alt = xlogy(n - x, 1.0 - phat) + xlogy(x, phat)
    lr = max(0.0, float(-2.0 * (null - alt)))  # >= 0 up to rounding: phat maximises
    return lr, float(stats.chi2.sf(lr, df=1))


def var_backtest(returns, var_series, level: float) -> dict:
    """Count the days a loss exceeded the VaR forecast for it and apply Kupiec's test.

    ``returns`` and ``var_series`` (VaR as a positive loss, in the units of the returns, the
    forecast for the same period) are aligned on their index when both are Series, else by
    position; pairs with a NaN (e.g. a rolling VaR's warm-up) are dropped. An exceedance is a
    loss -r strictly greater than the VaR. Returns n, exceedances, rate, expected_rate,
    lr_stat and p_value.
    """
    if isinstance(returns, pd.Series) and isinstance(var_series, pd.Series):
        r, v = returns.align(var_series, join="inner")
        r, v = r.to_numpy(dtype=float), v.to_numpy(dtype=float)
    else:
        r = np.asarray(returns, dtype=float).ravel()
        v = np.asarray(var_series, dtype=float).ravel()
        if v.size == 1:
            v = np.full_like(r, v[0])
        if r.shape != v.shape:
            raise ValueError(f"var_backtest: {r.size} returns but {v.size} VaR values")
    keep = np.isfinite(r) & np.isfinite(v)
    r, v = r[keep], v[keep]
    if r.size == 0:
        raise ValueError("var_backtest: no period has both a return and a VaR")
    exceed = int(np.count_nonzero(-r > v))
    lr, pval = kupiec_pof(exceed, r.size, level)
    return {"n": int(r.size), "exceedances": exceed, "rate": exceed / r.size,
            "expected_rate": 1.0 - level, "lr_stat": lr, "p_value": pval}


def _utc(when) -> pd.Timestamp:
    ts = pd.Timestamp(when)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def returns_from_klines(path: str | Path, field: str = "close", start=None, end=None,
                        interval: str = "1min") -> pd.Series:
    """Log returns of a kline file's ``field`` over bars of ``interval`` (a pandas offset:
    "1min", "1h", "1d", ...).

    Bars are selected by open time, ``start`` inclusive and ``end`` exclusive (naive times are
    UTC), then resampled: close = last, open = first, high = max, low = min of the bars in each
    interval. Empty intervals are dropped, so a return spans a data gap rather than being NaN.
    The Series is indexed by the interval's UTC start and named ``"<field>_log_return"``.
    """
    if field not in _KLINE_FIELDS:
        raise ValueError(f"field must be one of {sorted(_KLINE_FIELDS)}, got {field!r}")
    # pandas spells days "D" and deprecates "d"; accept both.
    alias = re.sub(r"^(\d*)d$", r"\1D", str(interval).strip())
    try:
        offset = to_offset(alias)
    except (ValueError, TypeError):
        raise ValueError(f"interval {interval!r} is not a pandas offset such as '1min', '1h', "
                         f"'1d'") from None
    bars = read_klines(path)
    prices = pd.Series(bars[field].to_numpy(),
                       index=pd.to_datetime(bars["open_time"].to_numpy(), unit="ms", utc=True))
    if start is not None:
        prices = prices[prices.index >= _utc(start)]
    if end is not None:
        prices = prices[prices.index < _utc(end)]
    resampled = prices.resample(offset).agg(_KLINE_FIELDS[field]).dropna()
    if resampled.size < 2:
        raise ValueError(f"{path}: fewer than two {interval} bars between {start} and {end}: "
                         f"no return to compute")
    out = np.log(resampled).diff().iloc[1:]
    out.name = f"{field}_log_return"
    out.index.name = "time"
    return out


def historical_portfolio_losses(returns_frame: pd.DataFrame,
                                weights_usd: Mapping[str, float] | Sequence[float],
                                kind: str = "log") -> pd.Series:
    """Losses (positive = loss, USD) of a linear USD position replayed over historical returns.

    ``returns_frame`` has one column per asset; ``weights_usd`` maps a column to its USD
    exposure (negative = short), or lists exposures in column order. P&L_t = sum_i w_i g_it
    with g = exp(r) - 1 for log returns (``kind="log"``) or g = r for simple returns; the loss
    is -P&L. Rows with a missing return in a weighted column are dropped.
    """
    if kind not in ("log", "simple"):
        raise ValueError(f"kind must be 'log' or 'simple', got {kind!r}")
    if isinstance(weights_usd, Mapping):
        missing = [a for a in weights_usd if a not in returns_frame.columns]
        if missing:
            raise ValueError(f"historical_portfolio_losses: no return column for {missing}")
        cols = list(weights_usd)
        w = np.array([float(weights_usd[a]) for a in cols])
    else:
        w = np.asarray(weights_usd, dtype=float).ravel()
        if w.size != returns_frame.shape[1]:
            raise ValueError(f"historical_portfolio_losses: {w.size} weights for "
                             f"{returns_frame.shape[1]} return columns")
        cols = list(returns_frame.columns)
    if not np.all(np.isfinite(w)):
        raise ValueError("historical_portfolio_losses: weights must be finite")
    frame = returns_frame[cols].astype(float).dropna()
    growth = np.expm1(frame.to_numpy()) if kind == "log" else frame.to_numpy()
    return pd.Series(-(growth @ w), index=frame.index, name="loss_usd")
