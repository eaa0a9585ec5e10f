"""The market sections of ``liqsim risk``: asset-return correlation (full sample, rolling,
stressed), how a correlation break turns into margin breaches, historical VaR/ES of the
traders' books and a Kupiec backtest of a rolling historical VaR on a replayed path.

The returns come from the scenario's own price paths (``World.paths``: its stochastic model at
the seed, shocks, jumps and replays included) or from kline files. Composes the pure
estimators of ``simulator.risk.var`` and ``simulator.risk.correlation`` with the world at t = 0
and the static pass of ``simulator.risk.book``. Pure: frames and a world in, frames out; no
SimPy, no files but kline CSVs (through ``returns_from_klines``), no charts, no global random
state (the bootstrap draws from the generator the caller seeds).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view
from pandas.tseries.frequencies import to_offset
from scipy import stats

from simulator.risk import book
from simulator.risk.correlation import (
    EQUAL_WEIGHT,
    correlation_break,
    correlation_from_returns,
    rolling_correlation,
    stressed_correlation,
)
from simulator.risk.var import (
    DEFAULT_LEVELS,
    historical_portfolio_losses,
    historical_var_es,
    returns_from_klines,
    tail_stats,
    var_backtest,
)
from simulator.run.build import World

DEFAULT_WINDOW = 120  # returns in a rolling correlation / backtest window
PATH_INTERVAL = "1min"
# A scenario path shorter than this many 1-min returns is sampled at its oracle step instead
# (a 15-minute scenario has 15 minutes but 900 one-second steps).
MIN_PATH_RETURNS = 200
STRESS_QUANTILE = 0.05  # the stressed window: the worst 5% of the equal-weight index's returns
N_BOOT = 1000
MAX_ACCOUNTS = 500  # historical VaR per account: the largest traders by USD delta
BREAK_MOVE = -0.2  # the grid's -20%, beside each lead asset's 99% one-day move
CORRELATION_COLUMNS = ("source", "window", "asset_a", "asset_b", "corr", "n", "vol_a", "vol_b")
BREAK_COLUMNS = ("venue", "lead", "move", "correlation", "moves", "breached_scopes", "accounts",
                 "liquidated_usd", "bad_debt_usd")
VAR_COLUMNS = ("scope", "venue", "source", "interval", "level", "var", "var_low", "var_high",
               "es", "es_low", "es_high", "n")
BACKTEST_COLUMNS = ("scope", "level", "window", "n", "exceedances", "expected", "lr", "p_value",
                    "reject_5pct")


class MarketError(ValueError):
    """Bad input to the market sections (unknown asset, too few returns, ...): one line."""


class TooFewReturns(MarketError):
    """A sample with no backtest point: bad input for kline files, while a scenario's own
    path that is too short (a few minutes) only leaves the market sections out."""


@dataclass
class Returns:
    """Log returns, one column per asset, and where they come from."""

    frame: pd.DataFrame
    source: str  # "scenario paths" or "klines"
    interval: str  # a pandas offset ("1min", "1000ms")
    notes: list[str] = field(default_factory=list)

    @property
    def per_year(self) -> float:
        """Returns per (365-day) year, to annualise a volatility."""
        return pd.Timedelta(days=365) / pd.Timedelta(to_offset(self.interval))


def path_returns(world: World, interval: str | None = None) -> Returns:
    """Log returns of the world's price paths (``World.paths``, the path of its seed), indexed
    by run time: over ``interval`` (default 1 min, or the oracle step when the scenario has
    fewer than ``MIN_PATH_RETURNS`` minutes)."""
    paths = world.paths
    names = [a.name for a in world.scenario.assets]
    step_ms = int(world.scenario.clock.oracle_interval)
    if interval is None:
        minutes = (paths.times_ms[-1] - paths.times_ms[0]) / 60_000
        interval = PATH_INTERVAL if minutes >= MIN_PATH_RETURNS else f"{step_ms}ms"
    offset = _offset(interval)
    prices = pd.DataFrame(paths.prices, columns=names,
                          index=pd.to_timedelta(np.asarray(paths.times_ms), unit="ms"))
    prices.index.name = "time"
    sampled = prices.resample(offset).last().dropna()
    frame = np.log(sampled).diff().iloc[1:]
    return Returns(frame, "scenario paths", interval)


def kline_returns(files: Mapping[str, str | Path], assets: list[str], start=None, end=None,
                  interval: str = "1min") -> Returns:
    """Log close returns of one kline file per asset (``returns_from_klines``), on the times
    every file has."""
    unknown = [a for a in files if a not in assets]
    if unknown:
        raise MarketError(f"--klines: unknown asset {unknown[0]!r} (the scenario has "
                          f"{', '.join(assets)})")
    series = {}
    for asset, path in files.items():
        if not Path(path).is_file():
            raise MarketError(f"--klines {asset}={path}: no such file")
        try:
            series[asset] = returns_from_klines(path, start=start, end=end, interval=interval)
        except ValueError as exc:
            raise MarketError(f"--klines {asset}={path}: {exc}") from None
    frame = pd.concat(series, axis=1, join="inner")
    left = [a for a in assets if a not in files]
    notes = [f"no klines for {', '.join(left)}: left out of the historical VaR"] if left else []
    return Returns(frame, "klines", interval, notes)


def returns_for(world: World, klines: list[str] | None = None, start=None, end=None,
                interval: str = "1min") -> Returns:
    """The returns the sections rest on: the kline files of ``klines`` ("ASSET=FILE" items)
    if any, else the world's own paths (at their default interval)."""
    if not klines:
        return path_returns(world)
    files: dict[str, Path] = {}
    for item in klines:
        asset, sep, path = item.partition("=")
        if not sep or not asset.strip() or not path.strip():
            raise MarketError(f"--klines {item!r}: give ASSET=FILE")
        if asset.strip() in files:
            raise MarketError(f"--klines: {asset.strip()} given twice")
        files[asset.strip()] = Path(path.strip())
    return kline_returns(files, [a.name for a in world.scenario.assets], start, end, interval)


