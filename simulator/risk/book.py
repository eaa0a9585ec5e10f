"""The pre-crash risk report of a scenario's book: exposure, concentration, parametric VaR,
a static stress grid and Cover-2, all from the world as built at t = 0 (before anything runs)
or as ``simulator.risk.moment`` re-simulated it to a moment of a run: the functions read the
world's positions, current trigger prices and funds, whatever time it stands at.

Composes the pure estimators of ``simulator.risk`` with the world ``simulator.run.build``
builds and the venues' own margin arithmetic (``Accounts.margin_state``/``slack``, the code
the run's margin checks use). The stress grid is the **static pass**: each asset's price (or
all of them together) is moved from the start and held; an account scope (its cross part, or
an isolated position) below maintenance there is liquidated whole at the moved price. There
is no impact (the liquidations' own sells), no responses, no arrivals, no funding and no time,
so the liquidated notional is a lower bound of what a run of that move liquidates; the bad
debt is the equity short of zero at the moved price, as for a gap move (a slow move whose
positions are closed on the way down can lose less, impact makes it more). Knows no SimPy,
writes nothing, draws nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from simulator.config import Scenario
from simulator.risk.concentration import concentration_table, lorenz_curve
from simulator.risk.cover2 import cover2 as cover2_of
from simulator.risk.var import parametric_var_es
from simulator.run.build import World, build_world
from simulator.run.recorder import Recorder

LEVELS = (0.95, 0.99, 0.999)
DISTS = (("normal", None), ("t", 4))
STRESS_COLUMNS = ("venue", "asset", "move", "liquidated_usd", "positions", "accounts",
                  "bad_debt_usd", "fund_usd", "fund_drawdown_usd", "adl_usd")


def world_of(scenario: Scenario, seed: int) -> World:
    """The world at t = 0 (a recorder that is thrown away: nothing runs)."""
    return build_world(scenario, seed, Recorder())


def default_moves(max_move: float = 0.3, step: float = 0.05) -> np.ndarray:
    """``-max_move, ..., -step, 0, step, ..., max_move`` (0 is the unstressed book)."""
    if not 0 < step <= max_move < 1:
        raise ValueError(f"the stress grid needs 0 < step <= max_move < 1 (got step {step:g}, "
                         f"max_move {max_move:g})")
    n = int(np.floor(max_move / step + 1e-9))
    return np.round(step * np.arange(-n, n + 1), 12)


def to_usd(venue, amount: np.ndarray, marks: np.ndarray) -> np.ndarray:
    """Money of the venue's unit of account in USD at ``marks`` (an inverse venue's coin, at
    its first market's price, as ``Venue.usd``)."""
    return amount / marks[0] if venue.inverse else amount


def notional_usd(venue, pos: np.ndarray, marks: np.ndarray) -> np.ndarray:
    """Absolute USD notional per (row, market): base x price, or an inverse venue's contracts."""
    return np.abs(pos) if venue.inverse else np.abs(pos) * marks


def _usd_position(venue, pos: np.ndarray) -> np.ndarray:
    """Signed position in USD-long terms (an inverse long is short x)."""
    return -pos if venue.inverse else pos


def exposure_table(world: World) -> pd.DataFrame:
    """Per venue and market at the start prices: ``long_usd``, ``short_usd``, ``net_usd``,
    ``gross_usd``, ``open_interest`` (base units; contracts on an inverse venue), accounts long
    and short, ``initial_margin_usd`` (notional / the tier's max leverage, per position),
    ``maintenance_usd`` (the tiers' requirement) and ``funding_interest`` (NaN without
    funding). Then one row per collateral asset (``kind`` "collateral"; USD value before and
    after haircut in ``long_usd``/``net_usd``), or one "USD" row of the wallets."""
    rows = []
    for venue, vc in zip(world.venues, world.venue_configs, strict=True):
        acc = venue.accounts
        marks = venue.trigger_prices()
        funding = float(vc.funding.interest) if vc.funding.enabled else float("nan")
        notional = notional_usd(venue, acc.pos, marks)
        signed = _usd_position(venue, acc.pos)
        mm = to_usd(venue, acc.maintenance(slice(None), marks), marks)
        for m, mk in enumerate(venue.markets):
            n = notional[:, m]
            # The tiers are in the venue's unit of account (an inverse venue's coin).
            lev = acc.tiers[m].leverage_cap(np.abs(acc.pos[:, m]) * marks[m])
            long, short = signed[:, m] > 0, signed[:, m] < 0
            rows.append({
                "venue": venue.name, "market": mk.name, "kind": "market",
                "long_usd": float(n[long].sum()), "short_usd": float(n[short].sum()),
                "net_usd": float(n[long].sum() - n[short].sum()), "gross_usd": float(n.sum()),
                "open_interest": float(np.abs(acc.pos[:, m]).sum() / 2.0),
                "accounts_long": int(long.sum()), "accounts_short": int(short.sum()),
                "initial_margin_usd": float((n / lev).sum()),
                "maintenance_usd": float(mm[:, m].sum()), "funding_interest": funding})
        rows += _collateral_rows(venue, marks)
    return pd.DataFrame(rows)


