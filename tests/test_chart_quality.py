"""Chart quality: what a researcher notices first, checked on the figure objects.

Every chart of a standard run (the default scenario, 5 minutes) and of a tiny sweep (2 cells
x 2 variants, plus its comparison charts) is drawn with the Agg canvas and checked: no two
tick labels of one axis overlap, every axes with data has both axis labels (on itself or on
an axes it shares that axis with), every axis label naming a money figure names its unit,
and no linear axis spans more than twice its data's extent (zero included), nor reaches
into the mirrored half when its data has one sign. The run and sweep report pages must be
self-contained: every ``src``/``href`` a data URI, an anchor or a documented file link.
"""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import matplotlib.style
import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator

from simulator import default_scenario, run
from simulator.charts import compare as cp
from simulator.charts import run as run_charts
from simulator.charts import style as ps
from simulator.charts import sweep as charts_sweep
from simulator.charts import sweep_data as cd
from simulator.charts.cascade import cascade_figure
from simulator.charts.liquidation_map import map_figure
from simulator.charts.sweep import DRAW
from simulator.charts.sweep_data import load_haircuts
from simulator.charts.sweep_plan import plan_charts
from simulator.charts.timeline import timeline_figure
from simulator.report.run import build_run_report
from simulator.report.sweep import build_report
from simulator.report.tables import pooled_summary
from simulator.run import catalogue
from simulator.run.liquidation_map import liquidation_map
from simulator.sweep import parse_sweep, run_sweep

SMALL = Path(__file__).parent / "data" / "scenario_small.yaml"
MONEY = sorted({f.label for f in catalogue.FIGURES if f.unit == "USD"}, key=len, reverse=True)
MARGIN = 0.15  # share of the view an axis may reach into the empty half (a rug: 7%, pads)


# ------------------------------------------------------------------------------ checks


def _is_colorbar(ax: Axes) -> bool:
    return getattr(ax, "_colorbar", None) is not None


def _siblings(ax: Axes, which: str) -> list[Axes]:
    group = ax.get_shared_x_axes() if which == "x" else ax.get_shared_y_axes()
    return list(group.get_siblings(ax))


def overlapping_ticks(fig: Figure) -> list[str]:
    """'<axes title> <x|y>: "a" / "b"' for every pair of visible tick labels that overlap."""
    renderer = fig.canvas.get_renderer()
    bad = []
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        for which, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
            labels = [t for t in axis.get_ticklabels() if t.get_visible() and t.get_text()]
            boxes = [t.get_window_extent(renderer) for t in labels]
            for i in range(len(labels)):
                for j in range(i + 1, len(labels)):
                    if boxes[i].overlaps(boxes[j]):
                        bad.append(f"{ax.get_title()!r} {which}: {labels[i].get_text()!r} / "
                                   f"{labels[j].get_text()!r}")
    return bad


def overprinted_texts(fig: Figure) -> list[str]:
    """Pairs of texts written in one axes (bar counts, cell values, notes) that overlap,
    and texts that a line's markers (on the axes or a twin of it) print over."""
    renderer = fig.canvas.get_renderer()
    bad = []
    for ax in fig.axes:
        texts = [t for t in ax.texts if t.get_visible() and t.get_text().strip()]
        boxes = [t.get_window_extent(renderer) for t in texts]
        for i in range(len(texts)):
            bad += [f"{ax.get_title()!r}: {texts[i].get_text()!r} / {texts[j].get_text()!r}"
                    for j in range(i + 1, len(texts)) if boxes[i].overlaps(boxes[j])]
        twins = [o for o in fig.axes if o.get_visible() and o.bbox.bounds == ax.bbox.bounds]
        for line in (line for o in twins for line in o.get_lines()):
            if line.get_marker() in (None, "", "None", " ") or not len(line.get_xdata()):
                continue
            points = line.get_transform().transform(
                np.c_[line.get_xdata(), line.get_ydata()].astype(float))
            r = line.get_markersize() * fig.dpi / 72.0 / 2.0  # marker half-size in pixels
            bad += [f"{ax.get_title()!r}: marker on {t.get_text()!r}" for t, box in
                    zip(texts, boxes, strict=True)
                    if any(box.x0 - r < x < box.x1 + r and box.y0 - r < y < box.y1 + r
                           for x, y in points)]
    return bad


def duplicate_ticks(fig: Figure) -> list[str]:
    """Axes whose visible tick labels repeat a text (on one axis)."""
    bad = []
    for ax in fig.axes:
        for which, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
            texts = [t.get_text() for t in axis.get_ticklabels() if t.get_visible()
                     and t.get_text() and ax.get_visible()]
            if len(texts) != len(set(texts)):
                bad.append(f"{ax.get_title()!r} {which}: {texts}")
    return bad


