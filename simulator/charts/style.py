"""The look of liqsim's charts: palette, figure and axes helpers, number formats, saving.

``run`` decides *what* to draw from a run's frames; this module decides *how* it looks
and how it reaches disk. It knows only matplotlib (plus numpy arrays): nothing about
pandas frames, events, venues or any simulation object, so any chart can reuse it.

Figures are ``matplotlib.figure.Figure`` objects with a ``FigureCanvasAgg`` attached,
never pyplot figures: no global registry is touched and no backend has to be selected.
What is drawn depends only on the inputs (no clocks, no randomness; only the temporary
file name of an atomic save is random), and vector outputs carry no timestamps, so
identical inputs give byte-identical files.
"""

from __future__ import annotations

import itertools
import math
import os
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

import numpy as np
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, Locator

__all__ = [
    "STYLE_PATH", "GENERATION_COLORS", "LONG_COLOR", "SHORT_COLOR", "ADL_COLOR", "ZOOM_SHADE",
    "SIDE_MARKER", "SCATTER_STYLE", "SMALL_MARKERS", "PRICE_LINES", "NOTIONAL_STYLE",
    "MS_PER_MIN", "USD_M", "Window", "zoom_window", "new_figure", "note", "minutes",
    "labels", "fmt_minutes", "fmt_usd_m", "thousands", "tick_step", "proxy", "shade", "rug",
    "generation_bars", "generation_legend", "merged_legend", "twin_axis", "align_zero",
    "mirrored_bars", "save_atomic", "clock_text", "time_axis",
]

STYLE_PATH: Path = Path(__file__).with_name("liqsim.mplstyle")

# Okabe-Ito, ordered so early generations are the most distinct; generation >= 8 shares
# the last colour (black) because deeper cascades are rare and need no separate hue.
GENERATION_COLORS: tuple[str, ...] = (
    "#56B4E9",  # sky blue
    "#E69F00",  # orange
    "#D55E00",  # vermillion
    "#CC79A7",  # reddish purple
    "#009E73",  # bluish green
    "#F0E442",  # yellow
    "#0072B2",  # blue
    "#000000",  # black
)
LONG_COLOR = "#D55E00"  # liquidated longs (forced sells)
SHORT_COLOR = "#0072B2"  # liquidated shorts (forced buys)
ADL_COLOR = "#CC79A7"
ZOOM_SHADE = {"color": "0.5", "alpha": 0.15, "lw": 0, "zorder": 0}  # light grey span

SIDE_MARKER = {-1: "v", 1: "^", 0: "o"}  # long liquidated = forced sell = down
SCATTER_STYLE = {"edgecolors": "0.15", "linewidths": 0.5, "s": 36, "zorder": 3}
SMALL_MARKERS = {"linewidths": 0.3, "s": 14}  # for zoom panels crowded with points
# A white halo keeps the line visible where it crosses the black (generation 8+) bars.
NOTIONAL_STYLE = {"color": "0.15", "marker": "D", "ms": 5, "lw": 1.0, "mec": "white", "mew": 0.6,
                  "path_effects": [patheffects.withStroke(linewidth=2.6, foreground="white")]}
PRICE_LINES = (
    ("fundamental", {"color": "0.55", "ls": "--", "lw": 0.9}),
    ("mark", {"color": "0.1", "lw": 1.3}),
    ("mid", {"color": "#0072B2", "lw": 0.9, "alpha": 0.8}),
)

MS_PER_MIN = 60_000.0
USD_M = 1e6

# Zoom panels: when the action (x weighted by some amount) fills only a short stretch.
ZOOM_SHARE = 0.98  # central share of the weight that defines the action ...
ZOOM_PAD = 0.2  # ... padded each side by this share of its span ...
ZOOM_MIN_PAD_MS = 15_000.0  # ... and at least 15 s
ZOOM_MAX_SHARE = 0.3  # zoom only when the padded window is under 30% of the full span
ZOOM_BINS = 60  # about this many bins over the window
_ALIGN_MS = 6_000.0  # window start on a 0.1-minute grid, so "seconds from 2.8 min" is exact

