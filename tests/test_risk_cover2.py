"""Tests of simulator.risk.cover2: the Cover-1 / Cover-2 default waterfall on a three-account
world computed by hand (docs/risk.md §4)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from simulator.risk.cover2 import (
    COVER_TABLE_COLUMNS,
    cover1,
    cover2,
    cover2_table,
    cover_n,
    uncovered_losses,
)

LAYERS = [("insurance_fund", 100.0), ("vault", 20.0), ("adl", None)]


def world() -> pd.DataFrame:
    """Uncovered = max(loss - margin, 0).
    crash: A 100-30 = 70, B 50-45 = 5, C 80-20 = 60.
    pump:  A gains (-10), B 200-45 = 155, C 10-20 -> 0.
    calm:  nobody loses more than their margin."""
    return pd.DataFrame({
        "scenario": ["crash"] * 3 + ["pump"] * 3 + ["calm"] * 3,
        "account": ["A", "B", "C"] * 3,
        "loss_usd": [100.0, 50.0, 80.0, -10.0, 200.0, 10.0, 1.0, 2.0, 3.0],
        "margin_usd": [30.0, 45.0, 20.0, 30.0, 45.0, 20.0, 30.0, 45.0, 20.0],
        "owner": ["x", "y", "x"] * 3,
    })


def test_uncovered_losses_by_hand():
    table = uncovered_losses(world())
    crash = table[table["scenario"] == "crash"]
    assert crash["account"].tolist() == ["A", "C", "B"]  # largest first
    assert crash["uncovered_usd"].tolist() == [70.0, 60.0, 5.0]
    assert table["scenario"].unique().tolist() == ["crash", "pump", "calm"]
    owners = uncovered_losses(world(), by="owner")
    crash = owners[owners["scenario"] == "crash"]
    assert crash[["owner", "uncovered_usd"]].values.tolist() == [["x", 130.0], ["y", 5.0]]


def test_cover2_by_hand():
    out = cover2(world(), LAYERS).set_index("scenario")
    # crash: A + C = 130 -> fund 100, vault 20, ADL 10
    assert out.loc["crash", "defaulters"] == "A, C"
    assert out.loc["crash", "uncovered_usd"] == 130.0
    assert out.loc["crash", ["insurance_fund_usd", "vault_usd", "adl_usd"]].tolist() == [
        100.0, 20.0, 10.0]
    assert out.loc["crash", "residual_usd"] == 0.0
    assert out.loc["crash", "deepest_layer"] == "adl"
    # pump: only B defaults (155) -> fund 100, vault 20, ADL 35
    assert out.loc["pump", "defaulters"] == "B"
    assert out.loc["pump", ["insurance_fund_usd", "vault_usd", "adl_usd"]].tolist() == [
        100.0, 20.0, 35.0]
    # calm: nobody
    assert out.loc["calm", "defaulters"] == "" and out.loc["calm", "uncovered_usd"] == 0.0
    assert out.loc["calm", "deepest_layer"] == ""
    assert (out["k"] == 2).all()


def test_cover1_by_hand():
    out = cover1(world(), LAYERS).set_index("scenario")
    # crash: A alone, 70 -> the fund holds
    assert out.loc["crash", "defaulters"] == "A"
    assert out.loc["crash", ["insurance_fund_usd", "vault_usd", "adl_usd"]].tolist() == [
        70.0, 0.0, 0.0]
    assert out.loc["crash", "deepest_layer"] == "insurance_fund"
    assert out.loc["pump", "uncovered_usd"] == 155.0


def test_finite_waterfall_leaves_a_residual_and_groups_default_together():
    out = cover2(world(), [("insurance_fund", 100.0)]).set_index("scenario")
    assert out.loc["crash", "residual_usd"] == 30.0
    assert out.loc["pump", "residual_usd"] == 55.0
    owners = cover1(world(), LAYERS, by="owner").set_index("scenario")
    assert owners.loc["crash", "defaulters"] == "x"  # A and C belong to one owner: 130
    assert owners.loc["crash", "vault_usd"] == 20.0 and owners.loc["crash", "adl_usd"] == 10.0


def test_cover2_table_is_tidy_and_conserves_the_loss():
    table = cover2_table(world(), LAYERS)
    assert list(table.columns) == list(COVER_TABLE_COLUMNS)
    crash = table[table["scenario"] == "crash"]
    assert crash["layer"].tolist() == ["insurance_fund", "vault", "adl"]
    assert crash["order"].tolist() == [1, 2, 3]
    assert crash["absorbed_usd"].tolist() == [100.0, 20.0, 10.0]
    assert crash["remaining_usd"].tolist() == [30.0, 10.0, 0.0]
    assert math.isinf(crash["capacity_usd"].iloc[-1])
    wide = cover_n(world(), LAYERS, 3).set_index("scenario")
    assert wide.loc["crash", "uncovered_usd"] == 135.0  # Cover-3 adds B's 5
    sums = cover2_table(world(), LAYERS).groupby("scenario", sort=False)["absorbed_usd"].sum()
    assert sums.to_dict() == {"crash": 130.0, "pump": 155.0, "calm": 0.0}


def test_ties_are_broken_by_name():
    frame = pd.DataFrame({"scenario": ["s"] * 3, "account": ["c", "a", "b"],
                          "loss_usd": [10.0, 10.0, 10.0], "margin_usd": [0.0, 0.0, 0.0]})
    assert cover2(frame, LAYERS).loc[0, "defaulters"] == "a, b"


def test_bad_input_is_refused():
    frame = world()
    with pytest.raises(ValueError, match="only the last layer may be unlimited"):
        cover2(frame, [("adl", None), ("insurance_fund", 10.0)])
    with pytest.raises(ValueError, match="capacity must be >= 0"):
        cover2(frame, [("insurance_fund", -1.0)])
    with pytest.raises(ValueError, match="duplicated layer names"):
        cover2(frame, [("fund", 1.0), ("fund", None)])
    with pytest.raises(ValueError, match="lacks column"):
        cover2(frame.drop(columns="margin_usd"), LAYERS)
    with pytest.raises(ValueError, match="appears twice"):
        cover2(pd.concat([frame, frame.iloc[:1]]), LAYERS)
    with pytest.raises(ValueError, match="non-negative"):
        cover2(frame.assign(margin_usd=-1.0), LAYERS)
    with pytest.raises(ValueError, match="positive integer"):
        cover_n(frame, LAYERS, 0)
