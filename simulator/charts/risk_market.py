"""Charts of the market sections of ``liqsim risk``: correlation heatmaps (the scenario's
model, the full sample, the stressed window), the rolling pairwise correlations and the
backtest of the rolling historical VaR (losses, the VaR line, exceedances). Draws the frames
``simulator.risk.market`` returns; computes no risk figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.style
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from simulator.charts import style as ps
from simulator.charts.style import STYLE_PATH
from simulator.risk.market import matrix_of

FORMATS = ("png", "svg")
HEATMAP_WINDOWS = (("model", "scenario's model"), ("full", "full sample"),
                   ("stressed", "stressed window"))
BACKTEST_LEVEL = 0.99


def _elapsed(times: pd.Series) -> tuple[np.ndarray, str]:
    """Time from the sample's first return, in minutes or (beyond 2 days) hours."""
    t = pd.to_timedelta(times - times.iloc[0]) if not times.empty else pd.Series([], dtype="m8[ns]")
    minutes = t.dt.total_seconds().to_numpy() / 60.0
    if minutes.size and minutes.max() > 2880:
        return minutes / 60.0, "time from the sample's start (h)"
    return minutes, "time from the sample's start (min)"


def correlation_heatmaps(correlation: pd.DataFrame, title: str = "") -> Figure:
    """One heatmap per window present (model, full, stressed), values printed in the cells."""
    shown = [(w, name, m) for w, name in HEATMAP_WINDOWS
             if (m := matrix_of(correlation, w)) is not None]
    fig, axes = ps.new_figure(1, 4.0, n_cols=max(1, len(shown)), width=4.2 * max(1, len(shown)))
    if not shown:
        ps.note(axes[0], "one asset: no correlation")
        ps.labels(axes[0], title or "Correlation", "asset", "asset")
        return fig
    image = None
    for ax, (window, name, m) in zip(axes, shown, strict=True):
        image = ax.imshow(m.to_numpy(), cmap="RdBu_r", vmin=-1, vmax=1)
        n = len(m)
        ax.set_xticks(range(n), list(m.columns))
        ax.set_yticks(range(n), list(m.index))
        for (i, j), v in np.ndenumerate(m.to_numpy()):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=8,
                    color="white" if abs(v) > 0.6 else "0.1")
        rows = correlation[correlation["window"] == window]["n"]
        ps.labels(ax, f"{name} (n = {int(rows.iloc[0])})", "asset", "asset")
        ax.grid(False)
    bar = fig.colorbar(image, ax=axes)
    bar.set_label("correlation of log returns (-1 to 1)")
    fig.suptitle(title or "Correlation of the assets' returns")
    return fig


def rolling_figure(rolling: pd.DataFrame, correlation: pd.DataFrame, window: int,
                   title: str = "") -> Figure:
    """The rolling correlation of each pair, with the full-sample value dashed."""
    fig, (ax,) = ps.new_figure(1, 4.2, width=9.0)
    if rolling.empty:
        ps.note(ax, "one asset: no correlation")
    full = correlation[correlation["window"] == "full"].set_index(["asset_a", "asset_b"])["corr"]
    for (a, b), part in rolling.groupby(["asset_a", "asset_b"], sort=False):
        x, _ = _elapsed(part["time"].reset_index(drop=True))
        line = ax.plot(x, part["corr"], lw=1.2, label=f"{a}/{b}")[0]
        if (a, b) in full.index:
            ax.axhline(full[(a, b)], color=line.get_color(), ls="--", lw=0.9,
                       label=f"{a}/{b} full sample")
    _, xlabel = _elapsed(rolling["time"].reset_index(drop=True))
    ps.labels(ax, title or f"Rolling correlation over {window} returns", xlabel,
              "correlation (-1 to 1)")
    if not rolling.empty:
        ax.legend(fontsize=8, loc="lower left")
    return fig


def backtest_figure(path: pd.DataFrame, level: float = BACKTEST_LEVEL,
                    title: str = "") -> Figure:
    """The world's loss per return interval, its rolling historical VaR at ``level`` and the
    exceedances (a loss above the VaR forecast for it)."""
    fig, (ax,) = ps.new_figure(1, 4.5, width=9.0)
    x, xlabel = _elapsed(path["time"])
    col = f"var_{level:g}"
    scale, unit = (1e6, "USD M") if path["loss_usd"].abs().max() >= 1e6 else (1e3, "USD k")
    ax.plot(x, path["loss_usd"] / scale, lw=0.7, color="0.45", label="loss")
    ax.plot(x, path[col] / scale, lw=1.3, color="tab:red", label=f"{level:.1%} VaR forecast")
    hit = path[f"exceed_{level:g}"].to_numpy()
    ax.scatter(x[hit], path["loss_usd"].to_numpy()[hit] / scale, s=18, color="black",
               zorder=3, label=f"exceedances ({int(hit.sum())})")
    ps.labels(ax, title or "Backtest of the rolling historical VaR", xlabel,
              f"loss of the traders' book ({unit})")
    ax.legend(fontsize=8, loc="upper left")
    return fig


def write_market_figures(frames: dict[str, pd.DataFrame], window: int, out_dir: str | Path,
                         title: str = "", formats: Sequence[str] = FORMATS
                         ) -> dict[str, dict[str, Path]]:
    """"correlation", "rolling_correlation" and "backtest" in each format:
    {name: {format: path}}."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    prefix = f"{title}: " if title else ""
    with matplotlib.style.context(STYLE_PATH):
        figures = market_figures(frames, window, prefix)
        return ps.save_figures(figures, out, formats)


def market_figures(frames: dict[str, pd.DataFrame], window: int, prefix: str = ""
                   ) -> dict[str, Figure]:
    """The figures, not saved (the caller sets the style)."""
    return {
        "correlation": correlation_heatmaps(frames["correlation"],
                                            f"{prefix}correlation of the assets' returns"),
        "rolling_correlation": rolling_figure(
            frames["rolling_correlation"], frames["correlation"], window,
            f"{prefix}rolling correlation over {window} returns"),
        "backtest": backtest_figure(frames["backtest_path"], BACKTEST_LEVEL,
                                    f"{prefix}backtest of the rolling historical VaR"),
    }
