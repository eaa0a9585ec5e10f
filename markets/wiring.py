"""Compile the market graph's driving edges into the links venues follow, once, at build time.

``compile_wiring`` reads the graph (``markets.market_graph``) and numbers its markets in the
run's order: per market, the cross-impact betas out of it and the index weights into the index
it reads, and the arbitrage edges. ``wire`` hands the first two to the venues as ``Link``
lists (the mid's cross impacts, the indices a mid is part of) and as each index's sources;
``arbitrageurs`` makes the arbitrageurs of the arbitrage edges. Nothing queries networkx
during a run; editing the graph before the world is wired changes the run. A graph that
cannot drive a run (an edge between the wrong kinds of node, a weight out of range, a market
the world lacks) raises ``WiringError`` naming the edge.

Knows venues and prices; nothing here knows SimPy or the simulator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import networkx as nx

from markets.arbitrage import ArbitrageRule, Arbitrageur, Leg
from markets.inverse import link_sign
from markets.venue import Link, Venue

Edges = tuple[tuple[int, float], ...]  # (market number, weight), by market number


class WiringError(ValueError):
    """The market graph cannot drive a run; the message names the edge or node."""


@dataclass(frozen=True)
class ArbitrageEdge:
    name: str
    a: int  # market numbers
    b: int
    latency_ms: int
    threshold: float
    capital: float
    leverage: float
    rebalance_below: float  # 0: the arbitrageur never moves capital
    transfer_ms: int


@dataclass(frozen=True)
class Wiring:
    """The driving edges by market number (the order of ``markets``, node ids)."""

    markets: tuple[str, ...]
    cross_impact: tuple[Edges, ...]  # per source market: (target, beta)
    index_weight: tuple[Edges, ...]  # per market, the index it reads: (source, weight)
    arbitrage: tuple[ArbitrageEdge, ...] = ()


def compile_wiring(graph: nx.MultiDiGraph, markets: list[str]) -> Wiring:
    """Number ``markets`` (market node ids, in the run's order) and collect the graph's
    cross-impact and index edges between them."""
    number = {node: k for k, node in enumerate(markets)}
    kinds = nx.get_node_attributes(graph, "kind")
    listed = {n for n, kind in kinds.items() if kind == "market"}
    for node in markets:
        if kinds.get(node) != "market":
            raise WiringError(f"market graph: the world's market {node} is not in the graph")
    extra = sorted(listed - set(number))
    if extra:
        raise WiringError(f"market graph: {extra[0]} is not a market of this world")
    impact: list[dict[int, float]] = [{} for _ in markets]
    into_index: dict[str, dict[int, float]] = {}
    read_by: dict[int, str] = {}
    arbitrage: list[ArbitrageEdge] = []
    for u, v, data in graph.edges(data=True):
        match data.get("kind"):
            case "cross_impact":
                _kinds(kinds, u, v, "market", "market", "cross_impact")
                if u == v:
                    raise WiringError(f"market graph: cross_impact {u} -> itself")
                impact[number[u]][number[v]] = _weight(data, "beta", u, v, -1.0)
            case "index_weight":
                _kinds(kinds, u, v, "market", "index", "index_weight")
                into_index.setdefault(v, {})[number[u]] = _weight(data, "weight", u, v, 0.0)
            case "index_of":
                _kinds(kinds, u, v, "index", "market", "index_of")
                if number[v] in read_by:
                    raise WiringError(f"market graph: {v} reads two indices "
                                      f"({read_by[number[v]]} and {u})")
                read_by[number[v]] = u
            case "arbitrage":
                arbitrage.append(_arbitrage(graph, u, v, data, number))
    for index, sources in into_index.items():
        total = sum(sources.values())
        if total > 1.0 + 1e-12:
            raise WiringError(f"market graph: the weights into {index} add up to {total:g} "
                              f"(at most 1; the rest is the fundamental)")
    weights = tuple(_sorted(into_index.get(read_by.get(k, ""), {})) for k in range(len(markets)))
    names = [a.name for a in arbitrage]
    if len(set(names)) != len(names):
        raise WiringError("market graph: two arbitrage edges share a name")
    return Wiring(tuple(markets), tuple(_sorted(e) for e in impact), weights,
                  tuple(sorted(arbitrage, key=lambda a: a.name)))


def arbitrageurs(
    venues: list[Venue], wiring: Wiring, rows: dict[str, dict[str, int]],
) -> list[Arbitrageur]:
    """The arbitrageurs of the graph's arbitrage edges, with their accounts ``rows`` (per
    name, per venue name). Their collateral is the edge's capital, split equally between the
    two venues."""
    flat = [(v, m) for v in venues for m in range(len(v.markets))]
    made = []
    for edge in wiring.arbitrage:
        if edge.name not in rows:
            raise WiringError(f"market graph: arbitrage edge {edge.name!r} has no accounts "
                              f"(declare the arbitrageur in the scenario)")
        legs = []
        for k in (edge.a, edge.b):
            venue, m = flat[k]
            row = rows[edge.name].get(venue.name)
            if row is None:
                raise WiringError(f"market graph: arbitrageur {edge.name!r} has no account on "
                                  f"{venue.name}")
            venue.accounts.wallet[row] = venue.from_usd(edge.capital / 2)
            legs.append(Leg(venue, m, row))
        made.append(Arbitrageur(edge.name, *legs, ArbitrageRule(
            edge.latency_ms, edge.threshold, edge.leverage, edge.rebalance_below,
            edge.transfer_ms)))
    return made


def wire(venues: list[Venue], wiring: Wiring) -> None:
    """Give every market its links: cross impacts out of its mid, the indices its mid is
    part of, and its own index's share of its mid and other sources. A link between an
    inverse and a linear market carries its weight with the sign flipped."""
    flat = [(v, m) for v in venues for m in range(len(v.markets))]
    if len(flat) != len(wiring.markets):
        raise WiringError(f"market graph: wiring for {len(wiring.markets)} markets, the world "
                          f"has {len(flat)}")
    for venue, m in flat:
        mk = venue.markets[m]
        mk.cross_impacts, mk.index_consumers = [], []
        mk.prices.index_share, mk.prices.index_sources = 0.0, []
    for k, (venue, m) in enumerate(flat):
        mk = venue.markets[m]
        mk.cross_impacts = [Link(flat[t][0], flat[t][1],
                                 link_sign(venue.inverse, flat[t][0].inverse) * beta)
                            for t, beta in wiring.cross_impact[k]]
        for source, weight in wiring.index_weight[k]:
            if source == k:
                mk.prices.index_share = weight
                continue
            sv, sm = flat[source]
            weight *= link_sign(sv.inverse, venue.inverse)  # an inverse mid moves as 1/P
            mk.prices.index_sources.append((sv.markets[sm].prices, weight))
            sv.markets[sm].index_consumers.append(Link(venue, m, weight))


def _arbitrage(
    graph: nx.MultiDiGraph, u: str, v: str, data: dict, number: dict[str, int],
) -> ArbitrageEdge:
    nodes = graph.nodes
    if nodes[u].get("kind") != "market" or nodes[v].get("kind") != "market":
        raise WiringError(f"market graph: an arbitrage edge runs market -> market, not "
                          f"{u} -> {v}")
    if nodes[u]["venue"] == nodes[v]["venue"] or nodes[u]["asset"] != nodes[v]["asset"]:
        raise WiringError(f"market graph: arbitrage {u} -> {v} needs two venues' markets on "
                          f"one asset")
    latency = data.get("latency_ms")
    if not isinstance(latency, int | float) or not 0 <= latency < math.inf:
        raise WiringError(f"market graph: arbitrage {u} -> {v} needs latency_ms >= 0")
    capital, leverage = data.get("capital"), data.get("leverage")
    for key, value in (("capital", capital), ("leverage", leverage)):
        if not isinstance(value, int | float) or not 0 < value < math.inf:
            raise WiringError(f"market graph: arbitrage {u} -> {v} needs {key} > 0")
    threshold = _weight(data, "threshold", u, v, 0.0)
    below, transfer = data.get("rebalance_below", 0.0), data.get("transfer_ms", 0)
    if not isinstance(below, int | float) or not 0 <= below < 1:
        raise WiringError(f"market graph: arbitrage {u} -> {v} needs 0 <= rebalance_below < 1")
    if not isinstance(transfer, int | float) or not 0 <= transfer < math.inf:
        raise WiringError(f"market graph: arbitrage {u} -> {v} needs transfer_ms >= 0")
    return ArbitrageEdge(str(data.get("name", f"{u}->{v}")), number[u], number[v],
                         int(latency), threshold, float(capital), float(leverage),
                         float(below), int(transfer))


def _sorted(edges: dict[int, float]) -> Edges:
    return tuple(sorted(edges.items()))


def _kinds(kinds: dict, u: str, v: str, want_u: str, want_v: str, edge: str) -> None:
    if kinds.get(u) != want_u or kinds.get(v) != want_v:
        raise WiringError(f"market graph: a {edge} edge runs {want_u} -> {want_v}, not "
                          f"{u} -> {v}")


def _weight(data: dict, key: str, u: str, v: str, low: float) -> float:
    value = data.get(key)
    if not isinstance(value, int | float) or not math.isfinite(value) or not low <= value <= 1:
        raise WiringError(f"market graph: {u} -> {v} needs {key} in [{low:g}, 1], got {value!r}")
    return float(value)