def _offset(interval: str):
    try:
        return to_offset(interval)
    except (TypeError, ValueError):
        raise MarketError(f"interval {interval!r} is not a pandas offset such as '1min', "
                          "'1h'") from None


def check_enough(returns: Returns, window: int) -> None:
    """Refuse a sample with no backtest point (at most ``window`` returns) or a window < 3."""
    if window < 3:
        raise MarketError(f"--window: at least 3 returns, got {window}")
    n = len(returns.frame)
    if n <= window + 1:
        raise TooFewReturns(f"too few returns: {n} {returns.interval} returns from the "
                          f"{returns.source}, need more than the window + 1 ({window + 1})")


# ------------------------------------------------------------------------------ correlation


def _pairs(matrix: pd.DataFrame, source: str, window: str, n: int,
           vols: pd.Series) -> list[dict]:
    names = list(matrix.columns)
    return [{"source": source, "window": window, "asset_a": a, "asset_b": b,
             "corr": float(matrix.loc[a, b]), "n": n, "vol_a": float(vols[a]),
             "vol_b": float(vols[b])}
            for i, a in enumerate(names) for b in names[i + 1:]]


def correlation_tables(returns: Returns, model: pd.DataFrame, model_vols: pd.Series,
                       window: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(correlation, rolling). ``correlation``: ``CORRELATION_COLUMNS``, one row per pair and
    window: "model" (the scenario's matrix and vols), "full", "stressed" (the rows where the
    equal-weight index is at or below its 5% quantile; left out, with a note, when fewer than
    3), "rolling_min"/"rolling_max" (the extremes of the rolling correlation); vols are
    annualised from the sample. One asset: one "full" row of that asset with itself.
    ``rolling``: ``source, time, asset_a, asset_b, corr`` over ``window`` returns."""
    data = returns.frame.dropna()
    vols = data.std() * math.sqrt(returns.per_year)
    if data.shape[1] < 2:
        asset = data.columns[0]
        row = {"source": returns.source, "window": "full", "asset_a": asset, "asset_b": asset,
               "corr": 1.0, "n": len(data), "vol_a": float(vols[asset]),
               "vol_b": float(vols[asset])}
        returns.notes.append("one asset: no correlation, its own volatility only")
        empty = pd.DataFrame(columns=["source", "time", "asset_a", "asset_b", "corr"])
        return pd.DataFrame([row], columns=list(CORRELATION_COLUMNS)), empty
    rows = _pairs(model, returns.source, "model", len(data), model_vols)
    rows += _pairs(correlation_from_returns(data), returns.source, "full", len(data), vols)
    try:
        stressed = stressed_correlation(data, STRESS_QUANTILE, by=EQUAL_WEIGHT)
        hit = data.loc[data.mean(axis=1) <= data.mean(axis=1).quantile(STRESS_QUANTILE)]
        if not np.isfinite(stressed.to_numpy()).all():
            raise ValueError("its returns are constant")
        rows += _pairs(stressed, returns.source, "stressed", stressed.attrs["n_obs"],
                       hit.std() * math.sqrt(returns.per_year))
    except ValueError as exc:
        returns.notes.append(f"no stressed window: {exc}")
    rolling = rolling_correlation(data, window).rename(
        columns={"a": "asset_a", "b": "asset_b", "rho": "corr"})
    rolling.insert(0, "source", returns.source)
    for (a, b), part in rolling.groupby(["asset_a", "asset_b"], sort=False):
        for name, value in (("rolling_min", part["corr"].min()),
                            ("rolling_max", part["corr"].max())):
            rows.append({"source": returns.source, "window": name, "asset_a": a, "asset_b": b,
                         "corr": float(value), "n": window, "vol_a": float("nan"),
                         "vol_b": float("nan")})
    return pd.DataFrame(rows, columns=list(CORRELATION_COLUMNS)), rolling


def matrix_of(correlation: pd.DataFrame, window: str) -> pd.DataFrame | None:
    """The symmetric matrix of one window of ``correlation_tables``' frame (None if absent)."""
    part = correlation[correlation["window"] == window]
    if part.empty:
        return None
    names = list(dict.fromkeys([*part["asset_a"], *part["asset_b"]]))
    out = pd.DataFrame(np.eye(len(names)), index=names, columns=names)
    for r in part.itertuples(index=False):
        out.loc[r.asset_a, r.asset_b] = out.loc[r.asset_b, r.asset_a] = r.corr
    return out


# ------------------------------------------------------------------------ correlation break


def conditional_moves(corr: np.ndarray, vols: np.ndarray, lead: int, move: float) -> np.ndarray:
    """Every asset's expected move given the lead's: move_j = corr_ij vol_j / vol_i move_i
    (the regression of j on i), held above -99% so that prices stay positive."""
    vols = np.asarray(vols, dtype=float)
    ratio = vols / vols[lead] if vols[lead] > 0 else np.zeros_like(vols)
    out = np.asarray(corr, dtype=float)[lead] * ratio * move
    out[lead] = move
    return np.maximum(out, -0.99)


def one_day_move(vol: float, level: float = 0.99) -> float:
    """The normal ``level`` one-day fall of an asset of annualised ``vol``: -z vol / sqrt(365)."""
    return -float(stats.norm.ppf(level)) * vol / math.sqrt(365.0)


def break_regimes(model: pd.DataFrame, estimated: Mapping[str, pd.DataFrame]
                  ) -> dict[str, np.ndarray]:
    """The correlation matrices of the break table: "base" (the scenario's), "to_one" and
    "flip" of it (``correlation_break``), then the ``estimated`` ones (e.g. "stressed")."""
    out = {"base": model.to_numpy()}
    if len(model) >= 2:
        out["to_one"] = np.asarray(correlation_break(model.to_numpy(), kind="to_one"))
        out["flip"] = np.asarray(correlation_break(model.to_numpy(), kind="flip"))
        out.update({k: m.loc[model.index, model.columns].to_numpy()
                    for k, m in estimated.items() if m is not None})
    return out


def correlation_break_table(world: World, regimes: Mapping[str, np.ndarray],
                            moves: Mapping[str, list[float]] | None = None) -> pd.DataFrame:
    """``BREAK_COLUMNS``: per venue, lead asset (each in turn), lead move (default: its 99%
    one-day move and -20%) and correlation regime, the static pass (``book.static_cell``)
    with every other asset at its conditional move under that regime's correlation and the
    scenario's vols."""
    assets = world.scenario.assets
    names = [a.name for a in assets]
    vols = np.array([a.volatility for a in assets])
    if moves is None:
        moves = {a.name: sorted({round(one_day_move(a.volatility), 6), BREAK_MOVE})
                 for a in assets}
    rows = []
    for lead, name in enumerate(names):
        for move in moves.get(name, []):
            for regime, corr in regimes.items():
                by_asset = conditional_moves(corr, vols, lead, move)
                text = ", ".join(f"{n} {m:+.1%}" for n, m in zip(names, by_asset, strict=True))
                for venue, of_market in zip(world.venues, world.asset_of_market, strict=True):
                    cell = book.static_cell(venue, by_asset[np.asarray(of_market)])
                    rows.append({"venue": venue.name, "lead": name, "move": float(move),
                                 "correlation": regime, "moves": text, **cell})
    out = pd.DataFrame(rows, columns=list(BREAK_COLUMNS))
    return out.astype({"breached_scopes": "int64", "accounts": "int64"})


# ------------------------------------------------------------------------ VaR and backtest


def book_deltas(world: World) -> dict[tuple[str, str], pd.Series]:
    """{(scope, venue): USD delta per asset} of each venue's traders and of all ("all")."""
    frame, names = book.linear_exposure(world)
    traders = frame[frame["liquidatable"]]
    out = {("venue", v): part[names].sum() for v, part in traders.groupby("venue", sort=False)}
    out[("all", "all")] = traders[names].sum()
    return out


def historical_var(returns: Returns, deltas: Mapping[tuple[str, str], pd.Series], seed: int,
                   levels=DEFAULT_LEVELS, n_boot: int = N_BOOT) -> pd.DataFrame:
    """``VAR_COLUMNS``: historical VaR/ES (``historical_var_es``) over one return interval of
    each scope's linear book replayed on the returns, with order-statistic VaR intervals and
    bootstrap ES intervals drawn from ``np.random.default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    parts = []
    for (scope, venue), w in deltas.items():
        losses = historical_portfolio_losses(returns.frame, w[list(returns.frame.columns)])
        table = historical_var_es(losses, levels, rng=rng, n_boot=n_boot)
        parts.append(table.assign(scope=scope, venue=venue, source=returns.source,
                                  interval=returns.interval))
    return pd.concat(parts, ignore_index=True)[list(VAR_COLUMNS)]


def account_historical_var(world: World, returns: Returns, levels=DEFAULT_LEVELS,
                           max_accounts: int = MAX_ACCOUNTS) -> pd.DataFrame:
    """``VAR_COLUMNS`` rows of scope "account" (``account`` its row): historical VaR/ES of
    each of the ``max_accounts`` traders with the largest USD delta (sum over assets of its
    absolute value; ties by venue and row), its linear position replayed on the returns, with
    the estimators of ``historical_var_es`` (no intervals: they are the books' rows')."""
    frame, names = book.linear_exposure(world)
    cols = [c for c in returns.frame.columns if c in names]
    traders = frame[frame["liquidatable"]].copy()
    traders["_size"] = traders[names].abs().sum(axis=1)
    top = traders[traders["_size"] > 0].sort_values(
        ["_size", "venue", "account"], ascending=[False, True, True],
        kind="mergesort").head(max_accounts)
    if top.empty:
        return pd.DataFrame(columns=[*VAR_COLUMNS, "account"])
    growth = np.expm1(returns.frame[cols].to_numpy(dtype=float))
    srt = np.sort(-(growth @ top[cols].to_numpy(dtype=float).T).T, axis=1)  # (accounts, n)
    parts = []
    for p in levels:
        var, es = tail_stats(srt, float(p))
        parts.append(pd.DataFrame({
            "scope": "account", "venue": top["venue"].to_numpy(), "source": returns.source,
            "interval": returns.interval, "level": float(p), "var": var, "var_low": np.nan,
            "var_high": np.nan, "es": es, "es_low": np.nan, "es_high": np.nan,
            "n": srt.shape[1], "account": top["account"].to_numpy()}))
    return pd.concat(parts, ignore_index=True)


def rolling_var(losses: pd.Series, window: int, levels=DEFAULT_LEVELS) -> pd.DataFrame:
    """The historical VaR of each period forecast from the ``window`` losses before it: the
    order statistic L_(ceil(window p)) of that window (``historical_var_es``' VaR), NaN for
    the first ``window`` periods. One column per level, named by it."""
    x = losses.to_numpy(dtype=float)
    out = pd.DataFrame(np.nan, index=losses.index, columns=[float(p) for p in levels])
    if x.size <= window:
        return out
    windows = np.sort(sliding_window_view(x, window)[:-1], axis=1)
    for p in levels:
        rank = max(1, math.ceil(round(window * p, 12)))
        out.iloc[window:, out.columns.get_loc(float(p))] = windows[:, rank - 1]
    return out


def backtest(returns: Returns, deltas: Mapping[tuple[str, str], pd.Series], window: int,
             levels=DEFAULT_LEVELS) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(table, path). ``table``: ``BACKTEST_COLUMNS``, Kupiec's test (``var_backtest``) of the
    rolling historical VaR of each scope's book over the returns; ``path``: the world's
    ("all") losses and VaR forecasts, ``time, loss_usd, var_<level>, exceed_<level>``."""
    rows, path = [], None
    for (scope, venue), w in deltas.items():
        losses = historical_portfolio_losses(returns.frame, w[list(returns.frame.columns)])
        forecast = rolling_var(losses, window, levels)
        for p in levels:
            result = var_backtest(-losses, forecast[float(p)], float(p))
            rows.append({"scope": scope if scope == "all" else venue, "level": float(p),
                         "window": window, "n": result["n"],
                         "exceedances": result["exceedances"],
                         "expected": result["n"] * (1.0 - p), "lr": result["lr_stat"],
                         "p_value": result["p_value"], "reject_5pct": result["p_value"] < 0.05})
        if scope == "all":
            path = pd.DataFrame({"time": losses.index, "loss_usd": losses.to_numpy()})
            for p in levels:
                v = forecast[float(p)].to_numpy()
                path[f"var_{p:g}"] = v
                path[f"exceed_{p:g}"] = np.isfinite(v) & (losses.to_numpy() > v)
    return pd.DataFrame(rows, columns=list(BACKTEST_COLUMNS)), path


def market_frames(world: World, returns: Returns, window: int, seed: int
                  ) -> dict[str, pd.DataFrame]:
    """Every frame of the market sections: correlation, rolling_correlation,
    correlation_break, historical_var, backtest, backtest_path."""
    check_enough(returns, window)
    names = [a.name for a in world.scenario.assets]
    model = pd.DataFrame(world.scenario.correlation_matrix(), index=names, columns=names)
    model_vols = pd.Series({a.name: a.volatility for a in world.scenario.assets})
    correlation, rolling = correlation_tables(returns, model, model_vols, window)
    estimated = {"estimated": matrix_of(correlation, "full"),
                 "stressed": matrix_of(correlation, "stressed")}
    if set(returns.frame.columns) != set(names):  # klines for some assets only
        estimated = {}
    deltas = book_deltas(world)
    table, path = backtest(returns, deltas, window)
    return {"correlation": correlation, "rolling_correlation": rolling,
            "correlation_break": correlation_break_table(world, break_regimes(model, estimated)),
            "historical_var": pd.concat(
                [historical_var(returns, deltas, seed).assign(account=-1),
                 account_historical_var(world, returns)], ignore_index=True),
            "backtest": table,
            "backtest_path": path}