def _data_axes(fig: Figure) -> list[Axes]:
    return [ax for ax in fig.axes if ax.get_visible() and ax.has_data() and not _is_colorbar(ax)]


def missing_labels(fig: Figure) -> list[str]:
    bad = []
    for ax in _data_axes(fig):
        for which in ("x", "y"):
            get = "get_xlabel" if which == "x" else "get_ylabel"
            if not any(getattr(s, get)().strip() for s in _siblings(ax, which)):
                bad.append(f"{ax.get_title()!r}: no {which} label")
    return bad


def unitless_money(fig: Figure) -> list[str]:
    """Axis labels naming a money figure (a catalogue label of unit USD) without "USD", and
    scaled USD written other than "USD M" / "USD k"."""
    bad = []
    for ax in _data_axes(fig):
        for text in (ax.get_xlabel(), ax.get_ylabel()):
            if any(m in text for m in MONEY) and "USD" not in text:
                bad.append(f"{ax.get_title()!r}: {text!r}")
            if re.search(r"USD (millions|thousands)|, USD M", text):  # one style: "(USD M)"
                bad.append(f"{ax.get_title()!r}: {text!r} (write USD M / USD k)")
    return bad


def _categorical(ax: Axes, which: str) -> bool:
    """Ticks at fixed positions labelled with names (variants, cells) on ``ax`` or an axes
    sharing that axis (inner panels hide theirs): index positions, not data."""
    for sib in _siblings(ax, which):
        axis = sib.xaxis if which == "x" else sib.yaxis
        if not isinstance(axis.get_major_locator(), FixedLocator):
            continue
        for text in (t.get_text() for t in axis.get_ticklabels() if t.get_text()):
            try:
                float(text.replace(",", "").replace("$", "").replace("\N{MINUS SIGN}", "-")
                      .rstrip("%kMB"))
            except ValueError:
                return True
    return False


def loose_ranges(fig: Figure) -> list[str]:
    """Linear axes spanning more than twice their data's extent (zero included), or reaching
    into the other sign's half by more than ``MARGIN`` of the view when the data has one."""
    bad = []
    for ax in _data_axes(fig):
        if ax.images:
            continue  # image cells: index positions, their range is the grid's
        for which, (lo, hi), (v0, v1), scale in (
                ("x", ax.dataLim.intervalx, ax.get_xlim(), ax.get_xscale()),
                ("y", ax.dataLim.intervaly, ax.get_ylim(), ax.get_yscale())):
            if scale != "linear" or not (np.isfinite(lo) and np.isfinite(hi)) \
                    or _categorical(ax, which):
                continue
            v0, v1 = min(v0, v1), max(v0, v1)
            extent = max(hi, 0.0) - min(lo, 0.0)
            if extent <= 0:
                continue
            name = (f"{ax.get_title()!r} {which}: view ({v0:.4g}, {v1:.4g}), "
                    f"data ({lo:.4g}, {hi:.4g})")
            if v1 - v0 > 2.0 * extent * (1 + 1e-9):
                bad.append(name)
            elif lo >= 0 and v0 < -MARGIN * (v1 - v0):
                bad.append(name + ": empty negative half")
            elif hi <= 0 and v1 > MARGIN * (v1 - v0):
                bad.append(name + ": empty positive half")
    return bad


def problems(figures: dict[str, Figure]) -> dict[str, list[str]]:
    out = {}
    for name, fig in figures.items():
        fig.canvas.draw()
        found = (overlapping_ticks(fig) + overprinted_texts(fig) + duplicate_ticks(fig)
                 + missing_labels(fig)
                 + unitless_money(fig) + loose_ranges(fig))
        if found:
            out[name] = found
    return out


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def standard_run():
    return run(default_scenario().with_overrides(["duration=5m"]))


