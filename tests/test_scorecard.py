"""The risk scorecard (simulator.sweep.scorecard) and the run figures it needs
(``liquidation_slippage``, ``fund_depleted_at_ms`` in simulator.run.metrics): Wilson bounds,
probabilities, bad-debt quantiles and expected shortfall by hand, the claims made only when
an interval supports them, slippage on the hand cascade, the time of fund depletion read two
ways, and a small sweep whose folder, report and command line carry the scorecard."""

from __future__ import annotations

import math
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml
from test_cascade import A_NOTIONAL, B_BOOK, B_BOOK_NOTIONAL, C_BOOK, cascade_scenario
from typer.testing import CliRunner

import markets.venue as venue_module
from experiments import sweep_experiment as sx
from markets.disruptions import Disruptions, Window
from markets.events import EventKind, Reason
from simulator import default_scenario, run
from simulator.cli import app
from simulator.config import parse_scenario
from simulator.report.sweep import build_report
from simulator.run import collect as collect_module
from simulator.run.metrics import fund_depletion, liquidation_slippage, oracle_prices
from simulator.run.recorder import Recorder
from simulator.sweep import parse_sweep, run_sweep
from simulator.sweep.scorecard import scorecard, statements, wilson, write_scorecard

SMALL = Path(__file__).parent / "data" / "scenario_small.yaml"


def approx(x):
    return pytest.approx(x, rel=1e-9, abs=1e-9)


# ------------------------------------------------------------------------------ Wilson


def test_wilson_bounds_by_hand():
    # 0 of n: upper = z^2 / (n + z^2) = 3.8415 / 23.8415.
    lo, hi = wilson(0, 20)
    assert lo == 0.0 and hi == pytest.approx(0.16113, abs=1e-5)
    assert wilson(3, 10) == pytest.approx((0.10779, 0.60322), abs=1e-5)
    assert wilson(1, 4) == pytest.approx((0.04559, 0.69936), abs=1e-5)
    assert wilson(10, 10) == pytest.approx((1 - 0.27753, 1.0), abs=1e-5)
    assert all(math.isnan(v) for v in wilson(0, 0))
    # A 90% interval is the one at z = 1.6449 and is narrower.
    assert wilson(3, 10, 0.90) == pytest.approx(wilson(3, 10, z=1.644854), abs=1e-6)
    assert wilson(3, 10, 0.90)[1] < wilson(3, 10)[1]
    with pytest.raises(ValueError, match="confidence"):
        wilson(1, 2, confidence=1.0)
    # The experiments' helper is the library's.
    assert sx.wilson(3, 10) == pytest.approx(wilson(3, 10), abs=1e-6)


# ------------------------------------------------------------------------------ the card


def _run(cell: int, move: str, variant: str, rep: int, **figures) -> dict:
    base = {"insurance_fund_depleted": False, "adl_events": 0, "socialized_loss": 0.0,
            "cascade_depth": 0, "bad_debt": 0.0, "liquidation_slippage": 0.0,
            "liquidated_notional": 0.0, "fund_depleted_at_ms": math.nan}
    return {"shocks.0.move": move, "cell": cell, "variant": variant, "replication": rep,
            "seed": rep, "status": "complete", **base, **figures}


@pytest.fixture
def runs() -> pd.DataFrame:
    rows = []
    # Cell 0 / base: 4 runs; one depletes the fund (at 2 s), ADL in two, depths 0, 5, 9, 12,
    # bad debts 0, 100, 200, 300; slippage 1 + 1 over notional 100 + 300.
    debts, depths, adl = [0.0, 100.0, 200.0, 300.0], [0, 5, 9, 12], [0, 3, 1, 0]
    for r in range(4):
        rows.append(_run(0, "-5%", "base", r, insurance_fund_depleted=r == 1,
                         fund_depleted_at_ms=2000.0 if r == 1 else math.nan,
                         adl_events=adl[r], cascade_depth=depths[r], bad_debt=debts[r],
                         liquidation_slippage=1.0 if r < 2 else 0.0,
                         liquidated_notional=[100.0, 300.0, 0.0, 0.0][r]))
    # A failed run of the same cell: not counted anywhere.
    rows.append({**_run(0, "-5%", "base", 4, insurance_fund_depleted=True, adl_events=9,
                        bad_debt=1e9), "status": "failed"})
    # Cell 0 / big: 3 runs, nothing happens.
    rows += [_run(0, "-5%", "big", r) for r in range(3)]
    # Cell 1 / base: 5 runs, all deplete (at 9, 2, 4, 7, 30 s), all socialize, bad debts
    # 0, 10, 20, 30, 1000.
    times = [9000.0, 2000.0, 4000.0, 7000.0, 30000.0]
    for r in range(5):
        rows.append(_run(1, "-10%", "base", r, insurance_fund_depleted=True,
                         fund_depleted_at_ms=times[r], socialized_loss=5.0, cascade_depth=10,
                         bad_debt=[0.0, 10.0, 20.0, 30.0, 1000.0][r]))
    # Cell 1 / big: its only run failed.
    rows.append({**_run(1, "-10%", "big", 0), "status": "failed"})
    return pd.DataFrame(rows)


