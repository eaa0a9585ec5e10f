"""The catalogue of a run's figures: for each, its name, unit, label, meaning and source.

Every figure ``metrics.summarize`` produces has one ``Figure`` here (a test holds the two to
the same set), as do the ADL fairness figures that comparisons and sweeps add per run. The
command line, comparison and sweep tables, reports, chart titles, ``summary.json``'s
``units`` and ``docs/outputs.md`` all read names, labels and units from here and nowhere
else. Regenerate the documentation with ``python -m simulator.run.catalogue > docs/outputs.md``.

A figure has scopes: the run's total (``name``), per venue (``<venue>.name``), per market or
per-market fund (``<venue>:<market>.name``) and per cascade generation
(``generation.<k>.name``). ``MECHANISMS`` groups the figures that say what each optional
mechanism did; a venue's summary has a mechanism's own figures only when it uses it.

This module knows figure names and the functions that compute them; it must not compute
figures, read run folders or draw anything.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal, get_args

from simulator.run import metrics
from simulator.run.adl_fairness import FAIRNESS_METRICS, fairness_metrics
from simulator.run.adl_waves import adl_wave_stats

__all__ = ["FIGURES", "MECHANISMS", "UNITS", "VIEWS", "Figure", "Mechanism", "figure",
           "format_value", "label", "markdown", "names", "scope_of", "title", "unit_of",
           "units_of", "venue_mechanisms"]

Unit = Literal["USD", "count", "fraction", "ratio", "ms", "flag"]
UNITS: tuple[str, ...] = get_args(Unit)
# What each unit means, for the documentation.
UNIT_MEANINGS: dict[str, str] = {
    "USD": "US dollars (quote currency)",
    "count": "a number of events, accounts, generations or orders",
    "fraction": "a share: 0.05 is 5%",
    "ratio": "one quantity divided by another of the same kind",
    "ms": "milliseconds of simulated time",
    "flag": "true or false",
}
Scope = Literal["run", "venue", "market", "generation"]
SCOPES: dict[str, str] = {
    "run": "``name``: over the whole run",
    "venue": "``<venue>.name``: one venue",
    "market": "``<venue>:<market>.name``: one market, or the fund of one market",
    "generation": "``generation.<k>.name``: one generation of the cascade",
}
# Lists of figures other modules show: the console summary, the default metrics of
# comparisons, sweeps and reports, the extra ones of an ADL-design comparison, and the panels
# of the sweep charts drawn against an axis.
View = Literal["headline", "compare", "adl_compare", "axis_chart"]
VIEWS: tuple[str, ...] = get_args(View)


@dataclass(frozen=True)
class Figure:
    """One figure: ``source`` is the function whose output holds it under ``name``."""

    name: str
    label: str
    unit: Unit
    meaning: str
    source: Callable
    scopes: frozenset[str] = frozenset({"run"})
    views: frozenset[str] = frozenset()

    @property
    def headline(self) -> bool:
        return "headline" in self.views

    @property
    def in_summary(self) -> bool:
        return self.source is not fairness_metrics


@dataclass(frozen=True)
class Mechanism:
    """An optional mechanism and the figures that say what it did; a venue uses it when its
    summary has ``<venue>.<marker>``."""

    title: str
    marker: str
    figures: tuple[str, ...]


def _f(name: str, label: str, unit: Unit, meaning: str, source: Callable,
       scopes: str = "run", views: str = "") -> Figure:
    return Figure(name, label, unit, meaning, source, frozenset(scopes.split()),
                  frozenset(views.split()))


_EV, _FUND, _ADL = metrics.event_stats, metrics.fund_stats, metrics.adl_efficiency
_MECH, _MOVE, _SUM = metrics.mechanism_stats, metrics.price_moves, metrics.summarize
_CON, _ABS = metrics.contagion_stats, metrics.absorption_stats
_SLIP, _DEPL = metrics.liquidation_slippage, metrics.fund_depletion
_AW = adl_wave_stats
_RV, _RVMG = "run venue", "run venue market generation"
_HC = "headline compare"

FIGURES: tuple[Figure, ...] = (
    # --- what the cascade did
    _f("liquidations", "liquidations", "count", "liquidation fills (orders, takeovers, keeper "
       "takes) of any size", _EV, _RVMG, _HC),
    _f("accounts_liquidated", "accounts liquidated", "count",
       "distinct accounts with at least one liquidation", _EV, _RV, "headline"),
    _f("liquidated_notional", "liquidated notional", "USD",
       "notional closed by liquidations, at the fill price", _EV, _RVMG, _HC + " axis_chart"),
    _f("liquidated_long_notional", "liquidated long notional", "USD",
       "notional of long positions closed by liquidations", _EV, _RV),
    _f("liquidated_short_notional", "liquidated short notional", "USD",
       "notional of short positions closed by liquidations", _EV, _RV),
    _f("liquidation_slippage", "liquidation slippage", "USD",
       "liquidations' book fills against the oracle price the venue held at the order: "
       "sum of abs(fill price - oracle price) x quantity (the event log has no mark per "
       "order)",
       _SLIP, _RV),
    _f("cascade_depth", "cascade depth (generations)", "count",
       "deepest generation of liquidations caused by earlier ones", _EV, _RV,
       _HC + " axis_chart"),
    _f("cross_venue_liquidations", "liquidations from another venue", "count",
       "liquidations weighted by the part of their causes' harm that traces back, through the "
       "cascade graph, to another venue (moves carried by arbitrage, cross impact or index "
       "weights)", _CON, _RV),
    _f("cross_venue_share", "share of liquidations from another venue", "fraction",
       "cross-venue liquidations over all liquidations", _CON, _RV, "headline"),
    _f("margin_calls", "margin calls", "count", "margin calls sent to accounts", _EV, _RV),
    _f("top_ups", "margin top-ups", "USD", "margin accounts added after a margin call",
       _EV, _RV),
    _f("recovered_before_liquidation", "recovered before liquidation", "count",
       "breaches that recovered before their liquidation was processed", _EV, _RV),
    _f("peak_liquidation_queue", "peak liquidation queue", "count",
       "most accounts waiting for liquidation at once on a venue", _FUND, views="headline"),
    # --- price moves
    _f("exogenous_drawdown", "exogenous drawdown", "fraction",
       "largest peak-to-trough fall of a fundamental price", _MOVE, "run market", "headline"),
    _f("max_drawdown", "max drawdown (traded)", "fraction",
       "largest peak-to-trough fall of a traded (mid) price", _MOVE, "run market",
       "headline"),
    _f("exogenous_runup", "exogenous run-up", "fraction",
       "largest trough-to-peak rise of a fundamental price", _MOVE, "run market"),
    _f("max_runup", "max run-up (traded)", "fraction",
       "largest trough-to-peak rise of a traded (mid) price", _MOVE, "run market"),
    _f("amplification", "amplification (traded / exogenous move)", "ratio",
       "traded over exogenous move in the market and direction that moved most (NaN: no "
       "move)", _MOVE, views=_HC),
    _f("open_interest_drop", "open interest drop", "fraction",
       "fall of open interest from start to end, weighted by start notional", _MOVE,
       "run market", "headline"),
    _f("absorbed_notional", "absorbed notional (traded replay)", "USD",
       "orders on a traded-price replay's markets that its bars' real taker flow already held "
       "(filled, no impact; 0 without mode: traded)", _ABS, "run market"),
    _f("excess_notional", "excess notional (traded replay)", "USD",
       "orders on a traded-price replay's markets beyond its bars' absorbed flow (these moved "
       "prices; 0 without mode: traded)", _ABS, "run market"),
    # --- who paid
    _f("bad_debt", "bad debt", "USD",
       "losses beyond the liquidated accounts' own margin (bankruptcy deficits)", _EV, _RV,
       _HC),
    _f("insurance_fund_start", "insurance fund start", "USD",
       "insurance fund balances at the start", _FUND, views="headline"),
    _f("insurance_fund_min", "insurance fund minimum", "USD",
       "lowest total insurance fund balance", _FUND),
    _f("insurance_fund_end", "insurance fund end", "USD", "insurance fund balances at the end",
       _FUND, "run venue market", "headline"),
    _f("insurance_fund_paid", "insurance fund paid", "USD",
       "what the insurance funds paid to cover deficits", _FUND, "run venue market",
       _HC + " axis_chart"),
    _f("insurance_fund_depleted", "insurance fund depleted", "flag",
       "whether any insurance fund ran empty", _FUND),
    _f("fund_depleted_at_ms", "insurance fund depleted at", "ms",
       "time from the start at which an insurance fund first reached 0 (NaN: never)", _DEPL),
    _f("socialized_loss", "socialized loss", "USD",
       "deficits spread over profitable accounts or open interest", _FUND, _RV, _HC),
    _f("venue_loss", "venue loss", "USD", "deficits the venue itself absorbed", _FUND,
       views="compare"),
    _f("liquidation_fees", "liquidation fees", "USD", "liquidation fees charged", _FUND),
    _f("venue_revenue", "venue revenue", "USD", "the venue's share of liquidation fees",
       _FUND),
    # --- auto-deleveraging
    _f("adl_events", "ADL events", "count", "positions closed by auto-deleveraging", _EV,
       _RV, _HC),
    _f("adl_notional", "ADL notional", "USD", "notional closed by auto-deleveraging", _EV,
       _RV, _HC + " axis_chart"),
    _f("adl_accounts", "ADL accounts", "count", "distinct accounts auto-deleveraged", _EV,
       _RV, _HC),
    _f("adl_haircut", "ADL haircut", "USD",
       "what deleveraged accounts gave up against closing at the mark", _EV, _RV),
    _f("adl_needed", "ADL needed (shortfall)", "USD",
       "shortfall at the mark that ADL covered: the least a pro-rata haircut would take (the "
       "queue-total need; adl_need when every deleveraged account was bankrupt at the mark)",
       _ADL, _RV, "adl_compare"),
    _f("adl_profit_closed", "ADL profit closed", "USD",
       "winners' unrealised profit on the positions ADL closed", _ADL, _RV),
    _f("adl_overuse", "ADL over-use", "USD", "profit ADL closed beyond the shortfall", _ADL,
       _RV, "compare"),
    _f("adl_overuse_ratio", "ADL over-use ratio", "ratio",
       "profit closed over the shortfall (NaN without ADL)", _ADL, _RV, "adl_compare"),
    _f("adl_waves", "ADL waves", "count",
       "ADL rounds: a venue's ADL fills with no gap over 5 s (arXiv 2602.15182)", _AW, _RV),
    _f("adl_need", "ADL need", "USD",
       "sum over waves of B_t^needed = Σ |mark - bankruptcy price| x quantity of the wave's ADL "
       "fills (arXiv 2602.15182, eq. 6)", _AW, _RV, "adl_compare"),
    _f("adl_production", "ADL production", "USD",
       "sum over waves of H_t: equity the deleveraged accounts lost against keeping their "
       "positions to the wave's end", _AW, _RV, "adl_compare"),
    _f("adl_overshoot", "ADL overshoot", "USD",
       "sum over waves of [H_t - B_t^needed]+ (arXiv 2602.15182)", _AW, _RV, "compare"),
    _f("adl_undershoot", "ADL undershoot", "USD",
       "sum over waves of [B_t^needed - H_t]+", _AW, _RV),
    _f("adl_overshoot_net", "ADL overshoot, net", "USD",
       "sum over waves of H_t - B_t^needed (the published O(0))", _AW, _RV, "adl_compare"),
    _f("adl_queue_overshoot", "ADL queue overshoot", "USD",
       "queue-total: per market cluster (5 s gap), winners' profit closed beyond the need, "
       "summed (arXiv 2512.01112)", _AW, _RV, "adl_compare"),
    _f("adl_share_pooled", "ADL haircut / profit closed", "fraction",
       "all haircuts over all profit closed", fairness_metrics, views="adl_compare"),
    _f("adl_share_mean", "mean ADL haircut share", "fraction",
       "mean over deleveraged accounts of haircut / profit closed", fairness_metrics,
       views="adl_compare"),
    _f("adl_share_std", "std of ADL haircut shares", "fraction",
       "spread of haircut shares (0: as fair as pro rata)", fairness_metrics,
       views="adl_compare"),
    _f("adl_haircut_gini", "Gini of ADL haircuts", "ratio",
       "inequality of USD haircuts over deleveraged accounts", fairness_metrics,
       views="adl_compare"),
    # --- optional mechanisms
    _f("vault_takeovers", "vault takeovers", "count",
       "positions the liquidator vault took over", _MECH, _RV),
    _f("vault_takeover_notional", "vault takeover notional", "USD",
       "notional the vault took over, at the mark", _MECH, _RV),
    _f("vault_pnl", "vault PnL", "USD",
       "vault equity at the end less its starting capital", _MECH, _RV),
    _f("fund_takeovers", "fund takeovers", "count",
       "bankrupt positions the insurance fund took over", _MECH, _RV),
    _f("fund_takeover_notional", "fund takeover notional", "USD",
       "notional the insurance fund took over", _MECH, _RV),
    _f("auctions_started", "auctions started", "count", "liquidation auctions started",
       _MECH, _RV),
    _f("auctions_filled", "auctions filled", "count",
       "auctions keepers took in full", _MECH, _RV),
    _f("auctions_failed", "auctions failed", "count",
       "auctions that ended unfilled and closed the rest in the market", _MECH, _RV),
    _f("auction_takes", "keeper takes", "count", "fills of auctions by keepers", _MECH, _RV),
    _f("auction_take_notional", "keeper take notional", "USD",
       "notional keepers took in auctions", _MECH, _RV),
    _f("partial_liquidations", "partial liquidations", "count",
       "liquidations that closed part of a position", _MECH, _RV),
    _f("chunked_liquidations", "chunked liquidations", "count",
       "liquidation orders sent as one chunk of a large position", _MECH, _RV),
    _f("circuit_breaker_trips", "circuit breaker trips", "count",
       "times a circuit breaker paused a market", _MECH, _RV),
    _f("rejected_orders", "rejected orders", "count",
       "orders refused by an open-interest cap or a trading halt", _MECH),
)
_BY_NAME: dict[str, Figure] = {f.name: f for f in FIGURES}
assert len(_BY_NAME) == len(FIGURES), "a figure name appears twice"
assert set(FAIRNESS_METRICS) <= set(_BY_NAME), "a fairness figure is not catalogued"

MECHANISMS: tuple[Mechanism, ...] = (
    Mechanism("liquidator vault", "vault_takeovers",
              ("vault_takeovers", "vault_takeover_notional", "vault_pnl")),
    Mechanism("insurance fund takeover", "fund_takeovers",
              ("fund_takeovers", "fund_takeover_notional")),
    Mechanism("liquidation auctions", "auctions_started",
              ("auctions_started", "auctions_filled", "auctions_failed", "auction_takes",
               "auction_take_notional")),
    Mechanism("partial closes", "partial_liquidations", ("partial_liquidations",)),
    Mechanism("chunked closes", "chunked_liquidations", ("chunked_liquidations",)),
    Mechanism("auto-deleveraging", "adl_needed",
              ("adl_events", "adl_accounts", "adl_notional", "adl_haircut", "adl_needed",
               "adl_overuse", "adl_need", "adl_overshoot")),
    Mechanism("socialization", "socialized_loss", ("socialized_loss",)),
    Mechanism("circuit breakers", "circuit_breaker_trips", ("circuit_breaker_trips",)),
)

_GENERATION = re.compile(r"^generation\.(\d+)\.([a-z_]+)$")


def scope_of(key: str) -> tuple[Scope, str, str]:
    """(scope, where, figure name) of a summary key: "cex:BTC-PERP.liquidations" ->
    ("market", "cex:BTC-PERP", "liquidations"); a run total has where "". """
    if match := _GENERATION.match(key):
        return "generation", match[1], match[2]
    where, _, name = key.rpartition(".")
    if not where:
        return "run", "", name
    return ("market" if ":" in where else "venue"), where, name


def figure(key: str) -> Figure | None:
    """The catalogue's figure of a summary key or metric column (any scope), else None."""
    found = _BY_NAME.get(scope_of(key)[2])
    return found if found is not None and scope_of(key)[0] in found.scopes else None


