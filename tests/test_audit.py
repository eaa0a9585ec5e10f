"""Tests for the audit trail (simulator.run.audit, ``liqsim audit``): an account's history and an
event's cause chain, on a hand-made run folder (every expectation derived by hand from its
eleven events) and on one run of the small scenario (cross-checked against its event log)."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
from conftest import flat, invoke

from markets.events import EventKind, Mechanism, Reason
from simulator.run.audit import (
    AuditError,
    account_history,
    cause_chain,
    consequences,
    load_run,
    render_chain,
    time_text,
)
from simulator.run.graphs import cascade_edge_table
from simulator.run.recorder import Recorder
from simulator.run.result import RunResult

SMALL = Path(__file__).parent / "data" / "scenario_small.yaml"
EPOCH = "2025-10-10T21:00:00+00:00"


def hand_made_run(folder: Path, epoch: str | None = None) -> Path:
    """A run folder of one venue "v" and eleven events: a shock; a margin call and the
    generation-1 liquidation of retail#0 (row 1), its trade; the generation-2 liquidation of
    retail#1 (row 2, caused by it through the book), its bankruptcy, the ADL of whales#0 (row 3)
    against it; the generation-3 liquidation of retail#2 (row 4, 70% from retail#1's, 30% from
    retail#0's), the socialized loss of both deficits; a margin call of retail#2 without a
    recorded cause and its top-up."""
    rec = Recorder()
    emit = rec.emit
    emit(EventKind.SHOCK, 1000, "v", asset="BTC", amount=-0.1)  # 0
    emit(EventKind.MARGIN_CALL, 1000, "v", account=1, generation=1, amount=0.85)  # 1
    emit(EventKind.LIQUIDATION, 1200, "v", "BTC-PERP", account=1, side=-1, qty=0.5,  # 2
         price=99_000.0, notional=49_500.0, generation=1, mechanism=Mechanism.MARKET,
         detected_ms=1000, bankruptcy_price=98_500.0)
    emit(EventKind.TRADE, 1200, "v", "BTC-PERP", account=1, side=-1, qty=0.5, price=99_000.0,  # 3
         notional=49_500.0, generation=1, cause=2, reason=Reason.LIQUIDATION,
         book_exhausted=False)
    emit(EventKind.LIQUIDATION, 1400, "v", "BTC-PERP", account=2, side=-1, qty=0.2,  # 4
         price=98_000.0, notional=19_600.0, generation=2, cause=2, mechanism=Mechanism.MARKET,
         detected_ms=1200, bankruptcy_price=98_000.0)
    emit(EventKind.BANKRUPTCY, 1400, "v", "BTC-PERP", account=2, generation=2, cause=4,  # 5
         amount=120.0)
    emit(EventKind.ADL, 1400, "v", "BTC-PERP", account=3, side=1, qty=0.2, price=98_000.0,  # 6
         notional=19_600.0, generation=2, cause=4, amount=100.0, balance=400.0,
         bankruptcy_price=98_000.0, mark_price=97_500.0)
    emit(EventKind.LIQUIDATION, 1600, "v", "BTC-PERP", account=4, side=-1, qty=1.5,  # 7
         price=97_000.0, notional=145_500.0, generation=3, cause=4, mechanism=Mechanism.MARKET,
         detected_ms=1400, bankruptcy_price=97_200.0)
    emit(EventKind.SOCIALIZED_LOSS, 2000, "v", "BTC-PERP", account=2, qty=5.0, amount=20.0,  # 8
         cause=4)
    emit(EventKind.MARGIN_CALL, 3000, "v", account=4, generation=3, amount=0.9)  # 9
    emit(EventKind.TOP_UP, 3500, "v", account=4, amount=50.0, cause=9)  # 10
    for parent, child, kind, share in ((2, 4, "book", 0.6), (4, 5, "waterfall", math.nan),
                                       (4, 6, "waterfall", math.nan), (4, 7, "book", 0.7),
                                       (2, 7, "book", 0.3), (4, 8, "waterfall", math.nan),
                                       (7, 8, "waterfall", math.nan)):
        rec.edge(parent, child, kind, share)
    events = rec.events()
    accounts = pd.DataFrame({
        "venue": ["v"] * 5, "account": range(5),
        "label": ["maker", "retail#0", "retail#1", "whales#0", "retail#2"],
        "group": ["maker", "retail", "retail", "whales", "retail"],
        "liquidations": [0, 1, 1, 0, 1], "socialized_paid": [0.0, 0.0, 0.0, 8.0, 12.0]})
    meta = {"status": "complete", "seed": 1, "label": "hand-made", "epoch_utc": epoch,
            "scenario": {"name": "hand-made"}}
    result = RunResult(summary={}, events=events, timeseries=pd.DataFrame({"time_ms": [0]}),
                       accounts=accounts, cascade_edges=cascade_edge_table(rec.edges, events),
                       meta=meta)
    return result.save(folder, graphs=False)


@pytest.fixture(scope="module")
def hand(tmp_path_factory):
    return load_run(hand_made_run(tmp_path_factory.mktemp("audit") / "hand"))


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """One CLI run of the small scenario (seed 3: 151 liquidations, generations 1 to 21, ADL)."""
    out = tmp_path_factory.mktemp("audit") / "small"
    result = invoke("run", SMALL, "--out", out, "--seed", "3", "--no-figures")
    assert result.exit_code == 0, result.output
    return out


# --- the hand-made run --------------------------------------------------------------------------


def test_history_of_a_liquidated_account(hand):
    h = account_history(hand, None, "retail#1")
    assert h["seq"].tolist() == [4, 5, 6, 8]
    assert h["role"].tolist() == ["own", "own", "adl_against", "socialized"]
    assert set(h["label"]) == {"retail#1"}
    assert h["chain"].tolist() == [[4, 2], [5, 4, 2], [6, 4, 2], [8, 4, 2]]
    assert h["root"].tolist() == ["exogenous"] * 4
    assert h["what"].tolist() == [
        "liquidated long 0.2 BTC-PERP at 98,000.00 (bankruptcy 98,000.00), queued 200 ms, "
        "generation 2",
        "bankrupt: deficit $120.00 after the close",
        "ADL against whales#0: 0.2 BTC-PERP closed at bankruptcy 98,000.00 (mark 97,500.00), "
        "haircut $100.00",
        "socialized loss $20.00 over 5 accounts (BTC-PERP)",
    ]
    assert render_chain(h["chain"][1], h["root"][1]) == "#4 <- #2 <- exogenous path"


def test_history_of_the_deleveraged_account_and_the_label_lookup(hand):
    h = account_history(hand, "v", 3)
    assert h["seq"].tolist() == [6]
    assert h["role"].tolist() == ["deleveraged"]
    assert h["what"][0] == ("ADL of its short: 0.2 BTC-PERP closed at bankruptcy 98,000.00 "
                            "(mark 97,500.00), haircut $100.00")
    pd.testing.assert_frame_equal(h, account_history(hand, None, "whales#0"))


def test_history_with_a_cause_that_is_not_recorded(hand):
    h = account_history(hand, None, 4)  # retail#2
    assert h["seq"].tolist() == [7, 8, 9, 10]  # 8: its deficit was in the socialized pool
    assert h["root"].tolist() == ["exogenous", "exogenous", "unrecorded", "unrecorded"]
    assert h["chain"][3] == [10, 9]
    assert h["what"][2] == "margin call at margin ratio 90.0% (maintenance / equity)"
    assert render_chain(h["chain"][3], h["root"][3]) == "#9 <- cause not recorded"
    assert render_chain(h["chain"][2], h["root"][2]) == "cause not recorded"


def test_cause_chain_of_the_generation_3_liquidation(hand):
    chain = cause_chain(hand, 7)
    assert chain["seq"].tolist()[:3] == [7, 4, 2]
    assert chain["seq"].isna().tolist() == [False, False, False, True]
    assert chain["kind"].tolist() == ["liquidation"] * 3 + ["exogenous"]
    assert chain["generation"].tolist() == [3, 2, 1, 0]
    assert chain["via"].tolist()[:3] == ["book", "book", "exogenous"]
    assert chain["share"].tolist()[:2] == [0.7, 0.6]
    assert chain["label"].tolist()[:3] == ["retail#2", "retail#1", "retail#0"]
    trade = cause_chain(hand, 3)  # linked by the cause column only, no edge
    assert trade["via"].tolist()[:2] == ["cause", "exogenous"]
    assert cause_chain(hand, 0)["kind"].tolist() == ["shock"]  # generation 0: its own root


def test_consequences(hand):
    one = consequences(hand, 2, depth=1)
    assert one["seq"].tolist() == [3, 4, 7]
    assert one["via"].tolist() == ["cause", "book", "book"]
    two = consequences(hand, 2, depth=2)
    assert two["seq"].tolist() == [3, 4, 7, 5, 6, 8]
    assert two["depth"].tolist() == [1, 1, 1, 2, 2, 2]
    assert two["parent"].tolist() == [2, 2, 2, 4, 4, 4]
    assert consequences(hand, 10).empty


def test_utc_times(tmp_path):
    run = load_run(hand_made_run(tmp_path / "utc", epoch=EPOCH))
    chain = cause_chain(run, 7)
    assert str(chain["utc"][0]) == "2025-10-10 21:00:01.600000+00:00"
    assert pd.isna(chain["utc"][3])
    assert time_text(1600, run.epoch) == "2025-10-10 21:00:01.600"
    assert time_text(61_200) == "1:01.200"
    assert time_text(3_723_004) == "1:02:03.004"
    result = invoke("audit", tmp_path / "utc", "--account", "retail#0")
    assert result.exit_code == 0
    text = flat(result.output)  # every row on one UTC date: the note names it
    assert "times UTC on 2025-10-10" in text and "21:00:01.200" in text


@pytest.mark.parametrize(("args", "words"), [
    ((None, "retial#1"), "unknown account 'retial#1'; close matches: retail#1"),
    (("x", 1), "unknown venue 'x'; the run's venues: v"),
    ((None, 9), "no account 9: rows are 0-4"),
])
def test_unknown_accounts(hand, args, words):
    with pytest.raises(AuditError, match=words.replace("'", ".")):
        account_history(hand, *args)


def test_unknown_event_and_not_a_run_folder(hand, tmp_path):
    with pytest.raises(AuditError, match="no event 11 in this run: its events are 0-10"):
        cause_chain(hand, 11)
    (tmp_path / "run.json").write_text("{}")
    with pytest.raises(AuditError, match="missing summary.json, events.parquet"):
        load_run(tmp_path)
    with pytest.raises(AuditError, match="no such directory"):
        load_run(tmp_path / "nowhere")


# --- the small scenario -------------------------------------------------------------------------


def test_history_matches_the_event_log(small):
    run = load_run(small)
    events = pd.read_parquet(small / "events.parquet")
    liq = events[events["kind"] == "liquidation"]
    row = int(liq["account"].value_counts().idxmax())  # two liquidations, ETH then BTC
    h = account_history(run, "v", row)
    mine = h[h["kind"] == "liquidation"]
    assert mine["seq"].tolist() == liq.loc[liq["account"] == row, "seq"].tolist()
    assert len(mine) == 2
    accounts = pd.read_parquet(small / "accounts.parquet").set_index("account")
    assert len(mine) == accounts.loc[row, "liquidations"]
    assert h["time_ms"].is_monotonic_increasing and h["seq"].is_monotonic_increasing
    own = events[events["account"] == row]
    assert set(own["seq"]) <= set(h["seq"])  # nothing of its own left out
    label = accounts.loc[row, "label"]
    pd.testing.assert_frame_equal(h, account_history(run, None, label))


def test_every_liquidation_chain_descends_to_the_exogenous_path(small):
    run = load_run(small)
    events = pd.read_parquet(small / "events.parquet")
    liq = events[events["kind"] == "liquidation"]
    gens = events.set_index("seq")["generation"]
    for seq, generation in zip(liq["seq"], liq["generation"], strict=True):
        chain, root = run.chain(int(seq))
        # one liquidation per generation, each caused by one a generation lower
        assert gens[chain].tolist() == list(range(int(generation), 0, -1))
        assert root == "exogenous"
    third = int(liq.loc[liq["generation"] == 3, "seq"].iloc[0])
    chain = cause_chain(run, third)
    assert len(chain) == 4
    assert chain["generation"].tolist() == [3, 2, 1, 0]
    assert chain["kind"].iloc[-1] == "exogenous"


def test_deleveraged_account_shows_its_adl(small):
    run = load_run(small)
    events = pd.read_parquet(small / "events.parquet")
    adl = events[events["kind"] == "adl"]
    row = int(adl["account"].value_counts().idxmax())
    h = account_history(run, "v", row)
    rows = h[h["role"] == "deleveraged"]
    assert rows["seq"].tolist() == adl.loc[adl["account"] == row, "seq"].tolist()
    assert len(rows) >= 2
    accounts = pd.read_parquet(small / "accounts.parquet").set_index("account")
    assert rows["qty"].sum() == pytest.approx(accounts.loc[row, "adl_qty"], rel=1e-12)
    assert rows["what"].str.startswith("ADL of its ").all()
    for chain, seq in zip(rows["chain"], rows["seq"], strict=True):  # ADL hangs off a liquidation
        assert chain[0] == seq and events.set_index("seq").loc[chain[1], "kind"] == "liquidation"


def test_cli_account_and_files(small, tmp_path):
    events = pd.read_parquet(small / "events.parquet")
    accounts = pd.read_parquet(small / "accounts.parquet").set_index("account")
    row = int(events.loc[events["kind"] == "adl", "account"].value_counts().idxmax())
    label = accounts.loc[row, "label"]
    result = invoke("audit", small, "--account", label, "--csv", tmp_path / "h.csv",
                    "--parquet", tmp_path / "h.parquet")
    assert result.exit_code == 0, result.output
    text = flat(result.output)
    assert f"{label} (account {row} on venue v)" in text
    assert "exogenous path" in text and "ADL of its" in text
    table = pd.read_parquet(tmp_path / "h.parquet")
    expected = account_history(load_run(small), None, row)
    assert table["seq"].tolist() == expected["seq"].tolist()
    assert [list(c) for c in table["chain"]] == expected["chain"].tolist()
    csv = pd.read_csv(tmp_path / "h.csv")
    assert csv["chain"].str.endswith("exogenous path").all()


def test_cli_event(small):
    events = pd.read_parquet(small / "events.parquet")
    third = int(events.loc[(events["kind"] == "liquidation") & (events["generation"] == 3),
                           "seq"].iloc[0])
    result = invoke("audit", small, "--event", third, "--consequences", 1)
    assert result.exit_code == 0, result.output
    text = flat(result.output)
    assert f"event #{third} (liquidation on venue v): 4 rows back to its root" in text
    # the last hop: no time, seq or account, generation 0
    rows = [line.split() for line in result.output.splitlines()]
    assert [r[:3] for r in rows if r[:1] == ["exogenous"]] == [["exogenous", "0", "the"]]
    assert "it set off" in text


@pytest.mark.parametrize(("args", "words"), [
    (("--account", "retial#12"), "unknown account 'retial#12'; close matches: retail#12"),
    (("--event", "999999"), "no event 999999 in this run"),
    ((), "give one of --account ID or --event SEQ"),
    (("--account", "1", "--event", "2"), "give one of --account ID or --event SEQ"),
    (("--account", "1", "--consequences", "2"), "--consequences goes with --event SEQ"),
    (("--account", "1", "--venue", "cex"), "unknown venue 'cex'; the run's venues: v"),
])
def test_cli_bad_input(small, args, words):
    result = invoke("audit", small, *args)
    assert result.exit_code == 2
    assert words in flat(result.output)
    assert len(result.output.strip().splitlines()) == 1  # one line, no traceback


def test_cli_not_a_run_folder(tmp_path):
    result = invoke("audit", tmp_path, "--account", "1")
    assert result.exit_code == 2
    assert f"{tmp_path} is not a run folder: missing run.json" in flat(result.output)
