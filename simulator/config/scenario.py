"""The scenario root: what a run simulates, loading from YAML/JSON, overrides, readable errors.

``Scenario`` checks everything that spans parts: names are unique, shocks and markets name
known assets, the correlation matrix is a valid (positive semi-definite) correlation matrix,
accounts and populations name known venues and markets, and leverage stays within each
market's limit. ``ScenarioError`` carries one readable line per problem, each naming the
field path (``venues[0].markets[1].tiers: ...``).
"""

from __future__ import annotations

import difflib
import json
import re
import types
import typing
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from pydantic import BaseModel, Field, PositiveFloat, ValidationError, model_validator

from markets.prices.paths import PathError, check_correlation
from simulator.config.collateral import Depeg
from simulator.config.disruptions import Disruption
from simulator.config.entries import history_bars
from simulator.config.links import Arbitrage, CrossImpact, IndexWeights
from simulator.config.models import (
    Account,
    Asset,
    Clock,
    Population,
    Replay,
    Shock,
    Strict,
    Venue,
)
from simulator.config.presets import KEPT_LIQUIDATION_KEYS, MECHANISM_KEYS, PRESETS
from simulator.config.units import Duration

_PRESET_ASSIGNMENT = re.compile(r"^venues\.([^.=]+)\.preset=(\S+)$")


class ScenarioError(ValueError):
    """A scenario that cannot be run; ``str()`` is the readable message."""


