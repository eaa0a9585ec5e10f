"""The audit trail of a stored run: one account's history, or one event's cause chain.

Reads a run folder (``RunResult.load``) or a ``RunResult`` in memory and answers, in pandas:
``account_history`` (every event involving an account, in time order, each with a readable
``what`` and its cause chain), ``cause_chain`` (one event back to its root, one row per hop,
with the edge kind that linked each hop) and ``consequences`` (what an event set off, from the
cascade edges and the ``cause`` column).

An account is involved in an event when it is the event's ``account`` (for ``adl``: the
deleveraged counterparty), the ``keeper`` of an auction, or when the event is the ADL, socialized
loss or venue loss that one of its liquidations set off. Per-account funding and socialized
charges are not in the event log (``funding`` and ``socialized_loss`` are per market); the
accounts table keeps the totals (``socialized_paid``).

A chain follows ``cause`` until an event that has none. A generation-1 event without a cause was
breached by the exogenous path alone (generation 0: fundamental moves and ordinary flow, which
are not events), so ``cause_chain`` ends it with an ``exogenous`` row; an event of a higher
generation without a recorded cause ends its chain ``unrecorded``. Knows the run folder's tables;
never runs or draws anything.
"""

from __future__ import annotations

import difflib
import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from simulator.run.result import TABLES, UTC_COLUMN, RunResult

__all__ = ["AuditError", "AuditRun", "account_history", "cause_chain", "consequences",
           "find_account", "load_run", "render_chain", "time_text"]

REQUIRED = ("run.json", "summary.json", *(f"{name}.parquet" for name in TABLES))
EXOGENOUS, EVENT, UNRECORDED = "exogenous", "event", "unrecorded"  # how a chain ends
ROOT_TEXT = {EXOGENOUS: "exogenous path", UNRECORDED: "cause not recorded", EVENT: ""}
WHAT_EXOGENOUS = "the exogenous price path (fundamental moves, ordinary flow): generation 0"


class AuditError(ValueError):
    """Bad input to the audit: not a run folder, an unknown account or event."""


@dataclass
class AuditRun:
    """A run's tables with the look-ups the audit needs (built once, on first use)."""

    result: RunResult
    folder: Path | None = None

    @property
    def events(self) -> pd.DataFrame:
        return self.result.events

    @property
    def accounts(self) -> pd.DataFrame:
        return self.result.accounts

    @property
    def edges(self) -> pd.DataFrame:
        return self.result.cascade_edges

    @cached_property
    def by_seq(self) -> pd.DataFrame:
        return self.events.set_index("seq", drop=False)

    @cached_property
    def causes(self) -> dict[int, int]:
        return self._per_seq("cause")

    @cached_property
    def generations(self) -> dict[int, int]:
        return self._per_seq("generation")

    def _per_seq(self, column: str) -> dict[int, int]:
        return dict(zip(self.events["seq"].tolist(), self.events[column].tolist(), strict=True))

    @cached_property
    def edge_of(self) -> dict[tuple[int, int], tuple[str, float]]:
        e = self.edges
        return {(p, c): (k, s) for p, c, k, s in zip(
            e["parent"].tolist(), e["child"].tolist(), e["kind"].tolist(), e["share"].tolist(),
            strict=True)}

    @cached_property
    def children(self) -> dict[int, list[int]]:
        """parent seq -> the seqs it caused (edges, then the ``cause`` column), in seq order."""
        found: dict[int, set[int]] = {}
        pairs = zip([*self.edges["parent"].tolist(), *self.events["cause"].tolist()],
                    [*self.edges["child"].tolist(), *self.events["seq"].tolist()], strict=True)
        for parent, child in pairs:
            if parent >= 0:
                found.setdefault(parent, set()).add(child)
        return {p: sorted(c) for p, c in found.items()}

    @cached_property
    def labels(self) -> dict[tuple[str, int], str]:
        a = self.accounts
        return dict(zip(zip(a["venue"].tolist(), a["account"].tolist(), strict=True),
                        a["label"].tolist(), strict=True))

    @cached_property
    def epoch(self) -> pd.Timestamp | None:
        """The UTC instant of run time 0: run.json's ``epoch_utc``, else from a ``utc``
        column; None when the run has no clock (not a replay)."""
        text = self.result.meta.get("epoch_utc")
        if text:
            return pd.Timestamp(str(text)).tz_convert("UTC")
        ev = self.events
        if UTC_COLUMN in ev.columns and len(ev):
            return ev[UTC_COLUMN].iloc[0] - pd.Timedelta(int(ev["time_ms"].iloc[0]), unit="ms")
        return None

    def chain(self, seq: int) -> tuple[list[int], str]:
        """``seq`` and its causes back to the root, and how the chain ends (EXOGENOUS, ...)."""
        chain, cause = [seq], self.causes[seq]
        # A cause is always emitted before what it caused: the walk cannot loop.
        while 0 <= cause < chain[-1] and cause in self.causes:
            chain.append(cause)
            cause = self.causes[cause]
        generation = self.generations[chain[-1]]
        if generation == 0:
            return chain, EVENT
        return chain, EXOGENOUS if generation == 1 else UNRECORDED

    def label(self, venue: str, account: int) -> str:
        return self.labels.get((venue, account), f"#{account}") if account >= 0 else ""


