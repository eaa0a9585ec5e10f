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
}
TITLES = {"stress_liquidated": "Stress grid: liquidated notional",
          "stress_bad_debt": "Stress grid: bad debt", "lorenz": "Lorenz curve",
          "var": "VaR and ES by venue", "sensitivity": "Margin sensitivity"}
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
)


def risk_page(label: str, seed: int, frames: Mapping[str, pd.DataFrame],
              figures: Mapping[str, Mapping[str, Path]], meta: Mapping[str, Any]) -> str:
    """The page: ``frames`` has exposure, concentration, var, stress, cover2; ``figures``
    ``write_risk_figures``' files (the SVGs are inlined); ``meta`` the risk.json fields."""
    var = frames["var"]
    books = var[var["scope"] != "account"]
    body = [f"<h1>{html.escape(label)}: pre-crash risk report</h1>",
            f'<p class="meta">seed {seed} · the book at t = 0, before anything runs · '
            f"{html.escape(provenance_text(meta))} · {html.escape(str(meta.get('created', '')))}"
            "</p>"]
    shown = {**frames, "var": books}  # the page shows the books; accounts are in the Parquet
    for heading, key, title, note in SECTIONS:
        if key in shown:  # the sensitivity is optional
            body += [f"<h2>{heading}</h2>", html_table(frame_table(shown[key], key, title, note))]
    body.append("<h2>Charts</h2>")
    for name, files in figures.items():
        if "svg" in files:
            body.append(svg_figure(name, TITLES.get(name, name), files["svg"],
                                   CAPTIONS.get(name, "")))
    scenario = json.dumps(meta.get("scenario", {}), indent=1, sort_keys=True)
    body += ["<h2>Scenario</h2>", f"<pre>{html.escape(scenario)}</pre>"]
    return page(f"{label}: risk report", "\n".join(body))