def test_scorecard_by_hand(runs):
    card = scorecard(runs)
    assert list(card.columns[:4]) == ["cell", "shocks.0.move", "variant", "runs"]
    card = card.set_index(["cell", "variant"])
    assert card["runs"].to_dict() == {(0, "base"): 4, (0, "big"): 3, (1, "base"): 5,
                                      (1, "big"): 0}
    a = card.loc[(0, "base")]
    assert a["shocks.0.move"] == "-5%"
    assert (a["p_fund_depleted"], a["p_adl"], a["p_socialized"]) == (0.25, 0.5, 0.0)
    assert (a["p_fund_depleted_low"], a["p_fund_depleted_high"]) == pytest.approx(
        (0.04559, 0.69936), abs=1e-5)  # 1 of 4
    assert (a["p_adl_low"], a["p_adl_high"]) == pytest.approx(wilson(2, 4))
    assert a["p_socialized_low"] == 0.0 and a["p_socialized_high"] == pytest.approx(
        3.841459 / (4 + 3.841459))
    assert (a["p_cascade_ge_5"], a["p_cascade_ge_10"]) == (0.75, 0.25)  # depth 5 counts
    # Linear quantiles of 0, 100, 200, 300: position q * 3.
    assert a["bad_debt_q50"] == approx(150.0)
    assert a["bad_debt_q95"] == approx(285.0) and a["bad_debt_q99"] == approx(297.0)
    assert a["bad_debt_es95"] == approx(300.0) and a["bad_debt_es99"] == approx(300.0)
    assert a["slippage_per_usd"] == approx(2.0 / 400.0)  # a ratio of sums, not 0.00667
    assert a["time_to_fund_depletion_s"] == approx(2.0)
    b = card.loc[(0, "big")]
    assert (b["p_fund_depleted"], b["p_adl"], b["bad_debt_q99"]) == (0.0, 0.0, 0.0)
    assert math.isnan(b["slippage_per_usd"]) and math.isnan(b["time_to_fund_depletion_s"])
    c = card.loc[(1, "base")]
    assert (c["p_fund_depleted"], c["p_socialized"], c["p_cascade_ge_10"]) == (1.0, 1.0, 1.0)
    assert c["p_fund_depleted_high"] == 1.0
    assert c["p_fund_depleted_low"] == pytest.approx(5 / (5 + 3.841459))
    # 0, 10, 20, 30, 1000: q95 at position 3.8 = 30 + 0.8 * 970 = 806; the runs at or above
    # it: 1000 alone. The median of the depletion times 2, 4, 7, 9, 30 s is 7 s.
    assert c["bad_debt_q50"] == approx(20.0) and c["bad_debt_q95"] == approx(806.0)
    assert c["bad_debt_es95"] == approx(1000.0)
    assert c["time_to_fund_depletion_s"] == approx(7.0)
    d = card.loc[(1, "big")]
    assert d["runs"] == 0 and math.isnan(d["p_adl"]) and math.isnan(d["bad_debt_q50"])


def test_expected_shortfall_counts_ties_and_levels_are_configurable(runs):
    ties = pd.DataFrame([_run(0, "x", "v", r, bad_debt=b, cascade_depth=r)
                         for r, b in enumerate([0.0, 100.0, 100.0, 100.0])])
    card = scorecard(ties, cascade_depths=(2,), quantiles=(0.25, 0.5), es_levels=(0.25, 0.5))
    row = card.iloc[0]
    # q25 at position 0.75: 75; the runs at or above it: the three 100s. q50 = 100: the same.
    assert row["bad_debt_q25"] == approx(75.0) and row["bad_debt_es25"] == approx(100.0)
    assert row["bad_debt_es50"] == approx(100.0)
    assert row["p_cascade_ge_2"] == 0.5 and "p_cascade_ge_5" not in card.columns
    with pytest.raises(ValueError, match="quantiles"):
        scorecard(ties, quantiles=(95,))


