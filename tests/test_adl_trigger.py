"""Which positions ADL may close: only on negative equity (the default) or on a thin book.

The book of the hand cascade (``test_cascade``: a 1.00 step, ``10000 / mid**2`` = S90 = 1.2346
per level at 90, no refill), an empty insurance fund, losses the venue absorbs
(``socialize: never``), and ``S`` short 3 @ 100 as the only ADL counterparty. X gaps to 90.

- ``L`` long 5 @ 100 with collateral 52: bankruptcy price 89.6, **solvent at the mark** 90
  (equity 2 < maintenance 4.5). By default (``adl.on: negative_equity``) ADL does not touch
  it: its 5 go to the book at 89.5, 88.5, 87.5, 86.5 (four levels of S90) and 5 - 4 x S90 at
  85.5; the shortfall against 89.6, 8.1543, is the venue's loss. On a thin book
  (``thin_book``, the CEX presets) the same close sends 3 to ``S`` at 89.6 (no bid is at or
  above it and the fund is empty) and the last 2 to the book: 1.2346 at 89.5 and 0.7654 at
  88.5, a loss of 0.1235 + 0.8420 = 0.9654.
- ``L`` with collateral 48: bankruptcy price 90.4, **bankrupt at the mark**: ADL takes 3 at
  90.4 under either rule, the book the other 2, and the venue loses 1.2346 x 0.9 + 0.7654 x
  1.9 = 2.5654.

Under the Hyperliquid preset (``negative_equity``) the liquidator vault comes first: an
account with equity in [0, 2/3 of maintenance) is taken over whole at the mark, and only one
with negative equity is deleveraged (at the mark, the preset's ADL price).
"""

from __future__ import annotations

import pytest

from simulator import run
from simulator.config import parse_scenario

S90 = 10000 / 90**2


def scenario(collateral: float, on: str | None = None, preset: str | None = None) -> dict:
    venue = {
        "name": "v", "insurance_fund": 0, "mark": {"method": "mid"},
        "liquidation": {"fee_rate": 0, "throughput_per_s": 1000000, "latency": "0ms"},
        "adl": {"ranking_interval": "0ms"}, "socialize": "never",
        "funding": {"enabled": False},
        "markets": [{
            "name": "X-PERP", "asset": "X", "tick": 0.01,
            "tiers": [{"notional": 0, "mmr": "1%", "max_leverage": 50}],
            "depth": {"profile": [["1%", 100]], "level_step": "1%"},
            "resilience": "100000h", "recentre": None, "withdrawal": {"enabled": False},
        }],
    }
    if on is not None:
        venue["adl"]["on"] = on
    sc = {
        "name": "adl_trigger", "duration": "2s",
        "assets": [{"name": "X", "price": 100, "volatility": 0}],
        "shocks": [{"asset": "X", "at": "0s", "move": "-10%", "over": "0s"}],
        "venues": [venue],
        "accounts": [
            {"name": "L", "venue": "v", "collateral": collateral,
             "positions": [{"market": "X-PERP", "qty": 5, "entry": 100}]},
            {"name": "S", "venue": "v", "collateral": 100,
             "positions": [{"market": "X-PERP", "qty": -3, "entry": 100}]},
        ],
    }
    scenario = parse_scenario(sc)
    return scenario.with_preset(preset) if preset else scenario


def kinds(result, kind: str):
    ev = result.events
    return ev[ev["kind"] == kind].reset_index(drop=True)


@pytest.mark.parametrize("on", [None, "negative_equity"])
def test_by_default_a_solvent_account_goes_to_the_book_not_to_adl(on):
    result = run(scenario(52, on=on), check=True)
    assert len(kinds(result, "adl")) == 0
    trade = kinds(result, "trade")
    assert trade["qty"].tolist() == pytest.approx([5.0])
    book = S90 * (89.5 + 88.5 + 87.5 + 86.5) + (5 - 4 * S90) * 85.5
    assert trade["notional"].tolist() == pytest.approx([book], rel=1e-12)
    loss = kinds(result, "venue_loss")["amount"].sum()
    assert loss == pytest.approx(5 * 89.6 - book, rel=1e-9)  # 8.1543


