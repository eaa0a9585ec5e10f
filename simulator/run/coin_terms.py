"""An inverse venue's config in its own terms: x = 1/P, money in the coin.

A scenario states every amount in USD and every price in USD per coin, whatever the venue's
contract. An inverse venue (``markets.inverse``) runs in x = 1/P with the coin as its unit of
account, so its USD amounts are converted once, at the start price, when the world is built:
book depth, tier floors, open-interest caps, insurance funds and their caps, chunking
thresholds, the vault's and keepers' capital. The tick becomes the x step of one tick of P at
the start (dx = dP / P^2), so the ladder keeps its relative spacing. Rates, leverages,
fractions and durations carry over unchanged. Knows the config models; nothing here runs.
"""

from __future__ import annotations

from simulator.config import models as cfg


def coin_terms(vc: cfg.Venue, price: float) -> cfg.Venue:
    """``vc`` with its USD amounts in the coin at ``price`` (USD per coin at the start)."""
    c = 1.0 / price

    def scaled(value: float | None) -> float | None:
        return None if value is None else value * c

    markets = []
    for mc in vc.markets:
        depth = mc.depth.model_copy(update={
            "profile": [(d, usd * c) for d, usd in mc.depth.profile]})
        tiers = [t.model_copy(update={"notional": t.notional * c}) for t in mc.tiers]
        markets.append(mc.model_copy(update={
            "tick": mc.tick * c * c, "depth": depth, "tiers": tiers,
            "insurance_fund": scaled(mc.insurance_fund),
            "open_interest_cap": scaled(mc.open_interest_cap)}))
    lq = vc.liquidation
    liquidation = lq.model_copy(update={
        "chunking": None if lq.chunking is None else lq.chunking.model_copy(
            update={"above": lq.chunking.above * c}),
        "backstop": None if lq.backstop is None else lq.backstop.model_copy(
            update={"capital": scaled(lq.backstop.capital)}),
        "auction": None if lq.auction is None else lq.auction.model_copy(update={
            "keepers": None if lq.auction.keepers is None else lq.auction.keepers.model_copy(
                update={"capital": lq.auction.keepers.capital * c})}),
    })
    fund = vc.fund.model_copy(update={"cap_per_event": scaled(vc.fund.cap_per_event),
                                      "cap_per_period": scaled(vc.fund.cap_per_period)})
    return vc.model_copy(update={
        "markets": markets, "liquidation": liquidation, "fund": fund,
        "insurance_fund": vc.insurance_fund * c})
