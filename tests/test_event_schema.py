"""The event log follows its declared schema (``markets.events``), and nothing needs parsing.

Runs of the default crash under four mechanism sets (the default's market close; Binance's
fund takeover and partial closes; Hyperliquid's vault and chunked closes; keepers' auctions)
are checked against ``COLUMNS`` and ``KIND_COLUMNS``: every column with its declared dtype, no
``detail`` column, a kind's always-columns filled on every row, columns a kind does not use
empty, and only declared enum values. The mechanism figures of the summary are checked against
counts that do not come from the same column (a scope the vault takes over is one
``backstop`` event; an auction take names its keeper). A saved and loaded log keeps every
dtype.
"""

from __future__ import annotations

from functools import cache

import pandas as pd
import pytest

from markets.events import (
    COLUMNS,
    KIND_COLUMNS,
    MECHANISM_COLUMNS,
    TYPED,
    EventKind,
    Mechanism,
    Reason,
)
from simulator import RunResult, default_scenario, run
from simulator.config.scenario import apply_override, parse_scenario

WORLDS = ("default", "binance", "hyperliquid", "auction")


@cache
def _result(world: str) -> RunResult:
    data = default_scenario().model_dump(exclude_unset=True)
    apply_override(data, "duration=5m")  # the crash starts at 3 min
    if world in ("binance", "hyperliquid"):
        apply_override(data, f"venues.cex.preset={world}")
    elif world == "auction":
        data["venues"][0].setdefault("liquidation", {})["auction"] = {"keepers": {"count": 3}}
    return run(parse_scenario(data), 7)


@pytest.mark.parametrize("world", WORLDS)
def test_every_column_has_its_declared_dtype(world):
    events = _result(world).events
    assert "detail" not in events.columns
    assert list(events.columns) == list(COLUMNS)
    assert {c: str(events[c].dtype) for c in events} == COLUMNS


@pytest.mark.parametrize("world", WORLDS)
def test_each_kind_fills_its_columns_and_leaves_the_others_empty(world):
    events = _result(world).events
    assert set(events["kind"]) <= set(EventKind)
    for kind, rows in events.groupby("kind", observed=True):
        declared = KIND_COLUMNS.get(EventKind(kind))
        always = declared.always if declared else ()
        used = declared.used if declared else ()
        for column in always:
            assert rows[column].notna().all(), (kind, column)
        for column in set(TYPED) - set(used):
            assert rows[column].isna().all(), (kind, column)


@pytest.mark.parametrize("world", WORLDS)
def test_enum_columns_hold_declared_values_only(world):
    events = _result(world).events
    assert set(events["mechanism"].dropna()) <= set(Mechanism)
    assert set(events["reason"].dropna()) <= set(Reason)
    liq = events[events["kind"] == EventKind.LIQUIDATION]
    for mechanism, rows in liq.groupby("mechanism", observed=True):
        for column in MECHANISM_COLUMNS[Mechanism(mechanism)].always:
            assert rows[column].notna().all(), (mechanism, column)
    assert (liq["detected_ms"] <= liq["time_ms"]).all()
    market = liq[liq["mechanism"] == Mechanism.MARKET]
    assert (market["bankruptcy_price"] > 0).all()
    for column in ("partial_fraction", "chunk_fraction"):
        share = liq[column].dropna()
        assert ((share > 0) & (share < 1)).all(), column


def test_each_world_exercises_its_mechanism():
    """The worlds above are not vacuous: each shows the columns its mechanism fills."""
    by_world = {w: _result(w).events for w in WORLDS}
    liq = {w: e[e["kind"] == EventKind.LIQUIDATION] for w, e in by_world.items()}
    assert set(liq["default"]["mechanism"]) == {Mechanism.MARKET}
    assert (liq["binance"]["partial_fraction"].notna()).any()
    hl = liq["hyperliquid"]
    assert (hl["mechanism"] == Mechanism.VAULT).any() and hl["chunk_fraction"].notna().any()
    assert (liq["auction"]["mechanism"] == Mechanism.AUCTION).any()
    fund = by_world["binance"][by_world["binance"]["kind"] == EventKind.INSURANCE_FUND]
    assert (fund["reason"] == Reason.TAKEOVER).any()


def test_mechanism_figures_agree_with_independent_counts():
    hl = _result("hyperliquid")
    vault = hl.events[hl.events["mechanism"] == Mechanism.VAULT]
    assert hl.summary["vault_takeovers"] == len(vault) > 0
    # the vault takes over an account's whole scope at once: one backstop event per scope
    backstops = int((hl.events["kind"] == EventKind.BACKSTOP).sum())
    assert vault.groupby(["account", "time_ms"]).ngroups == backstops
    chunks = hl.events[(hl.events["kind"] == EventKind.LIQUIDATION)
                       & hl.events["chunk_fraction"].notna()]
    assert hl.summary["chunked_liquidations"] == len(chunks) > 0
    au = _result("auction")
    takes = au.events[au.events["keeper"].notna()]
    assert set(takes["kind"]) == {EventKind.LIQUIDATION}
    assert au.summary["auction_takes"] == len(takes) > 0
    assert au.summary["auction_take_notional"] == pytest.approx(float(takes["notional"].sum()))
    started = int(((au.events["kind"] == EventKind.AUCTION)
                   & (au.events["reason"] == Reason.START)).sum())
    assert au.summary["auctions_started"] == started > 0


def test_a_saved_log_keeps_its_dtypes(tmp_path):
    result = _result("auction")
    loaded = RunResult.load(result.save(tmp_path / "run", graphs=False))
    pd.testing.assert_frame_equal(loaded.events, result.events)
