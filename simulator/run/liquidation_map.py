"""The liquidation map of a world before it runs: the notional that would be liquidated at each
price level, per market and side (the "liquidation levels" view of Coinglass and others).

For each asset, its price is moved from the start by each level of a grid, down and up, the
other assets held where they are, and each venue's own margin code (``Accounts.slack`` at those
trigger prices, the arithmetic the run's margin checks use) says which accounts would then be
below maintenance. A position is counted at the first level of the move at which its margin
scope (its account's cross part, or the isolated position) breaches, with its notional at that
level's price; a long is counted on the way down, a short on the way up. A cross account that
breaches also holds positions in other assets: they are counted under their own asset's move,
not this one (the map is per asset, as the venues' public maps are).

What the map leaves out, by design: impact (the liquidations' own sells, which move the price
further and make the real total larger), margin-call responses, arrivals, funding and
everything else that happens in time. It is the world as built at the seed, before anything
runs. Reads the built world; runs nothing.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from simulator.config import Scenario
from simulator.run.build import World, build_world
from simulator.run.recorder import Recorder

COLUMNS = ("venue", "market", "asset", "side", "move", "price", "notional", "positions",
           "cumulative_notional")


def grid(max_move: float, step: float) -> np.ndarray:
    """Relative moves ``step, 2 step, ...`` up to ``max_move`` (both in (0, 1))."""
    if not 0 < step < 1 or not 0 < max_move < 1 or step > max_move:
        raise ValueError(f"the map's grid needs 0 < step <= max_move < 1 (got step {step:g}, "
                         f"max_move {max_move:g})")
    n = int(math.floor(max_move / step + 1e-9))
    return step * np.arange(1, n + 1)


def liquidation_map(
    scenario: Scenario, seed: int, max_move: float = 0.5, step: float = 0.0025,
    world: World | None = None,
) -> pd.DataFrame:
    """The map of ``scenario`` at ``seed``: one row per (venue, market, side, level) with
    something liquidated, in order of distance from the start price (``COLUMNS``). ``move`` is
    the asset's relative move (negative down), ``price`` the market's trigger price there
    (USD per coin), ``notional`` the USD notional first liquidated at that level. ``world``
    (default: the scenario's at t = 0) maps a world as it stands, e.g. at a moment of a run:
    moves are from its current trigger prices."""
    moves = grid(max_move, step)
    world = world if world is not None else build_world(scenario, seed, Recorder())
    rows = []
    for venue, assets in zip(world.venues, world.asset_of_market, strict=True):
        acc = venue.accounts
        start = venue.trigger_prices()
        for a in np.unique(assets).tolist():
            cols = np.flatnonzero(assets == a)
            held = acc.liquidatable & (acc.pos[:, cols] != 0).any(axis=1)
            who = np.flatnonzero(held)
            if who.size == 0:
                continue
            for sign in (-1.0, 1.0):  # down: longs; up: shorts
                rows += _one_way(venue, who, cols, start, sign * moves, sign,
                                 scenario.assets[a].name)
    # Typed columns, so an empty map (nothing within the range) has the same schema.
    out = pd.DataFrame(rows, columns=list(COLUMNS[:-1])).astype(
        {"move": float, "price": float, "notional": float, "positions": "int64"})
    out["cumulative_notional"] = out.groupby(["venue", "market", "side"])["notional"].cumsum()
    return out


def _one_way(venue, who: np.ndarray, cols: np.ndarray, start: np.ndarray, moves: np.ndarray,
             sign: float, asset: str) -> list[tuple]:
    """Levels of one direction of one asset's move on one venue."""
    acc = venue.accounts
    pos = acc.pos[who][:, cols]
    # A long in USD terms is a short in x on an inverse venue.
    usd_pos = -pos if venue.inverse else pos
    hurt = usd_pos * sign < 0  # positions this direction hurts
    iso = acc.isolated[who][:, cols]
    done_cross = np.zeros(who.size, dtype=bool)
    done_iso = np.zeros(pos.shape, dtype=bool)
    out = []
    for move in moves.tolist():
        marks = start.copy()
        factor = 1.0 + move
        marks[cols] = start[cols] / factor if venue.inverse else start[cols] * factor
        cross_slack, iso_slack = acc.slack(who, marks)
        cross_now = (cross_slack < 0) & ~done_cross
        iso_now = (iso_slack[:, cols] < 0) & iso & ~done_iso
        done_cross |= cross_now
        done_iso |= iso_now
        hit = ((cross_now[:, None] & ~iso) | iso_now) & hurt
        if not hit.any():
            continue
        price_usd = start[cols] * factor if not venue.inverse else factor / start[cols]
        for k, m in enumerate(cols.tolist()):
            q = hit[:, k]
            if not q.any():
                continue
            # USD notional: base x price, or an inverse venue's contracts.
            size = np.abs(pos[q, k])
            notional = float(size.sum()) if venue.inverse else float(size.sum() * price_usd[k])
            out.append((venue.name, venue.markets[m].name, asset,
                        "long" if sign < 0 else "short", move, float(price_usd[k]), notional,
                        int(q.sum())))
    return out


def map_totals(frame: pd.DataFrame, down_to: float) -> pd.Series:
    """Long notional the map liquidates per (venue, market) for a fall down to ``down_to``
    (a negative move)."""
    longs = frame[(frame["side"] == "long") & (frame["move"] >= down_to - 1e-12)]
    return longs.groupby(["venue", "market"])["notional"].sum()
