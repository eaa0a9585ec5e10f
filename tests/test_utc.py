"""Run time on the UTC clock: the epoch of a replay's run (its start, or its file's first bar),
the tables' ``utc`` column, the event-log hash that ignores it, and charts, report and CLI that
read UTC times. Synthetic kline files in tmp_path (the format of shared/data's klines)."""

from __future__ import annotations

import importlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import yaml
from conftest import invoke

from simulator import default_scenario
from simulator.charts.run import make_figures, run_epoch_of
from simulator.config import parse_scenario
from simulator.report.run import build_run_report
from simulator.run.epoch import run_epoch
from simulator.run.result import RunResult
from simulator.run.runner import run

# ``simulator.run`` the attribute is the run function: the module comes by its full name.
collect = importlib.import_module("simulator.run.collect")
T0 = 1_760_119_200_000  # 2025-10-10T18:00:00Z in ms
OPENS = [200, 210, 190, 180, 185, 200]


def klines(path: Path, opens: list[float] = OPENS) -> Path:
    rows = ["open_time,open,high,low,close,volume"]
    rows += [f"{T0 + k * 60_000},{p},{p},{p},{p},1" for k, p in enumerate(opens)]
    path.write_text("\n".join(rows) + "\n")
    return path


def scenario(replay: dict | None, duration: str = "4m") -> dict:
    """One market whose asset follows the replay, and a few leveraged longs to liquidate."""
    return {
        "name": "utc", "duration": duration, "clock": {"oracle_interval": "1s"},
        "assets": [{"name": "X", "price": 100, "volatility": 0}],
        "replays": [] if replay is None else [{"asset": "X", "field": "open", **replay}],
        "venues": [{"name": "v", "insurance_fund": 0, "markets": [{
            "name": "X-PERP", "asset": "X", "tick": 0.01,
            "tiers": [{"notional": 0, "mmr": "1%", "max_leverage": 50}],
            "depth": {"profile": [["1%", 20_000], ["5%", 60_000]]}}]}],
        "populations": [{"name": "p", "venue": "v", "count": 200, "long_share": 1.0,
                         "notional": {"distribution": "lognormal", "median": 2000, "sigma": 0.5},
                         "leverage": {10: 0.5, 20: 0.5}, "markets": {"X-PERP": 1.0}}],
    }


def test_the_epoch_is_the_replay_start_or_its_files_first_bar(tmp_path):
    csv = str(klines(tmp_path / "k.csv"))
    from_start = parse_scenario(scenario({"csv": csv, "start": "2025-10-10T18:02:00Z"}))
    assert run_epoch(from_start) == datetime(2025, 10, 10, 18, 2, tzinfo=UTC)
    first_bar = parse_scenario(scenario({"csv": csv}))
    assert run_epoch(first_bar) == datetime(2025, 10, 10, 18, 0, tzinfo=UTC)
    # The file missing, its synthetic stand-in runs: the start still sets the clock.
    stand_in = parse_scenario(scenario({"csv": str(tmp_path / "none.csv"),
                                        "start": "2025-10-10T18:02:00",  # no zone: UTC
                                        "synthetic": [[0, 1.0], ["2m", 0.9]]}))
    assert stand_in.replays[0].csv is None
    assert run_epoch(stand_in) == datetime(2025, 10, 10, 18, 2, tzinfo=UTC)
    assert run_epoch(parse_scenario(scenario(None))) is None
    assert run_epoch(default_scenario()) is None


def test_the_utc_column_is_epoch_plus_time_and_only_a_replays_run_has_it(tmp_path):
    csv = str(klines(tmp_path / "k.csv"))
    result = run(parse_scenario(scenario({"csv": csv, "start": "2025-10-10T18:01:00Z"})))
    assert result.meta["epoch_utc"] == "2025-10-10T18:01:00+00:00"
    epoch = pd.Timestamp("2025-10-10T18:01:00Z")
    for frame in (result.events, result.timeseries):
        assert str(frame["utc"].dtype) == "datetime64[ns, UTC]"
        assert list(frame.columns).index("utc") == list(frame.columns).index("time_ms") + 1
        expected = epoch + pd.to_timedelta(frame["time_ms"], unit="ms")
        assert (frame["utc"] == expected).all()
    assert result.timeseries["utc"].iloc[-1] == pd.Timestamp("2025-10-10T18:05:00Z")
    assert (result.events["kind"] == "liquidation").any()  # the fall liquidates the longs
    plain = run(parse_scenario(scenario(None)))
    assert plain.meta["epoch_utc"] is None
    assert "utc" not in plain.events.columns and "utc" not in plain.timeseries.columns