MIRROR_FLOOR = 0.05  # the smaller half of mirrored bars: at least this share of the larger

_NOTE_BOX = {"facecolor": "white", "edgecolor": "none", "alpha": 0.85}  # readable over lines
_NOTE_STYLE = {"ha": "center", "va": "center", "color": "0.35", "fontsize": 11, "bbox": _NOTE_BOX}


class Window(NamedTuple):
    """A zoomed stretch ``[start_ms, end_ms]`` of a time axis, drawn in seconds from its
    start and binned every ``bin_s`` seconds (the last bin is cut short at ``end_ms``)."""

    start_ms: float
    end_ms: float
    bin_s: int

    def edges_ms(self) -> np.ndarray:
        n = int(np.ceil((self.end_ms - self.start_ms) / (self.bin_s * 1000.0)))
        return np.minimum(self.start_ms + self.bin_s * 1000.0 * np.arange(n + 1), self.end_ms)

    def seconds(self, t_ms: np.ndarray | float) -> np.ndarray:
        return (np.asarray(t_ms, dtype=float) - self.start_ms) / 1000.0

    def bracket(self, sorted_t_ms: np.ndarray) -> slice:
        """Indices of the sorted times inside the window plus one either side, so lines
        drawn from them reach the window's edges."""
        i0 = int(np.searchsorted(sorted_t_ms, self.start_ms, side="right")) - 1
        return slice(max(i0, 0), int(np.searchsorted(sorted_t_ms, self.end_ms)) + 1)

    def binned(self, t_ms: np.ndarray, weight: np.ndarray) -> np.ndarray:
        """Sum of ``weight`` per bin (times outside the window count nowhere)."""
        t, w = np.asarray(t_ms, dtype=float), np.asarray(weight, dtype=float)
        return np.histogram(t[np.isfinite(t)], self.edges_ms(), weights=w[np.isfinite(t)])[0]

    def label(self, epoch: datetime | None = None) -> str:
        """The zoom's axis label: from its start in minutes, or on the UTC clock of ``epoch``
        (run time 0)."""
        if epoch is not None:
            return f"seconds from {clock_text(epoch, self.start_ms / MS_PER_MIN)} UTC"
        return f"seconds from {fmt_minutes(self.start_ms / MS_PER_MIN)} min"


def zoom_window(t_ms: np.ndarray, weight: np.ndarray, span: tuple[float, float]) -> Window | None:
    """The stretch of ``span`` (ms) where the weighted times ``t_ms`` concentrate, if short.

    The core runs from the 1% to the 99% point of the cumulative weight (by count if all
    weights are zero): the shortest span holding the central 98%. It is padded by 20% each
    side (at least 15 s) and clipped to ``span``; unless that is under 30% of ``span``, None.
    Then the start is floored to a 0.1-minute grid (an exact axis label) and the end moved
    up to a whole number of ~1/60-window bins (whole seconds, >= 1 s), both within ``span``.
    """
    t, w = np.asarray(t_ms, dtype=float), np.abs(np.asarray(weight, dtype=float))
    ok = np.isfinite(t)
    t, w = t[ok], np.nan_to_num(w[ok])
    run0, run1 = span
    if not t.size or run1 <= run0:
        return None
    order = np.argsort(t, kind="stable")
    t, w = t[order], (w[order] if w.sum() > 0 else np.ones_like(t))
    cum = np.cumsum(w)
    tail = (1.0 - ZOOM_SHARE) / 2.0
    lo, hi = (t[min(int(np.searchsorted(cum, q * cum[-1])), t.size - 1)] for q in (tail, 1 - tail))
    pad = max(ZOOM_PAD * (hi - lo), ZOOM_MIN_PAD_MS)
    start, end = max(lo - pad, run0), min(hi + pad, run1)
    if end - start >= ZOOM_MAX_SHARE * (run1 - run0):
        return None
    start = max(float(np.floor(start / _ALIGN_MS)) * _ALIGN_MS, run0)
    bin_s = max(1, int(np.floor((end - start) / 1000.0 / ZOOM_BINS + 0.5)))
    n_bins = float(np.ceil((end - start) / (bin_s * 1000.0)))
    return Window(float(start), float(min(start + n_bins * bin_s * 1000.0, run1)), bin_s)


