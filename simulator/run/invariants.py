"""The model's invariants, asserted during a run with ``--check`` and by the property tests.

- zero-sum: long and short quantities are equal per market (the maker counts as an account);
- conservation: accounts' cash value + insurance funds - deposits - losses the venue absorbed
  is constant (relative 1e-9);
- the insurance fund is never negative;
- a flat account never pays a socialized loss;
- a liquidation never leaves an account riskier (its margin ratio does not rise);
- the book is never crossed; every number stays finite.

Knows the world's public state; a violation raises ``InvariantError`` naming what broke.
"""

from __future__ import annotations

import numpy as np

from markets.margin.detection import CROSS, Breach
from markets.venue import Venue
from simulator.errors import SimulationError

RTOL = 1e-9


class InvariantError(SimulationError):
    """An invariant of the model does not hold."""


def value_scale(venue: Venue) -> float:
    """Scale for relative tolerances: money in the system plus open notional."""
    acc = venue.accounts
    notional = float((np.abs(acc.pos) * np.abs(acc.entry)).sum())
    return max(1.0, float(np.abs(acc.wallet).sum() + np.abs(acc.iso_margin).sum()) + notional
               + sum(f.balance for f in venue.funds))


def system_value(venue: Venue) -> float:
    """Accounts' cash (vault, keepers and fund rows included) + funds + the venue's fee
    revenue - deposits + withdrawals - losses the venue absorbed or has yet to socialize -
    collateral revaluation: constant."""
    funds = sum(f.balance for f in venue.funds)
    revalued = venue.collateral.revalued if venue.collateral is not None else 0.0
    counters = venue.counters
    return (venue.accounts.cash_value() + funds + counters.revenue - counters.deposits
            + counters.withdrawals - counters.absorbed - counters.deferred - revalued)


def check_venue(venue: Venue, initial_value: float, now_ms: int) -> None:
    acc, where = venue.accounts, f"{venue.name} at {now_ms} ms"
    for name in ("wallet", "pos", "entry", "iso_margin"):
        if not np.isfinite(getattr(acc, name)).all():
            raise InvariantError(f"non-finite {name} in {where}")
    net = acc.pos.sum(axis=0)
    gross = np.abs(acc.pos).sum(axis=0)
    bad = np.abs(net) > RTOL * np.maximum(gross, 1.0)
    if bad.any():
        m = int(np.argmax(bad))
        raise InvariantError(
            f"open interest is not zero-sum in {venue.markets[m].name} ({where}): "
            f"longs - shorts = {net[m]:.6g}"
        )
    drift = system_value(venue) - initial_value
    if abs(drift) > RTOL * value_scale(venue):
        raise InvariantError(f"value not conserved in {where}: drift {drift:.6g} USD")
    for fund in venue.funds:
        if fund.balance < 0:
            raise InvariantError(f"insurance fund {fund.name} negative in {where}: "
                                 f"{fund.balance:.6g}")
    for mk in venue.markets:
        bid, ask = mk.book.best_prices(mk.prices.mid)
        if not bid < ask:
            raise InvariantError(f"book crossed in {mk.name} ({where}): bid {bid} >= ask {ask}")


class InvariantChecker:
    """Holds each venue's starting value; hooked into the oracle and the liquidation engine."""

    def __init__(self, world) -> None:
        self.venues = list(world.venues)
        self.initial = {v.name: system_value(v) for v in self.venues}
        self._before: dict[tuple[str, int, int], float] = {}
        self._holders: dict[str, np.ndarray] = {}

    def check_all(self, now_ms: int) -> None:
        for v in self.venues:
            check_venue(v, self.initial[v.name], now_ms)

    def before_liquidation(self, venue: Venue, breach: Breach) -> None:
        self._before[(venue.name, breach.account, breach.scope)] = _risk(venue, breach)
        self._holders[venue.name] = (venue.accounts.pos != 0).any(axis=1)
        self._charged = venue.counters.social_charged.copy()

    def after_liquidation(self, venue: Venue, breach: Breach, now_ms: int) -> None:
        before = self._before.pop((venue.name, breach.account, breach.scope), None)
        after = _risk(venue, breach)
        if before is not None and after[1] > before[1] * (1 + RTOL) + RTOL:
            raise InvariantError(
                f"liquidation added exposure to account {breach.account} in {venue.name} at "
                f"{now_ms} ms: maintenance {before[1]:.6g} -> {after[1]:.6g}"
            )
        # A close of everything must not leave the account riskier. (A partial or chunked close
        # only reduces exposure: its slippage and fee can raise the ratio of what is left.)
        if before is not None and after[1] == 0 and after[0] > before[0] * (1 + RTOL) + RTOL:
            raise InvariantError(
                f"liquidation left account {breach.account} riskier in {venue.name} at {now_ms} "
                f"ms: maintenance/equity {before[0]:.6g} -> {after[0]:.6g}"
            )
        # Charged accounts must hold a position in the liquidation (before it, or after it: a
        # counterparty of the forced order holds one when the loss is charged).
        paid = venue.counters.social_charged - self._charged
        holds = self._holders[venue.name] | (venue.accounts.pos != 0).any(axis=1)
        flat_payers = np.nonzero((paid > 0) & ~holds)[0]
        if flat_payers.size:
            raise InvariantError(
                f"flat account {int(flat_payers[0])} paid a socialized loss in {venue.name}"
            )
        check_venue(venue, self.initial[venue.name], now_ms)


def _risk(venue: Venue, breach: Breach) -> tuple[float, float]:
    """The breached scope's (maintenance / equity, inf when equity <= 0, 0 when flat; and
    maintenance). A full close sends both to 0."""
    acc, marks = venue.accounts, venue.marks
    cross_eq, cross_mm, iso_eq, iso_mm = acc.margin_state(np.array([breach.account]), marks)
    if breach.scope == CROSS:
        eq, mm = cross_eq[0], cross_mm[0]
    else:
        eq, mm = iso_eq[0, breach.scope], iso_mm[0, breach.scope]
    if mm == 0:
        return 0.0, 0.0
    return (float(mm / eq) if eq > 0 else float("inf")), float(mm)
