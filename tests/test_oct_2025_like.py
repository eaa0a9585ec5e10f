"""The built-in ``oct-2025-like`` scenario: three venues on real rules, joined by arbitrage and
index weights, driven by 10 Oct 2025's BTC path when the data is beside the project and by a
synthetic path of the same shape otherwise; a stablecoin depegs on one venue."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from markets.prices.klines import read_klines
from simulator import load_builtin, run
from simulator.config.scenario import load_scenario

NAME = "oct-2025-like"
DATA = (Path(__file__).resolve().parents[2] / "shared" / "data" / "klines"
        / "BTCUSDT-1m-2025-10-10.csv")
POPULATIONS = ("binance_retail", "bybit_retail", "hyperliquid_traders")
# The same world with a tenth of the traders and the run stopped after the depeg (70 of 90 min).
SMALL = (["duration=70m"]
         + [f"populations.{p}.count={n}" for p, n in zip(POPULATIONS, (400, 300, 300), strict=True)]
         + [f"populations.{p}.arrivals.count=100" for p in POPULATIONS])


def packaged() -> Path:
    return Path(str(resources.files("simulator.config.scenarios") / f"{NAME}.yaml"))


def test_without_the_data_the_synthetic_path_runs_and_the_config_says_so(tmp_path, monkeypatch):
    shutil.copy(packaged(), tmp_path / f"{NAME}.yaml")
    monkeypatch.chdir(tmp_path)  # no shared/ above a temporary folder
    scenario = load_scenario(tmp_path / f"{NAME}.yaml")
    replay = scenario.replays[0]
    assert replay.csv is None and scenario.to_dict()["replays"][0]["csv"] is None
    times, levels = replay.series()
    assert times[0] == 0 and times[-1] == scenario.duration
    assert levels.min() == pytest.approx(0.868)  # the 21:20 UTC low, 50 min in


@pytest.mark.skipif(not DATA.is_file(), reason="the 10 Oct 2025 klines are not beside the project")
def test_with_the_data_the_real_path_is_used_and_the_waypoints_follow_it():
    replay = load_builtin(NAME).replays[0]
    assert replay.csv is not None and replay.csv.resolve() == DATA.resolve()
    bars = read_klines(DATA)
    start = int(replay.start.timestamp() * 1000)
    bars = bars[bars["open_time"] >= start].set_index("open_time")
    first = bars["open"].iloc[0]
    for t_ms, level in replay.synthetic:
        minute = bars.loc[start + t_ms - t_ms % 60_000]
        # each waypoint lies within the minute's real range (or 0.3% of it), relative to 20:30
        low, high = minute["low"] / first, minute["high"] / first
        assert low - 0.003 <= level <= high + 0.003, (t_ms, level, low, high)


@pytest.fixture(scope="module")
def small_run():
    return run(load_builtin(NAME).with_overrides(SMALL), check=True)


def test_the_crash_spreads_over_three_venues_both_sides(small_run):
    events = small_run.events
    liq = events[events["kind"] == "liquidation"]
    assert set(liq["venue"]) == {"binance", "bybit", "hyperliquid"}
    # mostly longs, and shorts opened into the slide are liquidated on the rebound
    longs = liq.loc[liq["side"] < 0, "notional"].sum() / liq["notional"].sum()
    assert 0.6 < longs < 0.98
    arrived = small_run.accounts.loc[small_run.accounts["group"].str.endswith(":arrivals")]
    assert liq["account"].isin(arrived["account"]).any()
    assert small_run.summary["cross_venue_liquidations"] > 0
    # a third of the traders keep stop-losses: the slide sets some of them off
    stops = events[(events["kind"] == "trade") & (events["reason"] == "stop")]
    assert set(stops["venue"]) == {"binance", "bybit", "hyperliquid"}
    assert (stops["side"] == -1).any()


def test_arbitrageurs_trade_on_both_books(small_run):
    trades = small_run.events[(small_run.events["kind"] == "trade")
                              & (small_run.events["reason"] == "arbitrage")]
    pairs = trades.groupby("venue")["market"].unique().map(set).to_dict()
    assert pairs["binance"] >= {"BTC-PERP"} and pairs["bybit"] >= {"BTC-PERP"}
    assert "BTC-PERP" in pairs["hyperliquid"]


def test_the_depeg_is_logged_on_its_venue_only(small_run):
    shocks = small_run.events[small_run.events["kind"] == "shock"]
    assert shocks[["venue", "asset", "reason"]].values.tolist() == [["binance", "USDE", "depeg"]]
    assert shocks["amount"].tolist() == pytest.approx([-0.30])
    assert shocks["time_ms"].tolist() == [65 * 60_000 + 1000]  # the first tick after 65 min


def test_hyperliquid_deleverages_only_accounts_bankrupt_at_the_mark(small_run):
    # Its preset's rule (adl.on: negative_equity): the vault takes accounts with equity in
    # [0, 2/3 maintenance); ADL closes only what an account bankrupt at the mark leaves.
    events = small_run.events.set_index("seq", drop=False)
    hl = events[events["venue"] == "hyperliquid"]
    assert (hl["kind"] == "backstop").sum() > 0
    adl = hl[hl["kind"] == "adl"]
    assert len(adl) > 0
    closed_long = events.loc[adl["cause"].astype(int), "side"].to_numpy() < 0
    mark, bankruptcy = adl["mark_price"].to_numpy(), adl["bankruptcy_price"].to_numpy()
    assert np.all(np.where(closed_long, mark < bankruptcy, mark > bankruptcy))


def test_the_small_run_is_deterministic(small_run):
    again = run(load_builtin(NAME).with_overrides(SMALL))
    pd.testing.assert_frame_equal(small_run.events, again.events)
    assert np.isfinite(small_run.summary["liquidated_notional"])
