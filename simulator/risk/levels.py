"""Where the book breaks and who breaks it: the liquidation map summarised at a few distances
from the price, and the concentration of a stress cell's liquidations and bad debt among the
accounts that default in it.

Reads frames made elsewhere: ``simulator.run.liquidation_map``'s map and
``simulator.risk.book.stress_cells``' per-scope losses. Knows no world, no SimPy, draws and
writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from simulator.risk.concentration import concentration_table

SUMMARY_MOVES = (0.05, 0.10, 0.20, 0.30)
SUMMARY_COLUMNS = ("venue", "market", "side", "within", "notional_usd", "positions")
STRESS_MEASURES = (("liquidated_notional", "notional_usd"), ("bad_debt", "bad_debt_usd"))


def map_summary(frame: pd.DataFrame, moves: Sequence[float] = SUMMARY_MOVES) -> pd.DataFrame:
    """Per venue, market and side, the USD notional (and positions) the liquidation map
    liquidates within each distance of ``moves`` from the start price: longs on the way down,
    shorts on the way up. ``within`` is the distance (0.1 = the price 10% away)."""
    if any(not 0 < m < 1 for m in moves):
        raise ValueError(f"map_summary: distances must be in (0, 1), got {list(moves)}")
    rows = []
    for (venue, market, side), part in frame.groupby(["venue", "market", "side"], sort=False):
        distance = part["move"].abs().to_numpy()
        for m in moves:
            # The map's levels are multiples of its step; a hair of tolerance keeps a level
            # that sits exactly on the distance (0.1 from 40 steps of 0.0025).
            inside = distance <= m + 1e-12
            rows.append((venue, market, side, float(m), float(part["notional"][inside].sum()),
                         int(part["positions"][inside].sum())))
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


def owner_losses(losses: pd.DataFrame) -> pd.DataFrame:
    """Per venue, stress cell and owner: liquidated notional and bad debt, the owner's scopes
    added up (an isolated scope's shortfall is its own, so it is the sum of max(0, ...) over
    scopes, not the max of a sum)."""
    bad = np.maximum(losses["loss_usd"] - losses["margin_usd"], 0.0)
    frame = losses.assign(bad_debt_usd=bad)
    return (frame.groupby(["venue", "scenario", "owner"], sort=False, as_index=False)
            [["notional_usd", "bad_debt_usd"]].sum())


def stress_concentration(losses: pd.DataFrame, cell: str) -> pd.DataFrame:
    """How concentrated a stress cell's damage is among its defaulters: for the cell named
    ``cell`` (``book.cell_name``, e.g. "all -20%"), ``concentration_table`` per venue and for
    all venues of the owners' liquidated notional and of their bad debt (``measure``; the top-k
    shares of bad debt are "the largest accounts' share of bad debt"). Empty if nothing in the
    cell defaults; a measure that is zero everywhere (no bad debt) has no rows."""
    per = owner_losses(losses[losses["scenario"] == cell])
    if per.empty:
        return pd.DataFrame()
    # One row per (venue, owner): the same label on two venues is two accounts.
    tables = []
    for measure, col in STRESS_MEASURES:
        if not (per[col] > 0).any():
            continue
        both = pd.concat([concentration_table(per, col, "venue"), concentration_table(per, col)])
        tables.append(both.assign(measure=measure, cell=cell))
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
