"""The sweep file: a base scenario, axes to vary, mechanism variants, replications, a seed.

A ``SweepSpec`` is plain, validated data; ``simulator.sweep.plan`` turns it into runs. Axes
come in three kinds::

    axes:
      - {path: shocks.0.move, values: [-5%, -10%]}               # grid: cartesian product
      - zip:                                                      # zipped: values move together
          - {path: venues.cex.insurance_fund, values: [1e5, 1e6]}
          - {path: venues.cex.liquidation.fee_rate, values: [0.5%, 1%]}
      - {path: populations.retail.long_share, range: [0.5, 0.8], samples: 3}   # random samples

Every axis contributes a list of points and the cells are the cartesian product of those
lists. Sampled values come from a generator keyed by the sweep's ``seed`` and the axis path
(deterministic, independent of the other axes). This module knows the sweep format only; it
must not run anything nor know simulation objects.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from pydantic import Field, PrivateAttr, ValidationError, field_validator, model_validator

from simulator.config import Scenario, ScenarioError, load_scenario
from simulator.config.base import Strict
from simulator.config.scenario import format_errors, read_document
from simulator.config.scenarios import DEFAULT, load_builtin
from simulator.run.rng import RunRandom

__all__ = ["BASE_FILE", "Axis", "SweepSpec", "ValuesAxis", "Variant", "axis_points",
           "base_yaml", "load_sweep", "parse_sweep", "sweep_yaml"]

BASE_FILE = "base_scenario.yaml"
_PATH = re.compile(r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*$")
_NAME = r"^[A-Za-z0-9_.\-]+$"


def _check_path(path: str) -> str:
    if not _PATH.match(path):
        raise ValueError(f"{path!r} is not a field path (dotted names or list indices, "
                         f"e.g. shocks.0.move)")
    return path


def _check_assignments(items: list[str]) -> list[str]:
    for text in items:
        if "=" not in text or not _PATH.match(text.split("=", 1)[0].strip()):
            raise ValueError(f"{text!r} is not an override (expected path.to.field=value)")
    return items


class ValuesAxis(Strict):
    """One field and the values it takes (one member of a ``zip``)."""

    path: str
    values: list[Any] = Field(min_length=1)

    @field_validator("path")
    @classmethod
    def _path_ok(cls, v: str) -> str:
        return _check_path(v)


class Axis(Strict):
    """A grid axis (``path`` + ``values``), a zip of grid axes (``zip``), or a sampled axis
    (``path`` + ``range`` + ``samples``, uniform or, with ``log: true``, log-uniform)."""

    path: str | None = None
    values: list[Any] | None = Field(default=None, min_length=1)
    zip: list[ValuesAxis] | None = Field(default=None, min_length=1)
    range: tuple[float, float] | None = None
    samples: int | None = Field(default=None, ge=1)
    log: bool = False

    @field_validator("path")
    @classmethod
    def _path_ok(cls, v: str | None) -> str | None:
        return None if v is None else _check_path(v)

    @model_validator(mode="after")
    def _one_kind(self) -> Axis:
        if self.zip is not None:
            if any(x is not None for x in (self.path, self.values, self.range, self.samples)):
                raise ValueError("a zip axis has only `zip` (a list of {path, values})")
            lengths = [len(z.values) for z in self.zip]
            if len(set(lengths)) > 1:
                raise ValueError(f"zip: every list of values must have the same length, got "
                                 f"{', '.join(f'{z.path}: {len(z.values)}' for z in self.zip)}")
            return self
        if self.path is None:
            raise ValueError("an axis needs `path` (with `values`, or `range` and `samples`) "
                             "or `zip`")
        if self.values is not None:
            if self.range is not None or self.samples is not None or self.log:
                raise ValueError("an axis has either `values` or `range` and `samples`, not both")
            return self
        if self.range is None or self.samples is None:
            raise ValueError("an axis needs `values`, or `range: [lo, hi]` and `samples: N`")
        lo, hi = self.range
        if not (np.isfinite(lo) and np.isfinite(hi)) or lo > hi:
            raise ValueError(f"range: expected finite [lo, hi] with lo <= hi, got [{lo}, {hi}]")
        if self.log and lo <= 0:
            raise ValueError("range: a log range needs lo > 0")
        return self

    def paths(self) -> list[str]:
        return [z.path for z in self.zip] if self.zip is not None else [str(self.path)]


class Variant(Strict):
    """A mechanism variant: an optional preset (every venue), then overrides (``set``).

    Also constructed positionally, ``Variant("big", ("venues.cex.insurance_fund=3e6",),
    "binance")`` (name, overrides, preset), as comparisons build them."""

    name: str = Field(min_length=1, pattern=_NAME)
    preset: str | None = None
    set: list[str] = []

    def __init__(self, name: str | None = None, overrides: Sequence[str] | None = None,
                 preset: str | None = None, **data: Any) -> None:
        for key, value in (("name", name), ("preset", preset)):
            if value is not None:
                data[key] = value
        if overrides is not None:
            data["set"] = list(overrides)
        super().__init__(**data)

    @field_validator("set")
    @classmethod
    def _set_ok(cls, v: list[str]) -> list[str]:
        return _check_assignments(v)

    @property
    def overrides(self) -> tuple[str, ...]:
        """The overrides, in order (``set`` as a tuple)."""
        return tuple(self.set)


class SweepSpec(Strict):
    name: str = Field(min_length=1, pattern=_NAME)
    description: str = ""
    base: str = Field(default=DEFAULT, min_length=1)  # a scenario file, or "default"
    set: list[str] = []
    axes: list[Axis] = []
    variants: list[Variant] = Field(default=[Variant(name="base")], min_length=1)
    replications: int = Field(default=1, ge=1)
    seed: int = Field(default=0, ge=0)
    # Explicit seeds instead of derived ones: replication r runs with seeds[r] in every
    # variant (a comparison's "the same N seeds"); then replications is len(seeds).
    seeds: list[int] | None = Field(default=None, min_length=1)
    common_random_numbers: bool = True

    # Where a relative ``base`` resolves, and the file's text (written to sweep.yaml as given).
    _base_dir: Path | None = PrivateAttr(default=None)
    _source: str | None = PrivateAttr(default=None)
    # A base scenario given as an object (a comparison of an in-memory scenario): it wins
    # over ``base``, and a sweep folder stores it as BASE_FILE beside sweep.yaml.
    _scenario: Scenario | None = PrivateAttr(default=None)

    @field_validator("set")
    @classmethod
    def _set_ok(cls, v: list[str]) -> list[str]:
        return _check_assignments(v)

    @model_validator(mode="after")
    def _unique(self) -> SweepSpec:
        names = [v.name for v in self.variants]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"variants: names must be unique, repeated: {', '.join(dup)}")
        paths = [p for a in self.axes for p in a.paths()]
        dup = sorted({p for p in paths if paths.count(p) > 1})
        if dup:
            raise ValueError(f"axes: a path may be swept by one axis only, repeated: "
                             f"{', '.join(dup)}")
        if self.seeds is not None:
            if len(set(self.seeds)) != len(self.seeds) or min(self.seeds) < 0:
                raise ValueError(f"seeds: expected distinct non-negative integers, got "
                                 f"{self.seeds}")
            if "replications" in self.model_fields_set and self.replications != len(self.seeds):
                raise ValueError(f"replications: {self.replications}, but {len(self.seeds)} "
                                 f"seeds; give one or the other")
            if not self.common_random_numbers:
                raise ValueError("seeds: explicit seeds are the same in every variant; they "
                                 "need common_random_numbers")
            object.__setattr__(self, "replications", len(self.seeds))
        return self

    def with_scenario(self, scenario: Scenario) -> SweepSpec:
        """This spec on ``scenario`` (an object, not a file) as its base."""
        spec = self.model_copy()
        spec._scenario = scenario
        return spec

    def base_scenario(self) -> Scenario:
        """The base scenario with the sweep's ``set`` applied."""
        if self._scenario is not None:
            scenario = self._scenario
        elif self.base == DEFAULT:
            scenario = load_builtin(DEFAULT)
        else:
            path = Path(self.base)
            if not path.is_absolute() and self._base_dir is not None:
                path = self._base_dir / path
            scenario = load_scenario(path)
        if self.set:
            try:
                scenario = scenario.with_overrides(list(self.set))
            except ScenarioError as exc:
                raise ScenarioError(f"set: {exc}") from None
        return scenario


