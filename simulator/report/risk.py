"""The HTML page of ``liqsim risk``: one self-contained file with the pre-crash risk report's
tables (exposure, concentration, VaR, the static stress grid, Cover-2), its charts inlined as
SVG and the scenario's provenance. Renders frames and chart files it is given; computes no
risk figure, runs nothing and writes nothing.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simulator.report.page import html_table, page, provenance_text, svg_figure
from simulator.report.tables import Table

CAPTIONS = {
    "stress_liquidated": "USD notional of the account scopes below maintenance at each moved "
                         "price (summed over venues); static: no impact, responses or time.",
    "stress_bad_debt": "Equity short of zero of those scopes at the moved price, in USD; "
                       "the fund pays it first, ADL the rest.",
    "lorenz": "Cumulative share of the traders' exposure held by the smallest accounts.",
    "var": "Zero-mean linear model with the scenario's volatilities and correlation.",
    "sensitivity": "Static stress of every asset together, each step the world rebuilt with "
                   "every market's maintenance rates (or leverage caps) scaled; USD.",
    "liquidation_map": "USD notional first liquidated at each price level, per market and "
                       "side, from the book's own margin arithmetic (no impact).",
    "correlation": "Correlation of the assets' log returns: the scenario's model, the whole "
                   "sample and its stressed window (worst 5% of the equal-weight index).",
    "rolling_correlation": "Pairwise correlation over a rolling window of returns; dashed: the "
                           "whole sample.",
    "backtest": "The traders' book's loss per return interval and its 99% rolling historical "
                "VaR forecast; dots: losses above the forecast.",
    "simulated_losses": "Share of the complete runs (seeds) with no larger loss; vertical "
                        "lines: historical VaR per level, shaded: its 95% order-statistic "
                        "interval where both ends exist; USD.",
    "stress_full": "Summed over venues, USD: dashed the static pass (no impact, no "
                   "responses, no time), solid the same cell run in full at the seed.",
    "dynamic_margin": "The scenario's own path, no impact or responses: scopes below "
                      "maintenance closed at each check; the volatility rule's highest "
                      "multiplier on the right; USD.",
    "collateral_ratio": "(Collateral after haircuts + unrealised PnL + isolated margin) / "
                        "maintenance per account at the start; below 1 is liquidatable.",
    "depeg": "Each collateral asset's price moved alone, positions' prices held; scopes then "
             "below maintenance closed at the start marks; USD.",
}
TITLES = {"stress_liquidated": "Stress grid: liquidated notional",
          "stress_bad_debt": "Stress grid: bad debt", "lorenz": "Lorenz curve",
          "var": "VaR and ES by venue", "sensitivity": "Margin sensitivity",
          "liquidation_map": "Liquidation map",
          "correlation": "Correlation matrices", "rolling_correlation": "Rolling correlation",
          "backtest": "VaR backtest",
          "simulated_losses": "Simulated losses over seeds",
          "stress_full": "Stress cells: static pass against full runs",
          "dynamic_margin": "Dynamic margin", "collateral_ratio": "Collateral ratio",
          "depeg": "Depeg sensitivity",
          }
# The charts shown under a section's table (the rest, if any, close the page).
FIGURES_AFTER = {
    "concentration": ("lorenz",), "var": ("var",),
    "stress": ("stress_liquidated", "stress_bad_debt"), "sensitivity": ("sensitivity",),
    "liquidation_map": ("liquidation_map",), "correlation": ("correlation",
                                                             "rolling_correlation"),
    "backtest": ("backtest",), "simulated_var": ("simulated_losses",),
    "stress_compare": ("stress_full",), "dynamic_margin": ("dynamic_margin",),
    "collateral_health": ("collateral_ratio",), "depeg_sensitivity": ("depeg",),
}
MAX_ROWS = 60  # longest table on the page; the Parquet files have every row


def _cell(value: Any) -> tuple[str, bool]:
    """A value's text and whether it is numeric (right-aligned)."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value)), False
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}", True
    if isinstance(value, (float, np.floating)):
        if not np.isfinite(value):
            return "–", True
        return (f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"), True
    return str(value), False


def frame_table(frame: pd.DataFrame, id_: str, title: str, note: str = "") -> Table:
    """A frame as a page table (the first ``MAX_ROWS`` rows, said so in the note)."""
    shown = frame.head(MAX_ROWS)
    rows, right = [], [False] * len(frame.columns)
    for record in shown.itertuples(index=False):
        cells = [_cell(v) for v in record]
        rows.append([c for c, _ in cells])
        right = [r or num for r, (_, num) in zip(right, cells, strict=True)]
    if len(frame) > MAX_ROWS:
        note = f"{note} First {MAX_ROWS} of {len(frame)} rows.".strip()
    return Table(id=id_, title=title, header=[str(c) for c in frame.columns], rows=rows,
                 note=note, right=right)


# The page's table sections in order: (heading, frame key, title, note).
SECTIONS = (
    ("Exposure", "exposure", "Exposure per market",
     "USD at the start prices; margin from the market's tiers."),
    ("Concentration", "concentration", "Concentration of the traders' exposure",
     "Gross notional per account; leverage-weighted: notional x effective leverage. The "
     "market maker is left out."),
    ("Parametric VaR", "var", "1-day VaR and ES of the traders' book",
     "Per-account rows are in var.parquet."),
    ("Static stress grid", "stress", "Stress cells",
     "Static pass: a lower bound of a run's liquidations."),
    ("Cover-2", "cover2", "Two largest defaulters per stress cell",
     "Uncovered = loss beyond the defaulter's own equity."),
    ("Margin sensitivity", "sensitivity",
     "Static stress, every asset moved together, under scaled margin settings",
     "factor = 1 + step on every tier; elasticity = arc d ln y / d ln factor against step 0 "
     "(– where y is 0). In the static pass a scope with negative equity is breached at any "
     "rate, so only the liquidated notional moves with the rates; populations are redrawn "
     "against the scaled tiers."),
    ("Liquidation levels", "liquidation_map",
     "Notional liquidated within a distance of the price",
     "The liquidation map (static, per asset, others held): longs on the way down, shorts on "
     "the way up; the map's levels are 0.25% apart."),
    ("Concentration of defaults", "stress_concentration",
     "Defaulters' share of liquidations and bad debt in the all-assets stress cell",
     "Per owner (an account's scopes added up); top-k shares of bad_debt are the largest "
     "accounts' share of the bad debt."),
    ("Correlation", "correlation", "Correlation of the assets' log returns",
     "source: the scenario's paths (its stochastic model at the seed, shocks and jumps "
     "included) or kline files. model = the scenario's matrix and vols; stressed = the returns "
     "where the equal-weight index is in its worst 5%; rolling_min/max over the window; vols "
     "annualised from the interval. One asset: a single row of its own volatility, no "
     "correlation."),
    ("Correlation break", "correlation_break",
     "Static margin breaches when the lead asset falls and the others follow its correlation",
     "Other assets at their conditional move corr x vol_j / vol_lead x move (the scenario's "
     "vols); base = the scenario's correlation, to_one = 0.99, flip = signs flipped, "
     "estimated/stressed = from the returns. Static pass: no impact, responses or time."),
    ("Historical VaR", "historical_var",
     "Historical VaR and ES of the traders' book over one return interval",
     "The book's USD deltas replayed on every return; var_low/high: order-statistic 95% "
     "interval, es_low/high: seeded bootstrap; n returns. historical_var.parquet also has the "
     "500 traders with the largest USD delta, one by one (scope account)."),
    ("VaR backtest", "backtest", "Kupiec test of the rolling historical VaR on the path",
     "Each return's VaR from the window before it; an exceedance is a loss above it; "
     "reject_5pct: Kupiec's proportion of failures rejected at 5%."),
    ("Simulated runs", "simulated_count", "Runs the simulated estimates rest on",
     "Every run is the scenario from t = 0 to its end at one seed, cascade included; only "
     "complete runs count."),
    ("Simulated VaR/ES", "simulated_var", "Historical VaR and ES of run losses",
     "Losses in USD: traders' (start minus end equity of the liquidatable accounts, per venue "
     "and all), the funds' (start minus end balance) and each trader's per run (account; "
     "those rows pool every (run, trader)). n = runs (or trader-runs); var_low/var_high: 95% "
     "order-statistic interval, – where too few runs for it (the note says how many); "
     "es_low/es_high: seeded bootstrap."),
    ("Simulated losses per run", "simulated_runs", "Per run and venue", ""),
    ("Stress grid from full runs", "stress_compare", "Static pass against full runs, per cell",
     "The run has impact, responses, arrivals and time: its liquidations are usually above "
     "the static lower bound. fund_drawdown in a run is net of the fees the fund earned; "
     "adl in a run is the ADL haircut. Every column per venue is in stress_full.parquet."),
    ("Dynamic margin", "dynamic_margin",
     "Path pass: fixed against volatility-scaled maintenance",
     "The scenario's own price path, no impact, responses or funding; a scope below "
     "maintenance at a check is closed whole there. source: the venue's own volatility margin "
     "or the default rule (the --vol-* options). The path is in dynamic_margin_path.parquet."),
    ("Collateral health", "collateral_health", "Haircut-adjusted collateral ratio per group",
     "ratio = (collateral after haircuts + unrealised PnL + isolated margin) / maintenance, "
     "over the accounts with a position; a wallet-only venue's collateral is its wallet."),
    ("Depeg sensitivity", "depeg_sensitivity",
     "Collateral price moved, positions' prices held",
     "Scopes below maintenance after the move (those already below at the start included), "
     "closed at the start marks; bad debt = equity short of zero."),
)


# The reading order: the book, its market risk, its stress, its margin rules and collateral.
ORDER = ("exposure", "liquidation_map", "concentration", "var", "correlation",
         "correlation_break", "historical_var", "backtest", "simulated_count", "simulated_var",
         "simulated_runs", "stress", "stress_compare", "cover2", "stress_concentration",
         "sensitivity", "dynamic_margin", "collateral_health", "depeg_sensitivity")
SECTIONS = tuple(sorted(SECTIONS, key=lambda sec: ORDER.index(sec[1])))


def risk_page(label: str, seed: int, frames: Mapping[str, pd.DataFrame],
              figures: Mapping[str, Mapping[str, Path]], meta: Mapping[str, Any],
              moment: str | None = None) -> str:
    """The page: ``frames`` has exposure, concentration, var, stress, cover2; ``figures``
    ``write_risk_figures``' files (the SVGs are inlined); ``meta`` the risk.json fields;
    ``moment`` says when the book is taken (``Moment.text``; default: t = 0)."""
    var = frames["var"]
    books = var[var["scope"] != "account"]
    body = [f"<h1>{html.escape(label)}: pre-crash risk report</h1>",
            f'<p class="meta">seed {seed} · '
            f"{html.escape(moment or 'the book at t = 0, before anything runs')} · "
            f"{html.escape(provenance_text(meta))} · {html.escape(str(meta.get('created', '')))}"
            "</p>"]
    shown = {**frames, "var": books}  # the page shows the books; accounts are in the Parquet
    if "historical_var" in frames:
        hist = frames["historical_var"]
        shown["historical_var"] = hist[hist["scope"] != "account"].drop(
            columns="account", errors="ignore")
    present = [sec for sec in SECTIONS if sec[1] in shown]  # the optional ones as computed
    body.append('<p class="meta">Contents: ' + " · ".join(
        f'<a href="#section-{key}">{html.escape(heading)}</a>'
        for heading, key, _, _ in present) + "</p>")
    placed: set[str] = set()

    def figure(name: str) -> str:
        placed.add(name)
        return svg_figure(name, TITLES.get(name, name), figures[name]["svg"],
                          CAPTIONS.get(name, ""))

    for heading, key, title, note in present:
        body += [f'<h2 id="section-{key}">{html.escape(heading)}</h2>',
                 html_table(frame_table(shown[key], key, title, note))]
        # Each section's charts under its table, where the reader is looking.
        body += [figure(n) for n in FIGURES_AFTER.get(key, ()) if "svg" in figures.get(n, {})]
    rest = [n for n, files in figures.items() if "svg" in files and n not in placed]
    if rest:
        body.append("<h2>Other charts</h2>")
        body += [figure(n) for n in rest]
    scenario = json.dumps(meta.get("scenario", {}), indent=1, sort_keys=True)
    body += ["<h2>Scenario</h2>", f"<pre>{html.escape(scenario)}</pre>"]
    return page(f"{label}: risk report", "\n".join(body))
