"""Collateral health of ``liqsim risk``: haircut-adjusted collateral ratios per account group,
and the depeg sensitivity of each venue's non-USD collateral, from the world at t = 0.

An account's cross wallet already holds its collateral's value after haircuts
(``markets.collateral``: USD cash plus ``qty x price x (1 - haircut)`` per asset), so its USD
cash is the wallet less ``CollateralBook.value``. The **collateral ratio** of an account is
(haircut-adjusted collateral + unrealised PnL + isolated margin) / maintenance requirement,
all at the start marks: below 1 it is liquidatable. A venue without a collateral book takes
its wallet as collateral (haircut 0), and the table says so.

The **depeg sensitivity** moves one collateral asset's price by each move (a stablecoin
depeg, or a volatile collateral falling) with every position's price held: the holders'
wallets fall by ``qty x price x move x (1 - haircut)``, as ``CollateralBook.revalue`` would
move them, and the scopes then below maintenance are liquidated whole at the start marks
(their equity short of zero is bad debt). Works on scratch copies of the accounts: the world
is left as built. Knows no SimPy, writes nothing, draws nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from simulator.risk.book import scopes_at, to_usd
from simulator.risk.dynamic_margin import scratch
from simulator.run.build import World

DEPEG_MOVES = (-0.01, -0.02, -0.05, -0.1, -0.2, -0.3)
NO_BOOK = "no collateral book"
HEALTH_COLUMNS = ("venue", "group", "collateral", "accounts", "collateral_usd", "haircut_usd",
                  "adjusted_usd", "maintenance_usd", "ratio_median", "ratio_p10",
                  "share_below_1_5", "share_below_1")
DEPEG_COLUMNS = ("venue", "collateral", "move", "breached_scopes", "accounts",
                 "liquidated_usd", "bad_debt_usd")


def account_ratios(world: World) -> pd.DataFrame:
    """One row per liquidatable account: ``venue, account, group, collateral_usd`` (before
    haircuts), ``haircut_usd``, ``adjusted_usd``, ``equity_usd`` (adjusted + unrealised PnL +
    isolated margin), ``maintenance_usd`` and ``ratio`` (equity / maintenance; NaN with no
    position)."""
    parts = []
    for venue in world.venues:
        acc, book = venue.accounts, venue.collateral
        marks = venue.trigger_prices()
        rows = np.flatnonzero(acc.liquidatable)
        adjusted = to_usd(venue, acc.wallet[rows], marks)
        if book is not None and book.names:
            held = book.holdings[rows]
            haircut = held @ (book.prices * book.haircuts)
        else:
            haircut = np.zeros(rows.size)
        equity = acc.wallet[rows] + (acc.iso_margin[rows] + acc.upnl(rows, marks)).sum(axis=1)
        mm = to_usd(venue, acc.maintenance(rows, marks).sum(axis=1), marks)
        equity = to_usd(venue, equity, marks)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(mm > 0, equity / mm, np.nan)
        parts.append(pd.DataFrame({
            "venue": venue.name, "account": rows, "collateral_usd": adjusted + haircut,
            "haircut_usd": haircut, "adjusted_usd": adjusted, "equity_usd": equity,
            "maintenance_usd": mm, "ratio": ratio}))
    out = pd.concat(parts, ignore_index=True)
    groups = world.accounts[["venue", "account", "group"]]
    out = out.merge(groups, on=["venue", "account"], how="left")
    return out[["venue", "account", "group", *out.columns[2:-1]]]


def collateral_health(world: World) -> pd.DataFrame:
    """Per venue and account group, ``HEALTH_COLUMNS``: sums of the accounts' collateral
    (before, of and after haircuts) and maintenance; the median and 10th percentile of the
    ratio and the shares of accounts with a position below 1.5 and below 1. ``collateral``
    names what backs the accounts: "wallet only (haircut 0)" or "USD + <assets>"."""
    per = account_ratios(world)
    kinds = {}
    for venue in world.venues:
        book = venue.collateral
        kinds[venue.name] = (f"USD + {', '.join(book.names)}" if book is not None and book.names
                             else "wallet only (haircut 0)")
    rows = []
    for (venue, group), part in per.groupby(["venue", "group"], sort=False):
        ratio = part["ratio"].dropna().to_numpy()
        live = ratio.size > 0
        rows.append({
            "venue": venue, "group": group, "collateral": kinds[venue], "accounts": len(part),
            "collateral_usd": float(part["collateral_usd"].sum()),
            "haircut_usd": float(part["haircut_usd"].sum()),
            "adjusted_usd": float(part["adjusted_usd"].sum()),
            "maintenance_usd": float(part["maintenance_usd"].sum()),
            "ratio_median": float(np.median(ratio)) if live else float("nan"),
            "ratio_p10": float(np.quantile(ratio, 0.1)) if live else float("nan"),
            "share_below_1_5": float((ratio < 1.5).mean()) if live else float("nan"),
            "share_below_1": float((ratio < 1.0).mean()) if live else float("nan")})
    return pd.DataFrame(rows, columns=list(HEALTH_COLUMNS)).astype({"accounts": "int64"})


def depeg_sensitivity(world: World, moves: Sequence[float] = DEPEG_MOVES) -> pd.DataFrame:
    """Per venue, collateral asset and move, ``DEPEG_COLUMNS``; a venue without non-USD
    collateral has one row with ``collateral`` "no collateral book" (move NaN, zeros)."""
    for move in moves:
        if not -1.0 < move < 0.0:
            raise ValueError(f"a depeg move must lie in (-100%, 0) (got {move:+.2%})")
    rows = []
    for venue in world.venues:
        book = venue.collateral
        if book is None or not book.names:
            rows.append((venue.name, NO_BOOK, float("nan"), 0, 0, 0.0, 0.0))
            continue
        marks = venue.trigger_prices()
        for c, name in enumerate(book.names):
            for move in moves:
                acc = scratch(venue.accounts)
                step = book.prices[c] * move * (1.0 - book.haircuts[c])
                acc.wallet = acc.wallet + book.holdings[:, c] * step
                hit = scopes_at(venue, marks, acc)
                rows.append((venue.name, name, float(move), len(hit), len({h[0] for h in hit}),
                             float(sum(h[3] for h in hit)),
                             float(sum(max(0.0, -h[2]) for h in hit))))
    return pd.DataFrame(rows, columns=list(DEPEG_COLUMNS)).astype(
        {"breached_scopes": "int64", "accounts": "int64"})
