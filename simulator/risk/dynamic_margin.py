"""Dynamic margin of ``liqsim risk``: the scenario's own price path walked without impact or
responses, under the fixed maintenance rules and under volatility-scaled ones.

The **path pass**: every venue's markets follow the world's price path (``World.paths``, one
row per oracle step), their marks equal to the fundamentals (an inverse venue's 1/P) and the
venue's non-USD collateral revalued as ``CollateralBook.revalue`` does (depegs included). At
every ``every_ms`` of simulated time the account scopes below maintenance are found with the
venue's own margin arithmetic (``Accounts.margin_state``/``slack_of``); a scope once breached
is closed whole at that step's prices (its notional liquidated, its equity short of zero bad
debt) and stays closed. The **volatility rule** is a ``markets.risk_controls.VolatilityMargin``
per market fed every oracle step's mark, as ``Venue._observe_controls`` feeds it in a run (the
start mark at time 0 first), its multiplier applied through ``Accounts.mm_mult``: the venue's
own settings if its risk controls have one (then "fixed" is the same venue with the control
off), else ``rule`` (default: the config model's ``VolatilityMargin()``). No impact, no
responses, no funding: a rising multiplier shows as earlier, smaller closes with less bad debt.

Works on scratch copies of each venue's account arrays: the world is left as it was built.
Knows no SimPy, writes nothing, draws nothing.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
from pydantic import ValidationError

from markets.margin.accounts import Accounts
from markets.risk_controls import VolatilityMargin
from simulator.config import mechanisms as cfg
from simulator.config.units import parse_duration
from simulator.risk.book import scopes_at
from simulator.run.build import World

RULES = ("fixed", "volatility")
SUMMARY_COLUMNS = ("venue", "rule", "source", "liquidated_usd", "scopes", "accounts",
                   "bad_debt_usd", "first_breach_ms", "max_multiplier")
# The CLI's options of the default rule, named in its error messages.
RULE_OPTIONS = {"reference_vol": "--vol-reference", "sensitivity": "--vol-sensitivity",
                "max_multiplier": "--vol-max", "step": "--vol-step",
                "half_life": "--vol-half-life"}
PATH_COLUMNS = ("venue", "rule", "time_ms", "market", "multiplier", "liquidated_usd",
                "bad_debt_usd")


def scratch(acc: Accounts) -> Accounts:
    """A copy of ``acc`` whose mutable arrays are its own (the tier tables are shared)."""
    out = copy.copy(acc)
    for name in ("wallet", "pos", "entry", "iso_margin", "isolated", "mm_mult", "max_mmr"):
        setattr(out, name, getattr(acc, name).copy())
    out._oi = None
    return out


def close(acc: Accounts, scopes: list[tuple[int, int, float, float]]) -> None:
    """Close breached scopes in (scratch) ``acc``: the cross part's positions, or one
    isolated position."""
    for row, m, _, _ in scopes:
        if m < 0:
            acc.pos[row, ~acc.isolated[row]] = 0.0
        else:
            acc.pos[row, m] = 0.0


def venue_marks(venue, fundamentals: np.ndarray) -> np.ndarray:
    """Marks of the venue's markets from fundamentals (steps x markets; 1/P when inverse)."""
    return 1.0 / fundamentals if venue.inverse else fundamentals


def multiplier_path(marks: np.ndarray, times_ms: np.ndarray,
                    rule: cfg.VolatilityMargin) -> np.ndarray:
    """The published multiplier of each market (columns of ``marks``) after each step: a
    ``VolatilityMargin`` per market fed the start mark at time 0, then every step's mark."""
    out = np.ones_like(marks, dtype=float)
    for m in range(marks.shape[1]):
        vm = VolatilityMargin(rule.reference_vol, rule.sensitivity, rule.max_multiplier,
                              float(rule.half_life), rule.step)
        vm.update(0, float(marks[0, m]))
        for k in range(1, marks.shape[0]):
            vm.update(int(times_ms[k]), float(marks[k, m]))
            out[k, m] = vm.multiplier
    return out


def check_steps(times_ms: np.ndarray, every_ms: int) -> np.ndarray:
    """The steps checked: the first at or after each multiple of ``every_ms``, and the last."""
    if every_ms <= 0:
        raise ValueError(f"the path pass needs a positive check interval (got {every_ms} ms)")
    slot = times_ms // every_ms
    first = np.flatnonzero(np.diff(slot, prepend=-1) > 0)
    return np.unique(np.append(first, len(times_ms) - 1))


