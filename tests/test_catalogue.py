"""The catalogue of run figures (simulator.run.catalogue): it names exactly what the summary
holds, with units from its closed set; summary.json records them; docs/outputs.md is its
generated text; the console shows what each venue's mechanisms did."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from simulator.cli import app
from simulator.config.scenarios import DEFAULT, load_builtin
from simulator.run import catalogue
from simulator.run.result import RunResult
from simulator.run.runner import run

DOCS = Path(__file__).parent.parent / "docs" / "outputs.md"
AUCTIONS = ('venues.cex.liquidation.auction={"step": "1s", "duration": "2m", '
            '"keepers": {"count": 3, "capital": 2e6}}')


@pytest.fixture(scope="module")
def runs() -> dict[str, RunResult]:
    base = load_builtin(DEFAULT)
    return {"default": run(base, 7), "hyperliquid": run(base.with_preset("hyperliquid"), 7),
            "binance": run(base.with_preset("binance"), 7),
            "auctions": run(base.with_overrides([AUCTIONS]), 7)}


def test_the_catalogue_names_exactly_the_summary_figures(runs):
    in_summary = {f.name for f in catalogue.FIGURES if f.in_summary}
    for name, result in runs.items():
        keys = list(result.summary)
        assert {catalogue.scope_of(k)[2] for k in keys} == in_summary, name
        for key in keys:  # and in a scope the figure has
            assert catalogue.figure(key) is not None, key
    assert all(f.unit in catalogue.UNITS for f in catalogue.FIGURES)
    assert set(catalogue.UNITS) == {"USD", "count", "fraction", "ratio", "ms", "flag"}
    assert all(v in catalogue.VIEWS for f in catalogue.FIGURES for v in f.views)
    assert all(n in {f.name for f in catalogue.FIGURES} for m in catalogue.MECHANISMS
               for n in (m.marker, *m.figures))


def test_keys_parse_into_scopes():
    assert catalogue.scope_of("bad_debt") == ("run", "", "bad_debt")
    assert catalogue.scope_of("cex.top_ups") == ("venue", "cex", "top_ups")
    assert catalogue.scope_of("cex:BTC-PERP.liquidations") == ("market", "cex:BTC-PERP",
                                                                "liquidations")
    assert catalogue.scope_of("generation.12.liquidations") == ("generation", "12",
                                                                 "liquidations")
    assert catalogue.unit_of("cex.top_ups") == "USD"
    assert catalogue.unit_of("cex.margin_calls") == "count"
    assert catalogue.figure("generation.3.bad_debt") is None  # not a per-generation figure
    assert catalogue.label("cex.liquidations") == "cex: liquidations"
    assert catalogue.title("liquidated_notional") == "liquidated notional (USD)"
    assert catalogue.title("not_a_figure") == "not_a_figure"


def test_format_value_by_unit():
    fv = catalogue.format_value
    assert fv(1234567.4, "USD") == "$1,234,567"
    assert fv(-1234567.4, "USD", compact=True) == "-$1.23M"
    assert fv(1234.0, "count") == "1,234"
    assert fv(0.12345, "fraction") == "12.35%"
    assert fv(1.31427, "ratio") == "1.314"
    assert fv(250, "ms") == "250 ms"
    assert fv(True, "flag") == "yes"
    assert fv(math.nan, "ratio") == "n/a" and fv(None, "USD", missing="–") == "–"


def test_new_mechanism_figures_count_the_events(runs):
    ev, s = runs["auctions"].events, runs["auctions"].summary
    kind, reason, how = ev["kind"], ev["reason"].fillna(""), ev["mechanism"].fillna("")
    started = int(((kind == "auction") & (reason == "start")).sum())
    failed = int(((kind == "auction") & (reason == "failed")).sum())
    keeper = (kind == "liquidation") & (how == "auction")
    assert started > 0 and s["auctions_started"] == s["cex.auctions_started"] == started
    assert s["auctions_failed"] == failed
    assert s["auctions_filled"] + s["auctions_failed"] <= started
    assert s["auction_takes"] == int(keeper.sum()) > 0
    assert s["auction_take_notional"] == pytest.approx(ev.loc[keeper, "notional"].sum())
    # A venue's summary has only the mechanisms it uses.
    assert "cex.vault_takeovers" not in s and "cex.auctions_started" not in runs["default"].summary
    assert runs["binance"].summary["cex.fund_takeovers"] > 0
    assert "cex.fund_takeovers" not in runs["hyperliquid"].summary


def test_summary_json_records_units_and_loads_back(runs, tmp_path):
    result = runs["hyperliquid"]
    result.save(tmp_path / "run", graphs=False)
    stored = json.loads((tmp_path / "run" / "summary.json").read_text())
    units = stored.pop("units")
    assert set(units) == set(result.summary) == set(stored)
    assert units["top_ups"] == "USD" and units["margin_calls"] == "count"
    assert units["cex:BTC-PERP.max_drawdown"] == "fraction"
    assert stored["liquidations"] == result.summary["liquidations"]  # still flat figures
    loaded = RunResult.load(tmp_path / "run")
    assert "units" not in loaded.summary and set(loaded.summary) == set(result.summary)


def test_docs_outputs_is_the_generated_catalogue():
    text = DOCS.read_text()
    assert "python -m simulator.run.catalogue > docs/outputs.md" in "".join(text.splitlines()[:5])
    assert text == catalogue.markdown()


def _row(output: str, label: str) -> list[str]:
    """The cells of the console table row whose first cell is ``label``."""
    for line in output.splitlines():
        cells = [c.strip() for c in re.split(r"[│┃|]", line)]
        if len(cells) > 2 and cells[1] == label:
            return cells[1:-1]
    raise AssertionError(f"no row {label!r} in\n{output}")


def test_run_prints_what_the_vault_did(tmp_path):
    out = tmp_path / "hl"
    # a wide console prints one line per row, to read it back
    result = CliRunner().invoke(app, ["run", "--set", "venues.cex.preset=hyperliquid",
                                      "--out", str(out), "--no-figures"], env={"COLUMNS": "220"})
    assert result.exit_code == 0, result.output
    events = pd.read_parquet(out / "events.parquet")
    vault = events[(events["kind"] == "liquidation")
                   & (events["mechanism"].fillna("") == "vault")]
    summary = json.loads((out / "summary.json").read_text())
    assert len(vault) > 0
    assert "cex: what its mechanisms did" in result.output
    assert _row(result.output, "liquidator vault")[1] == ""  # a section heading
    assert _row(result.output, "vault takeovers")[1:3] == [f"{len(vault):,}", "count"]
    notional = _row(result.output, "vault takeover notional")
    assert notional[1:3] == [f"${vault['notional'].sum():,.0f}", "USD"]
    assert notional[3] == "notional the vault took over, at the mark"
    pnl = _row(result.output, "vault PnL")
    assert pnl[1] == catalogue.format_value(summary["cex.vault_pnl"], "USD") and pnl[2] == "USD"
    assert summary["cex.vault_pnl"] != 0
    # hyperliquid uses ADL and socialization, not fund takeovers or auctions.
    assert _row(result.output, "auto-deleveraging") and _row(result.output, "socialization")
    assert "fund takeovers" not in result.output and "auctions started" not in result.output
    # The headline table: every headline figure with its unit.
    assert _row(result.output, "ADL events")[2] == "count"
    assert _row(result.output, "liquidations")[1:3] == [f"{summary['liquidations']:,}", "count"]