def _collateral_rows(venue, marks: np.ndarray) -> list[dict]:
    book = venue.collateral
    blank = {"short_usd": 0.0, "gross_usd": float("nan"), "open_interest": float("nan"),
             "accounts_short": 0, "initial_margin_usd": float("nan"),
             "maintenance_usd": float("nan"), "funding_interest": float("nan")}
    if book is None:
        wallets = to_usd(venue, venue.accounts.wallet, marks)
        return [{"venue": venue.name, "market": "USD" if not venue.inverse else "coin",
                 "kind": "collateral", "long_usd": float(wallets.sum()),
                 "net_usd": float(wallets.sum()), "accounts_long": int((wallets > 0).sum()),
                 **blank}]
    out = []
    for k, name in enumerate(book.names):
        held = book.holdings[:, k]
        out.append({"venue": venue.name, "market": name, "kind": "collateral",
                    "long_usd": float(held.sum() * book.prices[k]),
                    "net_usd": float(held.sum() * book.prices[k] * (1 - book.haircuts[k])),
                    "accounts_long": int((held > 0).sum()), **blank})
    return out


def account_exposure(world: World) -> pd.DataFrame:
    """One row per account: venue, row, liquidatable, label, gross USD notional, effective
    leverage and the
    leverage-weighted exposure (gross x effective leverage, 0 where it has none)."""
    parts = []
    for venue in world.venues:
        acc = venue.accounts
        gross = notional_usd(venue, acc.pos, venue.trigger_prices()).sum(axis=1)
        parts.append(pd.DataFrame({"venue": venue.name, "account": np.arange(acc.n),
                                   "liquidatable": acc.liquidatable.copy(), "gross_usd": gross}))
    out = pd.concat(parts, ignore_index=True).merge(
        world.accounts[["venue", "account", "label", "effective_leverage"]],
        on=["venue", "account"], how="left")
    out["leverage_weighted_usd"] = out["gross_usd"] * out["effective_leverage"].fillna(0.0)
    return out


def concentration(world: World) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(table, lorenz) of the traders' (liquidatable accounts') exposure. The table has
    ``concentration_table``'s columns per venue and "all",
    with ``measure`` "gross" (per-account gross notional) or "leverage_weighted"; the Lorenz
    frame ``measure, group, x, y``."""
    per = account_exposure(world)
    # The traders only: a market maker holding the other side of everyone is not a
    # concentration of risk the venue's margin stands behind.
    per = per[per["liquidatable"]]
    tables, curves = [], []
    for measure, col in (("gross", "gross_usd"), ("leverage_weighted", "leverage_weighted_usd")):
        if not (per[col] > 0).any():
            continue
        both = pd.concat([concentration_table(per, col, "venue"), concentration_table(per, col)])
        tables.append(both.assign(measure=measure))
        for group, part in [("all", per), *per.groupby("venue")]:
            if (part[col] > 0).any():
                x, y = lorenz_curve(part[col].to_numpy())
                curves.append(pd.DataFrame({"measure": measure, "group": group, "x": x, "y": y}))
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    lorenz = (pd.concat(curves, ignore_index=True) if curves
              else pd.DataFrame(columns=["measure", "group", "x", "y"]))
    return table, lorenz


def linear_exposure(world: World) -> tuple[pd.DataFrame, list[str]]:
    """Per account (``venue, account, liquidatable``), its USD delta to each asset (columns =
    asset names): positions' USD value; on an inverse venue the contracts' USD amount plus
    the coin equity's USD value (the coin itself moves with the price)."""
    names = [a.name for a in world.scenario.assets]
    parts = []
    for venue, assets in zip(world.venues, world.asset_of_market, strict=True):
        acc = venue.accounts
        marks = venue.trigger_prices()
        w = np.zeros((acc.n, len(names)))
        if venue.inverse:
            # USD equity E = P e with e the coin equity and de/dP = -q / P^2 (q contracts,
            # short x for a long), so P dE/dP = e P - q: the coin held plus the contracts.
            coin = acc.wallet + (acc.iso_margin + acc.upnl(slice(None), marks)).sum(axis=1)
            w[:, assets[0]] += coin / marks[0]
            for m in range(acc.n_markets):
                w[:, assets[m]] -= acc.pos[:, m]
        else:
            for m in range(acc.n_markets):
                w[:, assets[m]] += acc.pos[:, m] * marks[m]
        frame = pd.DataFrame(w, columns=names)
        frame.insert(0, "liquidatable", acc.liquidatable.copy())
        frame.insert(0, "account", np.arange(acc.n))
        frame.insert(0, "venue", venue.name)
        parts.append(frame)
    return pd.concat(parts, ignore_index=True), names