def unit_of(key: str) -> str:
    """The unit of a summary key or metric column ("" when it is not catalogued)."""
    found = figure(key)
    return found.unit if found is not None else ""


def units_of(keys: Iterable[str]) -> dict[str, str]:
    """Unit per key, for the keys the catalogue knows."""
    return {k: unit_of(k) for k in keys if figure(k) is not None}


def label(key: str) -> str:
    """A key's label: "liquidated notional", "cex: liquidations"; else the key itself."""
    found = figure(key)
    if found is None:
        return key
    scope, where, _ = scope_of(key)
    if scope == "run":
        return found.label
    return f"{'generation ' if scope == 'generation' else ''}{where}: {found.label}"


_TITLE_UNITS = {"USD": "USD", "ms": "ms", "fraction": "share"}


def title(key: str) -> str:
    """A chart title or axis label: the label with its unit where a number needs one."""
    unit = _TITLE_UNITS.get(unit_of(key))
    return f"{label(key)} ({unit})" if unit else label(key)


def names(view: View) -> list[str]:
    """The figures of one view, in catalogue order."""
    if view not in VIEWS:
        raise ValueError(f"unknown view {view!r} (known: {', '.join(VIEWS)})")
    return [f.name for f in FIGURES if view in f.views]


def format_value(value: object, unit: str, compact: bool = False, missing: str = "n/a") -> str:
    """A number for a table in its unit: "$1,234,567" (compact: "$1.23M"), "1,234",
    "12.34%", "1.31", "250 ms", "yes"; ``missing`` for None and NaN."""
    if value is None:
        return missing
    if unit == "flag":
        return "yes" if value else "no"
    x = float(value)  # type: ignore[arg-type]
    if not math.isfinite(x):
        return missing
    if unit == "USD":
        sign = "-" if x < 0 else ""  # the sign before the dollar sign: -$1,234
        if compact and abs(x) >= 1e6:
            return f"{sign}${abs(x) / 1e6:,.2f}M"
        return f"{sign}${abs(x):,.0f}"
    if unit == "fraction" and not compact:
        return f"{x:.2%}"
    if unit == "ms":
        return f"{x:,.0f} ms"
    if abs(x) >= 1e3 or (unit == "count" and x.is_integer()):
        return f"{x:,.0f}"
    return f"{x:.3g}" if compact else f"{x:.4g}"


