"""Expanding a ``SweepSpec`` into the ordered list of runs it stands for.

Order: cells (the cartesian product of the axes' points, first axis slowest), then variants,
then replications. Each run's scenario is the base (with the sweep's ``set``), then the
variant (preset, then its ``set``: ``variant_scenario``), then the cell's axis values last,
so the values in the results table are the values that ran.

Seeds: replication ``r`` runs with ``replication_seed(seed, r)`` (or the sweep's explicit
``seeds[r]``) in every cell and, with ``common_random_numbers`` (the default), in every
variant too, so variants differ only by their mechanism. Without it each variant gets its own
seed per replication, keyed by its name. This module knows scenarios and the sweep format; it
must not run anything.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simulator.config import Scenario, ScenarioError
from simulator.sweep.spec import SweepSpec, Variant, assignment, axis_points

__all__ = ["RunSpec", "assignment", "cells", "plan", "replication_seed", "run_key",
           "variant_scenario"]


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep: where it sits in the sweep, its seed and its scenario."""

    index: int  # position in plan order
    cell: int
    axes: dict[str, Any]
    variant: str
    replication: int
    seed: int
    scenario: Scenario = field(repr=False)
    run_key: str = ""


def variant_scenario(base: Scenario, v: Variant) -> Scenario:
    """``base`` under variant ``v``: its preset's mechanism settings (all venues), then its
    overrides. Raises ``ScenarioError`` naming the variant for anything it cannot apply."""
    scenario = base
    try:
        if v.preset is not None:
            if not hasattr(scenario, "with_preset"):
                raise ScenarioError("mechanism presets are not available in this version of "
                                    "liqsim (Scenario.with_preset is missing)")
            scenario = scenario.with_preset(v.preset)
        if v.set:
            scenario = scenario.with_overrides(list(v.set))
    except (KeyError, ValueError) as exc:  # ScenarioError is a ValueError
        text = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        raise ScenarioError(f"variant {v.name!r}: {text}") from None
    return scenario


def replication_seed(root: int, replication: int, variant: str | None = None) -> int:
    """The seed of replication ``replication``: the first 32-bit word of the root
    ``SeedSequence``'s child ``replication`` (what ``SeedSequence(root).spawn`` would give),
    or, for a variant without common random numbers, of that child's child keyed by the
    variant's name."""
    key: tuple[int, ...] = (replication,)
    if variant is not None:
        key += (int.from_bytes(hashlib.blake2b(variant.encode(), digest_size=4).digest(),
                               "little"),)
    return int(np.random.SeedSequence(root, spawn_key=key).generate_state(1, np.uint32)[0])


def run_key(scenario: Scenario, seed: int) -> str:
    """A stable key for (scenario, seed): 16 hex digits of the SHA-256 of the scenario's
    canonical JSON and the seed. Same scenario and seed, same key, same results."""
    text = json.dumps(scenario.to_dict(), sort_keys=True) + f"\nseed={int(seed)}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cells(spec: SweepSpec) -> list[dict[str, Any]]:
    """The cells' axis values, ``{path: value}``, in plan order (one empty cell: no axes)."""
    points = [axis_points(a, spec.seed) for a in spec.axes]
    return [{k: v for point in combo for k, v in point.items()}
            for combo in itertools.product(*points)]


def _describe(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items()) or "no axes"


def plan(spec: SweepSpec) -> list[RunSpec]:
    """Every run of the sweep, in plan order, each scenario built and validated. A scenario
    that fails raises ``ScenarioError`` naming the cell and variant."""
    base = spec.base_scenario()
    variants = []
    for v in spec.variants:
        # Built once per variant: the cells only add their axis values on top.
        variants.append((v.name, variant_scenario(base, v)))
    runs: list[RunSpec] = []
    for c, values in enumerate(cells(spec)):
        sets = [assignment(p, v) for p, v in values.items()]
        for name, scenario in variants:
            try:
                built = scenario.with_overrides(sets) if sets else scenario
            except ScenarioError as exc:
                raise ScenarioError(f"cell {c} ({_describe(values)}), variant {name!r}: "
                                    f"{exc}") from None
            for r in range(spec.replications):
                seed = (spec.seeds[r] if spec.seeds is not None else replication_seed(
                    spec.seed, r, None if spec.common_random_numbers else name))
                runs.append(RunSpec(len(runs), c, dict(values), name, r, seed, built,
                                    run_key(built, seed)))
    return runs