def _card(k: int, n: int, column: str = "adl_events") -> pd.DataFrame:
    """A one-cell card of n runs, k of them with ADL (or the fund depleted)."""
    value = True if column == "insurance_fund_depleted" else 1
    rows = [_run(0, "x", "v", r, **({column: value} if r < k else {})) for r in range(n)]
    return scorecard(pd.DataFrame(rows))


def _said(card: pd.DataFrame, label: str, **thresholds) -> str:
    return next(s for s in statements(card, **thresholds) if f"{label} " in s)


def test_statements_claim_only_what_the_interval_supports():
    # 0 of n: upper bound z^2 / (n + z^2) is below 5% from n = 73 on (19 z^2 = 72.99).
    assert _said(_card(0, 73), "P(ADL)") == (
        "cell 0 (shocks.0.move=x) / variant v: P(ADL) below 5% (95% Wilson upper bound "
        "4.999%, 73 runs)")
    assert _said(_card(0, 72), "P(ADL)").endswith(
        "P(ADL) = 0% (0%–5.1%, 72 runs): cannot say below 5%")
    # n of n: lower bound n / (n + z^2) is above 50% from n = 4 on.
    assert _said(_card(4, 4, "insurance_fund_depleted"), "P(fund depleted)").endswith(
        "P(fund depleted) above 50% (95% Wilson lower bound 51%, 4 runs)")
    assert _said(_card(3, 3, "insurance_fund_depleted"), "P(fund depleted)").endswith(
        "P(fund depleted) = 100% (43.9%–100%, 3 runs): cannot say above 50%")
    # 3 of 10 (10.8%–60.3%) says neither; with thresholds 65% / 10% it says "below 65%".
    assert _said(_card(3, 10), "P(ADL)").endswith(
        "P(ADL) = 30% (10.8%–60.3%, 10 runs): cannot say below 5%")
    assert _said(_card(3, 10), "P(ADL)", below=0.65, above=0.9).endswith(
        "P(ADL) below 65% (95% Wilson upper bound 60.3%, 10 runs)")
    with pytest.raises(ValueError, match="thresholds"):
        statements(_card(3, 10), below=5)


def test_a_bound_on_the_threshold_is_not_a_claim():
    card = _card(3, 10)
    card.loc[0, ["p_adl", "p_adl_low", "p_adl_high"]] = [0.02, 0.0, 0.05]
    assert "cannot say below 5%" in _said(card, "P(ADL)")
    card.loc[0, ["p_adl", "p_adl_low", "p_adl_high"]] = [0.9, 0.5, 1.0]
    assert "cannot say above 50%" in _said(card, "P(ADL)")
    # A comparison's runs (no cell, no axes) speak of the variant alone; no runs, no claims.
    rows = pd.DataFrame([{k: v for k, v in _run(0, "x", "v", r).items()
                          if k not in ("cell", "shocks.0.move")} for r in range(2)])
    assert statements(scorecard(rows))[0].startswith("variant v: P(fund depleted) = 0%")
    failed = pd.DataFrame([{**_run(0, "x", "v", 0), "status": "failed"}])
    assert statements(scorecard(failed)) == [
        "cell 0 (shocks.0.move=x) / variant v: no complete runs, nothing can be said"]


def test_write_scorecard(runs, tmp_path):
    card = scorecard(runs)
    parquet, md = write_scorecard(tmp_path, card)
    pd.testing.assert_frame_equal(pd.read_parquet(parquet), card)
    text = md.read_text()
    assert "| cell | shocks.0.move | variant | runs | P(fund depleted) | P(ADL) |" in text
    assert "| 0 | -5% | base | 4 | 25% (4.6%–69.9%) | 50% (15%–85%) |" in text
    assert "| $150 | $285 | $297 | $300 | $300 | 50.0 | 2.0 |" in text  # 50 bps, 2 s
    assert "linear" in text and "Wilson" in text
    assert text.count("\n- ") == len(statements(card))


# ------------------------------------------------------------------------------ run figures


def test_liquidation_slippage_on_the_hand_cascade():
    """A, B and C sell 5, B_BOOK and C_BOOK into the book while the oracle says 90 (X gapped
    from 100 and has no volatility): the slippage is 90 x qty less each fill's notional. The
    mark (= mid) had fallen to 86 and 84 before B's and C's orders: the reference is the
    oracle price, not the mark. The fund (10) is emptied by B's close at 1000 ms."""
    result = run(parse_scenario(cascade_scenario()), seed=1, check=True)
    s = result.summary
    expected = (5 * 90 - A_NOTIONAL) + (B_BOOK * 90 - B_BOOK_NOTIONAL) + C_BOOK * (90 - 83.5)
    assert s["liquidation_slippage"] == approx(expected)
    assert s["v.liquidation_slippage"] == approx(expected)
    assert s["fund_depleted_at_ms"] == 1000.0 and s["insurance_fund_depleted"]