@pytest.fixture(scope="module")
def tiny_sweep(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("quality_sweep")
    spec = parse_sweep({
        "name": "tiny", "base": str(SMALL),
        "set": ["duration=2m", "populations.retail.count=120", "populations.whales.count=3"],
        "axes": [{"path": "venues.v.insurance_fund", "values": [2000, 1e6]}],
        "variants": [{"name": "base"}, {"name": "fee",
                                        "set": ["venues.v.liquidation.fee_rate=1%"]}],
        "replications": 2, "seed": 1,
    })
    run_sweep(spec, out)
    return out


# -------------------------------------------------------------------------------- charts


def test_run_charts_pass_every_check(standard_run):
    r = standard_run
    assert r.summary["liquidations"] > 0
    figures = run_charts.make_figures(r.events, r.timeseries, r.summary, "default")
    assert set(figures) == set(run_charts.FIGURES)
    with matplotlib.style.context(ps.STYLE_PATH):  # the run report's cascade and timeline
        figures["cascade_graph"] = cascade_figure(r.events, r.cascade_edges)
        figures["timeline"] = timeline_figure(r)
    assert problems(figures) == {}


def test_longs_only_notional_is_not_mirrored_onto_an_empty_half():
    fig, (ax,) = ps.new_figure()
    assert ps.mirrored_bars(ax, np.arange(3.0), np.array([1.0, 4.0, 0.0]), np.zeros(3), 0.9)
    lo, hi = ax.get_ylim()
    assert hi == pytest.approx(4.4) and -0.5 < lo <= 0.0  # 4 * 1.1 on top, no short half
    fig, (ax,) = ps.new_figure()
    ps.mirrored_bars(ax, np.arange(2.0), np.array([1.0, 0.0]), np.array([0.0, 3.0]), 0.9)
    assert ax.get_ylim() == pytest.approx((-3.3, 1.1))  # each half 10% past its largest bar
    fig, (ax,) = ps.new_figure()
    ps.mirrored_bars(ax, np.arange(2.0), np.array([10.0, 0.0]), np.array([0.0, 0.01]), 0.9)
    assert ax.get_ylim() == pytest.approx((-0.55, 11.0))  # a tiny half: 5% of the other


@pytest.fixture(scope="module")
def sweep_figures(tiny_sweep) -> dict[str, Figure]:
    """Every chart the tiny sweep plans, and the comparison charts of its variants."""
    sweep = tiny_sweep
    with matplotlib.style.context(ps.STYLE_PATH):
        figures = {p.name: DRAW[p.kind](**p.args) for p in plan_charts(sweep)}
        runs = pd.read_parquet(sweep / "runs.parquet")
        metrics = [m for m in catalogue.names("compare") if m in runs.columns]
        summary = pooled_summary(runs[runs["status"] == "complete"], metrics, "base")
        dirs = [sweep / "runs" / str(k) for k in runs["run_key"]]
        cuts = load_haircuts(dirs, runs["variant"].astype(str).tolist())
        figures["means"] = cp.means_chart(summary, ["base", "fee"])
        figures["paired_differences"] = cp.differences_chart(summary, "base", ["base", "fee"])
        figures["adl_haircuts"] = cp.adl_haircut_chart(cuts, ["base", "fee"])
    return figures


def test_sweep_and_comparison_charts_pass_every_check(sweep_figures):
    assert {"metric_vs_venues_v_insurance_fund", "means", "loss_waterfall"} <= set(sweep_figures)
    assert problems(sweep_figures) == {}


def test_sweep_axis_titles_are_readable(sweep_figures):
    fig = sweep_figures["metric_vs_venues_v_insurance_fund"]
    ax = next(a for a in fig.axes if a.get_title() == "liquidated notional (USD)")
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("insurance fund (v)", "mean (USD)")
    for name, each in sweep_figures.items():  # no config path in any title or axis label
        texts = [each.get_suptitle()] + [t for ax in each.axes for t in
                                         (ax.get_title(), ax.get_xlabel(), ax.get_ylabel())]
        assert not [t for t in texts if "venues.v" in t], name
    means = sweep_figures["means"].axes[0]
    assert means.get_ylabel() == "variant" and means.get_xlabel() == "n = 4 seeds"


def test_liquidation_map_passes_every_check():
    frame = liquidation_map(default_scenario(), seed=1, max_move=0.1, step=0.005)
    with matplotlib.style.context(ps.STYLE_PATH):
        assert problems({"liquidation_map": map_figure(frame)}) == {}


def test_axis_names_and_short_values():
    assert cd.axis_name("venues.cex.adl.ranking") == "ADL ranking (cex)"
    assert cd.axis_name("shocks.0.move") == "move (shock 1)"
    assert cd.axis_name("venues.cex.markets.1.tiers") == "tiers (cex, market 2)"
    assert cd.axis_name("duration") == "duration"
    assert cd.axis_text('{"2": 0.5, "5": 0.5}') == "2: 0.5, 5: 0.5"
    assert cd.axis_text('{"10": 0.25, "20": 0.25, "50": 0.25, "100": 0.25}') == \
        "10: 0.25, 20: 0.25, …"  # whole items only, about 24 characters
    assert cd.axis_text("-8%") == "-8%" and cd.axis_text(1e6) == "1,000,000"
    assert cd.axis_label('{"2": 0.5}') == '{"2": 0.5}'  # stored text (a random stream key)


def test_compact_ticks_never_repeat_and_money_has_a_dollar():
    ticks = [1_250_000.0, 1_250_500.0, 1_251_000.0]
    assert [cp._compact(v) for v in ticks] == ["1.25M", "1.25M", "1.25M"]  # the old defect
    assert cp.compact.format_ticks(ticks) == ["1.25M", "1.2505M", "1.251M"]
    assert cp.usd.format_ticks([-2500.0, 0.0, 2500.0]) == ["-$2.5k", "$0", "$2.5k"]
    assert (cp.value_label("bad_debt", "mean"), cp.value_label("liquidations", "mean")) == \
        ("mean (USD)", "mean")


# ------------------------------------------------------------------------------- reports


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.assets: list[str] = []  # what the page needs to show itself: must be inline

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.refs += [v or "" for k, v in attrs if k in ("src", "href", "xlink:href")]
        self.assets += [v or "" for k, v in attrs
                        if k == "src" or (tag in ("link", "image", "use") and "href" in k)]


def external_refs(html_text: str, allowed: re.Pattern[str] | None = None) -> list[str]:
    parser = _Links()
    parser.feed(html_text)
    return [r for r in parser.refs if not (r.startswith(("data:", "#"))
                                           or (allowed is not None and allowed.fullmatch(r)))]


def external_assets(html_text: str) -> list[str]:
    """Images, scripts, stylesheets the page loads from elsewhere (documented links to
    files are allowed; assets never are)."""
    parser = _Links()
    parser.feed(html_text)
    return [r for r in parser.assets if not r.startswith(("data:", "#"))]


def test_external_refs_finds_relative_links():
    text = '<img src="data:image/png;base64,AA"><a href="#x">x</a><a href="charts/a.pdf">a</a>'
    assert external_refs(text) == ["charts/a.pdf"]
    assert external_refs(text, re.compile(r"charts/[\w.]+\.(pdf|svg)")) == []
    assert external_assets(text) == []
    assert external_assets('<img src="charts/a.svg"><link href="s.css">') == ["charts/a.svg",
                                                                               "s.css"]


def test_run_report_is_self_contained(standard_run, tmp_path):
    folder = tmp_path / "run"
    standard_run.save(folder)
    report = build_run_report(folder)
    assert external_refs(report.html.read_text(encoding="utf-8")) == []
    assert external_assets(report.html.read_text(encoding="utf-8")) == []


def test_sweep_report_links_only_to_documented_files(tiny_sweep, tmp_path):
    report = build_report(tiny_sweep, tmp_path / "report", formats=("png", "svg"))
    text = html.unescape(report.html.read_text(encoding="utf-8"))
    # Files the page says are files: run folders ("Each link opens the run's folder"), each
    # chart's other formats ("also SVG in charts/") and, when built (--run-reports), the runs'
    # own pages in the sweep folder (the drill-down says so). Assets never: they are inline.
    documented = re.compile(r"\.\./[\w./-]*runs/[\w-]+/(report/report\.html)?"
                            r"|charts/[\w-]+\.svg")
    assert external_assets(text) == []
    refs = external_refs(text)
    assert any(r.startswith("charts/") for r in refs) and any("runs/" in r for r in refs)
    assert external_refs(text, documented) == []
    assert "Each link opens the run's folder" in text and "in charts/)" in text
    for ref in refs:
        assert (report.html.parent / ref).exists(), ref


def test_replay_liquidation_heatmap_reads_utc_clock_times(tmp_path):
    epoch = datetime(2025, 10, 10, 21, 0, tzinfo=UTC)
    for k, stamp in enumerate([epoch.isoformat(), epoch.isoformat(), None]):
        (tmp_path / f"r{k}").mkdir()
        (tmp_path / f"r{k}" / "run.json").write_text(json.dumps({"epoch_utc": stamp}))
    assert cd.load_epoch([tmp_path / "r0", tmp_path / "r1"]) == epoch
    assert cd.load_epoch([tmp_path / "r0", tmp_path / "r2"]) is None  # not every run a replay
    minutes = np.arange(0.0, 12.0, 0.5)
    liqs = pd.DataFrame({"time_ms": minutes * 60_000.0, "variant": "base", "run": "r0",
                         "venue": "v", "market": "BTC-PERP", "price_rel": -minutes,
                         "notional": 1e5})
    with matplotlib.style.context(ps.STYLE_PATH):
        fig = charts_sweep.liquidation_heatmap(liqs, epoch=epoch)
        fig.canvas.draw()
    ax = fig.axes[0]
    assert ax.get_xlabel() == "time (UTC), 2025-10-10"
    ticks = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert ticks and all(re.fullmatch(r"21:\d\d", t) for t in ticks), ticks  # not ms, not min
    assert "21:10" in ticks
    assert problems({"heatmap": fig}) == {}
