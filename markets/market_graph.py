"""The market graph: what a world is made of, and the edges a price move travels along.

One networkx ``MultiDiGraph`` per run (edges keyed by their kind, so two markets can be
linked in two ways at once, e.g. by cross impact and by an arbitrageur), built from the
scenario when the world is built; it is the source of truth for the wiring
(``markets.wiring`` compiles it into the links the venues use), so editing it changes the
run. Nodes, by ``kind``:

- ``venue:<v>``, ``market:<v>:<m>`` (attributes ``venue``, ``name``, ``asset``),
  ``asset:<a>``;
- ``index:<v>:<m>``: the index price market ``m`` of venue ``v`` reads (``venue``, ``market``,
  ``asset``);
- ``collateral:<c>``: a collateral asset (USD, which every venue takes, and any other asset a
  venue accepts);
- ``group:<v>:<g>``: one account group of a venue (a population, the explicit accounts, the
  maker, the venue's own rows).

Edges, by ``kind``: ``lists`` (venue -> market), ``underlying`` (market -> asset),
``cross_impact`` (market -> market, ``beta``: that share of the source's log move passes to
the target, possibly on another venue), ``arbitrage`` (market -> market on another venue, the
same asset: an arbitrageur ``name`` with ``latency_ms``, ``threshold``, ``capital`` and
``leverage`` trades the two books), ``index_weight`` (market -> index, ``weight``: that
share of the market's log displacement is in the index), ``index_of`` (index -> the market
that reads it), ``collateral`` (collateral asset -> venue, ``haircut``), and ``exposure``
(group -> market: ``long`` and ``short`` USD notional at the start; group -> collateral:
``amount``). Attributes are plain numbers and strings, so the graph writes as GraphML.

Pure networkx; nothing here knows SimPy, accounts' storage or the simulator.
"""

from __future__ import annotations

from collections.abc import Iterable

import networkx as nx

# The edge kinds the wiring reads; the others describe the world and drive nothing.
DRIVING_EDGES = ("cross_impact", "arbitrage", "index_weight", "index_of")


def market_node(venue: str, market: str) -> str:
    return f"market:{venue}:{market}"


def index_node(venue: str, market: str) -> str:
    return f"index:{venue}:{market}"


def build_market_graph(
    markets: Iterable[tuple[str, str, str]],
    cross_impacts: Iterable[tuple[str, str, str, str, float]] = (),
    index_weights: Iterable[tuple[str, str, str, str, float]] = (),
    exposures: Iterable[tuple[str, str, str, float, float]] = (),
    collateral: Iterable[tuple[str, str, float]] = (),
    arbitrage: Iterable[tuple[str, str, str, str, str, dict[str, float]]] = (),
    accepted: Iterable[tuple[str, str, float]] = (),
    holdings: Iterable[tuple[str, str, str, float, float]] = (),
) -> nx.MultiDiGraph:
    """Build the graph from plain tuples.

    ``markets``: (venue, market, asset). ``cross_impacts``: (source venue, source market,
    target venue, target market, beta). ``index_weights``: (venue, market whose index it is,
    source venue, source market, weight). ``exposures``: (venue, group, market, long USD,
    short USD). ``collateral``: (venue, group, USD amount); every venue takes USD at no
    haircut. ``arbitrage``: (name, venue, market, other venue, other market, attributes).
    ``accepted``: (venue, asset, haircut) other collateral; ``holdings``: (venue, group, asset,
    quantity, USD value before the haircut)."""
    g = nx.MultiDiGraph()
    g.add_node("collateral:USD", kind="collateral", name="USD")
    for venue, market, asset in markets:
        node = market_node(venue, market)
        if f"venue:{venue}" not in g:
            g.add_node(f"venue:{venue}", kind="venue", name=venue)
            _edge(g, "collateral:USD", f"venue:{venue}", "collateral", haircut=0.0)
        g.add_node(f"asset:{asset}", kind="asset", name=asset)
        g.add_node(node, kind="market", venue=venue, name=market, asset=asset)
        _edge(g, f"venue:{venue}", node, "lists")
        _edge(g, node, f"asset:{asset}", "underlying")
        index = index_node(venue, market)
        g.add_node(index, kind="index", venue=venue, market=market, asset=asset)
        _edge(g, index, node, "index_of")
    for sv, sm, tv, tm, beta in cross_impacts:
        _edge(g, market_node(sv, sm), market_node(tv, tm), "cross_impact", beta=float(beta))
    for name, va, ma, vb, mb, attrs in arbitrage:
        _edge(g, market_node(va, ma), market_node(vb, mb), "arbitrage", name=name,
              **{k: float(v) for k, v in attrs.items()})
    for venue, market, sv, sm, weight in index_weights:
        _edge(g, market_node(sv, sm), index_node(venue, market), "index_weight",
              weight=float(weight))
    for venue, group, market, long, short in exposures:
        _edge(g, _group(g, venue, group), market_node(venue, market), "exposure",
              long=float(long), short=float(short))
    for venue, group, amount in collateral:
        _edge(g, _group(g, venue, group), "collateral:USD", "exposure", amount=float(amount))
    for venue, asset, haircut in accepted:
        g.add_node(f"collateral:{asset}", kind="collateral", name=asset)
        _edge(g, f"collateral:{asset}", f"venue:{venue}", "collateral", haircut=float(haircut))
    for venue, group, asset, qty, value in holdings:
        _edge(g, _group(g, venue, group), f"collateral:{asset}", "exposure", amount=float(qty),
              value=float(value))
    return g


def _edge(g: nx.MultiDiGraph, u: str, v: str, kind: str, **attrs: object) -> None:
    """An edge keyed by its kind, between nodes that exist."""
    missing = [n for n in (u, v) if n not in g]
    if missing:
        raise ValueError(f"market graph: a {kind} edge names unknown node(s) "
                         f"{', '.join(missing)}")
    g.add_edge(u, v, kind, kind=kind, **attrs)


def _group(g: nx.MultiDiGraph, venue: str, group: str) -> str:
    node = f"group:{venue}:{group}"
    if node not in g:
        g.add_node(node, kind="account_group", venue=venue, name=group)
    return node
