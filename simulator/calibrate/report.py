"""The calibration folder: what ``calibrate`` found, written for people and for programs.

::

    fitted.yaml      the base scenario with the fitted values applied, as a scenario file
                     (the effective config, as runs store it: ``Scenario.to_dict()``), so
                     ``liqsim run fitted.yaml`` runs the fit
    fit.json         the spec, fitted parameters, targets achieved (mean, sd, 95% CI), the
                     objective, evaluations, scipy's success and message, provenance
    history.parquet  one row per evaluation (``search.Fit.history``)
    fit.md           the targets and parameters as Markdown tables
    fit.png          the objective and each target's mean by evaluation (``chart``)

Every file is written atomically. This module knows a ``Fit`` and files; it must not run
anything nor search.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml

from simulator.calibrate.search import Fit
from simulator.run import catalogue
from simulator.run.provenance import provenance
from simulator.run.result import write_atomic, write_json

__all__ = ["fit_data", "fit_markdown", "target_cells", "write_fit"]


def _unit(target: dict[str, Any]) -> str:
    return catalogue.unit_of(target["metric"]) if target.get("metric") else ""


def _value(x: float, unit: str) -> str:
    return catalogue.format_value(x, unit, compact=True, missing="–")


def target_cells(t: dict[str, Any]) -> list[str]:
    """A target row as table cells: name, target, achieved mean, 95% CI, error (relative
    as a percentage; absolute when the target is 0)."""
    unit = _unit(t)
    if math.isfinite(t["half_width"]):
        ci = f"[{_value(t['ci_low'], unit)}, {_value(t['ci_high'], unit)}]"
    else:
        ci = "– (one seed)"
    error = t["error"]
    if not math.isfinite(error):
        miss = "–"
    elif t["relative"]:
        miss = f"{error:+.1%}"
    else:
        miss = f"{error:+.4g} (abs.)"
    return [str(t["name"]), _value(t["value"], unit), _value(t["mean"], unit), ci, miss]


def _param_value(p: dict[str, Any]) -> str:
    v = p["value"]
    return f"{v:,d}" if p["integer"] else f"{v:.6g}"


def fit_data(fit: Fit) -> dict[str, Any]:
    """``fit.json``'s content."""
    spec = fit.spec
    return {
        "spec": spec.model_dump(mode="json"),
        "scenario": fit.base.name,
        "seeds": list(spec.seeds),
        "method": spec.method,
        "parameters": fit.parameters,
        "assignments": fit.assignments,
        "targets": [{**t, "per_seed": fit.per_seed[t["name"]]} for t in fit.targets],
        "objective": fit.objective,
        "best_evaluation": fit.best + 1,
        "evaluations": fit.evaluations,
        "calls": fit.calls,
        "success": fit.success,
        "message": fit.message,
        **provenance(),
    }


def _table(header: list[str], rows: list[list[str]], right: list[bool]) -> list[str]:
    rule = ["---:" if r else "---" for r in right]
    return ["| " + " | ".join(header) + " |", "| " + " | ".join(rule) + " |",
            *("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows)]


def fit_markdown(fit: Fit) -> str:
    """``fit.md``: what was fitted, how well, and how the search ended."""
    spec = fit.spec
    seeds = ", ".join(map(str, spec.seeds))
    lines = [f"# Calibration of {fit.base.name}", ""]
    if spec.description:
        lines += [spec.description.strip(), ""]
    lines += [f"{spec.method}, {fit.evaluations} evaluations (budget {spec.max_evaluations}) "
              f"of {len(spec.seeds)} seeds each ({seeds}, the same at every point); best "
              f"evaluation {fit.best + 1}, objective {fit.objective:.4g}.",
              f"Search: {'converged' if fit.success else 'not converged'} ({fit.message}).",
              "", "## Targets", ""]
    lines += _table(["target", "value", "achieved mean", "95% CI", "rel. error"],
                    [target_cells(t) for t in fit.targets], [False, True, True, True, True])
    lines += ["", "95% CI: mean ± t(0.975, n−1)·sd/√n over the n seeds at the best point.",
              "", "## Parameters", ""]
    rows = []
    for p in fit.parameters:
        scale = ("log" if p["log"] else "linear") + (", integer" if p["integer"] else "")
        rows.append([f"`{p['path']}`", _param_value(p), f"{p['low']:g}", f"{p['high']:g}",
                     scale, p["at_bound"] or "–"])
    lines += _table(["parameter", "fitted", "low", "high", "scale", "at bound"], rows,
                    [False, True, True, True, False, False])
    if any(p["at_bound"] for p in fit.parameters):
        lines += ["", "A parameter at a bound (within 1% of its searched range) may want a "
                      "wider range."]
    lines += ["", "Overrides of the fit (the base scenario's `set` applied first):", ""]
    lines += [f"- `{a}`" for a in fit.assignments]
    return "\n".join(lines) + "\n"


def write_fit(fit: Fit, out_dir: str | Path, figure: bool = True) -> Path:
    """Write the calibration folder (see the module docstring); returns it."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(fit.fitted.to_dict(), sort_keys=False)
    write_atomic(out / "fitted.yaml", lambda p: Path(p).write_text(text))
    write_json(out / "fit.json", fit_data(fit))
    write_atomic(out / "history.parquet", lambda p: fit.history.to_parquet(p, index=False))
    markdown = fit_markdown(fit)
    write_atomic(out / "fit.md", lambda p: Path(p).write_text(markdown))
    if figure:
        from simulator.calibrate.chart import write_fit_figure

        write_fit_figure(fit.history, fit.targets, fit.best, out,
                         title=f"calibration of {fit.base.name}")
    return out
