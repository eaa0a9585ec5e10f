"""Compile the market graph's driving edges into the links venues follow, once, at build time.

``compile_wiring`` reads the graph (``markets.market_graph``) and numbers its markets in the
run's order: per market, the cross-impact betas out of it and the index weights into the index
it reads. ``wire`` hands them to the venues as ``Link`` lists (the mid's cross impacts, the
indices a mid is part of) and as each index's sources. Nothing queries networkx during a run;
editing the graph before the world is wired changes the run. A graph that cannot drive a run
(an edge between the wrong kinds of node, a weight out of range, a market the world lacks)
raises ``WiringError`` naming the edge.

Knows venues and prices; nothing here knows SimPy or the simulator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import networkx as nx

from markets.venue import Link, Venue

Edges = tuple[tuple[int, float], ...]  # (market number, weight), by market number


class WiringError(ValueError):
    """The market graph cannot drive a run; the message names the edge or node."""


@dataclass(frozen=True)
class Wiring:
    """The driving edges by market number (the order of ``markets``, node ids)."""

    markets: tuple[str, ...]
    cross_impact: tuple[Edges, ...]  # per source market: (target, beta)
    index_weight: tuple[Edges, ...]  # per market, the index it reads: (source, weight)


def compile_wiring(graph: nx.DiGraph, markets: list[str]) -> Wiring:
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
    for index, sources in into_index.items():
        total = sum(sources.values())
        if total > 1.0 + 1e-12:
            raise WiringError(f"market graph: the weights into {index} add up to {total:g} "
                              f"(at most 1; the rest is the fundamental)")
    weights = tuple(_sorted(into_index.get(read_by.get(k, ""), {})) for k in range(len(markets)))
    return Wiring(tuple(markets), tuple(_sorted(e) for e in impact), weights)


def wire(venues: list[Venue], wiring: Wiring) -> None:
    """Give every market its links: cross impacts out of its mid, the indices its mid is
    part of, and its own index's share of its mid and other sources."""
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
        mk.cross_impacts = [Link(flat[t][0], flat[t][1], beta)
                            for t, beta in wiring.cross_impact[k]]
        for source, weight in wiring.index_weight[k]:
            if source == k:
                mk.prices.index_share = weight
                continue
            sv, sm = flat[source]
            mk.prices.index_sources.append((sv.markets[sm].prices, weight))
            sv.markets[sm].index_consumers.append(Link(venue, m, weight))


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
