"""Shared test helpers."""

import os

# Rich fixes a console's width from COLUMNS when the console is made (at the CLI's import);
# pytest-xdist's workers run with COLUMNS=80, which would pin the CLI's console at 80 columns
# before the tests that pass their own COLUMNS run. Without it the width is read per call.
os.environ.pop("COLUMNS", None)

from typer.testing import CliRunner  # noqa: E402

import agents.liquidation_engine  # noqa: E402
from simulator.cli import app  # noqa: E402


def invoke(*args: str):
    """Run ``liqsim`` with ``args``; no traceback may reach the output."""
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.output
    assert "Traceback" not in (result.stderr or "")
    return result


def flat(text: str) -> str:
    """Undo the console's line wrapping, so messages can be searched whole."""
    return " ".join(text.split())


def fail_after(monkeypatch, n: int, exc: Exception) -> dict:
    """Make the liquidation engine raise ``exc`` on its (n + 1)-th liquidation; returns the
    call counter."""
    real = agents.liquidation_engine.liquidate
    calls = {"n": 0}

    def failing(venue, breach, now_ms):
        calls["n"] += 1
        if calls["n"] > n:
            raise exc
        return real(venue, breach, now_ms)

    monkeypatch.setattr(agents.liquidation_engine, "liquidate", failing)
    return calls


def fail_runs_with_seed(monkeypatch, seed: int, exc: Exception | None = None):
    """Make every sweep run on ``seed`` raise ``exc`` (default ``RuntimeError("boom")``);
    returns the real ``run`` so a test can put it back."""
    import simulator.sweep.execute as execute

    real = execute.run
    error = exc if exc is not None else RuntimeError("boom")

    def flaky(scenario, run_seed, *args, **kwargs):
        if run_seed == seed:
            raise error
        return real(scenario, run_seed, *args, **kwargs)

    monkeypatch.setattr(execute, "run", flaky)
    return real


def linked_venues(scenario):
    """``scenario`` (the default's shape) with a copy of its venue, ``dex``, and its traders:
    dex's BTC index weights cex's price 0.5 (its own 0.2), 30% of cex's BTC moves pass to
    dex's ETH, and an arbitrageur with 2M USD trades the two BTC books after 300 ms."""
    import copy

    from simulator.config import parse_scenario

    data = scenario.to_dict()
    twin = copy.deepcopy(data["venues"][0])
    twin["name"] = "dex"
    data["venues"].append(twin)
    for pop in copy.deepcopy(data["populations"]):
        data["populations"].append({**pop, "name": f"{pop['name']}_dex", "venue": "dex"})
    data["index_weights"] = [{"venue": "dex", "asset": "BTC", "weights": {"cex": 0.5, "dex": 0.2}}]
    data["cross_impact"].append({"venue": "cex", "source": "BTC-PERP", "target_venue": "dex",
                                 "target": "ETH-PERP", "beta": 0.3})
    data["arbitrage"] = [{"name": "btc", "asset": "BTC", "venues": ["cex", "dex"],
                          "latency": "300ms", "threshold": 0.0005, "capital": 2e6}]
    return parse_scenario(data)


def check_linked_run(scenario, seed):
    """Run ``scenario`` checking the invariants at every tick, run it again and compare the
    event logs, and check that positions net to zero per market on each venue (the maker
    holds the rest); returns the first run."""
    import pandas as pd

    from simulator import run

    first = run(scenario, seed, check=True)  # zero-sum, conservation, ... at every tick
    assert first.ok, first.meta["error"]
    again = run(scenario, seed)
    pd.testing.assert_frame_equal(first.events, again.events)
    qty = [c for c in first.accounts.columns if c.startswith("qty.")]
    for _, venue in first.accounts.groupby("venue"):
        assert venue[qty].sum().abs().max() <= 1e-6 * venue[qty].abs().sum().max()
    return first