class Scenario(Strict):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    description: str = ""
    duration: Duration = Field(gt=0)
    seed: int = Field(default=0, ge=0)
    clock: Clock = Clock()
    assets: list[Asset] = Field(min_length=1)
    correlation: list[list[float]] | None = None  # default: identity
    shocks: list[Shock] = []
    replays: list[Replay] = []
    venues: list[Venue] = Field(min_length=1)
    cross_impact: list[CrossImpact] = []
    index_weights: list[IndexWeights] = []
    arbitrage: list[Arbitrage] = []
    disruptions: list[Disruption] = []
    depegs: list[Depeg] = []
    accounts: list[Account] = []
    populations: list[Population] = []
    # The same world at this size (simulator.config.scaling): counts, depth, funds, capital.
    scale: PositiveFloat = 1.0

    @model_validator(mode="after")
    def _references(self) -> Scenario:
        assets = [a.name for a in self.assets]
        _unique("assets", assets)
        _unique("venues", [v.name for v in self.venues])
        _unique("accounts", [a.name for a in self.accounts])
        _unique("populations", [p.name for p in self.populations])
        if self.correlation is not None:
            if any(len(row) != len(self.correlation) for row in self.correlation):
                raise ValueError(
                    f"correlation: must be a square matrix, one row and column per asset "
                    f"({len(assets)}x{len(assets)})"
                )
            corr = np.asarray(self.correlation, dtype=float)
            if corr.shape != (len(assets), len(assets)):
                raise ValueError(
                    f"correlation: must be {len(assets)}x{len(assets)} (one row and column per "
                    f"asset), got {'x'.join(map(str, corr.shape))}"
                )
            try:
                check_correlation(corr)
            except PathError as exc:
                raise ValueError(f"correlation: {exc}") from None
        for k, s in enumerate(self.shocks):
            _known(f"shocks[{k}].asset", s.asset, assets)
            if s.at >= self.duration:
                raise ValueError(f"shocks[{k}].at: the shock starts after the run ends")
        replayed = [r.asset for r in self.replays]
        _unique("replays (asset)", replayed)
        for k, r in enumerate(self.replays):
            _known(f"replays[{k}].asset", r.asset, assets)
        venues = {v.name: v for v in self.venues}
        for v_idx, v in enumerate(self.venues):
            for m_idx, m in enumerate(v.markets):
                _known(f"venues[{v_idx}].markets[{m_idx}].asset", m.asset, assets)
        for k, c in enumerate(self.cross_impact):
            _known(f"cross_impact[{k}].venue", c.venue, list(venues))
            _known(f"cross_impact[{k}].source", c.source, [m.name for m in venues[c.venue].markets])
            target = c.target_venue or c.venue
            _known(f"cross_impact[{k}].target_venue", target, list(venues))
            _known(f"cross_impact[{k}].target", c.target, [m.name for m in venues[target].markets])
            if target == c.venue and c.target == c.source:
                raise ValueError(f"cross_impact[{k}]: a market cannot move itself")
        _unique("index_weights (venue, asset)",
                [f"{w.venue}/{w.asset}" for w in self.index_weights])
        for k, w in enumerate(self.index_weights):
            _known(f"index_weights[{k}].venue", w.venue, list(venues))
            for name in (w.venue, *w.weights):
                _known(f"index_weights[{k}].weights", name, list(venues))
                listing = [m.name for m in venues[name].markets if m.asset == w.asset]
                if len(listing) != 1:
                    raise ValueError(
                        f"index_weights[{k}]: venue {name!r} lists {len(listing)} markets on "
                        f"{w.asset!r}; an index weight needs exactly one"
                    )
        accepted = {v.name: [c.asset for c in v.collateral] for v in self.venues}
        for v_idx, v in enumerate(self.venues):
            for c_idx, c in enumerate(v.collateral):
                _known(f"venues[{v_idx}].collateral[{c_idx}].asset", c.asset, assets)
            _unique(f"venues[{v_idx}].collateral", accepted[v.name])
        for k, a in enumerate(self.accounts):
            for name in a.collateral_assets:
                _known(f"accounts[{k}].collateral_assets", name, accepted.get(a.venue, []))
            if a.collateral_assets and a.margin_mode == "isolated":
                raise ValueError(f"accounts[{k}].collateral_assets: only a cross account holds "
                                 f"collateral in other assets")
        for k, p in enumerate(self.populations):
            for name in p.collateral_mix:
                _known(f"populations[{k}].collateral_mix", name, accepted.get(p.venue, []))
            if sum(p.collateral_mix.values()) > 1 + 1e-12:
                raise ValueError(f"populations[{k}].collateral_mix: the shares add up to more "
                                 f"than 1")
            v = venues.get(p.venue)
            for block in ("dip_buyers", "momentum"):
                if v is not None and v.contract == "inverse" and getattr(p, block) is not None:
                    raise ValueError(f"populations[{k}].{block}: not available on an inverse "
                                     f"venue ({p.venue!r}); give them to a linear venue")
        for k, d in enumerate(self.depegs):
            _known(f"depegs[{k}].venue", d.venue, list(venues))
            _known(f"depegs[{k}].asset", d.asset, accepted[d.venue])
        for k, d in enumerate(self.disruptions):
            _known(f"disruptions[{k}].venue", d.venue, list(venues))
            if d.at >= self.duration:
                raise ValueError(f"disruptions[{k}].at: the disruption starts after the run ends")
        sheets: dict[str, object] = {}
        for v_idx, v in enumerate(self.venues):
            risk = v.maker_risk
            if risk is not None and risk.balance_sheet is not None:
                first = sheets.setdefault(risk.balance_sheet, risk)
                if first != risk:
                    raise ValueError(
                        f"venues[{v_idx}].maker_risk: balance sheet {risk.balance_sheet!r} is "
                        f"shared, so its loss_limit, floor, spread_levels and resume must be "
                        f"the same on every venue that names it")
        _unique("arbitrage", [a.name for a in self.arbitrage])
        for k, arb in enumerate(self.arbitrage):
            _known(f"arbitrage[{k}].asset", arb.asset, assets)
            if arb.venues[0] == arb.venues[1]:
                raise ValueError(f"arbitrage[{k}].venues: two different venues are needed")
            for name in arb.venues:
                _known(f"arbitrage[{k}].venues", name, list(venues))
                listing = [m for m in venues[name].markets if m.asset == arb.asset]
                if len(listing) != 1:
                    raise ValueError(f"arbitrage[{k}]: venue {name!r} lists {len(listing)} "
                                     f"markets on {arb.asset!r}; an arbitrageur needs exactly one")
                if arb.leverage > listing[0].leverage_limit:
                    raise ValueError(f"arbitrage[{k}].leverage: {arb.leverage:g}x exceeds the "
                                     f"maximum leverage {listing[0].leverage_limit:g}x of "
                                     f"{name}'s {listing[0].name}")
        for k, a in enumerate(self.accounts):
            _known(f"accounts[{k}].venue", a.venue, list(venues))
            markets = {m.name: m for m in venues[a.venue].markets}
            for p_idx, p in enumerate(a.positions):
                _known(f"accounts[{k}].positions[{p_idx}].market", p.market, list(markets))
        for k, p in enumerate(self.populations):
            _known(f"populations[{k}].venue", p.venue, list(venues))
            if p.arrivals is not None and p.arrivals.end > self.duration:
                raise ValueError(f"populations[{k}].arrivals.end: after the run ends")
            markets = {m.name: m for m in venues[p.venue].markets}
            for name in p.markets:
                _known(f"populations[{k}].markets", name, list(markets))
            limit = min(markets[n].leverage_limit for n, w in p.markets.items() if w > 0)
            over = [lev for lev, w in p.leverage.items() if w > 0 and lev > limit]
            if over:
                raise ValueError(
                    f"populations[{k}].leverage: {over[0]:g}x exceeds the maximum leverage "
                    f"{limit:g}x of its markets"
                )
            if p.entries.source == "history":
                _history_available(f"populations[{k}].entries", p, markets, self.replays)
        return self

    # --- convenience ---------------------------------------------------------------------------
    def correlation_matrix(self) -> np.ndarray:
        if self.correlation is None:
            return np.eye(len(self.assets))
        return np.asarray(self.correlation, dtype=float)

    def to_dict(self) -> dict[str, Any]:
        """The scenario as plain data (durations back in units), as written to run.json."""
        return self.model_dump(mode="json")

    def with_overrides(self, assignments: list[str]) -> Scenario:
        """Apply ``path.to.field=value`` assignments in order. ``venues.<name>.preset=<p>``
        swaps that venue's mechanism for the preset's (as ``with_preset``): the scenario as
        data states every setting, so merely naming a preset would change nothing."""
        scenario = self
        data = scenario.to_dict()
        for text in assignments:
            preset = _PRESET_ASSIGNMENT.match(text.strip())
            if preset:
                venue = data["venues"][_list_index(data["venues"], preset.group(1), "venues")]
                scenario = parse_scenario(data).with_preset(preset.group(2), venue["name"])
                data = scenario.to_dict()
            else:
                apply_override(data, text)
        return parse_scenario(data)

    def with_preset(self, preset: str, venue: str | None = None) -> Scenario:
        """The same world under ``preset``'s mechanism on ``venue`` (default: every venue):
        the venue's mechanism settings are replaced, its markets, fund size and traders kept."""
        if preset not in PRESETS:
            raise ScenarioError(
                f"unknown preset {preset!r}{did_you_mean(preset, PRESETS)} "
                f"(known: {', '.join(PRESETS)})"
            )
        data = self.to_dict()
        names = [v["name"] for v in data["venues"]]
        if venue is not None and venue not in names:
            raise ScenarioError(
                f"unknown venue {venue!r}{did_you_mean(venue, names)} (known: {', '.join(names)})"
            )
        for v in data["venues"]:
            if venue is None or v["name"] == venue:
                old = {key: v.pop(key, None) or {} for key in MECHANISM_KEYS}
                # The engine's capacity and the traders' margin-call level belong to the world,
                # and so do the mark's smoothing and the index's share of the venue's impact:
                # a preset sets only the mark's method.
                v["liquidation"] = {k: old["liquidation"][k] for k in KEPT_LIQUIDATION_KEYS
                                    if k in old["liquidation"]}
                v["mark"] = {k: val for k, val in old["mark"].items() if k != "method"}
                v["preset"] = preset
        return parse_scenario(data)