def test_on_a_thin_book_adl_takes_what_the_fund_cannot_back():
    result = run(scenario(52, on="thin_book"), check=True)
    adl = kinds(result, "adl")
    assert adl["qty"].tolist() == pytest.approx([3.0])
    assert adl["price"].tolist() == pytest.approx([89.6], rel=1e-12)
    assert kinds(result, "trade")["qty"].tolist() == pytest.approx([2.0])
    loss = kinds(result, "venue_loss")["amount"].sum()
    assert loss == pytest.approx(S90 * 0.1 + (2 - S90) * 1.1, rel=1e-9)  # 0.9654


@pytest.mark.parametrize("on", [None, "thin_book"])
def test_a_bankrupt_account_is_deleveraged_under_either_rule(on):
    result = run(scenario(48, on=on), check=True)
    adl = kinds(result, "adl")
    assert adl["qty"].tolist() == pytest.approx([3.0])
    assert adl["price"].tolist() == pytest.approx([90.4], rel=1e-12)
    loss = kinds(result, "venue_loss")["amount"].sum()
    assert loss == pytest.approx(S90 * 0.9 + (2 - S90) * 1.9, rel=1e-9)  # 2.5654


def test_under_hyperliquid_rules_the_vault_comes_before_adl():
    # Equity 2 at the mark, in [0, 2/3 x 4.5 = 3): the vault takes the position over.
    vault = run(scenario(52, preset="hyperliquid"), check=True)
    liq = kinds(vault, "liquidation")
    assert liq["mechanism"].tolist() == ["vault"]
    assert len(kinds(vault, "adl")) == 0
    # Equity -2: bankrupt, so past the vault; deleveraged at the mark.
    bankrupt = run(scenario(48, preset="hyperliquid"), check=True)
    assert kinds(bankrupt, "liquidation")["mechanism"].tolist() == ["market"]
    adl = kinds(bankrupt, "adl")
    assert adl["qty"].tolist() == pytest.approx([3.0])
    assert adl["price"].tolist() == pytest.approx([90.0], rel=1e-12)


@pytest.mark.parametrize("queue", [None, "profitable", "all"])
def test_a_losing_counterparty_is_in_the_queue_only_when_the_venue_ranks_every_position(queue):
    """``S`` short 3 entered at 80 is losing at the mark 90 (equity 100 - 30 = 70). ``L`` with
    collateral 48 is bankrupt at the mark (bankruptcy price 90.4), so ADL applies. With the
    queue of profitable positions (the default) there is no counterparty: L's 5 go to the book
    (four levels of S90 from 89.5, then 5 - 4 x S90 at 85.5) and the shortfall against 90.4,
    12.154, is the venue's loss. With ``queue: all`` (BitMEX's rank is defined for a loss) S
    takes 3 at 90.4 and the book the other 2, as in the bankrupt case above."""
    data = scenario(48, on="negative_equity").model_dump(mode="json")
    data["accounts"][1]["positions"][0]["entry"] = 80
    if queue is not None:
        data["venues"][0]["adl"]["queue"] = queue
    from simulator.config import parse_scenario

    result = run(parse_scenario(data), check=True)
    adl, loss = kinds(result, "adl"), kinds(result, "venue_loss")["amount"].sum()
    if queue == "all":
        assert adl["qty"].tolist() == pytest.approx([3.0])
        assert adl["price"].tolist() == pytest.approx([90.4], rel=1e-12)
        assert (adl["balance"] < 0).all()  # what it closed was at a loss at the mark
        assert loss == pytest.approx(S90 * 0.9 + (2 - S90) * 1.9, rel=1e-9)
    else:
        assert len(adl) == 0
        book = S90 * (89.5 + 88.5 + 87.5 + 86.5) + (5 - 4 * S90) * 85.5
        assert loss == pytest.approx(5 * 90.4 - book, rel=1e-9)
