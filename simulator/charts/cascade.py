"""The cascade graph of a run as a picture: who liquidated whom, generation by generation.

``cascade_view(events, edges)`` lays the run's cascade graph (``simulator.run.graphs``) out
in layers: x is the cascade generation, and within a layer liquidations are ordered next to
the parents that caused them (a barycentre order: deterministic, no random layout). Nodes
are coloured by venue and sized by notional; edges are styled by kind (``book``,
``cross_impact``, ``index``, ``arbitrage``, ``waterfall``). A liquidation's waterfall events
(bankruptcy, insurance fund, ADL, socialized loss) sit just right of it as small glyphs.
Large cascades stay readable: only the largest cascades (weakly connected components, by
liquidated notional) that fit in ``max_liquidations`` are drawn; when even the largest does
not fit, the picture aggregates to one node per generation x market (rows "venue · market",
size by count, edges by count). ``CascadeView.caption`` says which was done.
``cascade_figure`` draws a view.

Reads the events and cascade-edge tables only; knows nothing of simulation objects.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np
import pandas as pd
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from simulator.charts import style as ps
from simulator.run.graphs import cascade_graph

__all__ = ["EDGE_STYLES", "MAX_LIQUIDATIONS", "CascadeView", "cascade_figure", "cascade_view"]

MAX_LIQUIDATIONS = 400  # drawn one by one up to this many; beyond, the largest cascades only
# Edge kinds in legend order; colours from the Okabe-Ito palette, waterfall a quiet grey.
EDGE_STYLES: dict[str, dict] = {
    "book": {"color": "#0072B2", "ls": "-"},
    "cross_impact": {"color": "#E69F00", "ls": "--"},
    "index": {"color": "#009E73", "ls": "-."},
    "arbitrage": {"color": "#CC79A7", "ls": ":"},
    "waterfall": {"color": "0.6", "ls": "-"},
}
_OTHER_EDGE = {"color": "0.3", "ls": "-"}
VENUE_COLORS = ("#D55E00", "#56B4E9", "#009E73", "#E69F00", "#CC79A7", "#0072B2", "#F0E442")
# Waterfall events: glyph and x offset right of their liquidation (so they do not collide).
WATERFALL = {"bankruptcy": ("x", 0.18), "insurance_fund": ("s", 0.28), "adl": ("D", 0.38),
             "socialized_loss": ("*", 0.48)}
_CAUSE_OFFSET = -0.4  # a non-liquidation cause (a margin call) sits left of what it caused
_SIZE = (12.0, 260.0)  # marker area range (points^2), by sqrt of notional or count


@dataclass(frozen=True)
class CascadeView:
    """A cascade picture's layout: ``nodes`` (x, y, kind, venue, notional, row, count),
    ``segments`` (x0, y0, x1, y1, kind, count), what it shows and the run's edge kinds."""

    nodes: pd.DataFrame
    segments: pd.DataFrame
    aggregated: bool
    shown_cascades: int
    total_cascades: int
    shown_liquidations: int
    total_liquidations: int
    edge_kinds: tuple[str, ...]

    @property
    def caption(self) -> str:
        total = f"{self.total_liquidations:,} liquidations in {self.total_cascades:,} cascades"
        if self.total_liquidations == 0:
            return "No liquidations: there is no cascade to draw."
        if self.aggregated:
            return (f"Cascade graph aggregated to one node per generation and market (size: "
                    f"liquidations), edges by kind (width: count); {total}, too many to draw "
                    "one by one.")
        shown = ("all of them" if self.shown_cascades == self.total_cascades else
                 f"the largest {self.shown_cascades:,} by liquidated notional "
                 f"({self.shown_liquidations:,} liquidations)")
        return (f"Cascade graph: each liquidation placed by generation, coloured by venue, "
                f"sized by notional; edges by kind; waterfall events as small glyphs. "
                f"{total}; shown: {shown}.")


def _components(g: nx.DiGraph) -> list[set[int]]:
    """Weakly connected components with a liquidation, largest liquidated notional first
    (ties: the earliest event first)."""
    def notional(comp: set[int]) -> float:
        return sum(float(g.nodes[n].get("notional") or 0.0) for n in comp
                   if g.nodes[n].get("kind") == "liquidation")
    comps = [c for c in nx.weakly_connected_components(g)
             if any(g.nodes[n].get("kind") == "liquidation" for n in c)]
    return sorted(comps, key=lambda c: (-notional(c), min(c)))


def _liq_count(g: nx.DiGraph, comp: set[int]) -> int:
    return sum(g.nodes[n].get("kind") == "liquidation" for n in comp)


