"""The run's graphs, built once from its tables: the cascade graph and the exposure graph.

Cascade graph (DiGraph): one node per liquidation (and per event hanging off one: ADL,
insurance-fund flows, bankruptcy, socialized loss; and margin calls whose forced reductions
caused liquidations), keyed by event ``seq``; an edge from each event whose price impact was
needed to each liquidation it caused, and from a liquidation to its waterfall events.
Exposure graph: accounts -> markets -> venues, edges weighted by notional at the start.
Reads DataFrames only.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd

NODE_FIELDS = ("kind", "time_ms", "venue", "market", "account", "generation", "notional", "amount")


def cascade_graph(events: pd.DataFrame, edges: pd.DataFrame) -> nx.DiGraph:
    g = nx.DiGraph()
    keep = set(events.loc[events["kind"] == "liquidation", "seq"].tolist())
    keep.update(edges["parent"].tolist())
    keep.update(edges["child"].tolist())
    rows = events[events["seq"].isin(keep)]
    for rec in rows[["seq", *NODE_FIELDS]].itertuples(index=False):
        attrs = {f: _plain(getattr(rec, f)) for f in NODE_FIELDS}
        g.add_node(int(rec.seq), **attrs)
    g.add_edges_from(zip(edges["parent"].astype(int), edges["child"].astype(int), strict=True))
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
