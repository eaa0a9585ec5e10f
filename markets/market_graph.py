"""The market graph: venues, markets and assets, and the edges a price move travels along.

Nodes are ``venue:<v>``, ``market:<v>:<m>`` and ``asset:<a>``. Edges: venue -> market
(``lists``), market -> asset (``underlying``), market -> market ``cross_impact`` (a beta of a
move passes on) and ``arbitrage`` between markets on the same asset on different venues.
Built once from the scenario, for analysis and for wiring; never queried per tick.
Pure networkx; nothing here knows SimPy or the simulator.
"""

from __future__ import annotations

from collections.abc import Iterable

import networkx as nx


def market_node(venue: str, market: str) -> str:
    return f"market:{venue}:{market}"


def build_market_graph(
    markets: Iterable[tuple[str, str, str]], cross_impacts: Iterable[tuple[str, str, str, float]],
) -> nx.DiGraph:
    """``markets``: (venue, market, asset); ``cross_impacts``: (venue, source, target, beta)."""
    g = nx.DiGraph()
    by_asset: dict[str, list[str]] = {}
    for venue, market, asset in markets:
        node = market_node(venue, market)
        g.add_node(f"venue:{venue}", kind="venue", name=venue)
        g.add_node(f"asset:{asset}", kind="asset", name=asset)
        g.add_node(node, kind="market", venue=venue, name=market, asset=asset)
        g.add_edge(f"venue:{venue}", node, kind="lists")
        g.add_edge(node, f"asset:{asset}", kind="underlying")
        by_asset.setdefault(asset, []).append(node)
    for venue, source, target, beta in cross_impacts:
        g.add_edge(market_node(venue, source), market_node(venue, target), kind="cross_impact",
                   beta=beta)
    for nodes in by_asset.values():
        for a in nodes:
            for b in nodes:
                if a != b and g.nodes[a]["venue"] != g.nodes[b]["venue"]:
                    g.add_edge(a, b, kind="arbitrage")
    return g