def _world(prices: list[float], windows: tuple[Window, ...] = ()) -> SimpleNamespace:
    venue = SimpleNamespace(name="v", markets=[SimpleNamespace(name="X-PERP")],
                            disruptions=Disruptions(windows))
    paths = SimpleNamespace(times_ms=np.arange(len(prices)) * 1000,
                            prices=np.array(prices, dtype=float)[:, None])
    return SimpleNamespace(paths=paths, venues=[venue], asset_of_market=[np.array([0])])


def test_liquidation_slippage_reads_the_oracle_the_venue_held():
    rec = Recorder()
    trade = EventKind.TRADE
    rec.emit(trade, 1500, "v", "X-PERP", account=1, side=-1, qty=2.0, price=95.0,
             reason=Reason.LIQUIDATION)  # oracle 100 (tick at 1000 ms): 2 x 5
    rec.emit(trade, 2000, "v", "X-PERP", account=2, side=1, qty=1.0, price=93.0,
             reason=Reason.LIQUIDATION)  # the tick at 2000 ms first: 90, |93 - 90| x 1
    rec.emit(trade, 2500, "v", "X-PERP", account=3, side=-1, qty=4.0, price=80.0,
             reason=Reason.ORDER)  # not a liquidation
    events = rec.events()
    world = _world([110.0, 100.0, 90.0, 80.0])
    assert liquidation_slippage(events, world) == {"liquidation_slippage": approx(13.0),
                                                   "v.liquidation_slippage": approx(13.0)}
    # The feed down over [1500, 2500): the 2000 ms tick never reached the venue, which still
    # held 100: 2 x 5 + 1 x 7.
    down = _world([110.0, 100.0, 90.0, 80.0], (Window("oracle", 1500, 2500),))
    assert liquidation_slippage(events, down)["liquidation_slippage"] == approx(17.0)


def test_slippage_uses_the_fundamental_the_venue_held_at_every_fill(monkeypatch):
    """On the small scenario with its oracle down during the cascade, the reference of every
    fill is the fundamental the venue held when the liquidation walked the book (read in the
    run); a fill on a tick's very instant may have run just before the tick (the log cannot
    tell): its reference is that tick's price, or the one before."""
    held: list[float] = []
    worlds: list = []
    original, summarize = venue_module.Venue.walk_book, collect_module.summarize

    def watched(self, i, m, qty, now_ms, generation, cause, reason, walk=None):
        if reason == Reason.LIQUIDATION:
            held.append(self.markets[m].prices.fundamental)
        return original(self, i, m, qty, now_ms, generation, cause, reason, walk)

    def keep_world(events, world, end_ms, edges=None):
        worlds.append(world)
        return summarize(events, world, end_ms, edges)

    monkeypatch.setattr(venue_module.Venue, "walk_book", watched)
    monkeypatch.setattr(collect_module, "summarize", keep_world)
    sc = yaml.safe_load(SMALL.read_text())
    # Breaches seen at the 65 s tick are closed 1.5 s later, after the 66 s tick the outage
    # kept from the venue: those fills happen at a fundamental older than the last tick.
    sc["venues"][0]["liquidation"]["latency"] = "1500ms"
    sc["disruptions"] = [{"venue": "v", "kind": "oracle", "at": "65100ms", "over": "3s"}]
    result = run(parse_scenario(sc), seed=3)
    ev, world = result.events, worlds[0]
    fills = ev[(ev["kind"] == "trade") & (ev["reason"] == "liquidation")]
    assert len(fills) == len(held) > 10
    assert fills["time_ms"].between(66_001, 68_099).any()  # after a tick the venue missed
    ref, before = np.empty(len(fills)), np.empty(len(fills))
    for m, mk in enumerate(world.venues[0].markets):
        here = (fills["market"] == mk.name).to_numpy()
        t = fills["time_ms"].to_numpy()[here]
        ref[here] = oracle_prices(world, 0, m, t)
        before[here] = oracle_prices(world, 0, m, t - 1)
    on_tick = fills["time_ms"].to_numpy() % 1000 == 0
    held = np.array(held)
    assert (~on_tick).sum() > 10
    assert (ref[~on_tick] == held[~on_tick]).all()
    assert ((ref[on_tick] == held[on_tick]) | (before[on_tick] == held[on_tick])).all()
    assert result.summary["liquidation_slippage"] == approx(
        float((np.abs(fills["price"].to_numpy() - ref) * fills["qty"].to_numpy()).sum()))


