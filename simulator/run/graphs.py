"""The run's graphs, built once from its tables: the cascade graph and the exposure graph.

Cascade graph (DiGraph): one node per liquidation (and per event hanging off one: ADL,
insurance-fund flows, bankruptcy, socialized loss; and margin calls whose forced reductions
caused liquidations), keyed by event ``seq``; an edge from each event whose price impact was
needed to each liquidation it caused, and from a liquidation to its waterfall events. Edges
carry ``kind`` (how the parent's move reached the child's market: ``book``, ``cross_impact``,
``index``, ``arbitrage``; ``waterfall`` for what a liquidation set off), ``share`` (the
parent's part of that generation's harm to the child; NaN for waterfall edges) and ``lag_ms``.
Exposure graph: accounts -> markets -> venues, edges weighted by notional at the start.
Reads DataFrames only.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd

NODE_FIELDS = ("kind", "time_ms", "venue", "market", "account", "generation", "notional", "amount")


EDGE_COLUMNS = {"parent": "int64", "child": "int64", "kind": "string", "share": "float64",
                "lag_ms": "int64"}


def cascade_edge_table(edges: list[tuple[int, int, str, float]], events: pd.DataFrame,
                       ) -> pd.DataFrame:
    """The recorded edges (parent, child, kind, share) as a table, with each edge's lag."""
    table = pd.DataFrame(edges, columns=["parent", "child", "kind", "share"])
    time = events.set_index("seq")["time_ms"]
    table["lag_ms"] = (time.reindex(table["child"]).to_numpy()
                       - time.reindex(table["parent"]).to_numpy())
    return table.astype(EDGE_COLUMNS)


def cascade_graph(events: pd.DataFrame, edges: pd.DataFrame) -> nx.DiGraph:
    g = nx.DiGraph()
    keep = set(events.loc[events["kind"] == "liquidation", "seq"].tolist())
    keep.update(edges["parent"].tolist())
    keep.update(edges["child"].tolist())
    rows = events[events["seq"].isin(keep)]
    for rec in rows[["seq", *NODE_FIELDS]].itertuples(index=False):
        attrs = {f: _plain(getattr(rec, f)) for f in NODE_FIELDS}
        g.add_node(int(rec.seq), **attrs)
    attrs = [c for c in ("kind", "share", "lag_ms") if c in edges.columns]  # older folders: none
    for rec in edges[["parent", "child", *attrs]].itertuples(index=False):
        g.add_edge(int(rec[0]), int(rec[1]), **{a: _plain(v) for a, v in zip(attrs, rec[2:],
                                                                                 strict=True)})
    return g


def exposure_graph(accounts: pd.DataFrame) -> nx.DiGraph:
    """accounts -> markets (weight: |initial notional|, side) -> venues."""
    g = nx.DiGraph()
    qty_cols = [c for c in accounts.columns if c.startswith("notional0.")]
    for venue in accounts["venue"].unique():
        g.add_node(f"venue:{venue}", kind="venue")
    for col in qty_cols:
        market = col.split(".", 1)[1]
        here = accounts[accounts[col].fillna(0.0) != 0.0]
        for venue in here["venue"].unique():
            g.add_node(f"market:{venue}:{market}", kind="market")
            g.add_edge(f"market:{venue}:{market}", f"venue:{venue}", kind="listed_on")
        for rec in here[["venue", "account", "label", col]].itertuples(index=False):
            node = f"account:{rec.venue}:{rec.account}"
            if node not in g:
                g.add_node(node, kind="account", label=rec.label)
            value = float(rec._3)
            g.add_edge(node, f"market:{rec.venue}:{market}", weight=abs(value),
                       side="long" if value > 0 else "short")
    return g


def _plain(value: object) -> object:
    """GraphML-friendly scalars: numpy numbers to Python, missing values to NaN/""."""
    if isinstance(value, np.generic):
        return value.item()
    if value is pd.NA or value is None:
        return ""
    return value