RunLike = AuditRun | RunResult | str | Path


def load_run(folder: str | Path) -> AuditRun:
    """The run stored in ``folder`` (``RunResult.load``); AuditError naming what is missing."""
    folder = Path(folder)
    if not folder.is_dir():
        raise AuditError(f"{folder} is not a run folder: no such directory")
    missing = [name for name in REQUIRED if not (folder / name).is_file()]
    if missing:
        raise AuditError(f"{folder} is not a run folder: missing {', '.join(missing)}")
    try:
        return AuditRun(RunResult.load(folder), folder)
    except (OSError, ValueError) as exc:
        raise AuditError(f"cannot read run folder {folder}: {exc}") from None


def _run(run: RunLike) -> AuditRun:
    if isinstance(run, AuditRun):
        return run
    return AuditRun(run) if isinstance(run, RunResult) else load_run(run)


# --- accounts ---------------------------------------------------------------------------------
def find_account(run: RunLike, venue: str | None, account: int | str) -> tuple[str, int]:
    """(venue, row) of an account given by row id or label (``accounts.parquet``)."""
    run = _run(run)
    table = run.accounts
    venues = sorted(table["venue"].unique().tolist())
    if venue is not None:
        if venue not in venues:
            raise AuditError(f"unknown venue {venue!r}; the run's venues: {', '.join(venues)}")
        table = table[table["venue"] == venue]
    text = str(account).strip()
    by_row = text.lstrip("-").isdigit()
    hits = table[table["account"] == int(text)] if by_row else table[table["label"] == text]
    where = f" on venue {venue}" if venue is not None else ""
    if hits.empty:
        if by_row:
            raise AuditError(f"no account {text}{where}: rows are 0-{int(table['account'].max())}")
        close = difflib.get_close_matches(text, table["label"].unique().tolist(), n=5)
        hint = f"; close matches: {', '.join(close)}" if close else ""
        raise AuditError(f"unknown account {text!r}{where}{hint}")
    if len(hits) > 1:
        raise AuditError(f"account {text!r} is on several venues "
                         f"({', '.join(sorted(hits['venue'].tolist()))}): name one with --venue")
    return str(hits["venue"].iloc[0]), int(hits["account"].iloc[0])


def account_history(run: RunLike, venue: str | None, account: int | str) -> pd.DataFrame:
    """Every event involving the account (row id or label), in time order: the event's columns,
    ``role`` (own, deleveraged, keeper, adl_against, socialized), ``what`` (one readable line),
    ``chain`` (the event's seq, then its causes back to the root) and ``root`` (how the chain
    ends: exogenous, event, unrecorded)."""
    run = _run(run)
    venue, row = find_account(run, venue, account)
    ev = run.events
    here = ev["venue"] == venue
    own = here & (ev["account"] == row)
    liquidations = ev.loc[own & (ev["kind"] == "liquidation"), "seq"]
    edges = run.edges
    pooled = edges.loc[edges["parent"].isin(liquidations), "child"]
    roles = {
        "keeper": here & (ev["keeper"] == row),
        "adl_against": here & (ev["kind"] == "adl") & ev["cause"].isin(liquidations) & ~own,
        "socialized": here & ev["kind"].isin(["socialized_loss", "venue_loss"])
        & (ev["seq"].isin(pooled) | own),
        "deleveraged": own & (ev["kind"] == "adl"),
    }
    role = pd.Series(np.where(own.fillna(False), "own", ""), index=ev.index, dtype=object)
    for name, mask in roles.items():
        role[mask.fillna(False).to_numpy(dtype=bool)] = name
    rows = ev[role != ""].copy()
    rows.insert(rows.columns.get_loc("kind") + 1, "role", role[role != ""].astype("string"))
    rows = rows.sort_values(["time_ms", "seq"], kind="stable").reset_index(drop=True)
    rows["label"] = pd.array([run.label(venue, row)] * len(rows), dtype="string")
    rows["what"] = pd.array([describe(run, r) for r in rows.itertuples(index=False)],
                            dtype="string")
    chains = [run.chain(int(s)) for s in rows["seq"]]
    rows["chain"] = [c for c, _ in chains]
    rows["root"] = pd.array([r for _, r in chains], dtype="string")
    return rows


