"""The market sections of ``liqsim risk`` (``simulator.risk.market``): correlation from kline
returns with a known pattern, the correlation break on a hand-built two-asset world, a Kupiec
backtest on a constructed path, historical VaR of a book, and the CLI path.

Break world: X at 8000 and Y at 100 (both vol 50%, correlation 0.8), flat 0.5% maintenance.
On venue "hedged" H is long 1 X and short 80 Y with 1000 USD; on "unhedged" U is long 1 X and
long 80 Y with 1000 USD. X falls 20%, Y follows at corr x 20% (equal vols):

- base (0.8): Y -16%: H loses 1600 - 1280 = 320 (equity 680, fine); U loses 2880 (-1880).
- to_one (0.99): Y -19.8%: H loses 16; U loses 1600 + 1584 = 3184 (-2184).
- flip (-0.8): Y +16%: H loses 1600 + 1280 = 2880 (-1880); U loses 320 (fine).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import invoke
from test_chart_quality import problems
from test_inverse import venue

from simulator.config import parse_scenario
from simulator.risk import book, market
from simulator.risk.var import historical_var_es

START_MS = 1_700_000_000_000


def write_klines(path: Path, returns: np.ndarray, start_price: float = 100.0) -> Path:
    """A 1-min kline CSV whose closes have exactly these log returns."""
    closes = start_price * np.exp(np.concatenate([[0.0], np.cumsum(returns)]))
    lines = ["open_time,open,high,low,close,volume"]
    for i, close in enumerate(closes):
        lines.append(f"{START_MS + 60_000 * i},{close},{close * 1.001},{close * 0.999},"
                     f"{close},1.0")
    path.write_text("\n".join(lines) + "\n")
    return path


def two_markets(name: str) -> dict:
    v = venue(name, "linear", insurance_fund=0)
    x = v["markets"][0]
    v["markets"] = [x, {**x, "name": "Y-PERP", "asset": "Y"}]
    return v


def pair_account(name: str, v: str, y_qty: float) -> dict:
    return {"name": name, "venue": v, "collateral": 1000, "margin_mode": "cross",
            "positions": [{"market": "X-PERP", "qty": 1, "entry": 8000},
                          {"market": "Y-PERP", "qty": y_qty, "entry": 100}]}


def pair_world() -> dict:
    return {"name": "pair", "duration": "400s",
            "assets": [{"name": "X", "price": 8000, "volatility": 0.5},
                       {"name": "Y", "price": 100, "volatility": 0.5}],
            "correlation": [[1, 0.8], [0.8, 1]], "shocks": [],
            "venues": [two_markets("hedged"), two_markets("unhedged")],
            "accounts": [pair_account("H", "hedged", -80), pair_account("U", "unhedged", 80)]}


@pytest.fixture(scope="module")
def world():
    return book.world_of(parse_scenario(pair_world()), 0)


# ------------------------------------------------------------------------------ correlation

# x = 1, 2, 3, 4 and y = 1, 3, 2, 4 (x 0.001): deviations (-1.5, -.5, .5, 1.5) and
# (-1.5, .5, -.5, 1.5), so corr = 4 / 5 = 0.8 over the whole cycle, and over every four
# consecutive returns (a cyclic shift of it).
X_CYCLE = 0.001 * np.array([1.0, 2.0, 3.0, 4.0])
Y_CYCLE = 0.001 * np.array([1.0, 3.0, 2.0, 4.0])


def test_correlation_of_kline_returns_by_hand(tmp_path):
    k = 25
    files = {"X": write_klines(tmp_path / "x.csv", np.tile(X_CYCLE, k)),
             "Y": write_klines(tmp_path / "y.csv", np.tile(Y_CYCLE, k))}
    returns = market.kline_returns(files, ["X", "Y"])
    assert returns.source == "klines" and returns.frame.shape == (4 * k, 2)
    model = pd.DataFrame([[1, 0.3], [0.3, 1]], index=["X", "Y"], columns=["X", "Y"])
    corr, rolling = market.correlation_tables(returns, model, pd.Series({"X": 0.5, "Y": 0.7}),
                                              window=4)
    by = corr.set_index("window")
    assert by.loc["model", "corr"] == 0.3 and by.loc["model", "vol_b"] == 0.7
    assert by.loc["full", "corr"] == pytest.approx(0.8, abs=1e-9)
    assert by.loc["full", "n"] == 4 * k
    # Sample std: sum of squared deviations 5e-6 per cycle over n - 1; 525,600 minutes a year.
    vol = math.sqrt(5e-6 * k / (4 * k - 1)) * math.sqrt(525_600)
    assert by.loc["full", "vol_a"] == pytest.approx(vol, rel=1e-9)
    assert by.loc["rolling_min", "corr"] == pytest.approx(0.8, abs=1e-9)
    assert by.loc["rolling_max", "corr"] == pytest.approx(0.8, abs=1e-9)
    assert len(rolling) == 4 * k - 3 and set(rolling["asset_a"]) == {"X"}
    # The worst 5% of the equal-weight index are the (1, 1) rows: constant, no correlation.
    assert "stressed" not in by.index and any("stressed" in n for n in returns.notes)


def test_stressed_window_is_the_worst_rows(tmp_path):
    rng = np.random.default_rng(3)
    x = rng.normal(0, 0.01, 400)
    y = 0.5 * x + rng.normal(0, 0.01, 400)
    returns = market.Returns(pd.DataFrame({"X": x, "Y": y}), "test", "1min")
    model = pd.DataFrame(np.eye(2), index=["X", "Y"], columns=["X", "Y"])
    corr, _ = market.correlation_tables(returns, model, pd.Series({"X": 1.0, "Y": 1.0}), 50)
    row = corr[corr["window"] == "stressed"].iloc[0]
    index = (x + y) / 2
    worst = index <= np.quantile(index, 0.05)
    assert row["n"] == worst.sum() == 20
    assert row["corr"] == pytest.approx(np.corrcoef(x[worst], y[worst])[0, 1])


def test_one_asset_gives_its_own_row(tmp_path):
    returns = market.Returns(pd.DataFrame({"X": np.tile(X_CYCLE, 10)}), "test", "1min")
    corr, rolling = market.correlation_tables(returns, pd.DataFrame([[1.0]], index=["X"],
                                                                    columns=["X"]),
                                              pd.Series({"X": 0.5}), 4)
    assert corr[["window", "asset_a", "asset_b", "corr", "n"]].values.tolist() == [
        ["full", "X", "X", 1.0, 40]]
    assert rolling.empty and returns.notes


def test_bad_kline_input_is_refused(tmp_path):
    good = write_klines(tmp_path / "x.csv", np.tile(X_CYCLE, 3))
    with pytest.raises(market.MarketError, match="unknown asset 'Z'"):
        market.kline_returns({"Z": good}, ["X", "Y"])
    with pytest.raises(market.MarketError, match="no such file"):
        market.kline_returns({"X": tmp_path / "nope.csv"}, ["X", "Y"])
    returns = market.kline_returns({"X": good}, ["X", "Y"])
    assert returns.notes == ["no klines for Y: left out of the historical VaR"]
    with pytest.raises(market.MarketError, match="too few returns: 12"):
        market.check_enough(returns, 11)
    with pytest.raises(market.MarketError, match="ASSET=FILE"):
        market.returns_for(None, ["X:file.csv"])


# ------------------------------------------------------------------------ correlation break


def test_conditional_moves():
    corr = np.array([[1.0, 0.5], [0.5, 1.0]])
    # move_j = 0.5 x 0.8 / 0.4 x -10% = -10%; held above -99%.
    assert market.conditional_moves(corr, [0.4, 0.8], 0, -0.1) == pytest.approx([-0.1, -0.1])
    assert market.conditional_moves(corr, [0.1, 8.0], 0, -0.5)[1] == -0.99
    assert market.one_day_move(0.5) == pytest.approx(-2.326348 * 0.5 / math.sqrt(365), rel=1e-6)


def test_correlation_break_by_hand(world):
    model = pd.DataFrame([[1, 0.8], [0.8, 1]], index=["X", "Y"], columns=["X", "Y"])
    regimes = market.break_regimes(model, {})
    assert list(regimes) == ["base", "to_one", "flip"]
    assert regimes["to_one"][0, 1] == pytest.approx(0.99)
    assert regimes["flip"][0, 1] == pytest.approx(-0.8)
    t = market.correlation_break_table(world, regimes, moves={"X": [-0.2]})
    t = t.set_index(["venue", "correlation"])
    assert t.loc[("hedged", "base"), "moves"] == "X -20.0%, Y -16.0%"
    hedged, unhedged = t.loc["hedged"], t.loc["unhedged"]
    # The hedge breaches only when the correlation flips; the outright long the other way.
    assert hedged["breached_scopes"].tolist() == [0, 0, 1]
    assert unhedged["breached_scopes"].tolist() == [1, 1, 0]
    assert hedged.loc["flip", "bad_debt_usd"] == pytest.approx(1880)
    assert hedged.loc["flip", "liquidated_usd"] == pytest.approx(6400 + 80 * 116)
    assert unhedged.loc["base", "bad_debt_usd"] == pytest.approx(1880)
    assert unhedged.loc["to_one", "bad_debt_usd"] == pytest.approx(2184)
    assert unhedged.loc["to_one", "liquidated_usd"] == pytest.approx(6400 + 80 * 80.2)
    assert hedged.loc["base", "bad_debt_usd"] == 0 == hedged.loc["base", "liquidated_usd"]


def test_default_break_moves_and_estimated_regimes(world):
    returns = market.path_returns(world)
    assert returns.source == "scenario paths" and returns.interval == "1000ms"
    assert len(returns.frame) == 400 and list(returns.frame.columns) == ["X", "Y"]
    frames = market.market_frames(world, returns, 50, seed=0)
    t = frames["correlation_break"]
    assert set(t["correlation"]) == {"base", "to_one", "flip", "estimated", "stressed"}
    # Each lead at its 99% one-day move (-6.09% at vol 50%) and at -20%.
    assert sorted(set(t["move"].round(4))) == [-0.2, -0.0609]
    assert len(t) == 2 * 2 * 5 * 2  # leads x moves x regimes x venues


# ------------------------------------------------------------------------ VaR and backtest


def constructed_returns() -> market.Returns:
    """r_t = -0.001 (t mod 10), except -2% at t = 20, 50 and 80: a window of 10 always holds
    a whole cycle, so the largest loss of the window before t is exceeded only at those."""
    r = -0.001 * (np.arange(100) % 10)
    r[[20, 50, 80]] = -0.02
    return market.Returns(pd.DataFrame({"X": r}), "test", "1min")


def test_rolling_var_is_the_order_statistic_of_the_window_before():
    losses = pd.Series(np.arange(12, dtype=float))
    v = market.rolling_var(losses, 5, levels=(0.5, 0.95))
    assert v[0.5].isna().sum() == 5
    # Window before t: t-5..t-1; rank ceil(2.5) = 3 -> t-3; rank 5 -> t-1.
    assert v[0.5].iloc[5:].tolist() == [2.0, 3, 4, 5, 6, 7, 8]
    assert v[0.95].iloc[5:].tolist() == [4.0, 5, 6, 7, 8, 9, 10]


def test_kupiec_backtest_on_a_constructed_path():
    deltas = {("all", "all"): pd.Series({"X": 1e6})}
    table, path = market.backtest(constructed_returns(), deltas, window=10)
    row = table[table["level"] == 0.95].iloc[0]
    assert (row["n"], row["exceedances"], row["expected"]) == (90, 3, pytest.approx(4.5))
    p, x, n = 0.05, 3, 90
    lr = -2 * ((n - x) * math.log(1 - p) + x * math.log(p)) + 2 * (
        (n - x) * math.log(1 - x / n) + x * math.log(x / n))
    assert row["lr"] == pytest.approx(lr) == pytest.approx(0.5934, abs=1e-4)
    assert not row["reject_5pct"]
    # The 99.9% VaR of 10 returns is their largest too: 3 exceedances where 0.09 are expected.
    top = table[table["level"] == 0.999].iloc[0]
    assert top["exceedances"] == 3 and top["reject_5pct"]
    assert path.index[path["exceed_0.99"]].tolist() == [20, 50, 80]
    assert path["loss_usd"].iloc[20] == pytest.approx(-1e6 * math.expm1(-0.02))


def test_historical_var_of_a_book_is_seeded(world):
    returns = constructed_returns()
    deltas = {("all", "all"): pd.Series({"X": 1e6})}
    a = market.historical_var(returns, deltas, seed=7)
    b = market.historical_var(returns, deltas, seed=7)
    pd.testing.assert_frame_equal(a, b)
    r95 = a[a["level"] == 0.95].iloc[0]
    # 100 losses, ascending: 7 of 0, ten each of 0.1% ... 0.9% (ranks 8 ... 97), 3 of 2%;
    # rank ceil(95) is a 0.9% loss, and the losses >= it are the ten 0.9% and three 2%.
    assert r95["var"] == pytest.approx(-1e6 * math.expm1(-0.009)) and r95["n"] == 100
    tail = np.array([-0.009] * 10 + [-0.02] * 3)
    assert r95["es"] == pytest.approx(-1e6 * np.expm1(tail).mean())
    assert r95["es_low"] <= r95["es"] <= r95["es_high"]
    assert (r95["scope"], r95["source"], r95["interval"]) == ("all", "test", "1min")


def test_book_deltas_are_the_traders(world):
    d = market.book_deltas(world)
    assert d[("venue", "hedged")].tolist() == [8000, -8000]
    assert d[("all", "all")].tolist() == [16000, 0]


# ------------------------------------------------------------------------------ charts, CLI


def test_market_charts_pass_the_quality_checks(world):
    import matplotlib.style

    from simulator.charts.risk_market import market_figures
    from simulator.charts.style import STYLE_PATH

    frames = market.market_frames(world, market.path_returns(world), 50, seed=0)
    with matplotlib.style.context(STYLE_PATH):
        figures = market_figures(frames, 50)
        found = problems(figures)
    assert set(figures) == {"correlation", "rolling_correlation", "backtest"}
    assert not any(found.values()), found


def test_liqsim_risk_market_sections(tmp_path):
    import yaml

    path = tmp_path / "pair.yaml"
    path.write_text(yaml.safe_dump(pair_world()))
    x = write_klines(tmp_path / "x.csv", np.tile(X_CYCLE, 40))
    y = write_klines(tmp_path / "y.csv", np.tile(Y_CYCLE, 40))
    out = tmp_path / "r"
    result = invoke("risk", path, "--out", out, "--max-move", "20%", "--step", "10%",
                    "--klines", f"X={x}", "--klines", f"Y={y}", "--window", "20")
    assert result.exit_code == 0, result.output
    corr = pd.read_parquet(out / "correlation.parquet")
    assert corr.loc[corr["window"] == "full", "corr"].item() == pytest.approx(0.8)
    assert set(corr["source"]) == {"klines"}
    for name in ("correlation_break", "historical_var", "backtest", "rolling_correlation"):
        assert not pd.read_parquet(out / f"{name}.parquet").empty
    for name in ("correlation", "rolling_correlation", "backtest"):
        assert (out / "figures" / f"{name}.svg").stat().st_size > 0
    page = (out / "risk.html").read_text()
    assert "Correlation break" in page and "VaR backtest" in page
    bad = invoke("risk", path, "--out", out, "--klines", f"Z={x}")
    assert bad.exit_code == 2 and "unknown asset 'Z'" in bad.output
    few = invoke("risk", path, "--out", out, "--klines", f"X={x}", "--window", "500")
    assert few.exit_code == 2 and "too few returns" in few.output
    lean = ("--max-move", "20%", "--step", "10%", "--no-dynamic-margin",
            "--no-collateral-health")  # the other sections, not under test here
    off = invoke("risk", path, "--out", tmp_path / "off", *lean, "--no-market")
    assert off.exit_code == 0 and not (tmp_path / "off" / "correlation.parquet").exists()
    # On by default, from the scenario's own path; a path too short for the window leaves
    # the sections out with a line, and the rest of the report stands.
    own = invoke("risk", path, "--out", tmp_path / "own", *lean, "--window", "5000")
    assert own.exit_code == 0, own.output
    assert "market sections left out: too few returns" in " ".join(own.output.split())
    assert not (tmp_path / "own" / "correlation.parquet").exists()
    assert (tmp_path / "own" / "stress.parquet").exists()
    own = invoke("risk", path, "--out", tmp_path / "own", *lean)
    assert own.exit_code == 0, own.output
    assert set(pd.read_parquet(tmp_path / "own" / "correlation.parquet")["source"]) == {
        "scenario paths"}


def test_historical_var_per_account_replays_each_traders_own_book(world):
    r = constructed_returns().frame["X"].to_numpy()
    # Y moves with X: the hedged account (long X, short as much Y) never loses; the unhedged
    # one (long both, USD 16,000 of delta) loses 16,000 x (1 - e^r).
    returns = market.Returns(pd.DataFrame({"X": r, "Y": r}), "test", "1min")
    rows = market.account_historical_var(world, returns)
    assert set(rows["scope"]) == {"account"} and (rows["n"] == 100).all()
    at95 = rows[rows["level"] == 0.95].set_index("venue")
    assert at95.loc["hedged", "var"] == pytest.approx(0.0, abs=1e-9)
    assert at95.loc["unhedged", "var"] == pytest.approx(-16_000 * math.expm1(-0.009))
    own = historical_var_es(pd.Series(-16_000 * np.expm1(r)), (0.95, 0.99))
    mine = rows[rows["venue"] == "unhedged"].set_index("level")
    assert mine.loc[0.99, "var"] == pytest.approx(own.set_index("level").loc[0.99, "var"])
    assert mine.loc[0.95, "es"] == pytest.approx(own.set_index("level").loc[0.95, "es"])
    # The largest traders first: both have 16,000 of |delta|, so the tie goes by venue.
    assert market.account_historical_var(world, returns, max_accounts=1)["venue"].unique(
        ).tolist() == ["hedged"]