def test_fund_depleted_at_on_the_default_scenario():
    result = run(default_scenario(), 7)
    s, ev, ts = result.summary, result.events, result.timeseries
    assert s["insurance_fund_depleted"] and s["insurance_fund_min"] == 0.0
    # One way: walk the log in order to the first fund movement that left a balance of 0.
    first = next(row.time_ms for row in ev.itertuples()
                 if row.kind == "insurance_fund" and row.balance == 0.0)
    assert s["fund_depleted_at_ms"] == first == 199_030
    # Another: every time-series sample before it shows a positive fund, and at the sample
    # after it the fund has paid out everything but what fees brought back since.
    before = ts[ts["time_ms"] < first]
    assert (before["insurance_fund"] > 0).all() and len(before) > 10
    fees_since = ev[(ev["kind"] == "insurance_fund") & (ev["time_ms"] >= first)
                    & (ev["time_ms"] <= 200_000) & (ev["amount"] > 0)]["amount"].sum()
    at = ts.loc[ts["time_ms"] == 200_000, "insurance_fund"]
    assert (at <= fees_since + 1e-6).all()
    # Without depletion NaN; a fund that starts empty is depleted at 0.
    empty = SimpleNamespace(funds=[SimpleNamespace(start=0.0)])
    full = SimpleNamespace(funds=[SimpleNamespace(start=10.0)])
    assert fund_depletion(ev, [empty])["fund_depleted_at_ms"] == 0.0
    assert math.isnan(fund_depletion(ev.iloc[:0], [full])["fund_depleted_at_ms"])


# ------------------------------------------------------------------------------ a sweep


SWEEP = {
    "name": "scorecard_test",
    "base": str(SMALL),
    "set": ["duration=2m", "populations.retail.count=60", "populations.whales.count=3"],
    "axes": [{"path": "venues.v.insurance_fund", "values": [0, 1e6]}],
    "variants": [{"name": "base"}, {"name": "fee", "set": ["venues.v.liquidation.fee_rate=1%"]}],
    "replications": 2,
    "seed": 5,
}


def test_a_sweep_writes_and_reports_its_scorecard(tmp_path):
    out = tmp_path / "sweep"
    frame = run_sweep(parse_sweep(SWEEP), out)
    card = pd.read_parquet(out / "scorecard.parquet")
    pd.testing.assert_frame_equal(card, scorecard(frame))
    assert len(card) == 4 and card["runs"].tolist() == [2, 2, 2, 2]
    # A fund of 0 is depleted from the start in every run; one of 1e6 never.
    by_fund = card.groupby("venues.v.insurance_fund")["p_fund_depleted"].unique()
    assert by_fund[0].tolist() == [1.0] and by_fund[1e6].tolist() == [0.0]
    assert (card.loc[card["venues.v.insurance_fund"] == 0, "time_to_fund_depletion_s"]
            == 0.0).all()
    md = (out / "scorecard.md").read_text()
    assert md.startswith("# Risk scorecard") and "venues.v.insurance_fund" in md

    report = build_report(out)
    ids = [t.id for t in report.tables]
    results = ids[ids.index("variants") + 1:]
    assert results[0] == "scorecard" and "headline" in results  # the first table of results
    table = report.tables[ids.index("scorecard")]
    assert table.title == "Risk scorecard" and len(table.rows) == 4
    page = report.html.read_text()
    said = statements(card)
    order = [page.index(s) for s in ('id="table-scorecard"', 'id="scorecard-statements"',
                                     'id="table-headline"')]
    assert order == sorted(order)
    items = re.search(r'<ul id="scorecard-statements">(.*?)</ul>', page).group(1)
    assert items.count("<li>") == len(said) == 4 * 5
    text = report.markdown.read_text()
    assert text.index("### Risk scorecard") < text.index(f"- {said[0]}") \
        < text.index("### Headline results")

    # The command line prints the claims at the end (the runs are complete: all skipped).
    file = tmp_path / "sweep.yaml"
    file.write_text(yaml.safe_dump(SWEEP, sort_keys=False))
    cli = CliRunner().invoke(app, ["sweep", str(file), "--out", str(out)])
    assert cli.exit_code == 0, cli.output
    flat = " ".join(cli.output.split())
    assert "Risk scorecard" in flat and "P(fund depleted) = 100%" in flat