# --- chains -----------------------------------------------------------------------------------
def _event(run: AuditRun, seq: int) -> pd.Series:
    if seq not in run.causes:
        n = len(run.events)
        raise AuditError(f"no event {seq} in this run: its events are 0-{n - 1}" if n else
                         f"no event {seq}: this run recorded no events")
    return run.by_seq.loc[seq]


HOP_COLUMNS = ("seq", "time_ms", "kind", "venue", "market", "account", "label", "generation",
               "cause", "via", "share", "what")


def cause_chain(run: RunLike, seq: int) -> pd.DataFrame:
    """The chain of event ``seq`` back to its root, one row per hop (``hop`` 0 is the event):
    ``via`` and ``share`` are the cascade edge from the next row to this one (``cause`` when
    only the cause column links them). A root breached by the exogenous path alone gets a last
    row of kind ``exogenous``, generation 0, without a seq."""
    run = _run(run)
    _event(run, int(seq))
    chain, root = run.chain(int(seq))
    rows = []
    for hop, s in enumerate(chain):
        e = run.by_seq.loc[s]
        parent = chain[hop + 1] if hop + 1 < len(chain) else -1
        via, share = run.edge_of.get((parent, s), ("cause" if parent >= 0 else "", math.nan))
        rows.append(_hop(run, e, via, share))
    if root == EXOGENOUS:
        rows[-1]["via"] = EXOGENOUS
        rows.append({"kind": EXOGENOUS, "generation": 0, "what": WHAT_EXOGENOUS})
    return _hops(run, rows)


def consequences(run: RunLike, seq: int, depth: int = 2) -> pd.DataFrame:
    """What event ``seq`` set off, ``depth`` links deep (cascade edges and the cause column):
    one row per event at the first depth it is reached, with its ``parent`` there."""
    run = _run(run)
    _event(run, int(seq))
    if depth < 1:
        raise AuditError(f"depth must be at least 1, not {depth}")
    seen, rows, todo = {int(seq)}, [], deque([(int(seq), 0)])
    while todo:
        parent, d = todo.popleft()
        if d == depth:
            continue
        for child in run.children.get(parent, []):
            if child in seen:
                continue
            seen.add(child)
            todo.append((child, d + 1))
            via, share = run.edge_of.get((parent, child), ("cause", math.nan))
            rows.append({"depth": d + 1, "parent": parent,
                         **_hop(run, run.by_seq.loc[child], via, share)})
    return _hops(run, rows, lead=("depth", "parent"))


def _hop(run: AuditRun, e: pd.Series, via: str, share: float) -> dict:
    return {**{c: e[c] for c in ("seq", "time_ms", "kind", "venue", "market", "account")},
            "label": run.label(str(e["venue"]), int(e["account"])),
            "generation": int(e["generation"]), "cause": int(e["cause"]), "via": via,
            "share": share, "what": describe(run, e)}


def _hops(run: AuditRun, rows: list[dict], lead: tuple[str, ...] = ("hop",)) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=[c for c in (*lead, *HOP_COLUMNS) if c != "hop"])
    if lead == ("hop",):
        frame.insert(0, "hop", range(len(frame)))
    types = {"seq": "Int64", "time_ms": "Int64", "account": "Int64", "generation": "int16",
             "cause": "Int64", "share": "float64", "depth": "int64", "parent": "int64"}
    frame = frame.astype({c: t for c, t in types.items() if c in frame.columns})
    for c in ("kind", "venue", "market", "label", "via", "what"):
        frame[c] = frame[c].astype("string")
    if run.epoch is not None:
        ms = frame["time_ms"].astype("float64").to_numpy()
        utc = pd.Series(run.epoch + pd.to_timedelta(ms, unit="ms"), index=frame.index)
        frame.insert(frame.columns.get_loc("time_ms") + 1, UTC_COLUMN, utc)
    return frame


def render_chain(chain: Iterable[int], root: str = EVENT, limit: int | None = None) -> str:
    """A chain's causes, the event itself left out: ``#22 <- #9 <- exogenous path``; with
    ``limit``, at most that many causes (the nearest and the root's end, ``...`` between)."""
    causes = [f"#{s}" for s in list(chain)[1:]]
    if limit is not None and len(causes) > max(limit, 2):
        head = max(limit - 1, 1)
        causes = [*causes[:head], f"... {len(causes) - head - 1} more", causes[-1]]
    if ROOT_TEXT.get(root):
        causes.append(ROOT_TEXT[root])
    return " <- ".join(causes)


