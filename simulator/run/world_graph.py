"""The market graph a scenario describes, with each account group's exposure at the start.

Venues, markets, assets and indices with the scenario's cross impacts, index weights (the
venues' own index share, or the scenario's ``index_weights``) and arbitrageurs; collateral,
and each account group's long and short notional per market and collateral held. The build
compiles it into the run's wiring (``markets.wiring``). Reads the scenario and the built
venues; changes nothing.
"""

from __future__ import annotations

import networkx as nx
import pandas as pd

from markets.market_graph import build_market_graph
from markets.venue import Venue
from simulator.config import Scenario
from simulator.config import models as cfg


def scenario_graph(
    scenario: Scenario, venues: list[Venue], accounts: pd.DataFrame,
) -> nx.MultiDiGraph:
    """The market graph the scenario describes, with each account group's starting exposure."""
    by_name = {vc.name: vc for vc in scenario.venues}
    index = []
    for vc in scenario.venues:
        share = vc.mark.index_impact_share
        if share > 0:
            index.extend((vc.name, m.name, vc.name, m.name, share) for m in vc.markets)
    for w in scenario.index_weights:
        # The scenario's weights replace the venue's own share for that asset.
        index = [e for e in index
                 if not (e[0] == w.venue and _asset(by_name, e[0], e[1]) == w.asset)]
        for m in (m for m in by_name[w.venue].markets if m.asset == w.asset):
            for source, weight in w.weights.items():
                index.append((w.venue, m.name, source, _listed(by_name, source, w.asset),
                              weight))
    exposures, collateral, holdings = [], [], []
    for venue in venues:
        here = accounts[accounts["venue"] == venue.name]
        acc = venue.accounts
        price = venue.marks
        for group, rows in here.groupby("group", sort=False)["account"]:
            rows = rows.to_numpy()
            # USD notional: an inverse venue's positions are contracts of 1 USD, short in x
            # for a long, and its cash is coin.
            notional = -acc.pos[rows] if venue.inverse else acc.pos[rows] * price
            for m, mk in enumerate(venue.markets):
                long = float(notional[:, m].clip(min=0).sum())
                short = float(-notional[:, m].clip(max=0).sum())
                if long or short:
                    exposures.append((venue.name, group, mk.name, long, short))
            cash = float(acc.wallet[rows].sum() + acc.iso_margin[rows].sum())
            book = venue.collateral
            if book is not None:
                cash -= float(book.value(rows).sum())
                for c, name in enumerate(book.names):
                    qty = float(book.holdings[rows, c].sum())
                    if qty:
                        holdings.append((venue.name, group, name, qty, qty * book.prices[c]))
            collateral.append((venue.name, group, venue.usd(cash)))
    arbitrage = []
    for a in scenario.arbitrage:
        va, vb = a.venues
        arbitrage.append((a.name, va, _listed(by_name, va, a.asset), vb,
                          _listed(by_name, vb, a.asset),
                          {"latency_ms": a.latency, "threshold": a.threshold,
                           "capital": a.capital, "leverage": a.leverage,
                           # 0: no rebalancing (GraphML holds no nulls)
                           "rebalance_below": a.rebalance.below if a.rebalance else 0.0,
                           "transfer_ms": a.rebalance.transfer if a.rebalance else 0}))
    return build_market_graph(
        [(v.name, m.name, m.asset) for v in scenario.venues for m in v.markets],
        [(c.venue, c.source, c.target_venue or c.venue, c.target, c.beta)
         for c in scenario.cross_impact],
        index, exposures, collateral, arbitrage,
        [(v.name, c.asset, c.haircut) for v in scenario.venues for c in v.collateral], holdings,
    )


def _listed(venues: dict[str, cfg.Venue], venue: str, asset: str) -> str:
    """The venue's one market on ``asset`` (the scenario checked there is exactly one)."""
    return next(m.name for m in venues[venue].markets if m.asset == asset)


def _asset(venues: dict[str, cfg.Venue], venue: str, market: str) -> str:
    return next(m.asset for m in venues[venue].markets if m.name == market)
