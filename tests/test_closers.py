"""The venue's closer (chosen once from its rules), the one liquidation event every close
records, and the after-close epilogue, on small built venues (the world helpers are
``test_mechanisms``')."""

import math

import numpy as np
import pytest
from test_mechanisms import acct, world

from markets.attribution import Cause, Channel
from markets.events import Mechanism, NullSink, Share
from markets.liquidation.close import MarketClose, ToTarget, WholePositions
from markets.liquidation.pipeline import AuctionToKeepers, BackstopVault, closer_for
from markets.liquidation.record import record_liquidation
from markets.liquidation.settle import after_close
from markets.margin.detection import Breach
from simulator import default_scenario
from simulator.config import parse_scenario
from simulator.run.build import build_world, liquidation_rules


class _Log(NullSink):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[str, int, dict]] = []
        self.edges: list[tuple[int, int]] = []  # (parent, child), the kinds aside

    def emit(self, kind: str, time_ms: int, venue: str, market: str = "", **fields: object) -> int:
        seq = super().emit(kind, time_ms, venue, market, **fields)
        self.events.append((kind, seq, {"market": market, **fields}))
        return seq

    def edge(self, parent: int, child: int, kind: str = "waterfall", share: float = 0.0) -> None:
        self.edges.append((parent, child))


def _shape(closer) -> tuple:
    """A closer as nested plain values: (kind, its settings..., the closer behind it)."""
    match closer:
        case BackstopVault():
            return ("backstop", closer.below, _shape(closer.fallback))
        case AuctionToKeepers():
            return ("auction",)
        case MarketClose(sizing=ToTarget() as s):
            return ("market", "to_target", s.target, closer.chunk)
        case MarketClose(sizing=WholePositions()):
            return ("market", "whole", closer.chunk)
    raise AssertionError(closer)


@pytest.mark.parametrize(("preset", "shape"), [
    (None, ("market", "whole", None)),
    ("binance", ("market", "to_target", 0.5, None)),
    ("bitmex", ("market", "whole", None)),
    ("bybit", ("market", "to_target", 0.5, None)),
    ("okx", ("market", "whole", None)),
    ("dydx", ("market", "whole", None)),
    ("drift", ("market", "to_target", 0.8, None)),
])
def test_each_presets_rules_choose_their_closer(preset, shape):
    sc = default_scenario() if preset is None else default_scenario().with_preset(preset)
    assert _shape(closer_for(liquidation_rules(sc.venues[0]))) == shape


def test_hyperliquid_puts_the_vault_in_front_of_a_chunked_market_close():
    rules = liquidation_rules(default_scenario().with_preset("hyperliquid").venues[0])
    kind, below, (inner, sizing, chunk) = _shape(closer_for(rules))
    assert (kind, below, inner, sizing) == ("backstop", pytest.approx(2 / 3), "market", "whole")
    assert (chunk.above, chunk.fraction, chunk.cooldown_ms) == (100_000, 0.2, 30_000)


def test_auction_rules_choose_keepers_behind_a_vault_when_there_is_one():
    data = world([acct("A", 115, 10)], liquidation={"auction": {"keepers": {"count": 1}}})
    assert _shape(closer_for(liquidation_rules(parse_scenario(data).venues[0]))) == ("auction",)
    data["venues"][0]["liquidation"]["backstop"] = {"below": 0.5}
    rules = liquidation_rules(parse_scenario(data).venues[0])
    assert _shape(closer_for(rules)) == ("backstop", 0.5, ("auction",))


def test_the_built_venue_holds_the_closer_for_its_rules():
    data = world([acct("A", 115, 10)], liquidation={"close": "partial", "partial_target": 0.7})
    venue = build_world(parse_scenario(data), 0, NullSink()).venues[0]
    assert _shape(venue.closer) == ("market", "to_target", 0.7, None)


# --- the liquidation event --------------------------------------------------------------------
def _venue(accounts: list[dict], **liquidation: object):
    log = _Log()
    data = world(accounts, liquidation=liquidation) if liquidation else world(accounts)
    return build_world(parse_scenario(data), 0, log).venues[0], log