def _layers(g: nx.DiGraph, comps: list[set[int]]) -> dict[int, tuple[float, float]]:
    """(x, y) of every liquidation: x its generation, y its rank in the layer (centred), the
    layer ordered by cascade, then by the mean rank of its parents, then by time and seq."""
    rank = {n: k for k, comp in enumerate(comps) for n in comp}
    liqs = [n for comp in comps for n in comp if g.nodes[n].get("kind") == "liquidation"]
    gen = {n: int(g.nodes[n].get("generation") or 0) for n in liqs}
    by_layer: dict[int, list[int]] = {}
    for n in liqs:
        by_layer.setdefault(gen[n], []).append(n)
    pos: dict[int, tuple[float, float]] = {}
    for layer in sorted(by_layer):
        here = by_layer[layer]

        def key(n: int) -> tuple[float, float, float, int]:
            ys = [pos[p][1] for p in g.predecessors(n) if p in pos]
            return (rank[n], -float(np.mean(ys)) if ys else 0.0,
                    float(g.nodes[n].get("time_ms") or 0.0), n)

        here.sort(key=key)
        mid = (len(here) - 1) / 2.0
        pos.update({n: (float(layer), mid - i) for i, n in enumerate(here)})
    return pos


def _place_others(g: nx.DiGraph, comps: list[set[int]], pos: dict[int, tuple[float, float]],
                  ) -> dict[int, tuple[float, float]]:
    """Waterfall events right of their liquidations (offset by kind), causes left of theirs."""
    out = {}
    for n in sorted(n for comp in comps for n in comp if n not in pos):
        kind = str(g.nodes[n].get("kind"))
        parents = [pos[p] for p in g.predecessors(n) if p in pos]
        children = [pos[c] for c in g.successors(n) if c in pos]
        if parents:
            dx = WATERFALL.get(kind, ("o", 0.5))[1]
            out[n] = (max(x for x, _ in parents) + dx, float(np.mean([y for _, y in parents])))
        elif children:
            out[n] = (min(x for x, _ in children) + _CAUSE_OFFSET,
                      float(np.mean([y for _, y in children])))
    return out


def cascade_view(events: pd.DataFrame, edges: pd.DataFrame,
                 max_liquidations: int = MAX_LIQUIDATIONS) -> CascadeView:
    """The layout of the run's cascade graph (see the module docstring)."""
    g = cascade_graph(events, edges)
    kinds = tuple(dict.fromkeys(str(k) for k in edges["kind"])) if "kind" in edges else ()
    comps = _components(g)
    total = sum(_liq_count(g, c) for c in comps)
    shown: list[set[int]] = []
    budget = max_liquidations
    for comp in comps:  # largest first, while they fit
        if _liq_count(g, comp) > budget:
            break
        shown.append(comp)
        budget -= _liq_count(g, comp)
    aggregated = bool(comps) and not shown
    pos = _layers(g, comps if aggregated else shown)
    pos.update(_place_others(g, comps if aggregated else shown, pos))
    rows = {n: _row(g, n) for n in pos}
    if aggregated:  # every node to its market's row in its layer (contagion between rows)
        labels = sorted(set(rows.values()))
        row = {v: float(len(labels) - 1 - i) for i, v in enumerate(labels)}
        pos = {n: (x, row[rows[n]]) for n, (x, _y) in pos.items()}
    nodes = pd.DataFrame(
        [(n, x, y, str(g.nodes[n].get("kind")), str(g.nodes[n].get("venue") or ""),
          float(g.nodes[n].get("notional") or 0.0), rows[n])
         for n, (x, y) in sorted(pos.items())],
        columns=["seq", "x", "y", "kind", "venue", "notional", "row"])
    nodes["count"] = 1
    segs = pd.DataFrame(
        [(*pos[u], *pos[v], str(d.get("kind", "")), 1) for u, v, d in sorted(g.edges(data=True))
         if u in pos and v in pos], columns=["x0", "y0", "x1", "y1", "kind", "count"])
    if aggregated:
        nodes = nodes.groupby(["x", "y", "kind", "venue", "row"], sort=True).agg(
            seq=("seq", "min"), notional=("notional", "sum"), count=("count", "sum")
        ).reset_index()
        segs = segs.groupby(["x0", "y0", "x1", "y1", "kind"], sort=True)["count"].sum(
        ).reset_index()
    n_liq = int(nodes.loc[nodes["kind"] == "liquidation", "count"].sum())
    return CascadeView(nodes, segs, aggregated, len(comps) if aggregated else len(shown),
                       len(comps), n_liq, total, kinds)


def _row(g: nx.DiGraph, n: int) -> str:
    """A node's row in the aggregated view: its venue and market ("cex · BTC-PERP"); an event
    without a market (a venue-wide waterfall step) takes its cause's row."""
    seen = set()
    while n not in seen:
        seen.add(n)
        d = g.nodes[n]
        if d.get("market"):
            return f"{d.get('venue') or ''} · {d['market']}"
        parents = sorted(g.predecessors(n))
        if not parents:
            break
        n = parents[0]
    return str(g.nodes[n].get("venue") or "")


