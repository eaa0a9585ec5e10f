"""Tests for run results (simulator.run: result, runner, collect): the run folder's
save/load round trip, run.json provenance, atomic writes, the summary's names and its
consistency with the tables and graphs, and runs that fail part-way."""

from __future__ import annotations

import json
import math
import stat
from datetime import UTC, datetime
from pathlib import Path

import networkx as nx
import pandas as pd
import pytest
from conftest import fail_after

from simulator import RunFailed, RunResult, SimulationError, load_scenario, run
from simulator.config import parse_scenario
from simulator.run.provenance import label_slug, run_label
from simulator.run.result import TABLES

SMALL = Path(__file__).parent / "data" / "scenario_small.yaml"

DESIGN_NAMES = (
    "liquidations", "accounts_liquidated", "liquidated_notional", "cascade_depth", "bad_debt",
    "insurance_fund_start", "insurance_fund_min", "insurance_fund_end", "insurance_fund_paid",
    "insurance_fund_depleted", "adl_events", "adl_notional", "adl_accounts", "socialized_loss",
    "exogenous_drawdown", "max_drawdown", "amplification", "peak_liquidation_queue",
    "open_interest_drop",
)


@pytest.fixture(scope="module")
def scenario():
    return load_scenario(SMALL)


@pytest.fixture(scope="module")
def result(scenario):
    return run(scenario, seed=3)


@pytest.fixture(scope="module")
def saved(result, tmp_path_factory):
    folder = tmp_path_factory.mktemp("saved") / "run"
    returned = result.save(folder)
    assert returned == folder
    return folder


def same_value(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def same_dict(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)


def assert_same_graph(g: nx.DiGraph, h: nx.DiGraph) -> None:
    assert set(g.nodes) == set(h.nodes)
    assert set(g.edges) == set(h.edges)
    for n in g.nodes:
        assert same_dict(g.nodes[n], h.nodes[n]), n
    for u, v in g.edges:
        assert same_dict(g.edges[u, v], h.edges[u, v]), (u, v)


# ------------------------------------------------------------------------------- the run


def test_small_scenario_has_a_cascade(result):
    s = result.summary
    assert result.ok
    assert s["liquidations"] > 10
    assert s["cascade_depth"] >= 2
    assert s["bad_debt"] > 0
    assert s["insurance_fund_start"] == 2000


@pytest.mark.parametrize(("scenario_data", "overrides", "label", "slug"), [
    ({"name": "default", "venues": [{"name": "cex"}]}, [], "default", "default"),
    ({"name": "default", "venues": [{"name": "cex", "preset": "hyperliquid"}]},
     ["venues.cex.preset=hyperliquid", "shocks.0.move = -20%"],
     "default+hyperliquid set:shocks.0.move=-20%", "default+hyperliquid_shocks.0.move=-20pct"),
    ({"name": "two", "venues": [{"name": "a", "preset": "okx"}, {"name": "b", "preset": "dydx"},
                                {"name": "c", "preset": "okx"}]},
     ["x.y=a b/c"], "two+okx+dydx set:x.y=a b/c", "two+okx+dydx_x.y=a-b-c"),
    ({"name": ".hidden", "venues": []}, [], ".hidden", "hidden"),
])
def test_run_label_and_its_file_name(scenario_data, overrides, label, slug):
    assert run_label(scenario_data, overrides) == label
    assert label_slug(label) == slug


def test_label_slug_is_bounded():
    slug = label_slug("s " + " ".join(f"set:a.b{i}=1" for i in range(40)))
    assert 75 <= len(slug) <= 80
    assert slug.startswith("s_a.b0=1_a.b1=1_") and not slug.endswith(("_", "-", "."))


# ----------------------------------------------------------------------- save/load round trip


def test_round_trip_tables(result, saved):
    loaded = RunResult.load(saved)
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(loaded, name), getattr(result, name), obj=name)
    assert loaded.event_log_hash() == result.event_log_hash()


def test_round_trip_summary_and_meta(result, saved):
    loaded = RunResult.load(saved)
    assert same_dict(loaded.summary, result.summary)
    assert loaded.meta == result.meta
    assert loaded.ok


