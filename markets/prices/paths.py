"""Exogenous ("fundamental") price paths for the simulated assets.

This module turns a few market parameters (start prices, volatilities, drifts, a correlation
matrix, optional Merton jumps, scripted shocks and replayed historical paths) into a grid of
prices sampled every oracle step. The simulator reads these prices as the fundamental value that
agents trade around; the endogenous price impact of liquidations is layered on elsewhere.

It is pure numpy and must not know about the event loop, configuration models or agents: no
simpy, no pydantic, nothing from ``agents`` or ``simulator``. Randomness comes only from the
``numpy.random.Generator`` passed in, so the same inputs and seed give bit-identical output.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

MS_PER_YEAR = 365 * 24 * 3600 * 1000
_SYM_TOL = 1e-9
_PSD_TOL = 1e-9


class PathError(ValueError):
    """Inputs to the path builder are inconsistent or invalid."""


# --------------------------------------------------------------------------- correlation helpers


def check_correlation(corr: np.ndarray) -> None:
    """Raise PathError unless ``corr`` is a valid (possibly singular) correlation matrix."""
    c = np.asarray(corr, dtype=float)
    if c.ndim != 2 or c.shape[0] != c.shape[1]:
        raise PathError(f"correlation matrix must be square, got shape {c.shape}")
    if not np.all(np.isfinite(c)):
        raise PathError("correlation matrix contains NaN or infinite entries")
    asym = float(np.max(np.abs(c - c.T))) if c.size else 0.0
    if asym > _SYM_TOL:
        raise PathError(f"correlation matrix is not symmetric (max |c - c.T| = {asym:.3g})")
    diag = np.diag(c)
    if not np.allclose(diag, 1.0, rtol=0.0, atol=_SYM_TOL):
        raise PathError(f"correlation matrix diagonal must be 1, got {diag.tolist()}")
    if np.any(np.abs(c) > 1.0 + _SYM_TOL):
        raise PathError("correlation matrix has entries outside [-1, 1]")
    if c.size:
        smallest = float(np.linalg.eigvalsh(c)[0])
        if smallest < -_PSD_TOL:
            raise PathError(
                "correlation matrix is not positive semi-definite "
                f"(smallest eigenvalue {smallest:.6g})"
            )


def _psd_factor(m: np.ndarray) -> np.ndarray:
    """L with L @ L.T == m for a symmetric PSD ``m`` (Cholesky, else eigen square root)."""
    if m.size == 0:
        return np.zeros_like(m)
    try:
        return np.linalg.cholesky(m)
    except np.linalg.LinAlgError:
        # Singular (or numerically borderline) matrices have no Cholesky factor; the symmetric
        # square root V sqrt(max(w, 0)) V.T works for every PSD matrix.
        sym = 0.5 * (m + m.T)
        w, v = np.linalg.eigh(sym)
        return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def correlation_factor(corr: np.ndarray) -> np.ndarray:
    """Return L with ``L @ L.T == corr``; works for singular PSD matrices too."""
    c = np.asarray(corr, dtype=float)
    check_correlation(c)
    return _psd_factor(c)


# --------------------------------------------------------------------------- specifications


@dataclass(frozen=True)
class Jumps:
    """Merton log-normal jumps: Poisson arrivals, each adding N(mean, stdev) to the log price."""

    rate_per_year: float = 0.0
    mean: float = 0.0
    stdev: float = 0.0


@dataclass(frozen=True)
class Shock:
    """A scripted relative move of one asset, spread evenly over a time window."""

    asset: int
    start_ms: int
    duration_ms: int
    move: float
    co_move: bool = True


@dataclass(frozen=True, eq=False)  # eq=False: dataclass __eq__ on numpy arrays is ambiguous
class Replay:
    """A historical (or hand-made) price path that replaces one asset's diffusion."""

    asset: int
    times_ms: np.ndarray
    prices: np.ndarray
    rescale: bool = True