def new_figure(
    n_rows: int = 1,
    height: float = 4.5,
    sharex: bool | str = False,
    n_cols: int = 1,
    sharey: bool | str = False,
    width: float = 8.0,
) -> tuple[Figure, list[Axes]]:
    """A constrained-layout figure with a raster canvas; axes in row-major order."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)  # attach a raster canvas so savefig works without pyplot
    axes = fig.subplots(n_rows, n_cols, sharex=sharex, sharey=sharey, squeeze=False)
    return fig, list(axes.ravel())


def note(ax: Axes, text: str, y: float = 0.5) -> None:
    """A centred grey remark in axes coordinates ("no liquidations", ...)."""
    ax.text(0.5, y, text, transform=ax.transAxes, **_NOTE_STYLE)


def labels(ax: Axes, title: str, xlabel: str, ylabel: str) -> None:
    """Title and axis labels in one call."""
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)


def minutes(time_ms: np.ndarray | float) -> np.ndarray:
    """Milliseconds to minutes, as floats."""
    return np.asarray(time_ms, dtype=float) / MS_PER_MIN


def fmt_minutes(value: float) -> str:
    """A time in minutes, shortest exact-looking form: 3.0 -> "3", 2.8 -> "2.8"."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


# Clock tick steps in minutes: round clock times at every zoom level, up to a day.
_CLOCK_STEPS = (1, 2, 5, 10, 15, 20, 30, 60, 120, 180, 240, 360, 720, 1440)
_CLOCK_TICKS = 8  # at most about this many ticks


def clock_text(epoch: datetime, minute: float) -> str:
    """Run time ``minute`` (minutes from ``epoch``, run time 0) as a UTC clock time: "21:15",
    "21:15:30" off the minute, "10-11 00:30" on a later day than the epoch's."""
    start = epoch.astimezone(UTC)
    when = start + timedelta(seconds=round(minute * 60.0))
    text = when.strftime("%H:%M:%S" if when.second else "%H:%M")
    return text if when.date() == start.date() else f"{when:%m-%d} {text}"


class _ClockTicks(Locator):
    """Ticks at round UTC clock times (every 1, 2, 5, 10, 15, ... minutes) on an axis of
    minutes from ``epoch``."""

    def __init__(self, epoch: datetime) -> None:
        start = epoch.astimezone(UTC)
        self.offset = (start - start.replace(hour=0, minute=0, second=0, microsecond=0)
                       ).total_seconds() / 60.0  # the epoch's minute of its day

    def __call__(self) -> list[float]:
        lo, hi = sorted(self.axis.get_view_interval())
        return self.tick_values(lo, hi)

    def tick_values(self, vmin: float, vmax: float) -> list[float]:
        if not (math.isfinite(vmin) and math.isfinite(vmax)):
            return []
        span = max(vmax - vmin, 1e-9)
        step = next((s for s in _CLOCK_STEPS if span / s <= _CLOCK_TICKS), _CLOCK_STEPS[-1])
        first = math.ceil((vmin + self.offset) / step - 1e-9) * step - self.offset
        return [first + k * step for k in range(int((vmax - first) / step + 1e-9) + 1)]


def time_axis(ax: Axes, epoch: datetime | None) -> None:
    """Label ``ax``'s x axis of run time in minutes: with an ``epoch`` (the UTC instant of run
    time 0) as UTC clock times at round minutes, the date in the label; else elapsed minutes."""
    if epoch is None:
        ax.set_xlabel("time (minutes)")
        return
    ax.xaxis.set_major_locator(_ClockTicks(epoch))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: clock_text(epoch, x)))
    ax.set_xlabel(f"time (UTC), {epoch.astimezone(UTC):%Y-%m-%d}")


