"""ADL need, production and overshoot as the literature measures them, from the event log.

Definitions and names of Chitra, Thogiti, Trujillo Ramirez and Xu, "Autodeleveraging as Online
Learning" (arXiv 2602.15182, 2026), and of Chitra, "Autodeleveraging: Impossibilities and
Optimization" (arXiv 2512.01112), as their public code computes them
(``pluriholonomic/autodeleveraging-analysis``, ``src/oss_adl``):

- **waves** (the paper's rounds): a venue's ADL fills in time order; a new wave starts when the
  gap to the previous fill exceeds ``GAP_MS`` (5 s), over all the venue's markets ("global
  rounds").
- **need** ``B_t^needed = Σ_k |p_k^liq,exec − p_k^bk| |q_k^ADL|`` over the wave's fills (eq. 6):
  the mark at the deleveraging and the bankrupt position's bankruptcy price (an ADL event's
  ``mark_price`` and ``bankruptcy_price``), times the quantity, in USD.
- **production** ``H_t = Σ_i (e_i^no-ADL − e_i^ADL)_+`` at the wave's end (Δ = 0): what each
  deleveraged account's equity lost against keeping its position, i.e. per fill the closed
  position's sign × quantity × (the mark at the wave's end − the fill price), summed per
  account; the mark at the end is that market's mark at the wave's last fill there ("marked at
  the last fill price of each coin").
- **overshoot** ``[H_t − B_t]_+``, **undershoot** ``[B_t − H_t]_+``, and the signed sum
  ``O = Σ_t (H_t − B_t)`` (the code's ``overshoot_prod_minus_needed``, the paper's published
  O(0)).
- **queue-total** (2512.01112's first version, ``queue_overshoot.py``): per (venue, market)
  cluster of fills with the same gap rule, the queue's budget (winners' profit the fills
  closed, the events' ``balance``) beyond the cluster's need: ``Σ_c max(budget_c − need_c, 0)``.

Unlike the paper, every wave is kept: a liqsim ADL fill always covers a shortfall at the mark
under the default ``adl.on: negative_equity``. Knows only event-log columns; nothing of venues.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

GAP_MS = 5_000  # a new wave after more than 5 s without an ADL fill (the paper's setting)
WAVE_COLUMNS = ("venue", "wave", "start_ms", "end_ms", "fills", "need", "production",
                "overshoot", "undershoot")
FIGURES = ("adl_waves", "adl_need", "adl_production", "adl_overshoot", "adl_undershoot",
           "adl_overshoot_net", "adl_queue_overshoot")
_COLUMNS = ["time_ms", "seq", "venue", "market", "account", "side", "qty", "price", "balance",
            "mark_price", "bankruptcy_price"]


def clusters(times_ms: np.ndarray, gap_ms: int = GAP_MS) -> np.ndarray:
    """Cluster ids (1, 2, ...) of sorted times: a new one after a gap of more than ``gap_ms``."""
    t = np.asarray(times_ms, dtype=np.int64)
    if t.size == 0:
        return np.zeros(0, dtype=np.int64)
    cut = np.ones(t.size, dtype=np.int64)
    cut[1:] = np.diff(t) > gap_ms
    return np.cumsum(cut)


def _fills(events: pd.DataFrame) -> pd.DataFrame:
    adl = events.loc[events["kind"] == "adl", _COLUMNS]
    adl = adl.sort_values(["venue", "time_ms", "seq"], kind="stable").reset_index(drop=True)
    adl["need"] = (adl["mark_price"] - adl["bankruptcy_price"]).abs() * adl["qty"].abs()
    return adl


def adl_waves(events: pd.DataFrame, gap_ms: int = GAP_MS) -> pd.DataFrame:
    """One row per ADL wave (``WAVE_COLUMNS``): its fills, need, production, overshoot and
    undershoot, in USD."""
    adl = _fills(events)
    rows = []
    for venue, fills in adl.groupby("venue", sort=True):
        wave = clusters(fills["time_ms"].to_numpy(), gap_ms)
        for w, part in fills.groupby(wave, sort=True):
            end_mark = part.groupby("market")["mark_price"].last()
            # The deleveraged position's sign is against the fill's side (a short is bought
            # back); what it lost against keeping the position until the wave's end:
            lost = -part["side"] * part["qty"] * (part["market"].map(end_mark) - part["price"])
            production = float(lost.groupby(part["account"]).sum().clip(lower=0.0).sum())
            need = float(part["need"].sum())
            rows.append((venue, int(w), int(part["time_ms"].iloc[0]),
                         int(part["time_ms"].iloc[-1]), int(len(part)), need, production,
                         max(production - need, 0.0), max(need - production, 0.0)))
    return pd.DataFrame(rows, columns=list(WAVE_COLUMNS)).astype(
        {"wave": "int64", "start_ms": "int64", "end_ms": "int64", "fills": "int64"})


def queue_overshoot(events: pd.DataFrame, gap_ms: int = GAP_MS) -> float:
    """2512.01112's queue-total overshoot: per (venue, market) cluster, the winners' profit
    closed beyond the cluster's need, summed (USD)."""
    adl = _fills(events).sort_values(["venue", "market", "time_ms", "seq"], kind="stable")
    total = 0.0
    for _, fills in adl.groupby(["venue", "market"], sort=True):
        ids = clusters(fills["time_ms"].to_numpy(), gap_ms)
        sums = fills.groupby(ids)[["balance", "need"]].sum()
        total += float((sums["balance"] - sums["need"]).clip(lower=0.0).sum())
    return total


def adl_wave_stats(events: pd.DataFrame) -> dict[str, float]:
    """The summary's ADL figures on the literature's terms (``FIGURES``); zero without ADL."""
    waves = adl_waves(events)
    if waves.empty:
        return dict.fromkeys(FIGURES, 0.0) | {"adl_waves": 0}
    return {
        "adl_waves": int(len(waves)),
        "adl_need": float(waves["need"].sum()),
        "adl_production": float(waves["production"].sum()),
        "adl_overshoot": float(waves["overshoot"].sum()),
        "adl_undershoot": float(waves["undershoot"].sum()),
        "adl_overshoot_net": float((waves["production"] - waves["need"]).sum()),
        "adl_queue_overshoot": queue_overshoot(events),
    }


__all__ = ["FIGURES", "GAP_MS", "WAVE_COLUMNS", "adl_wave_stats", "adl_waves", "clusters",
           "queue_overshoot"]