def test_round_trip_graphs(result, saved):
    loaded = RunResult.load(saved)
    assert_same_graph(loaded.cascade, result.cascade)
    assert_same_graph(loaded.exposure, result.exposure)
    # The GraphML files hold the same graphs (node ids become strings there).
    on_disk = nx.read_graphml(saved / "cascade.graphml")
    assert set(on_disk.nodes) == {str(n) for n in result.cascade.nodes}
    assert on_disk.number_of_edges() == result.cascade.number_of_edges()
    exposure = nx.read_graphml(saved / "exposure.graphml")
    assert set(exposure.nodes) == set(result.exposure.nodes)


def test_round_trip_keeps_nan_in_the_summary(scenario, tmp_path):
    calm = scenario.with_overrides([
        "shocks=[]", "assets.BTC.volatility=0", "assets.ETH.volatility=0", "duration=20s",
    ])
    res = run(calm, seed=1)
    assert math.isnan(res.summary["amplification"])
    res.save(tmp_path / "calm")
    loaded = RunResult.load(tmp_path / "calm")
    assert isinstance(loaded.summary["amplification"], float)
    assert same_dict(loaded.summary, res.summary)


def test_summary_json_is_strict_json(saved):
    text = (saved / "summary.json").read_text()
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    text = (saved / "run.json").read_text()
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))


# ------------------------------------------------------------------------------- run.json


def test_run_json_records_the_run(scenario, saved):
    meta = json.loads((saved / "run.json").read_text())
    assert meta["status"] == "complete"
    assert meta["error"] is None
    assert meta["seed"] == 3
    assert parse_scenario(meta["scenario"]) == scenario
    assert meta["liqsim_version"] == "0.1.0"
    assert meta["python"].count(".") == 2
    assert set(meta["libraries"]) >= {
        "simpy", "numpy", "pandas", "networkx", "pydantic", "matplotlib", "pyarrow",
    }
    assert all(isinstance(v, str) and v for v in meta["libraries"].values())
    assert "git_commit" in meta
    assert meta["label"] == "small"  # no presets, no overrides
    created = datetime.fromisoformat(meta["created"])
    assert created.tzinfo is not None
    assert abs((datetime.now(UTC) - created).total_seconds()) < 24 * 3600
    timings = meta["timings"]
    for key in ("build_s", "simulate_s", "collect_s"):
        assert timings[key] >= 0
    events = pd.read_parquet(saved / "events.parquet")
    assert timings["events"] == len(events)
    assert timings["simpy_events"] > 0
    assert meta["simulated_ms"] == scenario.duration


def test_seed_defaults_to_the_scenarios(scenario):
    short = scenario.with_overrides(["duration=30s", "shocks.0.at=10s", "seed=11"])
    res = run(short)
    assert res.meta["seed"] == 11
    again = run(short, seed=11)
    assert again.event_log_hash() == res.event_log_hash()
    other = run(short, seed=12)
    assert other.event_log_hash() != res.event_log_hash()


# --------------------------------------------------------------------------- atomic writes


def test_save_leaves_no_temporary_files(saved):
    names = sorted(p.name for p in saved.iterdir())
    assert [n for n in names if n.startswith(".")] == []
    assert set(names) == {f"{t}.parquet" for t in TABLES} | {
        "run.json", "summary.json", "cascade.graphml", "exposure.graphml", "market_graph.graphml",
    }


def test_save_over_an_existing_folder(result, saved, tmp_path):
    folder = tmp_path / "twice"
    result.save(folder)
    result.save(folder)
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []
    pd.testing.assert_frame_equal(RunResult.load(folder).events, result.events)


def test_failed_write_leaves_no_temporary_file(result, tmp_path, monkeypatch):
    folder = tmp_path / "broken"

    def refuse(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", refuse)
    with pytest.raises(OSError, match="disk full"):
        result.save(folder)
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []
    assert not (folder / "events.parquet").exists()
    # run.json says the folder was being written when the failure happened.
    assert json.loads((folder / "run.json").read_text())["status"] == "writing"


def test_saved_files_get_ordinary_permissions(saved, tmp_path):
    reference = tmp_path / "reference.txt"
    reference.write_text("written the ordinary way\n")
    expected = stat.S_IMODE(reference.stat().st_mode)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in saved.iterdir()}
    assert modes == {name: expected for name in modes}


