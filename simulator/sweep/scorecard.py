"""The risk scorecard of a sweep or comparison: probabilities with Wilson intervals and the
tail of bad debt, per (cell, variant), and the plain-English claims the intervals support.

``scorecard(runs)`` is a pure function of a runs frame (``runs.parquet``: one row per run,
the run summary's figures as columns) over its complete runs. Per (cell, variant):

- ``runs``: how many runs completed;
- ``p_fund_depleted`` (an insurance fund ran empty), ``p_adl`` (``adl_events > 0``),
  ``p_socialized`` (``socialized_loss > 0``), ``p_cascade_ge_<k>`` (``cascade_depth >= k``):
  the share of runs, each with ``_low`` / ``_high``, the Wilson score interval (95%);
- ``bad_debt_q<p>``: the empirical quantile of per-run bad debt, ``numpy.quantile`` with
  ``method="linear"`` (interpolating between order statistics, numpy's default);
- ``bad_debt_es<p>``: expected shortfall, the mean of the runs' bad debts at or above that
  quantile (so never below it; with few runs it is the mean of the worst few);
- ``slippage_per_usd``: the cell's summed ``liquidation_slippage`` over its summed
  ``liquidated_notional`` (a ratio of sums, so a run with more liquidations weighs more; NaN
  without liquidations);
- ``time_to_fund_depletion_s``: the median of ``fund_depleted_at_ms`` / 1000 over the runs
  whose fund ran empty (NaN when none did);

plus the cell's axis values. ``statements`` turns a card into sentences that claim "below" or
"above" a threshold only when the interval's bound clears it; ``write_scorecard`` writes
``scorecard.parquet`` and ``scorecard.md``. This module reads frames; it must not run
simulations, know simulation objects, or draw anything.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from simulator.run.result import write_atomic

__all__ = ["EVENTS", "scorecard", "scorecard_markdown", "scorecard_table", "statements",
           "wilson", "write_scorecard"]

CONFIDENCE = 0.95
PARQUET, MARKDOWN = "scorecard.parquet", "scorecard.md"
# The events whose probability the card gives: column stem -> (label, figure, test).
EVENTS: dict[str, tuple[str, str, str]] = {
    "fund_depleted": ("P(fund depleted)", "insurance_fund_depleted", "flag"),
    "adl": ("P(ADL)", "adl_events", "positive"),
    "socialized": ("P(socialized loss)", "socialized_loss", "positive"),
}


def wilson(k: int, n: int, confidence: float = CONFIDENCE,
           z: float | None = None) -> tuple[float, float]:
    """Wilson score interval of a proportion ``k / n`` at ``confidence`` (or at the normal
    quantile ``z`` when given). Unlike the normal interval it stays inside [0, 1] and is not
    degenerate at 0 of n or n of n. (NaN, NaN) without runs."""
    if n <= 0:
        return math.nan, math.nan
    if z is None:
        if not 0 < confidence < 1:
            raise ValueError(f"confidence must be in (0, 1), got {confidence}")
        z = float(stats.norm.ppf(0.5 + confidence / 2))
    p = k / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # At 0 of n (n of n) the bound is exactly 0 (1); say so rather than trust the rounding.
    lo = 0.0 if k == 0 else max(0.0, centre - half)
    hi = 1.0 if k == n else min(1.0, centre + half)
    return lo, hi


def _numbers(runs: pd.DataFrame, column: str) -> pd.Series:
    """A figure per run as floats (bools 0/1, missing or non-numeric NaN)."""
    if column not in runs.columns:
        return pd.Series(np.nan, index=runs.index, dtype=float)
    col = runs[column]
    if col.dtype == object:
        col = col.map(lambda v: float(v) if isinstance(v, bool | np.bool_) else v)
    return pd.to_numeric(col, errors="coerce").astype(float)


def _share(hit: pd.Series, valid: pd.Series, confidence: float) -> tuple[float, float, float]:
    n, k = int(valid.sum()), int((hit & valid).sum())
    lo, hi = wilson(k, n, confidence)
    return (k / n if n else math.nan), lo, hi


def _quantile_name(q: float) -> str:
    return f"{q * 100:g}".replace(".", "_")


def _cell_row(g: pd.DataFrame, cascade_depths: Sequence[int], quantiles: Sequence[float],
              es_levels: Sequence[float], confidence: float) -> dict[str, float]:
    row: dict[str, float] = {"runs": len(g)}
    for stem, (_, figure, test) in EVENTS.items():
        x = _numbers(g, figure)
        hit = x != 0 if test == "flag" else x > 0
        row[f"p_{stem}"], row[f"p_{stem}_low"], row[f"p_{stem}_high"] = _share(
            hit, x.notna(), confidence)
    depth = _numbers(g, "cascade_depth")
    for k in cascade_depths:
        row[f"p_cascade_ge_{k}"], row[f"p_cascade_ge_{k}_low"], row[f"p_cascade_ge_{k}_high"] = (
            _share(depth >= k, depth.notna(), confidence))
    debt = _numbers(g, "bad_debt").dropna().to_numpy()
    for q in quantiles:
        row[f"bad_debt_q{_quantile_name(q)}"] = (
            float(np.quantile(debt, q, method="linear")) if debt.size else math.nan)
    for q in es_levels:
        if debt.size:
            var = np.quantile(debt, q, method="linear")
            row[f"bad_debt_es{_quantile_name(q)}"] = float(debt[debt >= var].mean())
        else:
            row[f"bad_debt_es{_quantile_name(q)}"] = math.nan
    slip, notional = _numbers(g, "liquidation_slippage"), _numbers(g, "liquidated_notional")
    both = slip.notna() & notional.notna()
    total = float(notional[both].sum())
    row["slippage_per_usd"] = float(slip[both].sum()) / total if total > 0 else math.nan
    depleted = _numbers(g, "insurance_fund_depleted") != 0
    at = _numbers(g, "fund_depleted_at_ms")[depleted].dropna()
    row["time_to_fund_depletion_s"] = float(at.median()) / 1000.0 if len(at) else math.nan
    return row


def scorecard(runs: pd.DataFrame, cascade_depths: Sequence[int] = (5, 10),
              quantiles: Sequence[float] = (0.5, 0.95, 0.99),
              es_levels: Sequence[float] = (0.95, 0.99),
              confidence: float = CONFIDENCE) -> pd.DataFrame:
    """One row per (cell, variant) of ``runs`` over its complete runs (see the module
    docstring for every column): ``cell``, the axis columns, ``variant``, ``runs``, then the
    probabilities with their Wilson bounds, bad-debt quantiles and expected shortfalls,
    ``slippage_per_usd`` and ``time_to_fund_depletion_s``. A (cell, variant) whose runs all
    failed has ``runs`` 0 and NaN elsewhere. A frame without ``cell`` (a comparison's) is one
    cell, 0. Rows follow cell order, then variant order of first appearance."""
    for q in (*quantiles, *es_levels):
        if not 0 <= q <= 1:
            raise ValueError(f"scorecard: quantiles must be in [0, 1], got {q}")
    frame = runs if "cell" in runs.columns else runs.assign(cell=0)
    cols = list(frame.columns)
    axes = cols[: cols.index("cell")] if "cell" in runs.columns else []
    ok = frame["status"] == "complete" if "status" in frame.columns else \
        pd.Series(True, index=frame.index)
    variants = list(dict.fromkeys(frame["variant"]))
    rows = []
    for cell, sub in frame.groupby("cell", sort=True):
        for variant in variants:
            mine = sub[sub["variant"] == variant]
            if mine.empty:
                continue
            head = {"cell": cell, **{a: mine[a].iloc[0] for a in axes}, "variant": variant}
            rows.append({**head, **_cell_row(mine[ok[mine.index]], cascade_depths, quantiles,
                                             es_levels, confidence)})
    card = pd.DataFrame(rows)
    if not card.empty:
        card["runs"] = card["runs"].astype("int64")
    card.attrs["confidence"] = confidence
    return card


# --- reading a card ---------------------------------------------------------------------------


def _pct(x: float, digits: int = 1) -> str:
    """A share as a percentage to ``digits`` decimals, without trailing zeros (3.1%, 12%,
    0%); "–" when undefined."""
    if x is None or not math.isfinite(x):
        return "–"
    return f"{x * 100:.{digits}f}".rstrip("0").rstrip(".") + "%"


def _bound(x: float, threshold: float) -> str:
    """A bound with as many decimals (up to 4) as it takes not to read as the threshold it
    clears (4.999%, not 5%, under 5%)."""
    for digits in range(1, 4):
        if _pct(x, digits) != _pct(threshold, digits):
            return _pct(x, digits)
    return _pct(x, 4)


def _axes(card: pd.DataFrame) -> list[str]:
    """The card's axis columns: those between ``cell`` and ``variant``."""
    cols = list(card.columns)
    if "cell" not in cols or "variant" not in cols:
        return []
    return cols[cols.index("cell") + 1: cols.index("variant")]


def _measures(card: pd.DataFrame) -> list[tuple[str, str]]:
    """(column stem, label) of every probability on the card, in card order."""
    out = [(f"p_{stem}", label) for stem, (label, _, _) in EVENTS.items()
           if f"p_{stem}" in card.columns]
    out += [(c, f"P(cascade depth >= {c.removeprefix('p_cascade_ge_')})") for c in card.columns
            if c.startswith("p_cascade_ge_") and not c.endswith(("_low", "_high"))]
    return out


def _where(row: pd.Series, axes: Sequence[str], one_cell: bool) -> str:
    """"cell 3 (axis=value, ...) / variant V"; a comparison (one cell, no axes): "variant V"."""
    if one_cell and not axes:
        return f"variant {row['variant']}"
    point = ", ".join(f"{a}={row[a]}" for a in axes)
    return f"cell {row['cell']}{f' ({point})' if point else ''} / variant {row['variant']}"


def statements(card: pd.DataFrame, below: float = 0.05, above: float = 0.5) -> list[str]:
    """Plain-English claims about each probability of ``card``, one per (row, probability):
    "below ``below``" only when the Wilson upper bound is under it, "above ``above``" only
    when the lower bound is over it; otherwise the estimate with its interval and what
    cannot be said ("cannot say below" while the estimate is under ``above``, else "cannot
    say above"). A row without complete runs gets one line saying so."""
    if not 0 < below < 1 or not 0 < above < 1:
        raise ValueError(f"statements: thresholds must be in (0, 1), got {below}, {above}")
    level = f"{card.attrs.get('confidence', CONFIDENCE):.0%}"
    axes, one_cell = _axes(card), card["cell"].nunique() <= 1 if len(card) else True
    out = []
    for _, row in card.iterrows():
        n, where = int(row["runs"]), _where(row, axes, one_cell)
        if n == 0:
            out.append(f"{where}: no complete runs, nothing can be said")
            continue
        for col, label in _measures(card):
            p, lo, hi = row[col], row[f"{col}_low"], row[f"{col}_high"]
            if not math.isfinite(p):
                continue
            runs = f"{n} run{'s' if n != 1 else ''}"
            if hi < below:
                out.append(f"{where}: {label} below {_pct(below)} ({level} Wilson upper "
                           f"bound {_bound(hi, below)}, {runs})")
            elif lo > above:
                out.append(f"{where}: {label} above {_pct(above)} ({level} Wilson lower "
                           f"bound {_bound(lo, above)}, {runs})")
            else:
                claim = f"below {_pct(below)}" if p < above else f"above {_pct(above)}"
                out.append(f"{where}: {label} = {_pct(p)} ({_pct(lo)}–{_pct(hi)}, "
                           f"{runs}): cannot say {claim}")
    return out


def _usd(x: float) -> str:
    if not math.isfinite(x):
        return "–"
    return f"${x / 1e6:,.2f}M" if abs(x) >= 1e6 else f"${x:,.0f}"


def scorecard_table(card: pd.DataFrame) -> tuple[list[str], list[list[str]], list[bool]]:
    """The card as readable strings: (header, rows, which columns are numeric), for the
    Markdown file and the sweep report alike. Probabilities as "12.5% (4.1%–25.0%)", money
    in USD, slippage in basis points per USD liquidated, time to depletion in seconds."""
    axes = _axes(card)
    measures = _measures(card)
    quantiles = [c for c in card.columns if c.startswith("bad_debt_q")]
    shortfalls = [c for c in card.columns if c.startswith("bad_debt_es")]
    header = ["cell", *axes, "variant", "runs", *[label for _, label in measures],
              *[f"bad debt {c.removeprefix('bad_debt_').replace('_', '.')}" for c in quantiles],
              *[f"bad debt ES{c.removeprefix('bad_debt_es').replace('_', '.')}"
                for c in shortfalls],
              "slippage (bps of notional)", "time to fund depletion (median, s)"]
    rows = []
    for _, r in card.iterrows():
        row = [str(r["cell"]), *[str(r[a]) for a in axes], str(r["variant"]),
               str(int(r["runs"]))]
        row += [f"{_pct(r[c])} ({_pct(r[f'{c}_low'])}–{_pct(r[f'{c}_high'])})"
                if math.isfinite(r[c]) else "–" for c, _ in measures]
        row += [_usd(r[c]) for c in (*quantiles, *shortfalls)]
        slip, t = r["slippage_per_usd"], r["time_to_fund_depletion_s"]
        row.append(f"{slip * 1e4:.1f}" if math.isfinite(slip) else "–")
        row.append(f"{t:,.1f}" if math.isfinite(t) else "–")
        rows.append(row)
    right = [True] + [False] * len(axes) + [False, True] + [False] * len(measures) \
        + [True] * (len(quantiles) + len(shortfalls) + 2)
    return header, rows, right


NOTE = ("Over the complete runs of each cell and variant. P(...): the share of runs, with its "
        "95% Wilson score interval. Bad debt per run: empirical quantiles (numpy, linear "
        "interpolation) and expected shortfall ESp (mean of the runs at or above the "
        "p-quantile). Slippage: summed liquidation slippage (book fills against the oracle "
        "price at the order) over summed liquidated notional, in basis points. Time to fund "
        "depletion: median over the runs whose insurance fund ran empty.")


def scorecard_markdown(card: pd.DataFrame, said: Sequence[str] | None = None) -> str:
    """``scorecard.md``: the table with readable headers and percentages, how each column is
    estimated, then the statements (``statements(card)`` unless given)."""
    header, rows, right = scorecard_table(card)
    lines = ["# Risk scorecard", "", "| " + " | ".join(header) + " |",
             "|" + "|".join("---:" if r else "---" for r in right) + "|"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    lines += ["", f"*{NOTE}*", "", "## What the intervals support", ""]
    lines += [f"- {s}" for s in (statements(card) if said is None else said)]
    return "\n".join(lines) + "\n"


def write_scorecard(out_dir: str | Path, card: pd.DataFrame) -> tuple[Path, Path]:
    """Write ``scorecard.parquet`` and ``scorecard.md`` into ``out_dir`` (atomically);
    returns their paths."""
    out = Path(out_dir)
    parquet, md = out / PARQUET, out / MARKDOWN
    write_atomic(parquet, lambda p: card.to_parquet(p, index=False))
    text = scorecard_markdown(card)
    write_atomic(md, lambda p: Path(p).write_text(text, encoding="utf-8"))
    return parquet, md
