"""Tests for the scenario configuration (simulator.config): units, the pydantic models' defaults
and validation messages, cross-reference checks, overrides, file loading and built-ins."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from simulator import (
    Scenario,
    ScenarioError,
    builtin_scenarios,
    default_scenario,
    load_builtin,
    load_scenario,
)
from simulator.config import apply_override, parse_scenario
from simulator.config import models as cfg
from simulator.config.units import format_duration, parse_duration, parse_fraction

DATA = Path(__file__).parent / "data"
SMALL = DATA / "scenario_small.yaml"


def minimal() -> dict:
    """One asset, one venue with one market with a depth profile: the least that validates."""
    return {
        "name": "minimal",
        "duration": "1m",
        "assets": [{"name": "BTC", "price": 100_000}],
        "venues": [{
            "name": "v",
            "markets": [{"name": "BTC-PERP", "asset": "BTC",
                         "depth": {"profile": [["0.5%", 100_000], ["2%", 400_000]]}}],
        }],
    }


def two_markets() -> dict:
    """Two assets and two markets on venue "v", an explicit account and a population."""
    data = minimal()
    data["assets"].append({"name": "ETH", "price": 3_500})
    data["venues"][0]["markets"].append(
        {"name": "ETH-PERP", "asset": "ETH", "depth": {"profile": [["1%", 50_000]]},
         "tiers": [{"notional": 0, "mmr": "0.5%", "max_leverage": 100},
                   {"notional": 100_000, "mmr": "1%", "max_leverage": 50}]},
    )
    data["accounts"] = [{
        "name": "alice", "venue": "v", "collateral": 1_000,
        "positions": [{"market": "BTC-PERP", "qty": 0.1, "entry": 100_000}],
    }]
    data["populations"] = [{
        "name": "retail", "venue": "v", "count": 50, "markets": {"BTC-PERP": 1, "ETH-PERP": 1},
        "leverage": {5: 0.5, 20: 0.5},
    }]
    return data


def error_of(data: dict, base_dir: Path | None = None) -> str:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(data, base_dir=base_dir)
    return str(info.value)


def single_line(message: str) -> str:
    lines = message.splitlines()
    assert len(lines) == 1, f"expected one message, got {lines}"
    return lines[0]


# --------------------------------------------------------------------------------------- units


@pytest.mark.parametrize(
    ("text", "ms"),
    [("500ms", 500), ("1.5s", 1500), ("30s", 30_000), ("10m", 600_000), ("2min", 120_000),
     ("8h", 28_800_000), ("1d", 86_400_000), (" 20 s ", 20_000), (0, 0), (0.0, 0)],
)
def test_parse_duration(text, ms):
    assert parse_duration(text) == ms
    assert isinstance(parse_duration(text), int)


@pytest.mark.parametrize("bad", ["10", 10, 2.5, "10 parsecs", True, False, None, "-5s", "s"])
def test_parse_duration_rejects_values_without_a_unit(bad):
    with pytest.raises(ValueError, match="unit") as info:
        parse_duration(bad)
    assert "traceback" not in str(info.value).lower()


def test_parse_duration_rejects_fractional_milliseconds():
    with pytest.raises(ValueError, match="whole number of milliseconds"):
        parse_duration("0.5ms")


@pytest.mark.parametrize("ms", [0, 1, 500, 1000, 1500, 60_000, 90_000, 3_600_000, 86_400_000])
def test_format_duration_round_trips(ms):
    assert parse_duration(format_duration(ms)) == ms


@pytest.mark.parametrize(
    ("value", "expected"),
    [("5%", 0.05), ("-12%", -0.12), ("1bp", 0.0001), ("25bp", 0.0025), (0.3, 0.3), (1, 1.0),
     ("0.25", 0.25), (" 2.5% ", 0.025)],
)
def test_parse_fraction(value, expected):
    assert parse_fraction(value) == pytest.approx(expected, rel=1e-12)
    assert isinstance(parse_fraction(value), float)


@pytest.mark.parametrize("bad", ["abc", "5 percent", True, None, [0.1]])
def test_parse_fraction_rejects(bad):
    with pytest.raises(ValueError, match="percentage"):
        parse_fraction(bad)


# ------------------------------------------------------------------------ defaults and models


def test_minimal_scenario_validates_with_model_defaults():
    sc = parse_scenario(minimal())
    assert isinstance(sc, Scenario)
    assert sc.duration == 60_000
    venue, market = sc.venues[0], sc.venues[0].markets[0]
    # Defaults come from the models (the single home of defaults).
    assert venue.liquidation.fee_rate == 0.005 == cfg.Liquidation().fee_rate
    assert venue.liquidation.latency == 100
    assert venue.liquidation.throughput_per_s == 200.0
    assert venue.insurance_fund == 1_000_000.0
    assert venue.mark.method == "median"
    assert venue.mark.clamp == 0.05
    assert venue.funding.interval == 8 * 3_600_000
    assert venue.adl.trigger == "fund_empty" and venue.adl.ranking == "bitmex"
    assert venue.maker_interval == 1000
    assert sc.clock.oracle_interval == 1000 == cfg.Clock().oracle_interval
    assert sc.clock.sample_interval == 10_000
    assert sc.seed == 0
    assert sc.correlation is None
    assert sc.correlation_matrix().tolist() == [[1.0]]
    # The default preset is expanded to its table, so the scenario as run records the tiers.
    assert [(t.notional, t.mmr, t.max_leverage) for t in market.tiers] == [
        tuple(map(float, row)) for row in cfg.TIER_PRESETS["binance_btcusdt_2021"]
    ]
    assert market.leverage_limit == 125
    assert market.resilience == 30_000
    assert market.recentre == 600_000
    assert market.tick == 0.01
    assert market.depth.level_step == 0.0001
    assert market.withdrawal == cfg.Withdrawal()
    assert sc.assets[0].volatility == 0.5
    assert sc.shocks == [] and sc.accounts == [] and sc.populations == []
    # The venue's defaults equal a bare model built with the same required fields.
    bare = cfg.Venue(name="v", markets=[market])
    assert venue == bare


def test_population_and_response_defaults():
    sc = parse_scenario(two_markets())
    pop = sc.populations[0]
    assert pop.long_share == 0.5
    assert pop.notional.distribution == "lognormal"
    assert pop.response.none == 1.0 and pop.response.top_up == 0.0
    assert pop.response.delay == 30_000
    assert sc.accounts[0].margin_mode == "cross"
    assert sc.venues[0].markets[1].leverage_limit == 100


def test_units_are_read_inside_the_scenario():
    data = minimal()
    data["shocks"] = [{"asset": "BTC", "at": "30s", "move": "-12%", "over": "1.5s"}]
    data["venues"][0]["liquidation"] = {"fee_rate": "50bp", "latency": "250ms"}
    sc = parse_scenario(data)
    assert sc.shocks[0].at == 30_000
    assert sc.shocks[0].over == 1_500
    assert sc.shocks[0].move == pytest.approx(-0.12)
    assert sc.venues[0].liquidation.fee_rate == pytest.approx(0.005)
    assert sc.venues[0].liquidation.latency == 250


def test_scenario_is_frozen():
    sc = parse_scenario(minimal())
    with pytest.raises(Exception, match="frozen"):
        sc.duration = 5


# ------------------------------------------------------------------- one message per bad input


def test_not_a_mapping():
    assert "mapping" in error_of([1, 2, 3])


def _set(path: list, value):
    def mutate(data: dict) -> None:
        node = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return mutate


def _drop(path: list):
    def mutate(data: dict) -> None:
        node = data
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]
    return mutate


@pytest.mark.parametrize(
    ("mutate", "path", "fragment"),
    [
        (_set(["durration"], "1m"), "durration", "unknown key"),  # unknown top-level key
        (_set(["venues", 0, "markets", 0, "depthh"], {"profile": [["1%", 1]]}),
         "venues[0].markets[0].depthh", "unknown key"),  # unknown nested key
        (_drop(["assets", 0, "price"]), "assets[0].price", "required"),  # missing field
        (_set(["venues", 0, "insurance_fund"], "lots"), "venues[0].insurance_fund",
         "number"),  # wrong type
        (_set(["duration"], "10 parsecs"), "duration", "unit"),  # bad duration
    ],
    ids=["unknown-top-level", "unknown-nested", "missing", "wrong-type", "bad-duration"],
)
def test_one_message_names_the_field(mutate, path, fragment):
    data = minimal()
    mutate(data)
    msg = single_line(error_of(data))
    assert msg.startswith(f"{path}: ")
    assert fragment in msg.lower()


def test_several_problems_give_one_line_each():
    data = minimal()
    data["venues"][0]["insurance_fund"] = "lots"
    data["assets"][0]["price"] = -1
    data["bogus"] = 1
    lines = error_of(data).splitlines()
    assert len(lines) == 3
    assert {line.split(":")[0] for line in lines} == {
        "venues[0].insurance_fund", "assets[0].price", "bogus",
    }


def test_correlation_not_positive_semi_definite():
    data = minimal()
    data["assets"] = [{"name": n, "price": 10} for n in ("A", "B", "C")]
    data["venues"][0]["markets"][0]["asset"] = "A"
    data["correlation"] = [[1, 0.9, -0.9], [0.9, 1, 0.9], [-0.9, 0.9, 1]]
    msg = single_line(error_of(data))
    assert "positive semi-definite" in msg
    assert "correlation" in msg
    assert msg.startswith("correlation: ")
    assert "-0.8" in msg  # the smallest eigenvalue


def test_correlation_of_the_wrong_shape():
    data = two_markets()
    data["correlation"] = [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    msg = single_line(error_of(data))
    assert msg.startswith("correlation: ")
    assert "2x2" in msg and "3x3" in msg


def test_correlation_not_symmetric():
    data = two_markets()
    data["correlation"] = [[1, 0.5], [0.4, 1]]
    msg = single_line(error_of(data))
    assert msg.startswith("correlation: ")
    assert "symmetric" in msg


def test_ragged_correlation_names_the_field():
    data = two_markets()
    data["correlation"] = [[1.0], [0.5, 1.0]]
    msg = single_line(error_of(data))
    assert msg.startswith("correlation: ")


def test_maintenance_margin_not_below_initial_margin():
    data = minimal()
    data["venues"][0]["markets"][0]["tiers"] = [{"notional": 0, "mmr": "2%", "max_leverage": 60}]
    msg = single_line(error_of(data))
    assert msg.startswith("venues[0].markets[0].tiers: ")
    assert "maintenance margin" in msg
    assert "60x" in msg


def test_unknown_tier_preset():
    data = minimal()
    data["venues"][0]["markets"][0]["tiers"] = "nope"
    msg = single_line(error_of(data))
    assert msg.startswith("venues[0].markets[0].tiers: ")
    assert "binance_btcusdt_2021" in msg


def test_unknown_key_in_a_tier_gives_one_message():
    data = minimal()
    data["venues"][0]["markets"][0]["tiers"] = [
        {"notional": 0, "mmr": "0.5%", "max_leverage": 100, "mmrr": 1},
    ]
    msg = single_line(error_of(data))
    assert msg.startswith("venues[0].markets[0].tiers[0].mmrr: ")


def test_market_max_leverage_above_tiers_is_rejected():
    data = minimal()
    data["venues"][0]["markets"][0]["max_leverage"] = 500
    msg = single_line(error_of(data))
    assert msg.startswith("venues[0].markets[0].max_leverage")


def test_negative_population_count():
    data = two_markets()
    data["populations"][0]["count"] = -5
    msg = single_line(error_of(data))
    assert msg.startswith("populations[0].count: ")
    assert "0" in msg


def test_negative_collateral():
    data = two_markets()
    data["accounts"][0]["collateral"] = -1
    msg = single_line(error_of(data))
    assert msg.startswith("accounts[0].collateral: ")


def test_zero_position_quantity():
    data = two_markets()
    data["accounts"][0]["positions"][0]["qty"] = 0
    msg = single_line(error_of(data))
    assert msg.startswith("accounts[0].positions[0].qty: ")
    assert "non-zero" in msg


def test_isolated_position_needs_margin():
    data = two_markets()
    data["accounts"][0]["margin_mode"] = "isolated"
    msg = single_line(error_of(data))
    assert msg.startswith("accounts[0].positions[0]: ")
    assert "margin" in msg


@pytest.mark.parametrize(
    ("mutate", "path", "name"),
    [
        (lambda d: d.update(shocks=[{"asset": "XRP", "at": "10s", "move": "-5%"}]),
         "shocks[0].asset", "XRP"),
        (lambda d: d["venues"][0]["markets"][1].update(asset="DOGE"),
         "venues[0].markets[1].asset", "DOGE"),
        (lambda d: d["accounts"][0].update(venue="w"), "accounts[0].venue", "'w'"),
        (lambda d: d["accounts"][0]["positions"][0].update(market="SOL-PERP"),
         "accounts[0].positions[0].market", "SOL-PERP"),
        (lambda d: d["populations"][0].update(venue="elsewhere"), "populations[0].venue",
         "elsewhere"),
        (lambda d: d["populations"][0].update(markets={"SOL-PERP": 1}), "populations[0].markets",
         "SOL-PERP"),
        (lambda d: d.update(cross_impact=[{"venue": "zz", "source": "BTC-PERP",
                                           "target": "ETH-PERP", "beta": 0.5}]),
         "cross_impact[0].venue", "zz"),
        (lambda d: d.update(cross_impact=[{"venue": "v", "source": "BTC-PERP",
                                           "target": "X-PERP", "beta": 0.5}]),
         "cross_impact[0].target", "X-PERP"),
    ],
    ids=["shock-asset", "market-asset", "account-venue", "position-market", "population-venue",
         "population-market", "cross-impact-venue", "cross-impact-market"],
)
def test_unknown_references(mutate, path, name):
    data = two_markets()
    mutate(data)
    msg = single_line(error_of(data))
    # Root-level cross-reference errors carry their path inside the message.
    assert msg.startswith(f"{path}: ")
    assert "unknown name" in msg
    assert name in msg


def test_duplicate_names():
    data = two_markets()
    data["assets"].append({"name": "BTC", "price": 1})
    msg = single_line(error_of(data))
    assert msg.startswith("assets: ")
    assert "BTC" in msg and "unique" in msg


def test_leverage_above_the_markets_maximum():
    data = two_markets()
    data["populations"][0]["leverage"] = {5: 0.5, 110: 0.5}  # ETH-PERP allows 100x
    msg = single_line(error_of(data))
    assert msg.startswith("populations[0].leverage: ")
    assert "110x" in msg and "100x" in msg


def test_leverage_limit_ignores_markets_with_zero_weight():
    data = two_markets()
    data["populations"][0]["markets"] = {"BTC-PERP": 1, "ETH-PERP": 0}
    data["populations"][0]["leverage"] = {110: 1}  # fine on BTC-PERP (125x)
    assert parse_scenario(data).populations[0].leverage == {110.0: 1.0}


def test_response_shares_must_add_up_to_one():
    data = two_markets()
    data["populations"][0]["response"] = {"none": 0.5, "top_up": "20%"}
    msg = single_line(error_of(data))
    assert msg.startswith("populations[0].response: ")
    assert "add up to 1" in msg and "0.7" in msg


def test_sample_interval_multiple_of_oracle_interval():
    data = minimal()
    data["clock"] = {"oracle_interval": "2s", "sample_interval": "5s"}
    msg = single_line(error_of(data))
    assert msg.startswith("clock: ")
    assert "multiple of oracle_interval" in msg
    data["clock"] = {"oracle_interval": "2s", "sample_interval": "6s"}
    assert parse_scenario(data).clock.sample_interval == 6000


def test_shock_after_the_end():
    data = minimal()
    data["shocks"] = [{"asset": "BTC", "at": "2m", "move": "-5%"}]
    msg = single_line(error_of(data))
    assert msg.startswith("shocks[0].at: ")


def test_replay_csv_missing(tmp_path):
    data = minimal()
    data["replays"] = [{"asset": "BTC", "csv": str(tmp_path / "missing.csv")}]
    msg = single_line(error_of(data))
    assert msg.startswith("replays[0].csv: ")
    assert "not found" in msg


def test_replay_csv_malformed(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("open_time,open,high,low,close\n"
                   "1700000000000,100,101,99,100.5\n"
                   "1700000060000,oops,101,99,100\n")
    data = minimal()
    data["replays"] = [{"asset": "BTC", "csv": str(bad)}]
    msg = single_line(error_of(data))
    assert msg.startswith("replays[0].csv: ")
    assert "oops" in msg and "open" in msg


def test_replay_csv_missing_column(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("open_time,open,high\n1700000000000,100,101\n")
    data = minimal()
    data["replays"] = [{"asset": "BTC", "csv": str(bad)}]
    msg = single_line(error_of(data))
    assert msg.startswith("replays[0].csv: ")
    assert "missing column" in msg


BARS = ("open_time,open,high,low,close\n"
        "1700000000000,100,101,99,100.5\n"
        "1700000060000,100.5,102,100,101\n")


def test_replay_of_an_unknown_asset(tmp_path):
    (tmp_path / "bars.csv").write_text(BARS)
    data = two_markets()
    data["replays"] = [{"asset": "LTC", "csv": str(tmp_path / "bars.csv")}]
    msg = single_line(error_of(data))
    assert msg.startswith("replays[0].asset: ")
    assert "unknown name 'LTC'" in msg


def test_replay_csv_relative_to_the_scenario_file(tmp_path):
    (tmp_path / "bars.csv").write_text(BARS)
    data = minimal()
    data["replays"] = [{"asset": "BTC", "csv": "bars.csv"}]
    sc = parse_scenario(data, base_dir=tmp_path)
    assert sc.replays[0].csv == tmp_path / "bars.csv"
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(data))
    assert load_scenario(path).replays[0].csv == tmp_path / "bars.csv"


# ------------------------------------------------------------------------------- overrides


def test_with_overrides_by_index_and_by_name():
    sc = parse_scenario(two_markets())
    out = sc.with_overrides([
        "venues.0.insurance_fund=12345",
        "venues.v.markets.ETH-PERP.tick=0.5",
        "assets.BTC.volatility=0.9",
        "populations.retail.count=7",
        "duration=2m",
        "venues.v.liquidation.fee_rate=1%",
    ])
    assert out.venues[0].insurance_fund == 12345.0
    assert out.venues[0].markets[1].tick == 0.5
    assert out.assets[0].volatility == 0.9
    assert out.populations[0].count == 7
    assert out.duration == 120_000
    assert out.venues[0].liquidation.fee_rate == pytest.approx(0.01)
    # The original is untouched, and everything else is unchanged.
    assert sc.venues[0].insurance_fund == 1_000_000.0
    assert out.venues[0].markets[0] == sc.venues[0].markets[0]
    assert out.with_overrides([]) == out


def test_with_overrides_scientific_notation():
    sc = default_scenario().with_overrides(["venues.cex.insurance_fund=1e6"])
    assert sc.venues[0].insurance_fund == 1_000_000.0


def test_with_overrides_creates_nested_mappings():
    sc = parse_scenario(minimal())
    assert sc.assets[0].jumps is None
    out = sc.with_overrides(["assets.0.jumps.rate_per_day=2", "assets.0.jumps.stdev=0.01"])
    assert out.assets[0].jumps == cfg.Jumps(rate_per_day=2, stdev=0.01)


def test_with_overrides_list_values():
    sc = parse_scenario(two_markets())
    out = sc.with_overrides(["correlation=[[1, 0.5], [0.5, 1]]", "shocks=[]"])
    assert out.correlation == [[1.0, 0.5], [0.5, 1.0]]


@pytest.mark.parametrize(
    ("assignment", "words"),
    [
        ("venues.9.insurance_fund=1", "out of range"),
        ("venues.nope.insurance_fund=1", "no item named 'nope'"),
        ("name.x=1", "not a mapping or list"),
        ("venues.0.insurance_fund", "path.to.field=value"),
        ("=5", "empty field path"),
        ("venues.0.insurance_fundd=1", "unknown key"),
        ("venues.0.insurance_fund=lots", "venues[0].insurance_fund"),
    ],
)
def test_with_overrides_bad_path(assignment, words):
    sc = parse_scenario(two_markets())
    with pytest.raises(ScenarioError) as info:
        sc.with_overrides([assignment])
    assert words in str(info.value)


def test_apply_override_on_plain_data():
    data = {"a": [{"name": "x", "b": 1}, {"name": "y", "b": 2}]}
    apply_override(data, "a.y.b=20")
    apply_override(data, "a.-2.b=10")
    apply_override(data, "a.0.c.d=yes")
    assert data == {"a": [{"name": "x", "b": 10, "c": {"d": True}}, {"name": "y", "b": 20}]}


@pytest.mark.parametrize("make", [minimal, two_markets, default_scenario])
def test_to_dict_round_trip(make):
    sc = make() if make is default_scenario else parse_scenario(make())
    data = sc.to_dict()
    again = parse_scenario(data)
    assert again == sc
    assert again.to_dict() == data
    # Plain data: survives JSON too.
    assert parse_scenario(json.loads(json.dumps(data))) == sc


def test_to_dict_writes_durations_with_units():
    data = parse_scenario(minimal()).to_dict()
    assert data["duration"] == "1m"
    assert data["clock"] == {"oracle_interval": "1s", "sample_interval": "10s"}


# ---------------------------------------------------------------------------------- loading


def test_load_yaml_and_json(tmp_path):
    data = two_markets()
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(data))
    (tmp_path / "s.json").write_text(json.dumps(data))
    a = load_scenario(tmp_path / "s.yaml")
    b = load_scenario(str(tmp_path / "s.json"))
    assert a == b == parse_scenario(data)


def test_load_the_small_test_scenario():
    sc = load_scenario(SMALL)
    assert sc.name == "small"
    assert [m.name for m in sc.venues[0].markets] == ["BTC-PERP", "ETH-PERP"]
    assert sum(p.count for p in sc.populations) == 300
    assert sc.duration == 240_000


@pytest.mark.parametrize(
    ("filename", "content", "fragment"),
    [
        ("broken.yaml", "name: x\nassets: [unclosed\n", "not valid YAML"),
        ("broken.json", '{"name": "x",', "JSON"),
        ("nope.yaml", None, "cannot read"),  # missing file
    ],
)
def test_unreadable_files_name_the_file(tmp_path, filename, content, fragment):
    path = tmp_path / filename
    if content is not None:
        path.write_text(content)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert str(path) in str(info.value)
    assert fragment in str(info.value)


@pytest.mark.parametrize("text", ["", "- 1\n- 2\n", "just a string\n"])
def test_load_non_mapping(tmp_path, text):
    path = tmp_path / "odd.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError, match="mapping"):
        load_scenario(path)


def test_load_reports_field_errors(tmp_path):
    data = two_markets()
    data["venues"][0]["markets"][0]["depthh"] = 1
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert single_line(str(info.value)).startswith("venues[0].markets[0].depthh: unknown key")


# -------------------------------------------------------------------------------- built-ins


def test_builtin_scenarios_lists_default_with_one_sentence():
    found = builtin_scenarios()
    assert "default" in found
    assert list(found) == sorted(found)
    text = found["default"]
    assert text.endswith(".")
    assert len(text) > 20
    assert text.count(". ") == 0  # one sentence
    assert "\n" not in text


def test_default_scenario():
    sc = default_scenario()
    assert sc.name == "default"
    assert sc == load_builtin("default")
    assert sum(p.count for p in sc.populations) == 10_000
    assert len(sc.accounts) == 0
    markets = [m.name for v in sc.venues for m in v.markets]
    assert markets == ["BTC-PERP", "ETH-PERP"]
    # Cross margin is the majority: the expected isolated share over all traders is below half.
    isolated = sum(p.count * p.isolated_share for p in sc.populations) / 10_000
    assert isolated < 0.5
    btc = [s for s in sc.shocks if s.asset == "BTC"]
    assert len(btc) == 1
    assert btc[0].move < 0
    assert btc[0].at < sc.duration


def test_load_builtin_unknown_lists_builtins():
    with pytest.raises(ScenarioError) as info:
        load_builtin("nope")
    msg = str(info.value)
    assert "'nope'" in msg
    assert "default" in msg


def test_naming_a_preset_by_override_swaps_the_mechanism_and_keeps_the_world() -> None:
    base = default_scenario()
    sc = base.with_overrides(["venues.cex.preset=okx", "venues.cex.adl.window=1h"])
    v, b = sc.venues[0], base.venues[0]
    assert (v.preset, v.adl.trigger, v.adl.price) == ("okx", "drawdown", "mark")
    assert v.adl.drawdown == 0.3
    assert v.adl.window == 3_600_000  # a later override still wins
    # The world stays: markets, fund size, engine capacity and the traders' call level.
    assert v.markets == b.markets and v.insurance_fund == b.insurance_fund
    assert v.liquidation.throughput_per_s == b.liquidation.throughput_per_s
    assert v.liquidation.margin_call_level == b.liquidation.margin_call_level
    assert sc.populations == base.populations
    # The scenario as run re-validates to itself (the preset merges under explicit keys).
    assert parse_scenario(sc.to_dict()) == sc


def test_a_venue_preset_in_a_file_is_merged_under_the_venues_own_keys() -> None:
    data = default_scenario().to_dict()
    venue = {k: v for k, v in data["venues"][0].items()
             if k in ("name", "markets", "insurance_fund")}
    venue.update(preset="hyperliquid", liquidation={"chunking": {"fraction": 0.5}})
    data["venues"] = [venue]
    v = parse_scenario(data).venues[0]
    assert v.liquidation.chunking.fraction == 0.5
    assert v.liquidation.chunking.above == 100_000 and v.liquidation.chunking.cooldown == 30_000
    assert v.liquidation.backstop.below == pytest.approx(2 / 3)
    assert v.adl.ranking == "hyperliquid" and v.adl.price == "mark"


def test_unknown_preset_is_one_clear_error() -> None:
    data = default_scenario().to_dict()
    data["venues"][0]["preset"] = "ftx"
    with pytest.raises(
        ScenarioError, match=r"^venues\[0\]\.preset: unknown preset 'ftx' \(known: binance"
    ):
        parse_scenario(data)