def cascade_figure(events: pd.DataFrame, edges: pd.DataFrame,
                   max_liquidations: int = MAX_LIQUIDATIONS,
                   view: CascadeView | None = None) -> Figure:
    """The cascade picture (``view``, default ``cascade_view(events, edges, ...)``)."""
    view = view if view is not None else cascade_view(events, edges, max_liquidations)
    nodes, segs = view.nodes, view.segments
    height = 5.0 if view.aggregated else float(np.clip(2.0 + 0.05 * _widest(nodes), 4.5, 12.0))
    fig, (ax,) = ps.new_figure(height=height, width=10.0)
    ps.labels(ax, "cascade graph" + (" (aggregated per generation and market)"
                                     if view.aggregated else ""),
              "cascade generation", "venue · market" if view.aggregated else
              "liquidations of the generation, ordered by cascade")
    if nodes.empty:
        ps.note(ax, "no liquidations")
        return fig
    handles: list[Line2D] = []
    widths = 0.5 + 2.5 * np.sqrt(segs["count"] / max(float(segs["count"].max()), 1.0)) \
        if view.aggregated and not segs.empty else None
    for kind in _ordered(view.edge_kinds):
        style = EDGE_STYLES.get(kind, _OTHER_EDGE)
        sel = segs[segs["kind"] == kind]
        lines = np.stack([sel[["x0", "y0"]].to_numpy(float), sel[["x1", "y1"]].to_numpy(float)],
                         axis=1) if len(sel) else np.zeros((0, 2, 2))
        lw = widths[sel.index].to_numpy() if widths is not None else 0.6
        ax.add_collection(LineCollection(lines, colors=style["color"], linestyles=style["ls"],
                                         linewidths=lw, alpha=0.7, zorder=1))
        handles.append(Line2D([], [], label=f"{kind.replace('_', ' ')} edge", lw=1.5, **style))
    liq = nodes[nodes["kind"] == "liquidation"]
    scale = liq["count"] if view.aggregated else liq["notional"]
    sizes = _sizes(scale.to_numpy(float))
    venues = sorted(set(liq["venue"]))
    for k, venue in enumerate(venues):
        mine = (liq["venue"] == venue).to_numpy()
        color = VENUE_COLORS[k % len(VENUE_COLORS)]
        ax.scatter(liq["x"][mine], liq["y"][mine], s=sizes[mine], color=color,
                   edgecolors="0.15", linewidths=0.4, zorder=3)
        handles.append(ps.proxy("o", color, f"liquidation, {venue or 'no venue'}"))
    others = sorted(set(nodes["kind"]) - set(WATERFALL) - {"liquidation"})  # margin calls
    glyphs = [(k, WATERFALL[k][0]) for k in WATERFALL] + [(k, "^") for k in others]
    for kind, marker in glyphs:
        mine = nodes[nodes["kind"] == kind]
        if len(mine):
            ax.scatter(mine["x"], mine["y"], s=14, marker=marker, color="0.35", linewidths=0.6,
                       zorder=2)
            handles.append(ps.proxy(marker, "0.35", kind.replace("_", " ")))
    if view.aggregated and liq["x"].nunique() <= 40:  # the counts, where they fit
        for rec in liq.itertuples(index=False):
            ax.annotate(f"{int(rec.count):,}", (rec.x, rec.y), xytext=(0, 9),
                        textcoords="offset points", ha="center", fontsize=6.5, color="0.25")
    _limits(ax, nodes, view.aggregated)
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    return fig


def _ordered(kinds: tuple[str, ...]) -> list[str]:
    known = [k for k in EDGE_STYLES if k in kinds]
    return known + sorted(k for k in kinds if k not in EDGE_STYLES)


def _widest(nodes: pd.DataFrame) -> int:
    liq = nodes[nodes["kind"] == "liquidation"]
    return int(liq.groupby("x").size().max()) if len(liq) else 1


def _sizes(values: np.ndarray) -> np.ndarray:
    root = np.sqrt(np.clip(np.nan_to_num(np.abs(values)), 0.0, None))
    top = float(root.max()) if root.size else 0.0
    lo, hi = _SIZE
    return lo + (hi - lo) * (root / top if top > 0 else np.zeros_like(root))


def _limits(ax, nodes: pd.DataFrame, aggregated: bool) -> None:
    x0, x1 = float(nodes["x"].min()), float(nodes["x"].max())
    y0, y1 = float(nodes["y"].min()), float(nodes["y"].max())
    ax.set_xlim(x0 - 0.5, x1 + 0.5)
    ax.set_ylim(y0 - 0.8, y1 + 0.8)
    gens = np.arange(int(np.ceil(x0)), int(np.floor(x1)) + 1)
    step = ps.tick_step(gens.size)
    ax.set_xticks(gens[gens % step == 0] if step > 1 else gens)
    if aggregated:
        labels = nodes.drop_duplicates("y").sort_values("y")
        ax.set_yticks(labels["y"].to_list(), labels["row"].to_list())
    else:
        ax.set_yticks([])  # ranks in a layer are positions, not values
