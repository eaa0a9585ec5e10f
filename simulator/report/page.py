"""What every report page shares: the HTML skeleton and style, tables, paragraphs, embedded
charts, the provenance line, and the ``Report`` and ``ReportError`` every builder returns.

A page is one self-contained file: CSS inline, charts embedded (PNG as data URIs, SVG as
inline markup), no scripts, nothing fetched from elsewhere. This module only renders strings;
it must not read result folders, run simulations or draw charts.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simulator.report.tables import Table

__all__ = ["CSS", "Report", "ReportError", "html_table", "inline_svg", "page", "paragraphs",
           "png_figure", "provenance_text", "svg_figure"]

CSS = """
body { font-family: "DejaVu Sans", Arial, Helvetica, sans-serif; color: #222; margin: 0;
       background: #fff; line-height: 1.45; }
main { max-width: 1200px; margin: 0 auto; padding: 24px 32px 48px; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; border-bottom: 1px solid #ccc; padding-bottom: 4px; margin-top: 2em; }
h3 { font-size: 1.05em; margin-bottom: 0.3em; }
.meta { color: #555; font-size: 0.9em; }
table { border-collapse: collapse; margin: 8px 0 4px; font-size: 0.88em; }
th, td { border-bottom: 1px solid #ddd; padding: 4px 10px; text-align: left;
         vertical-align: top; }
th { background: #f2f2f2; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr:nth-child(even) td { background: #fafafa; }
.scroll { overflow-x: auto; }
.note { color: #555; font-size: 0.85em; margin: 2px 0 16px; }
figure { margin: 16px 0 28px; }
figure img, figure svg { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.9em; color: #333; margin-top: 6px; }
figcaption a, td a { color: #0072B2; }
pre { background: #f5f5f5; padding: 10px; overflow-x: auto; font-size: 0.85em; }
nav ul { columns: 2; font-size: 0.9em; }
"""


class ReportError(ValueError):
    """The folder holds nothing to report on (a readable message, no traceback)."""


@dataclass(frozen=True)
class Report:
    """Where a report went and what it holds (``charts``: ChartFile of a sweep, or the chart
    files of a run)."""

    html: Path
    markdown: Path | None
    charts: list[Any]
    tables: list[Table]
    kind: str = "sweep"


def page(title: str, body: str) -> str:
    """The whole HTML document around ``body``."""
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{html.escape(title)}</title>\n<style>{CSS}</style>\n"
            f"</head>\n<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n")


def paragraphs(text: str) -> list[str]:
    """YAML block text as HTML paragraphs: blank lines separate, single breaks are spaces."""
    blocks = (" ".join(b.split()) for b in text.strip().split("\n\n"))
    return [f"<p>{html.escape(b)}</p>" for b in blocks if b]


def html_table(t: Table) -> str:
    """A titled table; the ``link_column`` cells (relative paths) become links."""
    right = t.right or [False] * len(t.header)
    head = "".join(f"<th>{html.escape(h)}</th>" for h in t.header)

    def cell(i: int, text: str, num: bool) -> str:
        inner = html.escape(text)
        if i == t.link_column and text:
            inner = f'<a href="{html.escape(text)}">{inner}</a>'
        return f'<td class="num">{inner}</td>' if num else f"<td>{inner}</td>"

    body = "".join(
        "<tr>" + "".join(cell(i, c, r) for i, (c, r) in enumerate(zip(row, right, strict=False)))
        + "</tr>" for row in t.rows)
    note = f'<p class="note">{html.escape(t.note)}</p>' if t.note else ""
    return (f'<h3>{html.escape(t.title)}</h3>\n<div class="scroll"><table id="table-{t.id}">'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>\n{note}\n")


def _figure(name: str, title: str, image: str, caption: str) -> str:
    return (f'<figure id="chart-{html.escape(name)}">\n<h3>{html.escape(title)}</h3>\n'
            f"{image}\n<figcaption>{caption}</figcaption>\n</figure>\n")


def png_figure(name: str, title: str, png: Path, caption: str, links: str = "") -> str:
    """A chart embedded as a PNG data URI; ``links`` is ready HTML after the caption."""
    data = base64.b64encode(png.read_bytes()).decode("ascii")
    image = f'<img alt="{html.escape(title)}" src="data:image/png;base64,{data}">'
    return _figure(name, title, image, html.escape(caption) + links)


def svg_figure(name: str, title: str, svg: Path, caption: str) -> str:
    """A chart embedded as inline SVG markup."""
    return _figure(name, title, inline_svg(svg.read_text(encoding="utf-8"), name, title),
                   html.escape(caption))


_ID = re.compile(r'\bid="([^"]+)"')
_REF = re.compile(r'(href="#|url\(#)([^")]+)')


def inline_svg(text: str, prefix: str, title: str = "") -> str:
    """An SVG file's markup for inlining in HTML: no XML prologue or doctype, no metadata
    block (it names web addresses), and every id prefixed with ``prefix-`` so several
    charts on one page cannot take each other's clip paths or glyphs."""
    start = text.find("<svg")
    if start < 0:
        raise ReportError(f"{prefix}: not an SVG file")
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", text[start:], flags=re.S)
    svg = _ID.sub(lambda m: f'id="{prefix}-{m.group(1)}"', svg)
    svg = _REF.sub(lambda m: f"{m.group(1)}{prefix}-{m.group(2)}", svg)
    label = f' role="img" aria-label="{html.escape(title)}"' if title else ""
    return svg.replace("<svg", f"<svg{label}", 1).strip()


def provenance_text(meta: Mapping[str, Any] | None) -> str:
    """``liqsim 0.1.0, commit 0123456789, Python 3.12.1`` from a run.json's fields."""
    run = meta or {}
    parts = [f"liqsim {run['liqsim_version']}" if run.get("liqsim_version") else "liqsim"]
    if run.get("git_commit"):
        parts.append(f"commit {str(run['git_commit'])[:10]}")
    if run.get("python"):
        parts.append(f"Python {run['python']}")
    return ", ".join(parts)