def test_one_liquidation_event_per_exit_with_its_columns_edges_and_holder():
    venue, log = _venue([acct("A", 115, 10)])
    breach = Breach(1, -1, 2, 1234, (Cause(7, Channel.BOOK, 0.7), Cause(9, Channel.INDEX, 0.3)))
    common = {"side": -1, "qty": 2.0, "price": 90.0, "notional": 180.0}
    whole = record_liquidation(venue, breach, 0, 2000, how=Mechanism.MARKET,
                               bankruptcy=88.123456789012, **common)
    chunk = record_liquidation(venue, breach, 0, 2000, how=Mechanism.MARKET, bankruptcy=88.5,
                               fraction=0.2, share=Share.CHUNK, holder=5, **common)
    vault = record_liquidation(venue, breach, 0, 2000, how=Mechanism.VAULT, holder=3, **common)
    keeper = record_liquidation(venue, breach, 0, 2000, how=Mechanism.AUCTION, keeper=4,
                                holder=4, **common)
    typed = ("mechanism", "bankruptcy_price", "partial_fraction", "chunk_fraction", "keeper")
    rows = [tuple(f[c] for c in typed) for _, _, f in log.events]
    nan = pytest.approx(math.nan, nan_ok=True)
    assert rows == [(Mechanism.MARKET, 88.123456789012, nan, nan, None),
                    (Mechanism.MARKET, 88.5, nan, 0.2, None),
                    (Mechanism.VAULT, nan, nan, nan, None),
                    (Mechanism.AUCTION, nan, nan, nan, 4)]
    assert all(f["detected_ms"] == 1234 for _, _, f in log.events)
    assert all(k == "liquidation" and f["cause"] == 7 and f["generation"] == 2
               and f["account"] == 1 and f["market"] == "X-PERP" for k, _, f in log.events)
    assert log.edges == [(p, s) for s in (whole, chunk, vault, keeper) for p in (7, 9)]
    assert venue.held_from == {(5, 0): (2, chunk), (3, 0): (2, vault), (4, 0): (2, keeper)}


def test_a_breach_without_causes_is_caused_by_nothing():
    venue, log = _venue([acct("A", 115, 10)])
    record_liquidation(venue, Breach(1, -1, 1, 0, ()), 0, 0, how=Mechanism.MARKET, side=-1,
                       qty=1.0, price=90.0, notional=90.0, bankruptcy=88.5, fraction=0.5)
    assert log.events[0][2]["cause"] == -1 and log.events[0][2]["partial_fraction"] == 0.5
    assert log.edges == []


# --- the after-close epilogue -----------------------------------------------------------------
def _isolated(venue, margin: float) -> None:
    """Row 1 (A) holds a closed isolated position in X-PERP with ``margin`` left in it."""
    acc = venue.accounts
    acc.isolated[1, 0] = True
    acc.iso_margin[1, 0] = margin


@pytest.mark.parametrize(("surplus", "wallet", "fund"), [("trader", 7.0, 100.0),
                                                         ("insurance_fund", 2.0, 105.0)])
def test_epilogue_of_an_isolated_close_pays_the_surplus_then_releases_the_margin(
        surplus, wallet, fund):
    venue, log = _venue([acct("A", 2)], surplus=surplus)
    _isolated(venue, 5.0)
    after_close(venue, Breach(1, 0, 1, 0, ()), 0, 3000)
    acc = venue.accounts
    assert (acc.wallet[1], acc.iso_margin[1, 0]) == (wallet, 0.0)
    assert venue.fund.balance == fund
    surplus_events = [f for k, _, f in log.events if k == "insurance_fund"]
    assert [f["amount"] for f in surplus_events] == ([5.0] if surplus != "trader" else [])


@pytest.mark.parametrize(("surplus", "wallet", "fund"), [("trader", 7.0, 100.0),
                                                         ("insurance_fund", 0.0, 107.0)])
def test_epilogue_of_an_emptied_cross_scope_pays_only_the_surplus(surplus, wallet, fund):
    venue, log = _venue([acct("A", 7)], surplus=surplus)
    _isolated(venue, 5.0)  # an isolated margin elsewhere is not the cross scope's
    after_close(venue, Breach(1, -1, 1, 0, ()), None, 3000)
    acc = venue.accounts
    assert (acc.wallet[1], acc.iso_margin[1, 0], venue.fund.balance) == (wallet, 5.0, fund)
    assert np.count_nonzero([k == "insurance_fund" for k, _, _ in log.events]) == (
        surplus == "insurance_fund")
