"""The arbitrageurs as SimPy processes: each waits for a move of either of its books, then for
its latency, then trades the gap as it stands (``markets.arbitrage``).

Moves that arrive while it waits are seen together when it acts; its own trades wake it once
more, to find the gap closed down to its threshold. After acting it may start a transfer of
capital to a leg that ran low (``transfer_process``), which waits out withdrawal and deposit
halts. Thin glue: what it trades is decided in
``markets.arbitrage``.
"""

from __future__ import annotations

from collections.abc import Generator

import simpy

from agents.wakeup import Wakeup
from markets.arbitrage import MIN_NOTIONAL, Arbitrageur, Leg
from markets.transfers import withdraw


def arbitrage_process(env: simpy.Environment, arb: Arbitrageur) -> Generator:
    wake = Wakeup(env)
    for leg in (arb.a, arb.b):
        leg.venue.mid_moved.subscribe(_on_market(leg.market, wake))
    while True:
        yield wake.event
        wake.reset()
        latency = arb.rule.latency_ms
        if latency > 0:
            # A degraded API on either venue slows it by that venue's factor.
            factor = max(leg.venue.disruptions.latency_factor(env.now) for leg in (arb.a, arb.b))
            yield env.timeout(round(latency * factor))
        arb.act(env.now)
        planned = arb.transfer()
        if planned is not None:
            env.process(transfer_process(env, arb, *planned))


def transfer_process(
    env: simpy.Environment, arb: Arbitrageur, source: Leg, target: Leg, amount: float,
) -> Generator:
    """Move ``amount`` of the arbitrageur's capital from ``source``'s venue to ``target``'s:
    withdraw (after any withdrawal halt), ``transfer_ms`` in transit, deposit (after any
    deposit halt). The amount (USD) is capped again at what the source can spare when it
    leaves; each venue takes it in its own unit of account."""
    arb.in_transit = True
    while True:
        amount = min(amount, arb.spare(source))
        if amount < MIN_NOTIONAL:
            arb.in_transit = False
            return
        if withdraw(source.venue, source.row, source.venue.from_usd(amount), env.now):
            break
        yield env.timeout(source.venue.disruptions.until("withdrawals", env.now) - env.now)
    yield env.timeout(arb.rule.transfer_ms)
    venue = target.venue
    while (halt := venue.disruptions.until("deposits", env.now)) is not None:
        # Refused: logged, retried after the halt.
        venue.deposit(target.row, venue.from_usd(amount), env.now)
        yield env.timeout(halt - env.now)
    venue.deposit(target.row, venue.from_usd(amount), env.now)
    venue.detect(env.now)
    arb.in_transit = False


def _on_market(market: int, wake: Wakeup):
    def listener(moved: int) -> None:
        if moved == market:
            wake()
    return listener
