"""The fidelity experiment: its worlds built from the data, its clear message without data, and
its --quick version end to end (calibration, replications, the table against published facts,
the chart in UTC)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from experiments import fidelity
from simulator.config import parse_scenario


def data_there() -> bool:
    return all(fidelity.klines_of(fidelity.DATA, d).is_file() for d in fidelity.DAYS)


def test_without_data_it_says_what_is_missing_and_where(tmp_path: Path, capsys) -> None:
    missing = tmp_path / "nowhere"
    assert fidelity.main(["--data", str(missing), "--out", str(tmp_path / "f")]) == 0
    out = capsys.readouterr().out
    for day in fidelity.DAYS:
        assert f"BTCUSDT-1m-{day}.csv" in out
    assert str(missing) in out and "nothing to replay" in out
    assert not (tmp_path / "f" / "fidelity.md").exists()


@pytest.mark.skipif(not data_there(), reason=f"kline files not in {fidelity.DATA}")
def test_each_day_is_a_traded_price_replay_with_entries_from_the_hours_before() -> None:
    from markets.prices.klines import read_klines

    for d in fidelity.DAYS.values():
        sc = parse_scenario(fidelity.scenario(d, fidelity.DATA, quick=False))
        replay, market = sc.replays[0], sc.venues[0].markets[0]
        assert replay.mode == "traded" and replay.absorbed_share == d.multiple
        assert replay.start == fidelity.utc(d.start) and replay.end == fidelity.utc(d.end)
        assert sc.populations[0].entries.source == "history"
        assert sc.venues[0].contract == d.contract and sc.venues[0].preset == d.preset
        bars = read_klines(replay.csv)
        t0 = int(replay.start.timestamp() * 1000)
        assert sc.assets[0].price == bars.loc[bars["open_time"] == t0, "open"].iloc[0]
        if d.depth_file and (fidelity.DATA / d.depth_file).is_file():
            # The real book per minute over the window, the maker's own withdrawal off.
            assert market.depth.csv is not None and len(market.depth.schedule) == 180
            assert not market.withdrawal.enabled
        else:
            # Ten minutes of the last two pre-window hours' quote volume within 1%.
            raw = pd.read_csv(replay.csv)
            pre = raw[raw["open_time"] < t0]["quote_volume"].tail(120).mean()
            assert market.depth.profile[0] == pytest.approx((0.01, 10.6 * pre))
            assert market.withdrawal.enabled


@pytest.mark.skipif(not data_there(), reason=f"kline files not in {fidelity.DATA}")
def test_quick_fidelity_table_and_chart(tmp_path: Path) -> None:
    out = tmp_path / "f"
    assert fidelity.main(["--quick", "--out", str(out), "--days", "2025-10-10"]) == 0
    table = pd.read_csv(out / "fidelity.csv")
    published = table.dropna(subset=["published"]).set_index(["preset", "quantity"])
    facts = {(v, q): value for q, v, value, _ in fidelity.FACTS["2025-10-10"]}
    assert published["published"].to_dict() == pytest.approx(facts)
    # Every simulated figure is a mean of 2 fresh seeds with its interval around it.
    assert (table["seeds"] == 2).all()
    ok = table.dropna(subset=["ci_low"])
    assert ((ok["ci_low"] <= ok["simulated"]) & (ok["simulated"] <= ok["ci_high"])).all()
    row = published.loc[("binance", "liquidated_usd")]
    assert row["sim/published"] == pytest.approx(row["simulated"] / row["published"])
    assert 0.0 <= published.loc[("binance", "long_share"), "simulated"] <= 1.0
    # The calibration's own folder: its report and the fitted world, which runs as given.
    assert (out / "2025-10-10" / "fit.md").is_file()
    fitted = parse_scenario(__import__("yaml").safe_load(
        (out / "2025-10-10" / "fitted.yaml").read_text()))
    assert fitted.replays[0].mode == "traded"
    for fmt in ("png", "pdf", "svg"):
        assert (out / "figures" / f"fidelity.{fmt}").stat().st_size > 1000
