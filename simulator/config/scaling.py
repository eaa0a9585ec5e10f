"""The same world smaller (or larger): a scenario's ``scale`` applied to its extensive sizes.

``scale: 0.1`` keeps every account's size, leverage and behaviour, every price and every rule,
and multiplies what adds up over accounts: the populations' counts (and their arrivals, dip
buyers and momentum sellers) and ``target_oi``; the books' depth (its ``scale``); the real
flow a traded-price replay's market absorbs (``absorbed_share``); insurance funds and their
caps; the vault's, keepers' and arbitrageurs' capital; open-interest caps and makers' loss
limits. Forced flow and the depth that absorbs it then shrink together, so a cascade's price
path is about the same at a tenth of the accounts. Explicit accounts are individual and stay.
The world is built from ``scaled(scenario)``, whose ``scale`` is 1 (the effective config).
Nothing here runs.
"""

from __future__ import annotations

from typing import Any

from simulator.config.scenario import Scenario, parse_scenario


def _times(block: dict, key: str, factor: float) -> None:
    if block.get(key) is not None:
        block[key] = block[key] * factor


def _count(block: dict | None, factor: float) -> None:
    if block is not None:
        block["count"] = int(round(block["count"] * factor))


def scaled(scenario: Scenario) -> Scenario:
    """``scenario`` with its extensive sizes times its ``scale``, and ``scale`` 1."""
    factor = scenario.scale
    data: dict[str, Any] = scenario.to_dict()
    data["scale"] = 1.0
    if factor == 1.0:
        return parse_scenario(data)
    for p in data["populations"]:
        _count(p, factor)
        for block in ("arrivals", "dip_buyers", "momentum"):
            _count(p.get(block), factor)
        if p.get("target_oi"):
            p["target_oi"] = {m: usd * factor for m, usd in p["target_oi"].items()}
    for v in data["venues"]:
        _times(v, "insurance_fund", factor)
        for key in ("cap_per_event", "cap_per_period"):
            _times(v["fund"], key, factor)
        if v.get("maker_risk"):
            _times(v["maker_risk"], "loss_limit", factor)
        lq = v["liquidation"]
        if lq.get("backstop"):
            _times(lq["backstop"], "capital", factor)
        if lq.get("auction") and lq["auction"].get("keepers"):
            _times(lq["auction"]["keepers"], "capital", factor)
        for m in v["markets"]:
            # Through the depth's scale, not its profile: a profile read from a depth file is
            # read again when the scaled scenario is parsed.
            m["depth"]["scale"] = m["depth"].get("scale", 1.0) * factor
            _times(m, "insurance_fund", factor)
            _times(m, "open_interest_cap", factor)
    for a in data["arbitrage"]:
        _times(a, "capital", factor)
    for r in data["replays"]:  # the real flow a traded-price replay's market stands for
        if r.get("mode") == "traded":
            _times(r, "absorbed_share", factor)
    return parse_scenario(data)