def fmt_usd_m(value: float) -> str:
    """Dollars as millions with two decimals: 301234.0 -> "$0.30M"."""
    return f"${value / USD_M:,.2f}M"


def _thousands(value: float, _pos: object = None) -> str:
    text = f"{value:,.10g}"
    return "0" if text == "-0" else text


thousands = FuncFormatter(_thousands)
"""Tick formatter with thousands separators and no offset text: 97500 -> "97,500"."""


def tick_step(n: int, max_ticks: int = 25) -> int:
    """1, 2, 5, 10, 20, 50, ...: the smallest step leaving at most ``max_ticks`` of ``n``."""
    for exp in itertools.count():
        for mult in (1, 2, 5):
            if n / (mult * 10**exp) <= max_ticks:
                return mult * 10**exp
    raise AssertionError("unreachable")


def proxy(marker: str, color: str, label: str) -> Line2D:
    """A marker-only legend handle, for legends that explain colour and shape once."""
    return Line2D([], [], ls="none", marker=marker, color=color, mec="0.15", label=label)


def generation_bars(ax: Axes, gens: np.ndarray, counts: np.ndarray, label: str) -> None:
    """Bars of ``counts`` per generation ``gens`` (contiguous integers) in the generation
    colours. Readable at any depth: every generation is ticked up to 25, then every 2nd,
    5th, 10th...; counts are written on bars up to 30 generations (smaller past 15)."""
    last = len(GENERATION_COLORS)
    colors = [GENERATION_COLORS[min(max(int(g), 1), last) - 1] for g in gens]
    bars = ax.bar(gens, counts, color=colors, edgecolor="0.2",
                  linewidth=0.6 if gens.size <= 60 else 0.0, label=label)
    if gens.size <= 30:
        ax.bar_label(bars, labels=[f"{int(c):,}" for c in counts], padding=2,
                     fontsize=9 if gens.size <= 15 else 7)
    step = tick_step(gens.size)
    ax.set_xticks(gens[gens % step == 0] if step > 1 else gens)
    ax.set_xlim(gens[0] - 0.7, gens[-1] + 0.7)
    ax.set_ylim(0, max(int(np.max(counts)), 1) * 1.18)  # headroom for the count labels


def generation_legend(ax: Axes, generations: list[int]) -> None:
    """Legend outside ``ax``'s right edge explaining marker colour (cascade generation; the
    last colour means "this and deeper") and shape (which side was liquidated)."""
    last = len(GENERATION_COLORS)
    gens = sorted({min(max(int(g), 1), last) for g in generations})
    handles = [proxy("o", GENERATION_COLORS[g - 1], f"gen {g}{'+' if g == last else ''}")
               for g in gens]
    handles += [proxy("v", "0.6", "long liq. (sell)"), proxy("^", "0.6", "short liq. (buy)")]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0))


def merged_legend(axes: list[Axes], loc: str) -> None:
    """One legend for ``axes`` (an axes and its twins), drawn on the last so that no
    line of the others covers it; nothing when there is nothing to explain."""
    pairs = [hl for ax in axes for hl in zip(*ax.get_legend_handles_labels(), strict=True)]
    if pairs:
        axes[-1].legend(*zip(*pairs, strict=True), loc=loc)


def shade(ax: Axes, x0: float, x1: float, label: str | None = None) -> None:
    """Light grey span marking a zoomed-in window on an overview axes."""
    ax.axvspan(x0, x1, label=label, **ZOOM_SHADE)


def rug(ax: Axes, x: np.ndarray, color: str, label: str, height: float = 0.05) -> None:
    """Short ticks along the bottom of ``ax`` at ``x``: one collection however many, plus
    an empty marker-only line that gives the legend a tick-shaped entry. The y limits are
    widened downwards first so the ticks sit below the data drawn so far."""
    lo, hi = ax.get_ylim()
    ax.set_ylim(lo - (height + 0.02) * (hi - lo), hi)
    ax.vlines(np.unique(x), 0.0, height, transform=ax.get_xaxis_transform(), color=color,
              lw=0.8)
    ax.plot([], [], ls="none", marker="|", ms=9, mew=1.2, color=color, label=label)


