"""Scale from aggregates: a population sized by its target open interest, and a scenario's
``scale`` (the same world smaller)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import linked_venues

from markets.events import NullSink
from simulator import default_scenario, run
from simulator.config import ScenarioError, parse_scenario
from simulator.config.scaling import scaled
from simulator.run.build import build_world


def targeted(**block: object) -> dict:
    data = default_scenario().to_dict()
    retail = data["populations"][0]
    del retail["count"], retail["markets"]
    retail["target_oi"] = {"BTC-PERP": 30e6, "ETH-PERP": 10e6}
    retail.update(block)
    return data


def test_target_oi_gives_the_count_and_each_markets_notional_exactly():
    sc = parse_scenario(targeted())
    retail = sc.populations[0]
    mean = 6000 * math.exp(1.2 ** 2 / 2)  # lognormal median 6000, sigma 1.2
    assert retail.count == round(40e6 / mean)
    assert retail.markets == {"BTC-PERP": 30e6, "ETH-PERP": 10e6}  # the mix follows
    world = build_world(sc, 3, NullSink())
    acc, labels = world.venues[0].accounts, world.accounts["group"]
    rows = np.flatnonzero(labels.to_numpy() == "retail")
    gross = (np.abs(acc.pos[rows]) * acc.entry[rows]).sum(axis=0)
    # At entry (the notional the block was drawn with): 30M and 10M, multi-market accounts too.
    start = world.paths.prices[0]
    drawn = np.abs(acc.pos[rows]) * start
    assert drawn.sum(axis=0) == pytest.approx([30e6, 10e6], rel=1e-9)
    assert gross.sum() == pytest.approx(40e6, rel=0.02)  # entries spread around the start


def test_a_target_that_cannot_give_a_count_is_refused_with_the_field():
    with pytest.raises(ScenarioError, match="has no mean"):
        parse_scenario(targeted(notional={"distribution": "pareto", "alpha": 0.9}))
    data = targeted(markets={"BTC-PERP": 1.0})
    with pytest.raises(ScenarioError, match="'ETH-PERP' needs a positive weight in markets"):
        parse_scenario(data)
    # A count too small to reach every targeted market is refused when the world is built.
    with pytest.raises(ScenarioError, match="no account of the block was drawn in market"):
        build_world(parse_scenario(targeted(count=1, multi_market_share=0)), 0, NullSink())


def test_scale_multiplies_the_extensive_sizes_only():
    base = linked_venues(default_scenario())
    data = base.to_dict()
    data["scale"] = 0.25
    half = scaled(parse_scenario(data))
    assert half.scale == 1.0
    for a, b in zip(base.populations, half.populations, strict=True):
        assert b.count == round(a.count * 0.25) and b.notional == a.notional
        assert b.leverage == a.leverage
    for a, b in zip(base.venues, half.venues, strict=True):
        assert b.insurance_fund == a.insurance_fund * 0.25
        for ma, mb in zip(a.markets, b.markets, strict=True):
            assert mb.depth.profile == ma.depth.profile and mb.depth.scale == 0.25
            assert mb.tiers == ma.tiers and mb.tick == ma.tick
    assert half.arbitrage[0].capital == base.arbitrage[0].capital * 0.25
    assert half.assets == base.assets and half.shocks == base.shocks


def test_scale_keeps_depth_read_from_a_file_and_scales_a_traded_replay_s_flow(tmp_path):
    # The profile of a depth file is read again whenever the scenario is parsed: scaling it
    # must go through the depth's scale, or a scaled world would keep the full book.
    bands = tmp_path / "depth.csv"
    rows = ["timestamp,percentage,depth,notional"]
    rows += [f"2025-10-10 18:00:00,{p},1,{abs(p) * 1e6}" for p in (-2, -1, 1, 2)]
    bands.write_text("\n".join(rows) + "\n")
    klines = tmp_path / "k.csv"
    klines.write_text("open_time,open,high,low,close,volume,close_time,quote_volume,count,"
                      "taker_buy_volume,taker_buy_quote_volume\n"
                      + "".join(f"{1_760_119_200_000 + k * 60_000},100,100,100,100,1,0,1e6,1,"
                                f"0.4,4e5\n" for k in range(3)))
    data = default_scenario().to_dict()
    data["venues"][0]["markets"][0]["depth"] = {"csv": str(bands), "profile": [["1%", 1]]}
    data["replays"] = [{"asset": "BTC", "csv": str(klines), "mode": "traded",
                        "absorbed_share": 0.5}]
    data["scale"] = 0.1
    small = scaled(parse_scenario(data))
    depth = small.venues[0].markets[0].depth
    assert depth.profile == [(0.01, 1e6), (0.02, 2e6)] and depth.scale == pytest.approx(0.1)
    assert small.replays[0].absorbed_share == pytest.approx(0.05)


def test_the_same_world_smaller_has_about_the_same_crash():
    full = run(default_scenario(), 7)
    data = default_scenario().to_dict()
    data["scale"] = 0.5
    half = run(parse_scenario(data), 7)
    assert half.ok and half.meta["scenario"]["scale"] == 1.0  # the effective config
    assert half.meta["scenario"]["populations"][0]["count"] == round(9980 * 0.5)
    ratio = half.summary["liquidated_notional"] / full.summary["liquidated_notional"]
    assert 0.35 < ratio < 0.65  # half the accounts, half the forced flow
    # Half the depth for half the flow: the traded fall is about the same.
    assert half.summary["max_drawdown"] == pytest.approx(full.summary["max_drawdown"], abs=0.03)
