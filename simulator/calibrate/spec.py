"""The calibration file: which scenario, which parameters to fit (with bounds), which targets
(summary figures and ratios of them) to match, over which seeds, by which scipy search.

::

    scenario: experiments/scenarios/flash_crash.yaml   # a file or a built-in name
    set: ["duration=30m"]                               # fixed overrides, as `liqsim run --set`
    seeds: [1, 2, 3]                                    # or n: seeds 1..n
    parameters:
      - {path: populations.retail.count, low: 500, high: 5000, integer: true}
      - {path: populations.retail.long_share, low: 0.5, high: 0.95}
    targets:
      - {metric: liquidated_notional, value: 2.0e7}
      - {ratio: [liquidated_long_notional, liquidated_notional], value: 0.87, name: long_share}
    method: nelder-mead                                 # or powell, differential-evolution
    max_evaluations: 40

A ``CalibrationSpec`` is plain, validated data. ``load_calibration`` also checks that the
scenario takes every parameter path at its low bound, midpoint and high bound, so a bad path
fails before anything runs. This module knows the file format and scenarios as data; it must
not run simulations nor know the search.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from pydantic import (
    Field,
    PositiveFloat,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from simulator.config import Scenario, ScenarioError
from simulator.config.base import Strict
from simulator.config.replays import data_paths
from simulator.config.scenario import did_you_mean, format_errors, read_document
from simulator.config.scenarios import DEFAULT, load_builtin

__all__ = ["METHODS", "CalibrationError", "CalibrationSpec", "Parameter", "Target",
           "assignment", "check_parameters", "load_calibration", "parse_calibration"]

METHODS = ("nelder-mead", "powell", "differential-evolution")


class CalibrationError(ScenarioError):
    """A calibration that cannot be run or finished; ``str()`` is the readable message."""


def _number_text(value: float | int) -> str:
    """``value`` as YAML reads back the same number: PyYAML takes ``1e-05`` for a string, so a
    float's exponent form gets its ``.0`` (``1.0e-05``)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    text = repr(float(value))
    if "e" in text and "." not in text.split("e")[0]:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}.0e{exponent}"
    return text


def assignment(path: str, value: float | int) -> str:
    """``path=value`` as ``Scenario.with_overrides`` reads it."""
    return f"{path}={_number_text(value)}"