# ---------------------------------------------------------------------------------- summary


def test_summary_has_the_design_names(result):
    s = result.summary
    missing = [k for k in DESIGN_NAMES if k not in s]
    assert missing == []
    assert "v.liquidations" in s
    assert "v:BTC-PERP.liquidated_notional" in s
    assert "v:ETH-PERP.liquidated_notional" in s
    assert isinstance(s["insurance_fund_depleted"], bool)
    for k in DESIGN_NAMES:
        if k != "insurance_fund_depleted":
            assert isinstance(s[k], int | float), k


def test_summary_breakdowns_add_up(result):
    s = result.summary
    assert s["v.liquidations"] == s["liquidations"]
    assert s["v:BTC-PERP.liquidations"] + s["v:ETH-PERP.liquidations"] == s["liquidations"]
    assert s["v:BTC-PERP.liquidated_notional"] + s["v:ETH-PERP.liquidated_notional"] == (
        pytest.approx(s["liquidated_notional"], rel=1e-12))
    gens = [k for k in s if k.startswith("generation.") and k.endswith(".liquidations")]
    assert sum(s[k] for k in gens) == s["liquidations"]
    assert max(int(k.split(".")[1]) for k in gens) == s["cascade_depth"]


def test_summary_fund_numbers(result):
    s = result.summary
    assert s["insurance_fund_min"] <= s["insurance_fund_start"]
    assert s["insurance_fund_min"] <= s["insurance_fund_end"]
    assert s["insurance_fund_min"] >= 0
    assert s["insurance_fund_paid"] > 0
    assert s["amplification"] == pytest.approx(s["max_drawdown"] / s["exogenous_drawdown"])
    assert 0.09 < s["exogenous_drawdown"] < 0.2  # the -10% shock plus some noise
    assert 0 < s["open_interest_drop"] < 1


# ------------------------------------------------------------------- consistency of the tables


def test_summary_matches_the_event_log(result):
    ev, s = result.events, result.summary
    liq = ev[ev["kind"] == "liquidation"]
    assert s["liquidations"] == len(liq)
    assert s["liquidated_notional"] == pytest.approx(liq["notional"].sum(), rel=1e-12)
    assert s["accounts_liquidated"] == liq["account"].nunique()
    assert s["cascade_depth"] == liq["generation"].max()
    adl = ev[ev["kind"] == "adl"]
    assert s["adl_events"] == len(adl)
    assert s["adl_notional"] == pytest.approx(adl["notional"].sum(), rel=1e-12)
    assert s["adl_accounts"] == adl["account"].nunique()
    bankrupt = ev[ev["kind"] == "bankruptcy"]
    assert s["bad_debt"] == pytest.approx(bankrupt["amount"].sum(), rel=1e-12)
    assert (ev["seq"].diff().dropna() == 1).all()
    assert ev["time_ms"].is_monotonic_increasing


def test_accounts_table(result, scenario):
    acc, s = result.accounts, result.summary
    n = 1 + len(scenario.accounts) + sum(p.count for p in scenario.populations)
    assert len(acc) == n
    assert not acc.duplicated(["venue", "account"]).any()
    assert acc["account"].tolist() == list(range(n))
    assert acc.loc[0, "label"] == "maker"
    assert not bool(acc.loc[0, "liquidatable"])
    assert acc.loc[1:, "liquidatable"].all()
    assert acc["liquidations"].sum() == s["liquidations"]
    assert (acc["liquidations"] > 0).sum() == s["accounts_liquidated"]
    hit = acc[acc["liquidations"] > 0]
    assert hit["first_liquidation_ms"].notna().all()
    assert acc.loc[acc["liquidations"] == 0, "first_liquidation_ms"].isna().all()
    assert hit["generation"].min() >= 1