@dataclass(frozen=True, eq=False)
class PricePaths:
    """Prices of every asset at every oracle step; row k is the price at ``times_ms[k]``."""

    times_ms: np.ndarray
    prices: np.ndarray

    @property
    def n_steps(self) -> int:
        return int(self.prices.shape[0] - 1)

    @property
    def n_assets(self) -> int:
        return int(self.prices.shape[1])

    def at(self, step: int) -> np.ndarray:
        """Prices of all assets at oracle step ``step`` (0 = start)."""
        return self.prices[step]


# --------------------------------------------------------------------------- validation


def _vector(name: str, values: ArrayLike, n: int | None) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise PathError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise PathError(f"{name} has {arr.shape[0]} entries, expected {n} (one per asset)")
    if not np.all(np.isfinite(arr)):
        raise PathError(f"{name} contains NaN or infinite values")
    return arr


def _check_asset(what: str, asset: int, n_assets: int) -> None:
    if int(asset) != asset or not 0 <= int(asset) < n_assets:
        raise PathError(f"{what} refers to asset {asset}, but there are {n_assets} assets")


def _validate_replay(rep: Replay, n_assets: int) -> tuple[np.ndarray, np.ndarray]:
    _check_asset("replay", rep.asset, n_assets)
    t = np.asarray(rep.times_ms, dtype=float)
    p = np.asarray(rep.prices, dtype=float)
    if t.ndim != 1 or p.ndim != 1 or t.shape != p.shape or t.size == 0:
        raise PathError(
            f"replay for asset {rep.asset}: times_ms and prices must be non-empty 1-D arrays of "
            f"equal length (got {t.shape} and {p.shape})"
        )
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(p))):
        raise PathError(f"replay for asset {rep.asset} contains NaN or infinite values")
    if np.any(p <= 0):
        bad = int(np.argmax(p <= 0))
        raise PathError(f"replay for asset {rep.asset}: price {p[bad]} at index {bad} is not > 0")
    if np.any(np.diff(t) <= 0):
        bad = int(np.argmax(np.diff(t) <= 0)) + 1
        raise PathError(
            f"replay for asset {rep.asset}: times_ms must be strictly increasing "
            f"(index {bad}: {t[bad - 1]} then {t[bad]})"
        )
    return t, p


# --------------------------------------------------------------------------- building blocks