class Parameter(Strict):
    """A scenario field to fit, between ``low`` and ``high``. ``log``: searched on a log scale
    (needs ``low > 0``); ``integer``: rounded to a whole number when applied; ``start``: where
    a local search (nelder-mead, powell) starts (default: the middle of the searched scale)."""

    path: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*$")
    low: float
    high: float
    integer: bool = False
    log: bool = False
    start: float | None = None

    @model_validator(mode="after")
    def _bounds(self) -> Parameter:
        if not self.low < self.high:
            raise ValueError(f"low ({self.low:g}) must be below high ({self.high:g})")
        if self.log and self.low <= 0:
            raise ValueError(f"low: a log-scaled parameter needs low > 0, got {self.low:g}")
        if self.integer and math.ceil(self.low) > math.floor(self.high):
            raise ValueError(f"no whole number between low ({self.low:g}) and high "
                             f"({self.high:g})")
        if self.start is not None and not self.low <= self.start <= self.high:
            raise ValueError(f"start ({self.start:g}) must lie between low and high")
        return self

    # --- the normalised search space [0, 1] ---------------------------------------------------
    def value(self, u: float) -> float | int:
        """The applied value at ``u`` in [0, 1] (clipped): linear or log between the bounds,
        rounded (and kept within the bounds) for an integer parameter, to 12 significant
        digits for any other."""
        u = min(max(float(u), 0.0), 1.0)
        if self.log:
            x = math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        else:
            x = self.low + u * (self.high - self.low)
        if self.integer:
            return int(min(max(round(x), math.ceil(self.low)), math.floor(self.high)))
        # 12 significant digits: points a search reaches by different float paths (a clipped
        # vertex, say) are one evaluation, and the override text is the value exactly.
        return float(f"{min(max(x, self.low), self.high):.12g}")

    def unit(self, x: float) -> float:
        """Where the value ``x`` lies in [0, 1] (the inverse of ``value`` before rounding)."""
        if self.log:
            u = (math.log(x) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        else:
            u = (x - self.low) / (self.high - self.low)
        return min(max(u, 0.0), 1.0)

    def start_unit(self) -> float:
        return 0.5 if self.start is None else self.unit(self.start)


class Target(Strict):
    """A figure to match: a summary key (``metric``) or the ratio of two (``ratio``, per seed),
    its target ``value``, a ``name`` (default: the metric, or ``a/b``) and a ``weight`` in the
    objective."""

    metric: str | None = Field(default=None, min_length=1)
    ratio: tuple[str, str] | None = None
    value: float
    name: str | None = Field(default=None, min_length=1)
    weight: PositiveFloat = 1.0

    @model_validator(mode="after")
    def _one_kind(self) -> Target:
        if (self.metric is None) == (self.ratio is None):
            raise ValueError("a target has either `metric` (a summary key) or `ratio` "
                             "([numerator, denominator] summary keys), not "
                             f"{'both' if self.metric is not None else 'neither'}")
        if self.name is None:
            label = self.metric if self.metric is not None else "/".join(self.ratio or ())
            object.__setattr__(self, "name", label)
        return self

    @property
    def keys(self) -> tuple[str, ...]:
        """The summary keys this target reads."""
        return (self.metric,) if self.metric is not None else tuple(self.ratio or ())


class CalibrationSpec(Strict):
    scenario: str = Field(default=DEFAULT, min_length=1)
    description: str = ""
    set: list[str] = []
    seeds: list[int] = Field(default=[1], min_length=1)
    parameters: list[Parameter] = Field(min_length=1)
    targets: list[Target] = Field(min_length=1)
    method: str = "nelder-mead"
    max_evaluations: int = Field(default=40, ge=1)
    search_seed: int = Field(default=0, ge=0)
    # Tolerances in the normalised space (xtol) and on the objective (ftol): nelder-mead's
    # xatol/fatol, powell's xtol/ftol, differential-evolution's atol (ftol; its tol stays 0.01).
    xtol: PositiveFloat = 1e-3
    ftol: PositiveFloat = 1e-6
    popsize: int = Field(default=5, ge=1)  # differential-evolution: population = popsize x k

    # Where a relative scenario path resolves first (the calibration file's folder).
    _base_dir: Path | None = PrivateAttr(default=None)

    @field_validator("seeds", mode="before")
    @classmethod
    def _seed_count(cls, v: Any) -> Any:
        if isinstance(v, int) and not isinstance(v, bool):
            if v < 1:
                raise ValueError(f"a number of seeds must be at least 1, got {v}")
            return list(range(1, v + 1))
        return v

    @field_validator("seeds")
    @classmethod
    def _seeds_ok(cls, v: list[int]) -> list[int]:
        if len(set(v)) != len(v) or min(v) < 0:
            raise ValueError(f"expected distinct non-negative integers, got {v}")
        return v

    @field_validator("set")
    @classmethod
    def _set_ok(cls, v: list[str]) -> list[str]:
        for text in v:
            if "=" not in text:
                raise ValueError(f"{text!r} is not an override (expected path.to.field=value)")
        return v

    @field_validator("method")
    @classmethod
    def _method_ok(cls, v: str) -> str:
        if v not in METHODS:
            raise ValueError(f"unknown method {v!r}{did_you_mean(v, METHODS)} "
                             f"(known: {', '.join(METHODS)})")
        return v

    @model_validator(mode="after")
    def _unique(self) -> CalibrationSpec:
        for what, names in (("parameters (path)", [p.path for p in self.parameters]),
                            ("targets (name)", [str(t.name) for t in self.targets])):
            dup = sorted({n for n in names if names.count(n) > 1})
            if dup:
                raise ValueError(f"{what}: must be unique, repeated: {', '.join(dup)}")
        return self

    def base_scenario(self) -> Scenario:
        """The scenario (a file: beside the calibration file, in the working folder or one of
        their parents; else a built-in name) with the fixed ``set`` overrides applied."""
        try:
            scenario = _resolve(self.scenario, self._base_dir)
        except ScenarioError as exc:
            raise CalibrationError(f"scenario: {exc}") from None
        if self.set:
            try:
                scenario = scenario.with_overrides(list(self.set))
            except ScenarioError as exc:
                raise CalibrationError(f"set: {exc}") from None
        return scenario

    def with_seeds(self, n: int) -> CalibrationSpec:
        """This spec on seeds 1..n (the CLI's ``--seeds``)."""
        return self._copy(seeds=list(range(1, n + 1)))

    def with_max_evaluations(self, n: int) -> CalibrationSpec:
        return self._copy(max_evaluations=n)

    def _copy(self, **changes: Any) -> CalibrationSpec:
        data = {**self.model_dump(), **changes}
        try:
            spec = CalibrationSpec.model_validate(data)
        except ValidationError as exc:
            raise CalibrationError(_errors(exc)) from None
        spec._base_dir = self._base_dir
        return spec


def _resolve(name_or_path: str, base_dir: Path | None) -> Scenario:
    # The CLI's resolution (simulator.cli.common.resolve_scenario); a relative path is looked
    # for as a scenario's data files are (data_paths: beside the calibration file, the working
    # folder, their parents), so a spec in experiments/calibrations/ can name
    # experiments/scenarios/x.yaml from any working folder.
    from simulator.config import load_scenario

    path = Path(name_or_path)
    if not path.is_absolute():
        found = next((c for c in data_paths(path, base_dir) if c.is_file()), None)
        if found is not None:
            return load_scenario(found)
    if path.exists() or path.suffix in (".yaml", ".yml", ".json"):
        return load_scenario(path)
    return load_builtin(name_or_path)


def _errors(exc: ValidationError) -> str:
    return format_errors(exc, CalibrationSpec).replace("not part of the scenario format",
                                                       "not part of the calibration format")


def parse_calibration(data: Any, base_dir: Path | None = None) -> CalibrationSpec:
    """Validate plain data as a calibration spec (the format only, not the scenario)."""
    if not isinstance(data, dict):
        raise CalibrationError("a calibration file must be a mapping of keys to values")
    try:
        spec = CalibrationSpec.model_validate(data)
    except ValidationError as exc:
        raise CalibrationError(_errors(exc)) from None
    spec._base_dir = base_dir
    return spec


def check_parameters(spec: CalibrationSpec, base: Scenario) -> None:
    """Fail early on a parameter the scenario cannot take: each one at its low bound, its
    midpoint and its high bound (the others at their midpoints) must give a valid scenario."""
    middle = [p.value(0.5) for p in spec.parameters]
    for k, param in enumerate(spec.parameters):
        for where, u in (("midpoint", 0.5), ("low bound", 0.0), ("high bound", 1.0)):
            values = [*middle[:k], param.value(u), *middle[k + 1:]]
            try:
                base.with_overrides([assignment(p.path, v)
                                     for p, v in zip(spec.parameters, values, strict=True)])
            except ScenarioError as exc:
                text = " ".join(str(exc).split())
                raise CalibrationError(f"parameters[{k}] ({param.path}): the scenario cannot "
                                       f"take it at its {where} {values[k]:g}: {text}") from None


def load_calibration(path: str | Path) -> tuple[CalibrationSpec, Scenario]:
    """Read a calibration file: the spec and its base scenario (``set`` applied), with every
    parameter path checked against the scenario. Raises ``CalibrationError``."""
    path = Path(path)
    _, data = read_document(path, "calibration")
    spec = parse_calibration(data, base_dir=path.resolve().parent)
    base = spec.base_scenario()
    check_parameters(spec, base)
    return spec, base
