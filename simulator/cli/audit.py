"""The ``audit`` command: the audit trail of one account, or of one event, from a stored run.

``liqsim audit RUN_FOLDER --account ID`` prints every event involving the account (row id or
label) with its cause chain; ``--event SEQ`` prints one event's chain back to its root (and, with
``--consequences N``, what it set off N links deep); ``--csv`` / ``--parquet`` write the table.
The tables come from ``simulator.run.audit``; this module only presents them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from simulator.cli.common import app, console, fail
from simulator.run import audit as trail

CHAIN_LIMIT = 4  # causes shown per row of an account's history (nearest first, then the root)
# (column of accounts.parquet, name, format: "usd" money, "n" a count or quantity)
ACCOUNT_FACTS = (("group", "group", "n"), ("leverage", "leverage", "n"),
                 ("initial_collateral", "collateral at start", "usd"),
                 ("final_collateral", "collateral at end", "usd"),
                 ("liquidations", "liquidations", "n"), ("adl_qty", "ADL quantity", "n"),
                 ("adl_haircut", "ADL haircut", "usd"),
                 ("socialized_paid", "socialized loss paid", "usd"))


@app.command()
def audit(
    folder: Annotated[Path, typer.Argument(help="A run folder written by `liqsim run`.")],
    account: Annotated[str | None, typer.Option(
        help="The account: its row id or its label (e.g. retail#12, whales#1).")] = None,
    venue: Annotated[str | None, typer.Option(
        help="The account's venue (needed when the id or label is on several).")] = None,
    event: Annotated[int | None, typer.Option(
        help="An event's seq: print its cause chain back to its root.")] = None,
    consequences: Annotated[int, typer.Option(
        help="With --event: also list what it set off, this many links deep.")] = 0,
    csv: Annotated[Path | None, typer.Option(help="Write the table as CSV.")] = None,
    parquet: Annotated[Path | None, typer.Option(help="Write the table as Parquet.")] = None,
) -> None:
    """Print the audit trail of one account (--account) or of one event (--event)."""
    if (account is None) == (event is None):
        raise fail("give one of --account ID or --event SEQ")
    if consequences < 0:
        raise fail(f"--consequences: a number of links, 0 or more, not {consequences}")
    if consequences and event is None:
        raise fail("--consequences goes with --event SEQ")
    try:
        run = trail.load_run(folder)
        if account is not None:
            table = trail.account_history(run, venue, account)
            _print_history(run, table, venue, account)
        else:
            table = trail.cause_chain(run, event)
            _print_chain(run, table, event)
            if consequences:
                _print_consequences(run, trail.consequences(run, event, consequences),
                                    consequences)
    except trail.AuditError as exc:
        raise fail(str(exc)) from None
    _write(table, csv, parquet)


def _clock(run: trail.AuditRun, times: pd.Series) -> tuple[Callable[[object], str], str]:
    """How a table shows times, and the note that says so: run time, or UTC (the time of day
    alone when every row is on one UTC date, which the note names: narrow tables stay legible)."""
    if run.epoch is None:
        return trail.time_text, "times are run time (m:ss.mmm)"
    known = times.dropna()
    days = {(run.epoch + pd.Timedelta(int(t), unit="ms")).date()
            for t in (known.min(), known.max())} if len(known) else set()
    if len(days) == 1:
        return (lambda t: trail.time_text(t, run.epoch)[11:]), f"times UTC on {days.pop()}"
    return (lambda t: trail.time_text(t, run.epoch)), "times in UTC"


def _print_history(run: trail.AuditRun, table: pd.DataFrame, venue: str | None,
                   account: str) -> None:
    where, row = trail.find_account(run, venue, account)
    facts = run.accounts[(run.accounts["venue"] == where) & (run.accounts["account"] == row)]
    fact = facts.iloc[0]
    console.print(f"[bold]{escape(run.label(where, row))}[/] (account {row} on venue "
                  f"{escape(where)})", highlight=False)
    shown = [f"{name} {_fact(fact[col], how)}" for col, name, how in ACCOUNT_FACTS
             if col in fact.index]
    console.print(escape("; ".join(shown)), style="dim", highlight=False, soft_wrap=True)
    kinds = Counter(table["kind"].tolist())
    counts = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items(), key=lambda kv: -kv[1]))
    clock, note = _clock(run, table["time_ms"])
    console.print(f"{len(table)} events{': ' + counts if counts else ''}; {note}",
                  highlight=False, soft_wrap=True)
    if table.empty:
        return
    grid = Table(show_header=True, box=box.SIMPLE_HEAD)
    for name, justify in (("time", "right"), ("seq", "right"), ("kind", "left"),
                          ("gen", "right")):
        grid.add_column(name, justify=justify, no_wrap=True)
    grid.add_column("what", overflow="fold", ratio=3)
    grid.add_column("cause chain", overflow="fold", ratio=2)
    for r in table.itertuples(index=False):
        grid.add_row(clock(r.time_ms), str(r.seq), escape(r.kind), str(r.generation),
                     escape(str(r.what)), escape(trail.render_chain(r.chain, r.root, CHAIN_LIMIT)))
    console.print(grid)


def _fact(value: object, how: str) -> str:
    if isinstance(value, float) and pd.isna(value):
        return "–"
    if how == "usd" and isinstance(value, int | float):
        return f"-${-value:,.2f}" if value < 0 else f"${value:,.2f}"
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _hop_table(run: trail.AuditRun, table: pd.DataFrame, first: str) -> Table:
    clock, _ = _clock(run, table["time_ms"])
    grid = Table(show_header=True, box=box.SIMPLE_HEAD)
    if first != "hop":  # a chain's rows are its hops in order: no column needed
        grid.add_column(first, justify="right", no_wrap=True)
    for name, justify in (("time", "right"), ("seq", "right"), ("kind", "left")):
        grid.add_column(name, justify=justify, no_wrap=True)
    grid.add_column("account", overflow="fold")
    grid.add_column("gen", justify="right", no_wrap=True)
    grid.add_column("via", overflow="fold")
    grid.add_column("what", overflow="fold", ratio=1)
    lead = table[first].tolist()
    for n, r in zip(lead, table.itertuples(index=False), strict=True):
        seq = "" if pd.isna(r.seq) else str(r.seq)
        label = "" if pd.isna(r.label) else str(r.label)
        via = "" if pd.isna(r.via) else str(r.via)
        if via and not pd.isna(r.share):
            via += f" {r.share:.0%}"
        cells = [clock(r.time_ms), seq, escape(str(r.kind)), escape(label), str(r.generation),
                 escape(via), escape(str(r.what))]
        grid.add_row(*([] if first == "hop" else [str(n)]), *cells)
    return grid


def _print_chain(run: trail.AuditRun, table: pd.DataFrame, seq: int) -> None:
    top = table.iloc[0]
    console.print(f"[bold]event #{seq}[/] ({escape(str(top['kind']))} on venue "
                  f"{escape(str(top['venue']))}): {len(table)} rows back to its root; "
                  f"{_clock(run, table['time_ms'])[1]}", highlight=False, soft_wrap=True)
    console.print("via: how the next row reached this one (its share of the harm)",
                  style="dim", highlight=False)
    console.print(_hop_table(run, table, "hop"))


def _print_consequences(run: trail.AuditRun, table: pd.DataFrame, depth: int) -> None:
    kinds = Counter(table["kind"].tolist())
    counts = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items(), key=lambda kv: -kv[1]))
    links = "1 link" if depth == 1 else f"{depth} links"
    console.print(f"it set off {len(table)} events within {links}"
                  f"{': ' + counts if counts else ''}", highlight=False, soft_wrap=True)
    if not table.empty:
        console.print(_hop_table(run, table, "depth"))


def _write(table: pd.DataFrame, csv: Path | None, parquet: Path | None) -> None:
    try:
        if csv is not None:
            flat = table.copy()
            if "chain" in flat.columns:  # CSV has no lists: the chain as text, every cause
                flat["chain"] = [trail.render_chain(c, r) for c, r in
                                 zip(flat["chain"], flat["root"], strict=True)]
            flat.to_csv(csv, index=False)
            console.print(f"wrote {csv}", highlight=False)
        if parquet is not None:
            table.to_parquet(parquet, index=False)
            console.print(f"wrote {parquet}", highlight=False)
    except OSError as exc:
        raise fail(f"cannot write the table: {exc}") from None