def _shock_returns(
    shocks: Sequence[Shock],
    corr: np.ndarray,
    vols: np.ndarray,
    step_ms: int,
    n_steps: int,
    replayed: set[int],
) -> np.ndarray:
    """Log-return contributions of the scripted shocks, shape (n_steps, n_assets)."""
    n_assets = vols.shape[0]
    out = np.zeros((n_steps, n_assets))
    for s in shocks:
        _check_asset("shock", s.asset, n_assets)
        if not s.move > -1.0 or not np.isfinite(s.move):
            raise PathError(f"shock on asset {s.asset}: move {s.move} must be > -1 (a -100% floor)")
        if s.start_ms < 0 or s.duration_ms < 0:
            raise PathError(
                f"shock on asset {s.asset}: start_ms ({s.start_ms}) and duration_ms "
                f"({s.duration_ms}) must be >= 0"
            )
        # Step k covers (k*step, (k+1)*step]; it belongs to the shock when its start k*step lies
        # in [start, start + duration). Counted without truncation, so a shock that runs past the
        # horizon only applies the part that fits.
        first = -(-int(s.start_ms) // step_ms)  # ceil
        stop = -(-(int(s.start_ms) + int(s.duration_ms)) // step_ms)
        if stop <= first:
            # Zero duration, or a window too short to contain a step start: one jump in the
            # first step at or after start_ms.
            stop = first + 1
        lo, hi = min(first, n_steps), min(stop, n_steps)
        if lo >= hi:
            continue
        per_step = np.log1p(s.move) / (stop - first)
        i = int(s.asset)
        if s.co_move:
            # Conditional Gaussian expectation of the others' returns given this one's move.
            # With vol_i == 0 the ratio is undefined; we then fall back to beta = corr[i, j].
            betas = corr[i] * vols / vols[i] if vols[i] > 0 else corr[i].copy()
            betas[[j for j in replayed if j != i]] = 0.0  # replayed paths are data: keep them
            betas[i] = 1.0
        else:
            betas = np.zeros(n_assets)
            betas[i] = 1.0
        out[lo:hi] += per_step * betas
    return out


def _jump_params(jumps: Sequence[Jumps], n_assets: int) -> np.ndarray | None:
    """(rates, means, stdevs) as a (3, n_assets) array, or None when no asset can jump."""
    if len(jumps) != n_assets:
        raise PathError(f"jumps has {len(jumps)} entries, expected {n_assets} (one per asset)")
    params = np.array([[j.rate_per_year, j.mean, j.stdev] for j in jumps], dtype=float).T
    rates, _, stdevs = params
    if np.any(rates < 0) or np.any(stdevs < 0) or not np.all(np.isfinite(params)):
        raise PathError(
            "jumps need finite values with rate_per_year >= 0 and stdev >= 0, got "
            f"{list(jumps)}"
        )
    return params if np.any(rates > 0) else None


def _jump_returns(
    params: np.ndarray, n_steps: int, dt: float, rng: np.random.Generator
) -> np.ndarray:
    rates, means, stdevs = params
    n_assets = rates.shape[0]
    counts = rng.poisson(rates * dt, size=(n_steps, n_assets))
    # A sum of N iid N(mean, stdev) draws is N(N*mean, N*stdev^2): one normal per cell suffices.
    z = rng.standard_normal((n_steps, n_assets))
    return counts * means + stdevs * np.sqrt(counts) * z


def _replay_log_path(
    t: np.ndarray, p: np.ndarray, times_ms: np.ndarray, start_price: float, rescale: bool
) -> np.ndarray:
    """Log price of a replay at every step time (linear in log space, ends held flat)."""
    logp = np.interp(times_ms.astype(float), t, np.log(p))
    if rescale:
        logp = logp - np.log(p[0]) + np.log(start_price)
    return logp


# --------------------------------------------------------------------------- main entry point


def build_paths(
    start_prices: ArrayLike,
    vols: ArrayLike,
    drifts: ArrayLike,
    corr: ArrayLike,
    step_ms: int,
    n_steps: int,
    rng: np.random.Generator,
    jumps: Sequence[Jumps] | None = None,
    shocks: Sequence[Shock] = (),
    replays: Sequence[Replay] = (),
) -> PricePaths:
    """Simulate correlated GBM paths with optional jumps, scripted shocks and replays.

    ``vols`` and ``drifts`` are annualised (365-day year, dt = step_ms / MS_PER_YEAR) and
    ``corr`` correlates the Brownian increments. Per step and asset the log return is

    * diffusion ``(drift - vol^2/2) dt + vol sqrt(dt) z`` with ``z ~ N(0, corr)``, or, for a
      replayed asset, the replay's own log return (no diffusion, no jumps), with the other
      assets' ``z`` drawn conditionally on the replayed assets' standardised returns;
    * plus Merton jumps (Poisson count per step, each log jump ~ N(mean, stdev));
    * plus shocks, spread evenly in log space over the steps whose start lies in
      ``[start_ms, start_ms + duration_ms)``; with ``co_move`` every other non-replayed asset j
      moves by ``beta_j * log(1 + move)``, ``beta_j = corr[i, j] vol_j / vol_i`` (or
      ``corr[i, j]`` when ``vol_i == 0``, where the ratio is undefined).

    Raises PathError on invalid input, before any random number is drawn.
    """
    s0 = _vector("start_prices", start_prices, None)
    n = s0.shape[0]
    if n == 0:
        raise PathError("need at least one asset")
    if np.any(s0 <= 0):
        raise PathError(f"start_prices must be > 0, got {s0.tolist()}")
    sig = _vector("vols", vols, n)
    if np.any(sig < 0):
        raise PathError(f"vols must be >= 0, got {sig.tolist()}")
    mu = _vector("drifts", drifts, n)
    c = np.asarray(corr, dtype=float)
    if c.shape != (n, n):
        raise PathError(f"corr has shape {c.shape}, expected ({n}, {n})")
    check_correlation(c)
    if int(step_ms) != step_ms or step_ms <= 0:
        raise PathError(f"step_ms must be a positive integer, got {step_ms}")
    if int(n_steps) != n_steps or n_steps < 1:
        raise PathError(f"n_steps must be an integer >= 1, got {n_steps}")
    step_ms, n_steps = int(step_ms), int(n_steps)

    dt = step_ms / MS_PER_YEAR
    times = np.arange(n_steps + 1, dtype=np.int64) * step_ms

    # --- replays: validated first so that bad input fails before any random draws
    rep_data: dict[int, tuple[np.ndarray, np.ndarray, bool]] = {}
    for rep in replays:
        t, p = _validate_replay(rep, n)
        if int(rep.asset) in rep_data:
            raise PathError(f"asset {rep.asset} has more than one replay")
        rep_data[int(rep.asset)] = (t, p, bool(rep.rescale))
    replayed = sorted(rep_data)

    start_row = s0.copy()
    rep_logs: dict[int, np.ndarray] = {}
    for a, (t, p, rescale) in rep_data.items():
        logp = _replay_log_path(t, p, times, s0[a], rescale)
        rep_logs[a] = logp
        if not rescale:
            # The run starts wherever the replay is at t=0; use the stored price when t=0 is a
            # replay point (or before/after it) because exp(log(p)) need not round-trip to p.
            j = int(np.clip(np.searchsorted(t, 0.0), 0, t.size - 1))
            exact = t[j] == 0.0 or (j == 0 and t[0] > 0.0) or t[-1] < 0.0
            start_row[a] = p[j] if exact else float(np.exp(logp[0]))

    shock_r = _shock_returns(shocks, c, sig, step_ms, n_steps, set(replayed))
    jump_params = None if jumps is None else _jump_params(jumps, n)

    # --- diffusion: one vectorised draw for every cell keeps RNG consumption independent of
    # which assets are replayed.
    raw = rng.standard_normal((n_steps, n))
    drift_term = (mu - 0.5 * sig**2) * dt
    scale = sig * np.sqrt(dt)
    if not replayed:
        z = raw @ correlation_factor(c).T
    else:
        # Gaussian conditioning of the free assets U on the replayed assets K (with vol > 0;
        # a zero-vol replay carries no information about the shared Brownian motion).
        free = [j for j in range(n) if j not in rep_data]
        known = [k for k in replayed if sig[k] > 0]
        z = np.zeros((n_steps, n))
        if free:
            s_uu = c[np.ix_(free, free)]
            if known:
                z_k = np.empty((n_steps, len(known)))
                for col, k in enumerate(known):
                    r_k = np.diff(rep_logs[k])
                    z_k[:, col] = (r_k - drift_term[k]) / scale[k]
                s_uk = c[np.ix_(free, known)]
                gain = s_uk @ np.linalg.pinv(c[np.ix_(known, known)])
                cond_mean = z_k @ gain.T
                cond_cov = s_uu - gain @ s_uk.T
                z[:, free] = cond_mean + raw[:, free] @ _psd_factor(cond_cov).T
            else:
                z[:, free] = raw[:, free] @ _psd_factor(s_uu).T

    returns = drift_term + scale * z
    if jump_params is not None:
        returns += _jump_returns(jump_params, n_steps, dt, rng)
    returns += shock_r

    cum = np.zeros((n_steps + 1, n))
    np.cumsum(returns, axis=0, out=cum[1:])
    for a, logp in rep_logs.items():
        # Replays use their own cumulative log path (not a cumsum of differences) so replay
        # points are reproduced to rounding error; shocks on the replayed asset add on top.
        cum[:, a] = (logp - logp[0]) + np.concatenate(([0.0], np.cumsum(shock_r[:, a])))
    # start * exp(0) == start exactly, so constant paths stay exactly constant.
    prices = start_row * np.exp(cum)

    times.setflags(write=False)
    prices.setflags(write=False)
    return PricePaths(times_ms=times, prices=prices)