def parametric_var(world: World, horizon_days: float = 1.0) -> pd.DataFrame:
    """VaR/ES of each account, each venue's book and all venues together (``scope`` account /
    venue / all) at ``LEVELS``, normal and Student-t (4 dof), with the scenario's vols and
    correlation: ``scope, venue, account, level, dist, sigma, var, es``. A venue's scope is its
    traders (the market maker, on the other side, left out). The insurance fund's loss is not
    linear in the prices; it is in the stress grid."""
    frame, names = linear_exposure(world)
    vols = np.array([a.volatility for a in world.scenario.assets])
    corr = world.scenario.correlation_matrix()
    rows = []
    # Every venue's book sums to zero with its market maker, which takes the other side of
    # the traders: a venue's (and the whole world's) VaR is that of its traders, the
    # liquidatable accounts, whose losses its margin and fund stand behind.
    traders = frame[frame["liquidatable"]]
    for venue, part in traders.groupby("venue", sort=False):
        rows.append(("venue", venue, -1, part[names].sum().to_numpy()))
    rows.append(("all", "all", -1, traders[names].sum().to_numpy()))
    out = []
    for scope, venue, account, w in rows:
        for dist, dof in DISTS:
            t = parametric_var_es(w, vols, corr, horizon_days, LEVELS, dist=dist, dof=dof or 4)
            out.append(t.assign(scope=scope, venue=venue, account=account))
    # Per account: sigma vectorised, times the unit (sigma = 1) VaR and ES factors.
    cov = np.outer(vols, vols) * np.asarray(corr) * horizon_days / 365.0
    w = frame[names].to_numpy()
    sigma = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", w, cov, w), 0.0))
    live = sigma > 0
    for dist, dof in DISTS:
        unit = parametric_var_es([1.0], [np.sqrt(365.0 / horizon_days)], [[1.0]], horizon_days,
                                 LEVELS, dist=dist, dof=dof or 4)
        for _, u in unit.iterrows():
            out.append(pd.DataFrame({
                "level": u["level"], "sigma": sigma[live], "var": sigma[live] * u["var"],
                "es": sigma[live] * u["es"], "dist": dist, "scope": "account",
                "venue": frame["venue"].to_numpy()[live],
                "account": frame["account"].to_numpy()[live]}))
    cols = ["scope", "venue", "account", "level", "dist", "sigma", "var", "es"]
    return pd.concat(out, ignore_index=True)[cols]


def cell_name(asset: str, move: float) -> str:
    """A stress cell's name: ``BTC -15%``, ``all +5%``."""
    return f"{asset} {move:+.0%}"


def _moved(venue, start: np.ndarray, cols: np.ndarray, move: float) -> np.ndarray:
    marks = start.copy()
    factor = 1.0 + move
    marks[cols] = start[cols] / factor if venue.inverse else start[cols] * factor
    return marks


def scopes_at(venue, marks: np.ndarray, acc=None) -> list[tuple[int, int, float, float]]:
    """The liquidatable scopes of ``acc`` (default the venue's accounts; a scratch copy in a
    path pass) below maintenance at ``marks``: (row, market or -1 for the cross part, equity
    in USD, notional in USD), cross parts first. The static passes all use it."""
    acc = venue.accounts if acc is None else acc
    rows = np.flatnonzero(acc.liquidatable & (acc.pos != 0).any(axis=1))
    if rows.size == 0:
        return []
    state = acc.margin_state(rows, marks)
    cross_slack, iso_slack = acc.slack_of(rows, state)
    cross_eq, _, iso_eq, _ = state
    pos, isolated = acc.pos[rows], acc.isolated[rows]
    notional = notional_usd(venue, pos, marks)
    cross_live = ((pos != 0) & ~isolated).any(axis=1)
    out = []
    for i in np.flatnonzero((cross_slack < 0) & cross_live):
        n = float(notional[i][~isolated[i] & (pos[i] != 0)].sum())
        out.append((int(rows[i]), -1, float(to_usd(venue, cross_eq[i], marks)), n))
    for i, m in zip(*np.nonzero((iso_slack < 0) & isolated & (pos != 0)), strict=True):
        out.append((int(rows[i]), int(m), float(to_usd(venue, iso_eq[i, m], marks)),
                    float(notional[i, m])))
    return out


