"""Margin slack of one account with Python floats, bit for bit the array path's.

Most checks after a liquidation evaluate one or two accounts, where ``Accounts.margin_state``
and ``Accounts.slack_pair`` cost a dozen NumPy calls whatever the number of rows. This module
redoes the same IEEE operations on Python floats in the same order, including the order in
which NumPy sums a row of a 2-D array (one running sum below 8 terms, NumPy's 8-way pairwise
summation from 8 to 128), so either path gives the same bits and the same event log.

Pure arithmetic over ``Accounts``; nothing here knows the risk index, venues or events.
"""

from __future__ import annotations

import math

from markets.margin.accounts import Accounts

# NumPy sums a row pairwise in blocks of this many terms; longer rows are split recursively,
# which ``row_sum`` does not reproduce.
MAX_TERMS = 128


def row_sum(values: list[float]) -> float:
    """``a.sum(axis=-1)`` of one row ``values`` of a float64 array, in NumPy's order."""
    n = len(values)
    if n < 8:
        total = 0.0
        for x in values:
            total += x
        return total
    if n > MAX_TERMS:
        raise ValueError(f"row_sum reproduces NumPy's order up to {MAX_TERMS} terms, not {n}")
    r = values[:8]
    i = 8
    whole = n - n % 8
    while i < whole:
        for j in range(8):
            r[j] += values[i + j]
        i += 8
    total = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
    while i < n:
        total += values[i]
        i += 1
    return total


def row_slack_pair(
    acc: Accounts, i: int, prices: list[float], mult: float, queued_iso: list[bool],
) -> tuple[float, list[float], float, list[float]]:
    """``Accounts.slack_pair`` of the single row ``i``: its slack at maintenance and at
    ``mult`` x maintenance, as (cross, isolated per market, cross at mult, isolated at mult);
    +inf where there is no such scope or the isolated scope is queued."""
    qs, entries, on_iso = acc.pos[i].tolist(), acc.entry[i].tolist(), acc.isolated[i].tolist()
    upnl = [q * (p - e) for q, p, e in zip(qs, prices, entries, strict=True)]
    # The array path multiplies by the volatility multiplier only when one differs from 1;
    # x * 1.0 is x, so multiplying always gives the same bits.
    at = prices
    if acc.iso_mm_at_entry:  # isolated maintenance at the entry price (Bybit)
        at = [e if s else p for p, e, s in zip(prices, entries, on_iso, strict=True)]
    mm = [acc.position_maintenance(m, abs(q) * at[m]) for m, q in enumerate(qs)]
    inf = math.inf
    n = len(qs)
    if not any(on_iso):
        if not any(q != 0.0 for q in qs):
            return inf, [inf] * n, inf, [inf] * n
        eq, req = float(acc.wallet[i]) + row_sum(upnl), row_sum(mm)
        return eq - req, [inf] * n, eq - mult * req, [inf] * n
    # Cross sums over every column with the isolated ones zeroed, as the array path does.
    weight = [0.0 if s else 1.0 for s in on_iso]
    eq = float(acc.wallet[i]) + row_sum([u * w for u, w in zip(upnl, weight, strict=True)])
    req = row_sum([x * w for x, w in zip(mm, weight, strict=True)])
    has_cross = any(q != 0.0 and not s for q, s in zip(qs, on_iso, strict=True))
    cross, cross_at = (eq - req, eq - mult * req) if has_cross else (inf, inf)
    margin = acc.iso_margin[i].tolist()
    iso, iso_at = [inf] * n, [inf] * n
    for m in range(n):
        if on_iso[m] and qs[m] != 0.0 and not queued_iso[m]:
            own = margin[m] + upnl[m]
            iso[m], iso_at[m] = own - mm[m], own - mult * mm[m]
    return cross, iso, cross_at, iso_at
