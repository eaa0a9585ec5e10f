"""The run summary: a flat mapping with stable names, computed from the event log and state.

Every figure's name, unit, label and meaning is in ``simulator.run.catalogue`` (and
``docs/outputs.md``, generated from it): the run's totals, then per-venue (``<venue>.<name>``,
a mechanism's figures only on venues that use it), per-market and per-fund
(``<venue>:<market>.<name>``) and per-generation (``generation.<k>.<name>``) breakdowns.

Definitions that need one:
- bad_debt: losses beyond the liquidated accounts' own margin (sum of bankruptcy deficits);
- exogenous_drawdown / max_drawdown: largest peak-to-trough fall of a market's fundamental /
  traded price (mid), over the markets; exogenous_runup / max_runup: the same for rises;
  amplification: traded over exogenous move in the market and direction of the largest
  exogenous move (a squeeze is measured on the rise; NaN when nothing moved);
- open_interest_drop: fall of open interest from start to end, weighted by start notional;
- liquidation_slippage: liquidations' book fills against the oracle price at the order (the
  log has no mark per order); fund_depleted_at_ms: the first fund event leaving a balance of 0.
Reads frames and venues' public state; computes nothing the log cannot back up.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from markets.events import EventKind, Mechanism, Reason
from simulator.run.adl_waves import adl_wave_stats


def drawdown(series: np.ndarray) -> float:
    """Largest peak-to-trough fall as a fraction of the peak."""
    if series.size == 0:
        return 0.0
    peak = np.maximum.accumulate(series)
    return float(np.max(1.0 - series / peak))


def runup(series: np.ndarray) -> float:
    """Largest trough-to-peak rise as a fraction of the trough."""
    if series.size == 0:
        return 0.0
    trough = np.minimum.accumulate(series)
    return float(np.max(series / trough - 1.0))


def event_stats(events: pd.DataFrame) -> dict[str, float]:
    liq = events[events["kind"] == "liquidation"]
    adl = events[events["kind"] == "adl"]
    return {
        "liquidations": int(len(liq)),
        "accounts_liquidated": int(liq[["venue", "account"]].drop_duplicates().shape[0]),
        "liquidated_notional": float(liq["notional"].sum()),
        "liquidated_long_notional": float(liq.loc[liq["side"] < 0, "notional"].sum()),
        "liquidated_short_notional": float(liq.loc[liq["side"] > 0, "notional"].sum()),
        "cascade_depth": int(liq["generation"].max()) if len(liq) else 0,
        "bad_debt": float(events.loc[events["kind"] == "bankruptcy", "amount"].sum()),
        "adl_events": int(len(adl)),
        "adl_notional": float(adl["notional"].sum()),
        "adl_accounts": int(adl[["venue", "account"]].drop_duplicates().shape[0]),
        "adl_haircut": float(adl["amount"].sum()),
        "margin_calls": int((events["kind"] == "margin_call").sum()),
        "top_ups": float(events.loc[events["kind"] == "top_up", "amount"].sum()),
        "recovered_before_liquidation": int((events["kind"] == "recovered").sum()),
    }


def adl_efficiency(venues) -> dict[str, float]:
    """ADL over-use after Chitra (2025): the shortfall at the mark that ADL covered is the
    least a pro-rata haircut of winners' profits would have taken (``adl_needed``); a queue
    closes whole positions and with them the winners' profit on them (``adl_profit_closed``).
    ``adl_overuse`` is the profit closed beyond the shortfall, ``adl_overuse_ratio`` their
    ratio (NaN without ADL)."""
    needed = sum(v.usd(v.counters.adl_needed) for v in venues)
    closed = sum(v.usd(v.counters.adl_profit_closed) for v in venues)
    return {
        "adl_needed": needed,
        "adl_profit_closed": closed,
        "adl_overuse": closed - needed,
        "adl_overuse_ratio": closed / needed if needed > 0 else math.nan,
    }


def _vault_pnl(v) -> float:
    row = v.rows.vault
    equity = float(v.accounts.wallet[row] + v.accounts.upnl([row], v.marks).sum())
    return v.usd(equity - float(v.counters.initial_vault))


def _column(events: pd.DataFrame, name: str) -> pd.Series:
    """A string column of the event log with missing values as "" (so comparisons are bool)."""
    return events[name].fillna("").astype(str)


def mechanism_stats(events: pd.DataFrame, venues) -> dict[str, float]:
    """What the optional mechanisms did, over all venues: takeovers, auctions, breakers,
    refused orders (0 where no venue uses the mechanism)."""
    kind, mechanism, reason = (_column(events, c) for c in ("kind", "mechanism", "reason"))
    liq = kind == EventKind.LIQUIDATION
    vault = liq & (mechanism == Mechanism.VAULT)
    takeover = (kind == EventKind.INSURANCE_FUND) & (reason == Reason.TAKEOVER)
    keeper = liq & (mechanism == Mechanism.AUCTION)
    auction = kind == EventKind.AUCTION
    started = int((auction & (reason == Reason.START)).sum())
    failed = int((auction & (reason == Reason.FAILED)).sum())
    return {
        "vault_takeovers": int(vault.sum()),
        "vault_takeover_notional": float(events.loc[vault, "notional"].sum()),
        "vault_pnl": sum(_vault_pnl(v) for v in venues if v.rows.vault is not None),
        "fund_takeovers": int(takeover.sum()),
        "fund_takeover_notional": float(events.loc[takeover, "notional"].sum()),
        "auctions_started": started,
        # An auction still running at the end neither filled nor failed.
        "auctions_filled": started - failed - sum(len(v.auctions) for v in venues),
        "auctions_failed": failed,
        "auction_takes": int(keeper.sum()),
        "auction_take_notional": float(events.loc[keeper, "notional"].sum()),
        "partial_liquidations": int((liq & events["partial_fraction"].notna()).sum()),
        "chunked_liquidations": int((liq & events["chunk_fraction"].notna()).sum()),
        "circuit_breaker_trips": int((kind == EventKind.CIRCUIT_BREAKER).sum()),
        "rejected_orders": sum(v.counters.rejected for v in venues),
    }


# Which of ``mechanism_stats``' figures (and the venue's own loss and ADL figures) belong to
# each optional mechanism: a venue's summary has them only when the venue uses it.
def _venue_mechanisms(v) -> list[tuple[str, ...]]:
    r = v.rules
    uses = [
        (r.backstop is not None, ("vault_takeovers", "vault_takeover_notional", "vault_pnl")),
        (r.takeover is not None, ("fund_takeovers", "fund_takeover_notional")),
        (r.auction is not None, ("auctions_started", "auctions_filled", "auctions_failed",
                                 "auction_takes", "auction_take_notional")),
        (r.close == "partial", ("partial_liquidations",)),
        (r.chunk is not None, ("chunked_liquidations",)),
        (any(mk.breaker is not None for mk in v.markets), ("circuit_breaker_trips",)),
    ]
    return [names for used, names in uses if used]


def venue_mechanism_stats(events: pd.DataFrame, v) -> dict[str, float]:
    """One venue's ``mechanism_stats`` for the mechanisms it uses, with its ADL efficiency
    when it uses ADL and its socialized loss when it socializes (``events``: its rows)."""
    every = mechanism_stats(events, [v])
    out = {name: every[name] for names in _venue_mechanisms(v) for name in names}
    if v.rules.adl.trigger != "never":
        out.update(adl_efficiency([v]))
        out.update(adl_wave_stats(events))
    if v.rules.socialize != "never":
        out["socialized_loss"] = v.usd(v.counters.socialized)
    return out


def fund_stats(venues) -> dict[str, float]:
    """The insurance funds (summed over venues) and who else absorbed losses or earned fees,
    in USD (an inverse venue's coin at its last mark; the start at the start price)."""
    funds = [(v, f) for v in venues for f in v.funds]
    return {
        "insurance_fund_start": sum(f.start * v.usd_at_start for v, f in funds),
        "insurance_fund_min": sum(v.usd(f.minimum) for v, f in funds),
        "insurance_fund_end": sum(v.usd(f.balance) for v, f in funds),
        "insurance_fund_paid": sum(v.usd(f.paid) for v, f in funds),
        "insurance_fund_depleted": any(f.depleted for _, f in funds),
        "socialized_loss": sum(v.usd(v.counters.socialized) for v in venues),
        "venue_loss": sum(v.usd(v.counters.absorbed) for v in venues),
        "liquidation_fees": sum(v.usd(v.counters.fees) for v in venues),
        "venue_revenue": sum(v.usd(v.counters.revenue) for v in venues),
        "peak_liquidation_queue": max(v.counters.peak_queue for v in venues),
    }


def price_moves(world, end_ms: int) -> dict[str, float]:
    """Exogenous and traded price moves and the fall of open interest, per market
    (``<venue>:<market>.<name>``) and over the markets."""
    s: dict[str, float] = {}
    venues = world.venues
    upto = int(np.searchsorted(world.paths.times_ms, end_ms, side="right"))
    moves: dict[tuple[str, str], tuple[float, float]] = {}  # (market, direction): (exo, traded)
    oi0, oi1 = 0.0, 0.0
    for v, idx, init in zip(venues, world.asset_of_market, world.initial, strict=True):
        start_oi = np.where(init["pos"] > 0, init["pos"], 0.0).sum(axis=0)
        end_oi = v.open_interest()
        for m, mk in enumerate(v.markets):
            key = f"{v.name}:{mk.name}"
            path = world.paths.prices[:upto, idx[m]]
            down, up = mk.prices.max_drawdown, mk.prices.max_runup
            p0 = world.paths.prices[0, idx[m]]
            if v.inverse:  # its book trades x = 1/P (x's run-up is P's drawdown), in USD
                down, up, p0 = up / (1.0 + up), down / (1.0 - down), 1.0
            moves[(key, "drawdown")] = (drawdown(path), down)
            moves[(key, "runup")] = (runup(path), up)
            oi0 += start_oi[m] * p0
            oi1 += end_oi[m] * p0
            s[f"{key}.exogenous_drawdown"], s[f"{key}.max_drawdown"] = moves[(key, "drawdown")]
            s[f"{key}.exogenous_runup"], s[f"{key}.max_runup"] = moves[(key, "runup")]
            s[f"{key}.open_interest_drop"] = _drop(start_oi[m], end_oi[m])
    for direction in ("drawdown", "runup"):
        mine = [v for (_, d), v in moves.items() if d == direction]
        s[f"exogenous_{direction}"] = max(e for e, _ in mine)
        s[f"max_{direction}"] = max(t for _, t in mine)
    largest = max(moves, key=lambda k: (moves[k][0], k))
    exo, traded = moves[largest]
    s["amplification"] = traded / exo if exo > 0 else math.nan
    s["open_interest_drop"] = _drop(oi0, oi1)
    return s


def absorption_stats(venues) -> dict[str, float]:
    """A traded-price replay's orders (``markets.absorption``), in USD: the notional the real
    path already held and the excess that moved prices, over the run and per market that has
    a budget (0 over the run when none has)."""
    s = {"absorbed_notional": 0.0, "excess_notional": 0.0}
    for v in venues:
        for mk in v.markets:
            budget = mk.flow_budget
            if budget is not None:
                s[f"{v.name}:{mk.name}.absorbed_notional"] = budget.absorbed_usd
                s[f"{v.name}:{mk.name}.excess_notional"] = budget.excess_usd
                s["absorbed_notional"] += budget.absorbed_usd
                s["excess_notional"] += budget.excess_usd
    return s


def cross_venue(events: pd.DataFrame, edges: pd.DataFrame) -> pd.Series:
    """Per event (by seq): the part of what caused it that came from another venue, in [0, 1].

    An event with no causes has 0. An event caused by price moves takes each cause's share of
    the harm (the edge's ``share``), counting a cause on another venue whole and one on its
    own venue for that cause's own part; the shares are normalised over its causes. What a
    liquidation set off (waterfall edges, no share) inherits the liquidation's part."""
    venue = dict(zip(events["seq"].tolist(), events["venue"].tolist(), strict=True))
    share = edges["share"] if "share" in edges.columns else pd.Series(np.nan, index=edges.index)
    weighted: dict[int, list[float]] = {}  # child -> [sum of share x foreign, sum of shares]
    inherited: dict[int, int] = {}
    for parent, child, w in zip(edges["parent"].tolist(), edges["child"].tolist(),
                                share.tolist(), strict=True):
        if math.isnan(w):
            inherited.setdefault(child, parent)
        else:
            weighted.setdefault(child, []).append((parent, w))
    foreign = dict.fromkeys(venue, 0.0)
    # A cause is always an earlier event: in seq order every parent is final before its child.
    for child in sorted(set(weighted) | set(inherited)):
        if child in weighted:
            parts = weighted[child]
            total = sum(w for _, w in parts)
            foreign[child] = sum(w * (1.0 if venue[p] != venue[child] else foreign[p])
                                 for p, w in parts) / total if total > 0 else 0.0
        else:
            p = inherited[child]
            foreign[child] = 1.0 if venue[p] != venue[child] else foreign[p]
    return pd.Series(foreign, dtype=float)


def contagion_stats(events: pd.DataFrame, foreign: pd.Series) -> dict[str, float]:
    """Liquidations another venue's cascade caused, each counted for its part that came from
    another venue (``cross_venue``), and their share of all liquidations."""
    liq = events.loc[events["kind"] == "liquidation", "seq"]
    n = float(foreign.reindex(liq).sum()) if len(liq) else 0.0
    return {"cross_venue_liquidations": n,
            "cross_venue_share": n / len(liq) if len(liq) else math.nan}


def oracle_prices(world, venue_index: int, market: int, times_ms: np.ndarray) -> np.ndarray:
    """The fundamental (oracle) price venue ``venue_index``'s market ``market`` held at each
    of ``times_ms``: the price path at the last oracle tick at or before the time that reached
    the venue (a tick inside an ``oracle`` disruption does not), in USD per coin. At a tick's
    very instant the tick's price is taken (what its margin checks set off comes after it);
    an order queued to land exactly on a tick may in fact have run just before it, which the
    log cannot tell, and is then valued one tick late."""
    paths, v = world.paths, world.venues[venue_index]
    ticks = paths.times_ms
    delivered = np.ones(len(ticks), dtype=bool)
    if v.disruptions:
        delivered[1:] = [v.disruptions.until("oracle", int(t)) is None for t in ticks[1:]]
    last = np.maximum.accumulate(np.where(delivered, np.arange(len(ticks)), 0))
    k = np.clip(np.searchsorted(ticks, times_ms, side="right") - 1, 0, len(ticks) - 1)
    return paths.prices[last[k], world.asset_of_market[venue_index][market]]


def liquidation_slippage(events: pd.DataFrame, world) -> dict[str, float]:
    """What liquidations' book fills cost against the oracle price at the order, in USD, over
    the run and per venue: sum over trade events with reason ``liquidation`` of
    |fill price - oracle price| x quantity.

    The event log does not record the mark at an order (only ADL rows carry a mark), so the
    reference is the fundamental the venue held at that instant (``oracle_prices``), exact
    and read from the run's price paths; it includes the displacement earlier forced trades
    left in the book, not only this order's walk. A pure read: nothing of the run changes."""
    kind, reason = _column(events, "kind"), _column(events, "reason")
    fills = events[(kind == EventKind.TRADE) & (reason == Reason.LIQUIDATION)]
    s = {"liquidation_slippage": 0.0}
    for j, v in enumerate(world.venues):
        mine = fills[fills["venue"] == v.name]
        total = 0.0
        for m, mk in enumerate(v.markets):
            here = mine[mine["market"] == mk.name]
            if len(here):
                ref = oracle_prices(world, j, m, here["time_ms"].to_numpy())
                total += float((np.abs(here["price"].to_numpy() - ref)
                                * here["qty"].to_numpy()).sum())
        s[f"{v.name}.liquidation_slippage"] = total
        s["liquidation_slippage"] += total
    return s


def fund_depletion(events: pd.DataFrame, venues) -> dict[str, float]:
    """When an insurance fund first ran empty, in ms from the start (NaN: none did; 0: one
    started empty): the first ``insurance_fund`` event whose balance after it is 0, which is
    when ``fund_stats``' ``insurance_fund_depleted`` became true (a fund is empty exactly
    when it paid its last cent, and every payment is such an event)."""
    if any(f.start <= 0.0 for v in venues for f in v.funds):
        return {"fund_depleted_at_ms": 0.0}
    fund = events[(_column(events, "kind") == EventKind.INSURANCE_FUND)
                  & (events["balance"] <= 0.0)]
    return {"fund_depleted_at_ms": float(fund["time_ms"].min()) if len(fund) else math.nan}


def summarize(
    events: pd.DataFrame, world, end_ms: int, edges: pd.DataFrame | None = None,
) -> dict[str, object]:
    """The flat summary of a run (``build.World`` gives venues' end state and the paths;
    ``edges`` the cascade edges)."""
    s: dict[str, object] = dict(event_stats(events))
    slippage = liquidation_slippage(events, world)
    s["liquidation_slippage"] = slippage["liquidation_slippage"]
    if edges is None:
        edges = pd.DataFrame({"parent": [], "child": [], "share": []})
    foreign = cross_venue(events, edges)
    s.update(contagion_stats(events, foreign))
    venues = world.venues
    s.update(fund_stats(venues))
    s.update(fund_depletion(events, venues))
    s.update(adl_efficiency(venues))
    s.update(adl_wave_stats(events))
    s.update(mechanism_stats(events, venues))
    s.update(price_moves(world, end_ms))
    s.update(absorption_stats(venues))

    liq = events[events["kind"] == "liquidation"]
    for v in venues:
        mine = events[events["venue"] == v.name]
        for name, value in event_stats(mine).items():
            s[f"{v.name}.{name}"] = value
        for name, value in contagion_stats(mine, foreign).items():
            s[f"{v.name}.{name}"] = value
        s[f"{v.name}.liquidation_slippage"] = slippage[f"{v.name}.liquidation_slippage"]
        s[f"{v.name}.insurance_fund_end"] = v.usd(sum(f.balance for f in v.funds))
        s[f"{v.name}.insurance_fund_paid"] = v.usd(sum(f.paid for f in v.funds))
        for name, value in venue_mechanism_stats(mine, v).items():
            s[f"{v.name}.{name}"] = value
        for f in v.funds[1:]:
            s[f"{f.name}.insurance_fund_end"] = v.usd(f.balance)
            s[f"{f.name}.insurance_fund_paid"] = v.usd(f.paid)
        for mk in v.markets:
            here = liq[(liq["venue"] == v.name) & (liq["market"] == mk.name)]
            s[f"{v.name}:{mk.name}.liquidations"] = int(len(here))
            s[f"{v.name}:{mk.name}.liquidated_notional"] = float(here["notional"].sum())
    for g, grp in liq.groupby("generation"):
        s[f"generation.{int(g)}.liquidations"] = int(len(grp))
        s[f"generation.{int(g)}.liquidated_notional"] = float(grp["notional"].sum())
    return s


def _drop(start: float, end: float) -> float:
    return float((start - end) / start) if start > 0 else 0.0


def interval_liquidations(events: pd.DataFrame, timeseries: pd.DataFrame) -> pd.DataFrame:
    """Add per-interval liquidation counts and notionals (longs, shorts) to the time series.

    A sample at time t counts liquidations in (previous sample, t]."""
    ts = timeseries.copy()
    ts["liquidations"] = 0
    ts["liquidated_long_notional"] = 0.0
    ts["liquidated_short_notional"] = 0.0
    liq = events[events["kind"] == "liquidation"]
    if liq.empty or ts.empty:
        return ts
    for (venue, market), rows in ts.groupby(["venue", "market"], sort=False):
        times = rows["time_ms"].to_numpy()
        here = liq[(liq["venue"] == venue) & (liq["market"] == market)]
        slot = np.searchsorted(times, here["time_ms"].to_numpy(), side="left")
        slot = np.minimum(slot, len(times) - 1)
        long = (here["side"] < 0).to_numpy()
        notional = here["notional"].to_numpy()
        counts = np.bincount(slot, minlength=len(times))
        longs = np.bincount(slot, weights=np.where(long, notional, 0.0), minlength=len(times))
        shorts = np.bincount(slot, weights=np.where(long, 0.0, notional), minlength=len(times))
        ts.loc[rows.index, "liquidations"] = counts
        ts.loc[rows.index, "liquidated_long_notional"] = longs
        ts.loc[rows.index, "liquidated_short_notional"] = shorts
    return ts