def axis_points(axis: Axis, seed: int) -> list[dict[str, Any]]:
    """The points an axis contributes to the product: one ``{path: value}`` per point."""
    if axis.zip is not None:
        return [{z.path: z.values[i] for z in axis.zip} for i in range(len(axis.zip[0].values))]
    path = str(axis.path)
    if axis.values is not None:
        return [{path: v} for v in axis.values]
    lo, hi = axis.range  # type: ignore[misc]
    # Keyed by the path, not the axis' position: reordering axes keeps every sample.
    rng = RunRandom(seed).stream(f"sweep-axis:{path}")
    u = rng.random(int(axis.samples))  # type: ignore[arg-type]
    draws = np.exp(np.log(lo) + u * (np.log(hi) - np.log(lo))) if axis.log else lo + u * (hi - lo)
    return [{path: float(x)} for x in draws]


def parse_sweep(data: Any, base_dir: Path | None = None) -> SweepSpec:
    """Validate plain data as a sweep; a relative ``base`` resolves against ``base_dir``."""
    if not isinstance(data, dict):
        raise ScenarioError("a sweep must be a mapping of keys to values")
    try:
        spec = SweepSpec.model_validate(data)
    except ValidationError as exc:
        text = format_errors(exc, SweepSpec).replace("not part of the scenario format",
                                                      "not part of the sweep format")
        raise ScenarioError(text) from None
    spec._base_dir = base_dir
    return spec