def _history_available(where: str, p: Population, markets: dict, replays: list[Replay]) -> None:
    """A block drawing entries from history needs a replayed market, with bars before the
    replay's start (markets without a replay draw from the spread)."""
    by_asset = {r.asset: r for r in replays}
    traded = [markets[name] for name, w in p.markets.items() if w > 0]
    replayed = [by_asset[m.asset] for m in traded if m.asset in by_asset]
    if not replayed:
        raise ValueError(f"{where}: source history needs a replayed asset among the block's "
                         f"markets ({', '.join(m.name for m in traded)})")
    for r in replayed:
        try:
            history_bars(r, p.entries)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None


def _unique(what: str, names: list[str]) -> None:
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"{what}: names must be unique, repeated: {', '.join(dup)}")


def _known(path: str, name: str, known: list[str]) -> None:
    if name not in known:
        raise ValueError(
            f"{path}: unknown name {name!r}{did_you_mean(name, known)} "
            f"(known: {', '.join(known) or 'none'})"
        )


def did_you_mean(name: object, known: list[str] | tuple[str, ...] | Any) -> str:
    """``", did you mean 'x'?"`` for the closest of ``known`` to a misspelt ``name``, or ""."""
    close = difflib.get_close_matches(str(name), [str(k) for k in known], n=1, cutoff=0.6)
    return f", did you mean {close[0]!r}?" if close else ""


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation holds (through lists, unions, Annotated, dicts)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    origin = typing.get_origin(annotation)
    if origin is not None or isinstance(annotation, types.UnionType):
        for arg in typing.get_args(annotation):
            found.extend(_models_in(arg))
    return found


def _keys_at(loc: tuple, root: type[BaseModel]) -> list[str]:
    """The keys ``root``'s format allows in the mapping that holds ``loc``'s last key."""
    models: list[type[BaseModel]] = [root]
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        fields = [m.model_fields[part] for m in models if part in m.model_fields]
        if not fields:
            continue  # a union member's tag or a dict key: the models stay
        models = [m for f in fields for m in _models_in(f.annotation)]
        if not models:
            return []
    return sorted({name for m in models for name in m.model_fields})