def test_timeseries_table(result, scenario):
    ts, s = result.timeseries, result.summary
    assert ts["liquidations"].sum() == s["liquidations"]
    notional = ts["liquidated_long_notional"].sum() + ts["liquidated_short_notional"].sum()
    assert notional == pytest.approx(s["liquidated_notional"], rel=1e-9)
    samples = scenario.duration // scenario.clock.sample_interval + 1
    assert len(ts) == samples * 2  # two markets
    assert set(ts["market"]) == {"BTC-PERP", "ETH-PERP"}
    assert ts["insurance_fund"].iloc[0] == 2000
    # Samples see the fund at some instants only: never below its true minimum.
    assert ts["insurance_fund"].min() >= s["insurance_fund_min"] - 1e-9
    assert ts["insurance_fund"].iloc[-1] == pytest.approx(s["insurance_fund_end"], rel=1e-12)


def test_cascade_graph(result):
    ev, g = result.events, result.cascade
    liq_seqs = set(ev.loc[ev["kind"] == "liquidation", "seq"])
    assert liq_seqs <= set(g.nodes)
    assert g.number_of_nodes() >= result.summary["liquidations"]
    seqs = set(ev["seq"])
    edges = result.cascade_edges
    assert set(edges["parent"]) <= seqs
    assert set(edges["child"]) <= seqs
    assert g.number_of_edges() == len(edges.drop_duplicates())
    assert nx.is_directed_acyclic_graph(g)
    for n in liq_seqs:
        assert g.nodes[n]["kind"] == "liquidation"
    # Causes come before their effects.
    assert (edges["parent"] < edges["child"]).all()
    # A liquidation of generation k > 1 was caused by a liquidation of generation k - 1.
    gen = dict(zip(ev["seq"], ev["generation"], strict=True))
    kind = dict(zip(ev["seq"], ev["kind"], strict=True))
    for n in liq_seqs:
        if gen[n] > 1:
            parents = [p for p in g.predecessors(n) if kind[p] == "liquidation"]
            assert parents, n
            assert max(gen[p] for p in parents) == gen[n] - 1, n


def test_exposure_graph(result):
    g, acc = result.exposure, result.accounts
    assert "venue:v" in g
    assert "market:v:BTC-PERP" in g and "market:v:ETH-PERP" in g
    accounts = [n for n, d in g.nodes(data=True) if d["kind"] == "account"]
    holders = acc[(acc["notional0.BTC-PERP"] != 0) | (acc["notional0.ETH-PERP"] != 0)]
    assert len(accounts) == len(holders)
    weight = sum(d["weight"] for _, t, d in g.edges(data=True) if t == "market:v:BTC-PERP")
    assert weight == pytest.approx(acc["notional0.BTC-PERP"].abs().sum(), rel=1e-9)


# ------------------------------------------------------------------------------ failed runs


def test_simulation_error_returns_a_failed_result(scenario, monkeypatch, tmp_path):
    calls = fail_after(monkeypatch, 5, SimulationError("boom"))
    res = run(scenario, seed=3)
    assert calls["n"] == 6
    assert not res.ok
    assert res.meta["status"] == "failed"
    assert res.meta["error"] == "boom"
    assert 60_000 < res.meta["simulated_ms"] < scenario.duration
    liq = res.events[res.events["kind"] == "liquidation"]
    assert len(liq) >= 5
    assert res.summary["liquidations"] == len(liq)
    assert res.events["time_ms"].max() <= res.meta["simulated_ms"]
    folder = res.save(tmp_path / "failed")
    meta = json.loads((folder / "run.json").read_text())
    assert meta["status"] == "failed"
    assert meta["error"] == "boom"
    loaded = RunResult.load(folder)
    assert not loaded.ok
    pd.testing.assert_frame_equal(loaded.events, res.events)


def test_unexpected_exception_raises_run_failed_with_partial_result(scenario, monkeypatch):
    fail_after(monkeypatch, 5, ZeroDivisionError("division by zero"))
    with pytest.raises(RunFailed) as info:
        run(scenario, seed=3)
    partial = info.value.result
    assert isinstance(partial, RunResult)
    assert isinstance(info.value.__cause__, ZeroDivisionError)
    assert "ZeroDivisionError" in str(info.value)
    assert partial.meta["status"] == "failed"
    assert "ZeroDivisionError" in partial.meta["error"]
    assert not partial.ok
    assert (partial.events["kind"] == "liquidation").sum() >= 5
    assert "timings" in partial.meta