def twin_axis(ax: Axes) -> Axes:
    """A right-hand y axis sharing x with ``ax``, with its spine shown and no second grid."""
    twin = ax.twinx()
    twin.spines["right"].set_visible(True)  # the style hides right spines; a twin needs it
    twin.grid(False)
    return twin


def align_zero(ax: Axes, twin: Axes, top: float, min_frac: float = 0.0) -> None:
    """Give ``twin`` the limits ``(?, top)`` that put its zero level with ``ax``'s zero
    (or at ``min_frac`` of the height if ``ax``'s zero is lower; at most half way up)."""
    lo, hi = ax.get_ylim()
    frac = min(max(-lo / (hi - lo), min_frac), 0.5)
    twin.set_ylim(-frac / (1.0 - frac) * top, top)


def mirrored_bars(
    ax: Axes, x: np.ndarray, longs: np.ndarray, shorts: np.ndarray, width: np.ndarray | float
) -> bool:
    """Longs up, shorts down (as positive values), on one y scale so magnitudes compare by
    eye; each half reaches 10% past its largest bar, but at least ``MIRROR_FLOOR`` of the
    other half's height, so a side with no (or tiny) bars gets no empty mirror image of the
    other. Bars start at ``x`` and extend ``width`` (negative: to the left).
    Zero bars are not drawn (hundreds of empty rectangles only slow rendering).
    Returns False, leaving the limits alone, when every value is zero."""
    ax.axhline(0.0, color="0.3", lw=0.8)
    x = np.asarray(x, dtype=float)
    width = np.broadcast_to(np.asarray(width, dtype=float), x.shape)
    for values, color, label in ((longs, LONG_COLOR, "longs"), (-shorts, SHORT_COLOR, "shorts")):
        keep = values != 0
        ax.bar(x[keep], values[keep], width=width[keep], align="edge", color=color,
               label=label if keep.any() else f"{label} (none)")
    if x.size:  # the x range still covers every bar slot, drawn or not
        ends = np.r_[x, x + width]
        ax.update_datalim(np.c_[ends, np.zeros_like(ends)], updatey=False)
        ax.autoscale_view()
    ax.legend(loc="upper right")
    if not (np.any(longs) or np.any(shorts)):
        return False
    top, bottom = float(np.max(longs)) * 1.1, float(np.max(shorts)) * 1.1
    ax.set_ylim(-max(bottom, MIRROR_FLOOR * top), max(top, MIRROR_FLOOR * bottom))
    return True


def save_atomic(fig: Figure, path: Path, fmt: str) -> None:
    """Write ``fig`` to ``path`` via a temporary file and a rename: readers never see half."""
    # Same directory so os.replace is an atomic rename; a unique name rather than mkstemp
    # so the file gets umask permissions (mkstemp's 0600 would survive the rename).
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    # Drop timestamps from vector formats so identical runs give byte-identical files.
    metadata = {"pdf": {"CreationDate": None}, "svg": {"Date": None}}.get(fmt)
    try:
        fig.savefig(tmp, format=fmt, metadata=metadata)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_figures(figures: dict[str, Figure], out: Path,
                 formats: Sequence[str]) -> dict[str, dict[str, Path]]:
    """Each figure as ``out/<name>.<format>`` for every format (``save_atomic``), then
    cleared: {name: {format: path}}. Call it inside the style context the figures were drawn
    in: saving reads its rcParams too."""
    written: dict[str, dict[str, Path]] = {}
    for name, fig in figures.items():
        written[name] = {}
        for fmt in formats:
            path = out / f"{name}.{fmt}"
            save_atomic(fig, path, fmt)
            written[name][fmt] = path
        fig.clear()
    return written