# --- loading and errors ---------------------------------------------------------------------------
# A model-level check names the field it is about first ("max_leverage: ..."): fold it in.
_NAME = r"[A-Za-z_]\w*(?:\[\d+\])*"
_LEADING_FIELD = re.compile(rf"^({_NAME}(?:\.{_NAME})*): (.*)$", re.S)


def format_errors(exc: ValidationError, root: type[BaseModel] | None = None) -> str:
    """One line per problem, each starting with the field path it is about; an unknown key
    gets the closest key ``root``'s format allows there (default: the scenario's)."""
    lines = []
    for err in exc.errors(include_url=False):
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"]).lstrip(".")
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            loc = tuple(err["loc"])
            hint = did_you_mean(loc[-1], _keys_at(loc, root or Scenario)) if loc else ""
            msg = f"unknown key (not part of the scenario format){hint}"
        lead = _LEADING_FIELD.match(msg)
        if lead:
            head = lead.group(1)
            path = f"{path}{'' if head.startswith('[') else '.'}{head}" if path else head
            msg = lead.group(2)
        lines.append(f"{path}: {msg}" if path else msg)
    return "\n".join(lines)


def parse_scenario(data: Any, base_dir: Path | None = None) -> Scenario:
    """Validate plain data as a scenario; relative CSV paths resolve against ``base_dir``."""
    if not isinstance(data, dict):
        raise ScenarioError("a scenario must be a mapping of keys to values")
    try:
        return Scenario.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        raise ScenarioError(format_errors(exc)) from None


def read_document(path: Path, what: str) -> tuple[str, Any]:
    """The text and the parsed data of a YAML (or, by suffix, JSON) ``what`` file; an
    unreadable or malformed file is one ``ScenarioError`` line."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ScenarioError(f"cannot read {what} file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ScenarioError(f"{path} is not a text file (not valid UTF-8)") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise ScenarioError(
            f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}"
        ) from None
    except yaml.YAMLError as exc:
        raise ScenarioError(_yaml_problem(path, exc)) from None
    return text, data


def _yaml_problem(path: Path, exc: yaml.YAMLError) -> str:
    """PyYAML's error as one line: file, line and column, and the problem (no snippet)."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None)
    if isinstance(exc, yaml.reader.ReaderError):
        where = f"{path}: character {exc.position + 1}"
        problem = f"unacceptable character #x{exc.character:04x}" if isinstance(
            exc.character, int) else exc.reason
    elif mark is not None:
        where = f"{path}:{mark.line + 1}:{mark.column + 1}"
    else:
        where = str(path)
    text = " ".join(str(problem or exc).split())
    return f"{where}: not valid YAML: {text}"


def load_scenario(path: str | Path) -> Scenario:
    """Read a YAML or JSON scenario file."""
    path = Path(path)
    _, data = read_document(path, "scenario")
    return parse_scenario(data, base_dir=path.resolve().parent)


def apply_override(data: dict[str, Any], assignment: str) -> None:
    """Apply ``a.b.0.c=value`` (list items by index or by their ``name``) to plain data."""
    if "=" not in assignment:
        raise ScenarioError(f"--set {assignment!r}: expected path.to.field=value")
    path, raw = assignment.split("=", 1)
    keys = [k for k in path.strip().split(".") if k]
    if not keys:
        raise ScenarioError(f"--set {assignment!r}: empty field path")
    node: Any = data
    for depth, key in enumerate(keys):
        last = depth == len(keys) - 1
        where = ".".join(keys[: depth + 1])
        if isinstance(node, list):
            idx = _list_index(node, key, where)
            if last:
                node[idx] = yaml.safe_load(raw)
            else:
                node = node[idx]
        elif isinstance(node, dict):
            if last:
                node[key] = yaml.safe_load(raw)
            elif key not in node or node[key] is None:
                node[key] = {}
                node = node[key]
            else:
                node = node[key]
        else:
            raise ScenarioError(f"--set {assignment!r}: {where} is not a mapping or list")


def _list_index(items: list, key: str, where: str) -> int:
    if key.lstrip("-").isdigit():
        idx = int(key)
        if not -len(items) <= idx < len(items):
            raise ScenarioError(f"--set: {where}: index out of range (there are {len(items)})")
        return idx
    for idx, item in enumerate(items):
        if isinstance(item, dict) and item.get("name") == key:
            return idx
    raise ScenarioError(f"--set: {where}: no item named {key!r}")
