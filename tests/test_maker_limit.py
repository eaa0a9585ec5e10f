"""The market maker's loss limit, by hand: a forced sell it absorbs puts its balance sheet past
the limit, and it withdraws depth and widens its spread (on every venue of a shared sheet).

The hand cascade's book (``test_cascade``): ``a`` long 5 @ 100 with collateral 52 is liquidated
when X gaps to 90 at t = 1000 ms, and its sell walks the maker's bids from 89.5 to 85.5, for
439.8457 (four levels of S90 = 1.2346 and 0.0617 at 85.5). The maker bought 5 that are worth
5 x 86 = 430 at the new mark: a trading loss of 9.8457 (the positions it held at the start,
the other side of the traders', are not its own). With a limit of 5, its next step (2000 ms)
finds the sheet breached: depth down to the floor (20%) and the first 3 levels withdrawn.
"""

from __future__ import annotations

import pytest

from markets.events import Reason
from markets.maker_balance import BalanceSheet, MakerLimit
from simulator import run
from simulator.config import ScenarioError, parse_scenario
from simulator.run.build import build_world
from simulator.run.recorder import Recorder

S90 = 10000 / 90**2
BOUGHT = S90 * (89.5 + 88.5 + 87.5 + 86.5) + (5 - 4 * S90) * 85.5  # 439.8457
LOSS = BOUGHT - 5 * 86  # 9.8457


def _venue(name: str, risk: dict | None) -> dict:
    venue = {
        "name": name, "insurance_fund": 10, "mark": {"method": "mid"},
        "liquidation": {"fee_rate": 0, "throughput_per_s": 1000000, "latency": "0ms"},
        "funding": {"enabled": False},
        "markets": [{
            "name": "X-PERP", "asset": "X", "tick": 0.01,
            "tiers": [{"notional": 0, "mmr": "1%", "max_leverage": 50}],
            "depth": {"profile": [["1%", 100]], "level_step": "1%"},
            "resilience": "100000h", "recentre": None,
            "withdrawal": {"enabled": False},
        }],
    }
    if risk is not None:
        venue["maker_risk"] = risk
    return venue


def scenario(limit: float, shared: bool = False) -> dict:
    risk = {"loss_limit": limit, "floor": 0.2, "spread_levels": 3}
    if shared:
        risk["balance_sheet"] = "mm"
    return {
        "name": "maker_limit", "duration": "3s",
        "assets": [{"name": "X", "price": 100, "volatility": 0}],
        "shocks": [{"asset": "X", "at": "0s", "move": "-10%", "over": "0s"}],
        "venues": [_venue("A", risk)] + ([_venue("B", dict(risk))] if shared else []),
        "accounts": [{"name": "a", "venue": "A", "collateral": 52,
                      "positions": [{"market": "X-PERP", "qty": 5, "entry": 100}]}],
    }


def kinds(result, kind: str):
    ev = result.events
    return ev[ev["kind"] == kind].reset_index(drop=True)


def test_the_maker_withdraws_once_its_loss_passes_the_limit():
    result = run(parse_scenario(scenario(limit=5)), seed=1, check=True)
    hit = kinds(result, "maker_limit")
    assert hit["time_ms"].tolist() == [2000]
    assert hit["reason"].tolist() == [Reason.LOSS_LIMIT]
    assert hit["amount"].tolist() == pytest.approx([LOSS], rel=1e-9)
    assert hit["balance"].tolist() == [5.0]
    depth = kinds(result, "depth")
    assert depth["time_ms"].tolist() == [2000] and depth["amount"].tolist() == [0.2]


def test_under_the_limit_nothing_changes():
    result = run(parse_scenario(scenario(limit=20)), seed=1)
    assert len(kinds(result, "maker_limit")) == 0 and len(kinds(result, "depth")) == 0


def test_a_shared_balance_sheet_withdraws_on_every_venue():
    result = run(parse_scenario(scenario(limit=5, shared=True)), seed=1, check=True)
    hit = kinds(result, "maker_limit")
    assert sorted(hit["venue"]) == ["A", "B"] and set(hit["time_ms"]) == {2000}
    # B saw no trade: it withdraws because A's loss is on the same sheet.
    depth = kinds(result, "depth")
    assert sorted(depth["venue"]) == ["A", "B"] and set(depth["amount"]) == {0.2}


def test_the_sheet_reads_trading_pnl_and_resumes_with_hysteresis():
    world = build_world(parse_scenario(scenario(limit=5)), 1, Recorder())
    venue = world.venues[0]
    sheet = BalanceSheet("mm", MakerLimit(5.0, 0.2, 3, 0.8))
    sheet.add(venue)
    assert sheet.pnl() == 0.0
    # The account sells 5 into the maker's bids at mid 100 (1 per level: 99.5 ... 95.5): the
    # maker pays 487.5 for what is worth 5 x 95 at the new mid.
    venue.walk_book(1, 0, -5.0, 0, 0, -1, Reason.ORDER)
    assert sheet.pnl() == pytest.approx(5 * 95 - 487.5, rel=1e-12)  # -12.5
    assert sheet.update() is True and sheet.breached
    assert sheet.update() is None
    # The account buys 2 back from the maker's asks (1.108 a level at mid 95): the maker has
    # 3 of the 5 it bought left, at the new mid.
    _, sold = venue.walk_book(1, 0, 2.0, 0, 0, -1, Reason.ORDER)
    mid = venue.markets[0].prices.mid
    assert mid == pytest.approx(96.0, rel=1e-12)
    expected = -487.5 + sold + 3 * mid
    assert sheet.pnl() == pytest.approx(expected, rel=1e-12)
    # A loss of 7.6 is above 0.8 x 5: still breached (hysteresis), until it is below 4.
    assert -expected > 4.0 and sheet.update() is None and sheet.breached
    venue.walk_book(1, 0, 3.0, 0, 0, -1, Reason.ORDER)
    assert sheet.update() is False and not sheet.breached


def test_makers_sharing_a_sheet_must_share_its_limit():
    data = scenario(limit=5, shared=True)
    data["venues"][1]["maker_risk"]["loss_limit"] = 6
    with pytest.raises(ScenarioError, match="balance sheet 'mm' is shared"):
        parse_scenario(data)