def static_cell(venue, moves: np.ndarray) -> dict[str, float]:
    """The static pass of one venue with each market's price moved by its own fraction
    (``moves``, one per market, from the start prices): ``breached_scopes``, ``accounts``,
    ``liquidated_usd``, ``bad_debt_usd`` as in ``stress_cells``."""
    start = venue.trigger_prices()
    factor = 1.0 + np.asarray(moves, dtype=float)
    marks = start / factor if venue.inverse else start * factor
    hit = scopes_at(venue, marks)
    bad = sum(max(0.0, -h[2]) for h in hit)
    return {"breached_scopes": len(hit), "accounts": len({h[0] for h in hit}),
            "liquidated_usd": float(sum(h[3] for h in hit)), "bad_debt_usd": bad}


def _equity(venue, rows: np.ndarray, marks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    cross_eq, _, iso_eq, _ = venue.accounts.margin_state(rows, marks)
    return cross_eq, iso_eq


def stress_cells(scenario: Scenario, seed: int, moves: Sequence[float] | None = None,
                 world: World | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(grid, losses). ``grid``: one row per (venue, asset or "all", move), ``STRESS_COLUMNS``;
    ``losses``: per breached scope, ``venue, scenario, account`` (the label, "/market" for an
    isolated position), ``owner`` (the label), ``loss_usd, margin_usd, notional_usd`` (the
    scope's liquidated notional) with
    margin = the scope's equity at the start and loss = its fall, so loss − margin is the
    scope's bad debt (``simulator.risk.cover2``'s input)."""
    world = world or world_of(scenario, seed)
    moves = default_moves() if moves is None else np.asarray(moves, dtype=float)
    names = [a.name for a in scenario.assets]
    grid, losses = [], []
    for venue, assets in zip(world.venues, world.asset_of_market, strict=True):
        acc = venue.accounts
        start = venue.trigger_prices()
        fund = float(to_usd(venue, np.array(sum(f.available() for f in venue.funds)), start))
        labels = world.accounts[world.accounts["venue"] == venue.name].set_index("account")
        for a in [*np.unique(assets).tolist(), None]:
            cols = np.arange(acc.n_markets) if a is None else np.flatnonzero(assets == a)
            asset = "all" if a is None else names[a]
            for move in moves.tolist():
                marks = _moved(venue, start, cols, move)
                hit = scopes_at(venue, marks)
                rows = np.array([h[0] for h in hit], dtype=np.int64)
                eq0_cross, eq0_iso = _equity(venue, rows, start)
                bad = 0.0
                for k, (row, m, eq_usd, scope_notional) in enumerate(hit):
                    eq0 = float(eq0_cross[k] if m < 0 else eq0_iso[k, m])
                    eq0_usd = float(to_usd(venue, np.array(eq0), start))
                    bad += max(0.0, -eq_usd)
                    name = str(labels["label"].get(row, row))
                    scope = name if m < 0 else f"{name}/{venue.markets[m].name}"
                    losses.append({"venue": venue.name, "scenario": cell_name(asset, move),
                                   "account": scope, "owner": name,
                                   "loss_usd": eq0_usd - eq_usd,
                                   "margin_usd": max(eq0_usd, 0.0),
                                   "notional_usd": scope_notional})
                notional = sum(h[3] for h in hit)
                drawn = min(fund, bad)
                grid.append((venue.name, asset, move, notional, len(hit),
                             len({h[0] for h in hit}), bad, fund, drawn, bad - drawn))
    out = pd.DataFrame(grid, columns=list(STRESS_COLUMNS)).astype(
        {"positions": "int64", "accounts": "int64"})
    cols = ["venue", "scenario", "account", "owner", "loss_usd", "margin_usd", "notional_usd"]
    return out, pd.DataFrame(losses, columns=cols)


def stress_grid(scenario: Scenario, seed: int, moves: Sequence[float] | None = None,
                world: World | None = None) -> pd.DataFrame:
    """The static stress grid (``stress_cells``' first frame)."""
    return stress_cells(scenario, seed, moves, world)[0]


def cover2(world: World, losses: pd.DataFrame, grid: pd.DataFrame) -> pd.DataFrame:
    """Per venue and stress cell, the two largest defaulters' uncovered losses (their own
    margin already netted in ``losses``) through the venue's insurance fund, then ADL
    (unlimited): ``simulator.risk.cover2``'s columns with ``venue``. A defaulter is an owner:
    its scopes' uncovered losses add up (an isolated position's margin backs only it)."""
    out = []
    for venue in world.venues:
        mine = losses[losses["venue"] == venue.name]
        cells = grid[grid["venue"] == venue.name]
        if mine.empty:
            continue
        fund = float(cells["fund_usd"].iloc[0])
        table = cover2_of(mine.drop(columns="venue"), [("insurance_fund", fund), ("adl", None)],
                          by="owner")
        out.append(table.assign(venue=venue.name))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame()
