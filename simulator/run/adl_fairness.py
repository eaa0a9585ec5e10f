"""How auto-deleveraging shared its burden: per deleveraged account, what it gave up.

From a run's event log (rows with ``kind == "adl"``) this module builds, per deleveraged
(venue, account), the haircut -- USD given up against closing at the mark (the event's
``amount``) -- the profit closed -- the counterparty's unrealised profit at the mark on the
deleveraged quantity (the event's ``balance``) -- and their ratio, the haircut share. A
pro-rata haircut of winners' profits (the fair benchmark of Chitra, 2025, arXiv 2512.01112)
would give every deleveraged account the same share; the dispersion of shares and the Gini
of haircuts measure how far the queue is from it. The *efficiency* side of that paper (how
much profit ADL closed beyond the shortfall it had to cover) is computed by the simulator
into the summary (``adl_needed``, ``adl_overuse``, ``adl_overuse_ratio``) and is only read,
never recomputed, by callers.

It knows only the event-log columns (``kind, venue, account, qty, amount, balance``): nothing
about venues, queues or any simulation object, so it works on saved runs and hand-made frames.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["HAIRCUT_COLUMNS", "FAIRNESS_METRICS", "adl_haircuts", "fairness_metrics", "gini"]

HAIRCUT_COLUMNS: tuple[str, ...] = (
    "venue", "account", "adl_events", "qty", "haircut", "profit_closed", "haircut_share",
)
FAIRNESS_METRICS: tuple[str, ...] = (
    "adl_share_pooled", "adl_share_mean", "adl_share_std", "adl_haircut_gini",
)


def _empty() -> pd.DataFrame:
    return pd.DataFrame({
        "venue": pd.Series(dtype=object), "account": pd.Series(dtype="int64"),
        "adl_events": pd.Series(dtype="int64"), "qty": pd.Series(dtype=float),
        "haircut": pd.Series(dtype=float), "profit_closed": pd.Series(dtype=float),
        "haircut_share": pd.Series(dtype=float),
    })


def _numeric(df: pd.DataFrame, name: str) -> np.ndarray:
    # A column may be missing (older logs have no profit at mark) or hold pandas NA.
    if name not in df.columns:
        return np.full(len(df), np.nan)
    return pd.to_numeric(df[name], errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def adl_haircuts(events: pd.DataFrame | None) -> pd.DataFrame:
    """One row per deleveraged (venue, account), sorted by venue then account.

    Columns: ``adl_events`` (how many times it was deleveraged), ``qty`` (base quantity
    closed, summed over markets), ``haircut`` (USD given up against the mark), ``profit_closed``
    (unrealised profit at the mark on the closed quantity; NaN if any of its events lacks it)
    and ``haircut_share`` = haircut / profit_closed (NaN unless the profit is positive).
    """
    if events is None or events.empty or "kind" not in events.columns:
        return _empty()
    adl = events[(events["kind"] == "adl").fillna(False).to_numpy(dtype=bool)]
    if adl.empty:
        return _empty()
    profit = _numeric(adl, "balance")
    venue = adl["venue"].astype(object).fillna("") if "venue" in adl.columns else ""
    frame = pd.DataFrame({
        "venue": venue,
        "account": pd.to_numeric(adl["account"]).to_numpy(dtype="int64"),
        "qty": np.abs(_numeric(adl, "qty")),
        "haircut": _numeric(adl, "amount"),
        "profit_closed": profit,
        "known": np.isfinite(profit),
    })
    grouped = frame.groupby(["venue", "account"], sort=True)
    out = grouped.agg(adl_events=("haircut", "size"), qty=("qty", "sum"),
                      haircut=("haircut", "sum"), profit_closed=("profit_closed", "sum"),
                      known=("known", "all")).reset_index()
    # A partly known profit would understate the denominator: call it unknown instead.
    out["profit_closed"] = out["profit_closed"].where(out["known"], np.nan)
    positive = out["profit_closed"] > 0
    out["haircut_share"] = (out["haircut"] / out["profit_closed"]).where(positive, np.nan)
    out["adl_events"] = out["adl_events"].astype("int64")
    return out[list(HAIRCUT_COLUMNS)]


def gini(values: np.ndarray) -> float:
    """Gini coefficient of non-negative amounts: 0 when all are equal, towards 1 when one
    account bears everything; NaN for no amounts or a zero total."""
    x = np.sort(np.asarray(values, dtype=float)[np.isfinite(values)])
    if x.size == 0 or x.sum() <= 0:
        return float("nan")
    ranks = np.arange(1, x.size + 1)
    return float(np.sum((2 * ranks - x.size - 1) * x) / (x.size * x.sum()))


def fairness_metrics(haircuts: pd.DataFrame) -> dict[str, float]:
    """A run's ADL fairness from its ``adl_haircuts`` frame (NaN where undefined):

    - ``adl_share_pooled``: total haircut over total profit closed (accounts whose profit is
      known and positive);
    - ``adl_share_mean`` / ``adl_share_std``: mean and (population) standard deviation of the
      per-account haircut share -- a pro-rata haircut would have std 0;
    - ``adl_haircut_gini``: Gini coefficient of the per-account USD haircuts.
    """
    out = dict.fromkeys(FAIRNESS_METRICS, float("nan"))
    if haircuts.empty:
        return out
    share = haircuts["haircut_share"].to_numpy(dtype=float)
    known = np.isfinite(share)
    if known.any():
        out["adl_share_pooled"] = float(haircuts["haircut"].to_numpy(dtype=float)[known].sum()
                                        / haircuts["profit_closed"].to_numpy(dtype=float)[known]
                                        .sum())
        out["adl_share_mean"] = float(share[known].mean())
        out["adl_share_std"] = float(share[known].std())
    out["adl_haircut_gini"] = gini(np.clip(haircuts["haircut"].to_numpy(dtype=float), 0, None))
    return out
