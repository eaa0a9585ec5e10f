"""Cover-1 / Cover-2: can the default resources absorb the largest defaulters under stress?

In the style of CCP reporting (CPMI-IOSCO, Principles for Financial Market Infrastructures,
2012, Principle 4: a CCP with a complex risk profile holds financial resources to cover the
default of the two participants, with their affiliates, that would cause the largest credit
exposure in extreme but plausible conditions). Here a venue's "participants" are accounts
(or groups of accounts with one owner), the exposure is the stressed loss beyond the margin
each posted, and the resources are the venue's default waterfall: insurance fund, then vault,
ADL or socialization, as the venue's settings name them.

For every stress scenario: the uncovered loss max(loss - margin, 0) of each account, the k
largest (k = 2 for Cover-2, 1 for Cover-1), and how the layers absorb their sum in order.
Pure functions of the frames and layer lists they are given: no SimPy, no files, no run or
sweep execution; the caller computes the stressed losses.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["COVER_TABLE_COLUMNS", "LOSS_COLUMNS", "cover1", "cover2", "cover2_table",
           "cover_n", "uncovered_losses"]

LOSS_COLUMNS = ("scenario", "account", "loss_usd", "margin_usd")
COVER_TABLE_COLUMNS = ("scenario", "k", "order", "layer", "capacity_usd", "absorbed_usd",
                       "remaining_usd")
Layer = tuple[str, float | None]


def _layers(layers: Sequence[Layer]) -> list[tuple[str, float]]:
    """Validated (name, capacity) list; an unlimited layer (None or inf) may only come last."""
    out: list[tuple[str, float]] = []
    for i, item in enumerate(layers):
        if len(item) != 2:
            raise ValueError(f"layers[{i}]: give (name, capacity_usd), got {item!r}")
        name, capacity = item
        if not isinstance(name, str) or not name:
            raise ValueError(f"layers[{i}]: the name must be a non-empty string, got {name!r}")
        cap = math.inf if capacity is None else float(capacity)
        if math.isnan(cap) or cap < 0:
            raise ValueError(f"layer {name!r}: capacity must be >= 0 USD or None (unlimited), "
                             f"got {capacity!r}")
        if out and math.isinf(out[-1][1]):
            raise ValueError(f"layer {name!r} follows the unlimited layer {out[-1][0]!r}: "
                             f"only the last layer may be unlimited")
        out.append((name, cap))
    if not out:
        raise ValueError("layers: give at least one (name, capacity_usd) layer")
    names = [name for name, _ in out]
    if len(set(names)) != len(names):
        raise ValueError(f"layers: duplicated layer names in {names}")
    if {f"{name}_usd" for name in names} & {"uncovered_usd", "residual_usd"}:
        raise ValueError("layers: 'uncovered' and 'residual' are reserved names")
    return out


def uncovered_losses(losses: pd.DataFrame, by: str = "account") -> pd.DataFrame:
    """Uncovered stressed loss per scenario and account (or per group of accounts).

    ``losses`` has one row per scenario and account with columns scenario, account, loss_usd
    (stressed loss, negative = gain) and margin_usd (>= 0), plus ``by`` when it names a group
    (e.g. the owner). An account's uncovered loss is max(loss - margin, 0); a group's is the sum
    of its accounts' (margin is not shared between accounts). Returns scenario, ``by``,
    uncovered_usd, scenarios in order of first appearance, largest first within a scenario
    (ties by name).
    """
    needed = list(LOSS_COLUMNS) + ([by] if by not in LOSS_COLUMNS else [])
    missing = [c for c in needed if c not in losses.columns]
    if missing:
        raise ValueError(f"cover: the losses frame lacks column(s) {missing} (needs "
                         f"{needed})")
    if losses.duplicated(["scenario", "account"]).any():
        dup = losses[losses.duplicated(["scenario", "account"])].iloc[0]
        raise ValueError(f"cover: account {dup['account']!r} appears twice in scenario "
                         f"{dup['scenario']!r}: give one row per scenario and account")
    loss = losses["loss_usd"].to_numpy(dtype=float)
    margin = losses["margin_usd"].to_numpy(dtype=float)
    if not (np.all(np.isfinite(loss)) and np.all(np.isfinite(margin))):
        raise ValueError("cover: loss_usd and margin_usd must be finite")
    if np.any(margin < 0):
        raise ValueError("cover: margin_usd must be non-negative")
    frame = pd.DataFrame({"scenario": losses["scenario"].to_numpy(),
                          by: losses[by].to_numpy(),
                          "uncovered_usd": np.maximum(loss - margin, 0.0)})
    order = {s: i for i, s in enumerate(pd.unique(frame["scenario"]))}
    grouped = frame.groupby(["scenario", by], sort=False, as_index=False)["uncovered_usd"].sum()
    grouped["_order"] = grouped["scenario"].map(order)
    grouped["_name"] = grouped[by].astype(str)
    grouped = grouped.sort_values(["_order", "uncovered_usd", "_name"],
                                  ascending=[True, False, True], kind="mergesort")
    return grouped.drop(columns=["_order", "_name"]).reset_index(drop=True)


def _waterfall(amount: float, layers: list[tuple[str, float]]) -> tuple[list[float], float]:
    """Each layer absorbs min(what is left, its capacity), in order; returns (absorbed, rest)."""
    absorbed = []
    left = amount
    for _, capacity in layers:
        take = min(left, capacity)
        absorbed.append(take)
        left -= take
    return absorbed, left


def cover_n(losses: pd.DataFrame, layers: Sequence[Layer], k: int,
            by: str = "account") -> pd.DataFrame:
    """Cover-k per scenario: the k largest uncovered losses and the waterfall that absorbs them.

    One row per scenario: scenario, k, defaulters (the names, largest first, joined by ", ";
    only accounts with an uncovered loss > 0 default, so there may be fewer than k),
    uncovered_usd (their sum), ``<layer>_usd`` for each layer in order, residual_usd (what no
    layer absorbed: 0 when the last layer is unlimited), deepest_layer (the last layer that
    absorbed anything, "" when nothing was uncovered).
    """
    if int(k) != k or k < 1:
        raise ValueError(f"k must be a positive integer, got {k}")
    spec = _layers(layers)
    table = uncovered_losses(losses, by)
    rows = []
    for scenario, part in table.groupby("scenario", sort=False):
        top = part[part["uncovered_usd"] > 0].head(int(k))
        amount = float(top["uncovered_usd"].sum())
        absorbed, rest = _waterfall(amount, spec)
        used = [name for (name, _), a in zip(spec, absorbed, strict=True) if a > 0]
        row = {"scenario": scenario, "k": int(k),
               "defaulters": ", ".join(str(a) for a in top[by]), "uncovered_usd": amount}
        row.update({f"{name}_usd": a for (name, _), a in zip(spec, absorbed, strict=True)})
        row.update({"residual_usd": rest, "deepest_layer": used[-1] if used else ""})
        rows.append(row)
    return pd.DataFrame(rows)


def cover1(losses: pd.DataFrame, layers: Sequence[Layer], by: str = "account") -> pd.DataFrame:
    """Cover-1: the default of the single largest exposure (see ``cover_n``)."""
    return cover_n(losses, layers, 1, by)


def cover2(losses: pd.DataFrame, layers: Sequence[Layer], by: str = "account") -> pd.DataFrame:
    """Cover-2: the joint default of the two largest exposures (see ``cover_n``)."""
    return cover_n(losses, layers, 2, by)


def cover2_table(losses: pd.DataFrame, layers: Sequence[Layer], k: int = 2,
                 by: str = "account") -> pd.DataFrame:
    """The waterfall of ``cover_n`` in tidy form: one row per scenario and layer (order 1, 2,
    ...) with capacity_usd (inf = unlimited), absorbed_usd and remaining_usd (still uncovered
    after that layer): the last layer's remaining_usd is the residual."""
    spec = _layers(layers)
    wide = cover_n(losses, spec, k, by)
    rows = []
    for rec in wide.to_dict("records"):
        left = rec["uncovered_usd"]
        for order, (name, capacity) in enumerate(spec, start=1):
            take = rec[f"{name}_usd"]
            left -= take
            rows.append({"scenario": rec["scenario"], "k": rec["k"], "order": order,
                         "layer": name, "capacity_usd": capacity, "absorbed_usd": take,
                         "remaining_usd": max(left, 0.0)})
    return pd.DataFrame(rows, columns=list(COVER_TABLE_COLUMNS))