def load_sweep(path: str | Path) -> SweepSpec:
    """Read a YAML sweep file. Raises ``ScenarioError`` (one line per problem, with its field
    path) for a bad file; the base scenario and the axis paths are checked too."""
    path = Path(path)
    text, data = read_document(path, "sweep")
    spec = parse_sweep(data, base_dir=path.resolve().parent)
    spec._source = text
    check_paths(spec)
    return spec


def assignment(path: str, value: Any) -> str:
    """``path=value`` as ``with_overrides`` reads it (YAML), keeping the value's type."""
    if isinstance(value, str):
        try:
            if yaml.safe_load(value) == value and "\n" not in value:
                return f"{path}={value}"  # plain, e.g. "-10%" or a preset name
        except yaml.YAMLError:
            pass
    return f"{path}={json.dumps(value)}"  # JSON is YAML: lists, numbers, quoted strings


def check_paths(spec: SweepSpec) -> None:
    """Fail early on an axis path the base scenario does not have: apply each axis' first
    point alone to the base (cheap, one validation per axis)."""
    base = spec.base_scenario()
    for k, axis in enumerate(spec.axes):
        point = axis_points(axis, spec.seed)[0]
        try:
            base.with_overrides([assignment(p, v) for p, v in point.items()])
        except ScenarioError as exc:
            raise ScenarioError(f"axes[{k}]: {exc}") from None


def sweep_yaml(spec: SweepSpec) -> str:
    """The sweep as given (the file's text when loaded from a file). A base scenario given as
    an object is named as ``BASE_FILE`` (``base_yaml`` is its text, stored beside)."""
    if spec._source is not None:
        return spec._source
    data = spec.model_dump(mode="json", exclude_defaults=True)
    if spec._scenario is not None:
        data = {"name": data.pop("name"), "base": BASE_FILE,
                **{k: v for k, v in data.items() if k != "base"}}
    return yaml.safe_dump(data, sort_keys=False)


def base_yaml(spec: SweepSpec) -> str | None:
    """The base scenario given as an object, as a scenario file's text (else None)."""
    if spec._scenario is None:
        return None
    return yaml.safe_dump(spec._scenario.to_dict(), sort_keys=False)