def test_the_event_log_hash_ignores_the_utc_column(tmp_path, monkeypatch):
    sc = parse_scenario(scenario({"csv": str(klines(tmp_path / "k.csv"))}))
    with_utc = run(sc)
    monkeypatch.setattr(collect, "with_utc", lambda frame, epoch: frame)
    without = run(sc)
    assert "utc" in with_utc.events.columns and "utc" not in without.events.columns
    assert with_utc.event_log_hash() == without.event_log_hash()
    # ... and it still sees every other column: a changed price changes it.
    changed = RunResult(with_utc.summary, with_utc.events.copy(), with_utc.timeseries,
                        with_utc.accounts, with_utc.cascade_edges)
    changed.events.loc[changed.events.index[-1], "time_ms"] += 1
    assert changed.event_log_hash() != with_utc.event_log_hash()


def _tick_texts(fig) -> tuple[list[str], str]:
    fig.canvas.draw()
    ax = fig.axes[0]
    return [t.get_text() for t in ax.get_xticklabels() if t.get_text()], ax.get_xlabel()


def test_charts_read_utc_clock_times(tmp_path):
    csv = str(klines(tmp_path / "k.csv"))
    result = run(parse_scenario(scenario({"csv": csv, "start": "2025-10-10T18:01:00Z"})))
    folder = result.save(tmp_path / "run")
    loaded = RunResult.load(folder)  # charts are drawn from saved runs: the column survives
    assert run_epoch_of(loaded.timeseries, loaded.events) == datetime(2025, 10, 10, 18, 1,
                                                                      tzinfo=UTC)
    figures = make_figures(loaded.events, loaded.timeseries, loaded.summary)
    for name in ("price_paths", "liquidated_notional", "insurance_fund"):
        ticks, label = _tick_texts(figures[name])
        assert label == "time (UTC), 2025-10-10", name
        # four minutes from 18:01: round clock minutes only
        assert set(ticks) <= {"18:01", "18:02", "18:03", "18:04", "18:05"}, (name, ticks)
        assert len(ticks) >= 3, (name, ticks)
    ticks, label = _tick_texts(make_figures(loaded.events.drop(columns="utc"),
                                            loaded.timeseries.drop(columns="utc"),
                                            loaded.summary)["price_paths"])
    assert label == "time (minutes)" and "1.0" in ticks and not any(":" in t for t in ticks)


def test_report_and_cli_show_the_utc_start(tmp_path):
    csv = klines(tmp_path / "k.csv")
    data = scenario({"csv": str(csv), "start": "2025-10-10T18:01:00Z"})
    result = run(parse_scenario(data))
    folder = result.save(tmp_path / "run")
    assert json.loads((folder / "run.json").read_text())["epoch_utc"] == (
        "2025-10-10T18:01:00+00:00")
    report = build_run_report(folder)
    rows = dict(report.tables[1].rows)
    assert rows["simulated"] == "4 min, 2025-10-10 18:01 to 2025-10-10 18:05 UTC"
    path = tmp_path / "utc.yaml"
    path.write_text(yaml.safe_dump(data))
    out = invoke("run", path, "--out", tmp_path / "cli", "--no-figures")
    assert out.exit_code == 0, out.output
    assert "replay starts 2025-10-10 18:01 UTC" in out.output


def test_a_later_day_shows_its_date_on_the_tick():
    from simulator.charts.style import clock_text

    epoch = datetime(2020, 3, 12, 23, 30, tzinfo=UTC)
    assert [clock_text(epoch, m) for m in (0, 15, 30.5, 45)] == [
        "23:30", "23:45", "03-13 00:00:30", "03-13 00:15"]