def time_text(time_ms: object, epoch: pd.Timestamp | None = None) -> str:
    """Run time as m:ss.mmm (h:mm:ss.mmm past an hour), or as UTC when the run has an epoch;
    "" for none (an exogenous root)."""
    if not _present(time_ms):
        return ""
    if epoch is not None:
        stamp = epoch + pd.Timedelta(int(time_ms), unit="ms")
        return stamp.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    seconds, ms = divmod(int(time_ms), 1000)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    head = f"{hours}:{minutes:02d}" if hours else f"{minutes}"
    return f"{head}:{secs:02d}.{ms:03d}"


# --- one readable line per event --------------------------------------------------------------
def _num(x: float) -> str:
    return f"{x:,.2f}" if abs(x) >= 1 else f"{x:.4g}"


def _usd(x: float) -> str:
    return f"-${-x:,.2f}" if x < 0 else f"${x:,.2f}"


def _present(x: object) -> bool:
    return x is not None and x is not pd.NA and not (isinstance(x, float) and math.isnan(x))


def describe(run: AuditRun, e: object) -> str:
    """One line saying what event ``e`` (a row of the event log) did."""
    g = e._asdict() if hasattr(e, "_asdict") else dict(e)
    kind, qty, price, amount = g["kind"], g["qty"], g["price"], g["amount"]
    market = g["market"] if _present(g["market"]) else ""
    reason = g["reason"] if _present(g["reason"]) else ""
    match kind:
        case "margin_call":
            return f"margin call at margin ratio {amount:.1%} (maintenance / equity)"
        case "top_up":
            return f"topped up {_usd(amount)}" + (f" ({market})" if market else "")
        case "withdrawal":
            return f"withdrew {_usd(amount)}"
        case "liquidation":
            held = "long" if g["side"] < 0 else "short"
            text = f"liquidated {held} {qty:.6g} {market} at {_num(price)}"
            if _present(g["bankruptcy_price"]):
                text += f" (bankruptcy {_num(g['bankruptcy_price'])})"
            for col, word in (("partial_fraction", "partial"), ("chunk_fraction", "chunk")):
                if _present(g[col]):
                    text += f", {word} {g[col]:.0%}"
            if g["mechanism"] == "vault":
                text += ", taken by the backstop vault"
            if _present(g["keeper"]):
                text += f", taken by {run.label(g['venue'], int(g['keeper']))} in an auction"
            if _present(g["detected_ms"]):
                text += f", queued {int(g['time_ms'] - g['detected_ms']):,} ms"
            return text + f", generation {g['generation']}"
        case "trade":
            verb = "bought" if g["side"] > 0 else "sold"
            text = f"{(reason or 'order').replace('_', ' ')} order: {verb} {qty:.6g} {market} " \
                   f"at VWAP {_num(price)}"
            exhausted = _present(g["book_exhausted"]) and bool(g["book_exhausted"])
            return text + (" (walked past the book)" if exhausted else "")
        case "adl":
            closed = f"{qty:.6g} {market} closed at bankruptcy {_num(price)}" \
                     f" (mark {_num(g['mark_price'])}), haircut {_usd(amount)}"
            if g.get("role") == "adl_against":
                return f"ADL against {run.label(g['venue'], int(g['account']))}: {closed}"
            held = "short" if g["side"] > 0 else "long"
            return f"ADL of its {held}: {closed}"
        case "insurance_fund" if reason == "takeover":
            return f"fund took over {qty:.6g} {market} at {_num(price)}"
        case "insurance_fund":
            words = {"fee": "liquidation fee to the fund", "bad_debt": "fund paid bad debt",
                     "clawback": "clawback to the fund"}.get(reason, f"fund {reason}")
            return f"{words} {_usd(abs(amount))} (fund balance {_usd(g['balance'])})"
        case "bankruptcy":
            return f"bankrupt: deficit {_usd(amount)} after the close"
        case "socialized_loss":
            return f"socialized loss {_usd(amount)} over {qty:.0f} accounts ({market})"
        case "venue_loss":
            return f"venue absorbed {_usd(amount)} ({reason})"
        case "recovered":
            return "price recovered while queued: not liquidated"
        case "backstop":
            return f"taken over by the backstop vault, which kept {_usd(amount)} of margin"
        case "auction":
            if reason == "start":
                return f"auction started: {qty:.6g} {market} from mark {_num(price)}"
            left = f": {qty:.6g} {market} left" if _present(qty) else ""
            return f"auction {reason}{left}"
        case "rejected":
            return f"order rejected ({reason})"
        case "shock":
            return f"shock: {g['asset']} {amount:+.1%}"
        case "depth":
            return f"book depth factor {amount:.3g} ({market})"
        case "funding":
            return f"funding rate {price:.4%}: longs paid {_usd(amount)} ({market})"
        case _:
            extra = f" ({reason})" if reason else ""
            return f"{kind}{extra}" + (f" {amount:,.4g}" if _present(amount) else "")
