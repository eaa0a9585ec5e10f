"""Collect: turn a finished (or stopped) run's world and recorder into a ``RunResult``.

Builds the tidy tables (events, time series with per-interval liquidations, accounts with
start and end state), the cascade edge list, the summary and the run's metadata (scenario as
run, its label, seed, versions, git commit, date). Reads state; changes nothing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from simulator.run.build import World
from simulator.run.epoch import epoch_text, run_epoch, with_utc
from simulator.run.graphs import cascade_edge_table
from simulator.run.metrics import interval_liquidations, summarize
from simulator.run.provenance import provenance, run_label
from simulator.run.recorder import Recorder
from simulator.run.result import RunResult


def collect(world: World, recorder: Recorder, end_ms: int, error: str | None) -> RunResult:
    events = recorder.events()
    timeseries = interval_liquidations(events, recorder.timeseries())
    edges = cascade_edge_table(recorder.edges, events)
    scenario = world.scenario.to_dict()
    epoch = run_epoch(world.scenario)  # with a replay: the tables gain UTC times
    result = RunResult(
        summary=summarize(events, world, end_ms, edges),
        events=with_utc(events, epoch),
        timeseries=with_utc(timeseries, epoch),
        accounts=_accounts(world, events),
        cascade_edges=edges,
        meta={
            "scenario": scenario,
            # Without overrides: whoever applied them (the CLI) replaces it with run_label's.
            "label": run_label(scenario),
            "seed": world.seed,
            "status": "failed" if error else "complete",
            "error": error,
            "simulated_ms": int(end_ms),
            "epoch_utc": epoch_text(epoch),  # the UTC instant of run time 0, or None
            **provenance(),
        },
        market_graph=world.market_graph,
    )
    return result


def _accounts(world: World, events: pd.DataFrame) -> pd.DataFrame:
    frames = []
    liq = events[events["kind"] == "liquidation"]
    tops = events[events["kind"] == "top_up"]
    for venue, init in zip(world.venues, world.initial, strict=True):
        acc = venue.accounts
        f = world.accounts[world.accounts["venue"] == venue.name].reset_index(drop=True)
        start = world.paths.prices[0][world.asset_of_market[world.venues.index(venue)]]
        wallet0 = init["wallet"] + init["iso_margin"].sum(axis=1)
        # An inverse venue's money is its coin: in USD at the start and at the last mark.
        f["initial_collateral"] = wallet0 * venue.usd_at_start
        f["final_collateral"] = venue.usd(acc.wallet + acc.iso_margin.sum(axis=1))
        for m, mk in enumerate(venue.markets):
            if venue.inverse:  # contracts of 1 USD (short in x is long), coin at the last mark
                f[f"notional0.{mk.name}"] = -init["pos"][:, m]
                f[f"qty.{mk.name}"] = -acc.pos[:, m] * venue.marks[m]
            else:
                f[f"notional0.{mk.name}"] = init["pos"][:, m] * start[m]
                f[f"qty.{mk.name}"] = acc.pos[:, m]
        mine = liq[liq["venue"] == venue.name]
        by_acct = mine.groupby("account")
        f["liquidations"] = by_acct.size().reindex(f["account"], fill_value=0).to_numpy()
        f["first_liquidation_ms"] = (
            by_acct["time_ms"].min().reindex(f["account"]).to_numpy(dtype=float)
        )
        f["generation"] = by_acct["generation"].min().reindex(f["account"], fill_value=0).to_numpy()
        top = tops[tops["venue"] == venue.name].groupby("account")["amount"].sum()
        f["top_ups"] = top.reindex(f["account"], fill_value=0.0).to_numpy()
        adl_qty = venue.counters.adl_qty
        f["adl_qty"] = adl_qty * venue.marks[0] if venue.inverse else adl_qty
        f["adl_haircut"] = venue.usd(venue.counters.adl_haircut)
        f["socialized_paid"] = venue.usd(venue.counters.social_charged)
        f["liquidatable"] = acc.liquidatable
        frames.append(f)
    out = pd.concat(frames, ignore_index=True)
    out["generation"] = out["generation"].astype(np.int16)
    return out
