"""The console's tables: a run's headline figures and what each venue's mechanisms did, read
from the metrics catalogue (label, unit, one-line meaning), and report tables for the terminal.

Knows rich and the catalogue; never computes a figure.
"""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from simulator.cli.common import console
from simulator.run import catalogue


def _figure_row(table: Table, summary: dict, key: str, name: str | None = None) -> None:
    fig = catalogue.figure(key)
    assert fig is not None, f"{key} is not in the catalogue"
    table.add_row(name or fig.label, catalogue.format_value(summary.get(key), fig.unit),
                  fig.unit, fig.meaning)


def _figure_table(title: str) -> Table:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("figure")
    table.add_column("value", justify="right", no_wrap=True)
    table.add_column("unit", no_wrap=True)
    table.add_column("meaning", style="dim")
    return table


def summary_table(summary: dict, title: str) -> Table:
    """The run's headline figures (``catalogue``), with unit and meaning."""
    table = _figure_table(title)
    for name in catalogue.names("headline"):
        _figure_row(table, summary, name)
    return table


def mechanism_tables(summary: dict) -> list[Table]:
    """Per venue, what each mechanism it uses did (nothing for a venue using none)."""
    venues = dict.fromkeys(where for scope, where, _ in map(catalogue.scope_of, summary)
                           if scope == "venue")
    tables = []
    for venue in venues:
        used = catalogue.venue_mechanisms(summary, venue)
        if not used:
            continue
        table = _figure_table(f"{venue}: what its mechanisms did")
        for mechanism in used:
            table.add_row(f"[bold]{mechanism.title}[/]")
            for name in mechanism.figures:
                fig = catalogue.figure(name)
                assert fig is not None
                _figure_row(table, summary, f"{venue}.{name}", f"  {fig.label}")
        tables.append(table)
    return tables


def print_summary(summary: dict, title: str) -> None:
    console.print(summary_table(summary, title))
    for table in mechanism_tables(summary):
        console.print(table)




def rich_table(table) -> Table:
    """A report table (``simulator.report.tables.Table``) for the terminal."""
    out = Table(title=table.title, title_justify="left")
    for k, name in enumerate(table.header):
        right = k < len(table.right) and table.right[k]
        out.add_column(escape(name), justify="right" if right else "left")
    for row in table.rows:
        out.add_row(*map(escape, row))
    return out