def walk(venue, marks: np.ndarray, times_ms: np.ndarray, steps: np.ndarray,
         multipliers: np.ndarray | None = None, asset_prices: np.ndarray | None = None):
    """Walk ``steps`` of the path on a scratch copy of the venue's accounts: per step, the
    scopes breached there are closed. Returns the list of ``(time_ms, row, market, equity
    USD, notional USD)`` closes and the cumulative (liquidated, bad debt) USD per step."""
    acc = scratch(venue.accounts)
    book = venue.collateral
    wallet0 = acc.wallet.copy()
    records, cumulative = [], []
    liq = bad = 0.0
    for k in steps.tolist():
        if multipliers is not None:
            for m in range(acc.n_markets):
                acc.set_maintenance_multiplier(m, float(multipliers[k, m]))
        if book is not None and asset_prices is not None and book.names:
            # CollateralBook.revalue's arithmetic, from the start valuation, on the copy.
            moved = book.valuation(int(times_ms[k]), asset_prices[k]) - book.prices
            acc.wallet = wallet0 + book.holdings @ (moved * (1.0 - book.haircuts))
        hit = scopes_at(venue, marks[k], acc)
        close(acc, hit)
        for row, m, eq, notional in hit:
            records.append((int(times_ms[k]), row, m, eq, notional))
            liq += notional
            bad += max(0.0, -eq)
        cumulative.append((liq, bad))
    return records, np.array(cumulative).reshape(-1, 2)


def dynamic_margin(world: World, rule: cfg.VolatilityMargin | None = None,
                   every_ms: int = 10_000) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(summary, path). ``summary``: per venue and rule, ``SUMMARY_COLUMNS`` (``source``:
    "venue" when the venue's own volatility margin is used, "default" for ``rule``;
    ``first_breach_ms`` NaN when nothing breaches). ``path``: per venue, rule, checked step
    and market, ``PATH_COLUMNS``: that market's multiplier and the venue's cumulative
    liquidated notional and bad debt under the rule (repeated on each market's row)."""
    rule = rule or cfg.VolatilityMargin()
    paths = world.paths
    times = np.asarray(paths.times_ms, dtype=np.int64)
    steps = check_steps(times, every_ms)
    summary, path = [], []
    for venue, vc, idx in zip(world.venues, world.venue_configs, world.asset_of_market,
                              strict=True):
        marks = venue_marks(venue, paths.prices[:, idx])
        own = vc.risk_controls.volatility_margin
        mults = multiplier_path(marks, times, own or rule)
        for name in RULES:
            used = mults if name == "volatility" else np.ones_like(mults)
            records, cum = walk(venue, marks, times, steps, used, paths.prices)
            summary.append({
                "venue": venue.name, "rule": name,
                "source": "fixed" if name == "fixed" else ("venue" if own else "default"),
                "liquidated_usd": float(sum(r[4] for r in records)), "scopes": len(records),
                "accounts": len({r[1] for r in records}),
                "bad_debt_usd": float(sum(max(0.0, -r[3]) for r in records)),
                "first_breach_ms": float(records[0][0]) if records else float("nan"),
                "max_multiplier": float(used[steps].max())})
            for m, mk in enumerate(venue.markets):
                path.append(pd.DataFrame({
                    "venue": venue.name, "rule": name, "time_ms": times[steps], "market": mk.name,
                    "multiplier": used[steps, m], "liquidated_usd": cum[:, 0],
                    "bad_debt_usd": cum[:, 1]}))
    out = pd.DataFrame(summary, columns=list(SUMMARY_COLUMNS)).astype(
        {"scopes": "int64", "accounts": "int64"})
    frame = (pd.concat(path, ignore_index=True) if path
             else pd.DataFrame(columns=list(PATH_COLUMNS)))
    return out, frame


def volatility_rule(**given: object) -> cfg.VolatilityMargin:
    """The default volatility rule with the fields ``given`` (None: the model's default),
    validated by the config model; a bad value raises ``ValueError`` naming the field."""
    fields = {k: v for k, v in given.items() if v is not None}
    try:
        return cfg.VolatilityMargin(**fields)
    except ValidationError as exc:
        errors = "; ".join(f"{RULE_OPTIONS.get(str(e['loc'][0]), e['loc'][0])}: {e['msg']}"
                           for e in exc.errors())
        raise ValueError(f"volatility rule: {errors}") from None


def check_interval(text: str) -> int:
    """The path pass's check interval in ms from a duration ("10s", 10000); > 0."""
    try:
        ms = parse_duration(text)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"--margin-every: {exc}") from None
    if ms <= 0:
        raise ValueError(f"--margin-every: the check interval must be > 0 (got {text!r})")
    return ms