def markdown() -> str:
    """``docs/outputs.md``: every figure with its unit, scopes and meaning."""
    out = [
        "# Run outputs: the figures of `summary.json`",
        "",
        "Generated from `simulator/run/catalogue.py`; do not edit. Regenerate with",
        "`python -m simulator.run.catalogue > docs/outputs.md`.",
        "",
        "`summary.json` holds every figure of a run under its key, and under `units` the unit",
        "of each key. A key names a figure and its scope:",
        "",
        *[f"- {text}" for text in SCOPES.values()],
        "",
        "A venue's mechanism figures (vault, fund takeover, auctions, ...) appear under the",
        "venue only when the venue uses that mechanism; the run totals are always there.",
        "Figures marked *not in summary* are added per run by comparisons and sweeps.",
        "",
        "| unit | meaning |",
        "|---|---|",
        *[f"| {u} | {UNIT_MEANINGS[u]} |" for u in UNITS],
        "",
        "| figure | label | unit | scopes | headline | meaning |",
        "|---|---|---|---|---|---|",
    ]
    for f in FIGURES:
        scopes = ", ".join(s for s in SCOPES if s in f.scopes)
        meaning = f.meaning if f.in_summary else f"{f.meaning} (*not in summary*)"
        out.append(f"| `{f.name}` | {f.label} | {f.unit} | {scopes} | "
                   f"{'yes' if f.headline else ''} | {meaning} |")
    out += ["", "## What each mechanism did", "",
            "`liqsim run` prints these per venue, for the mechanisms the venue uses.", "",
            "| mechanism | figures |", "|---|---|"]
    out += [f"| {m.title} | {', '.join(f'`{n}`' for n in m.figures)} |" for m in MECHANISMS]
    return "\n".join(out) + "\n"


def venue_mechanisms(summary: Mapping[str, object], venue: str) -> list[Mechanism]:
    """The mechanisms ``venue`` used in a run, from its summary."""
    return [m for m in MECHANISMS if f"{venue}.{m.marker}" in summary]


if __name__ == "__main__":
    print(markdown(), end="")
