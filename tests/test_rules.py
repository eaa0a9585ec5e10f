"""The runtime rules: no defaults of their own, and no mechanism name outside its type."""

import dataclasses
from typing import get_args

import pytest

from markets import rules
from simulator.config.mechanisms import Adl, Liquidation
from simulator.config.scenarios import default_scenario
from simulator.run.build import liquidation_rules


def test_rules_have_no_defaults_of_their_own():
    # The config models are the one place where defaults live.
    for cls in (rules.LiquidationRules, rules.AdlRules, rules.TakeoverRule, rules.ChunkRule,
                rules.BackstopRule, rules.KeeperRule, rules.UnwindRule):
        for f in dataclasses.fields(cls):
            assert f.default is dataclasses.MISSING, (cls.__name__, f.name)
            assert f.default_factory is dataclasses.MISSING, (cls.__name__, f.name)


def test_the_config_offers_exactly_the_names_the_rules_know():
    assert Adl.model_fields["ranking"].annotation is rules.AdlRanking
    assert Liquidation.model_fields["close"].annotation is rules.Close
    assert get_args(rules.AdlRanking) == ("bitmex", "hyperliquid", "profit", "pro_rata")


def test_an_unknown_name_is_refused_not_read_as_another_mechanism():
    venue = default_scenario().venues[0]
    built = liquidation_rules(venue)
    # An unknown ADL ranking used to fall through to BitMEX's.
    with pytest.raises(ValueError, match="unknown ranking 'bitmx'"):
        dataclasses.replace(built.adl, ranking="bitmx")
    with pytest.raises(ValueError, match="unknown close 'halfway'"):
        dataclasses.replace(built, close="halfway")
    with pytest.raises(ValueError, match="unknown socialize 'always'"):
        dataclasses.replace(built, socialize="always")
    # The built rules carry the config's values, not defaults of their own.
    assert built.latency_ms == venue.liquidation.latency == 200
    assert built.adl.ranking_ms == venue.adl.ranking_interval == 1_000
