"""Does the venue's liquidation mechanism change how deep a cascade goes and who pays for it?

Research question: hit the *same* market -- the same price paths, the same traders with the
same positions and the same reactions to margin calls -- with the same shock under each
venue's liquidation mechanism (Binance, BitMEX, Bybit, OKX, Hyperliquid, dYdX, Drift presets)
or under hand-made variants, and compare the cascade (depth, liquidated notional,
amplification of the exogenous move) and its bill (bad debt, insurance fund paid, ADL notional
and accounts, socialized loss). For ADL, also ask whether it was fair -- how the haircuts were
spread over the deleveraged accounts (a pro-rata haircut would take the same share of every
winner's profit) -- and efficient: how much winners' profit the queue closed beyond the
shortfall it had to cover (the over-use of Chitra, 2025, arXiv 2512.01112).

Design: common random numbers. Every variant runs with the same N seeds (``--seeds N`` from
``--seed-start``); the simulator draws paths, populations and behaviour from named streams of
the seed, so for one seed only the mechanism differs between variants. Each metric gets its
mean over seeds with a percentile-bootstrap confidence interval and, against the baseline
(``--baseline``, default the first variant), the mean *paired* difference over the seeds both
completed with its bootstrap interval -- pairing removes the seed-to-seed noise of the shock
and the population, which is why few seeds suffice. A run that fails is recorded as failed
and left out of the statistics; the comparison goes on.

Usage::

    python experiments/compare_mechanisms.py                          # 7 presets, default scenario
    python experiments/compare_mechanisms.py --presets binance,okx,drift --seeds 30 --workers 2
    python experiments/compare_mechanisms.py --variant base= \\
        --variant big_fund="venues.cex.insurance_fund=3e6" --set duration=6m
    python experiments/compare_mechanisms.py --presets none \\
        --variant "bx_fund=preset=bitmex;venues.cex.insurance_fund=3e6"
    python experiments/compare_mechanisms.py --all-scenarios --seeds 5 --set duration=6m
    python experiments/compare_mechanisms.py --scenarios default,flash_crash --workers 2
    python experiments/compare_mechanisms.py --quick                  # smoke run: 2 seeds, 5 min

``--scenarios a,b,c`` repeats the whole comparison on each scenario: a built-in name
(``liqsim scenarios``), a file in ``experiments/scenarios/`` by its name, or a scenario file;
``--all-scenarios`` is the built-in default and the synthetic scenarios of
``experiments/scenarios`` (``ALL_SCENARIOS``; the historical replays need third-party data and
hours of simulated time, so they are left to ``historical_replay.py``). Each scenario gets its
own folder, ``<out>/<scenario>/`` (default ``results/compare/<scenario>/``); ``--set`` applies
to all of them, and every scenario's fields must accept it.

``--presets`` defaults to all seven unless ``--variant`` is given (then ``--presets`` adds
presets in front of the variants). In a ``--variant NAME=a;b`` item, ``preset=NAME`` applies
a preset before the overrides.

The comparison runs on the sweep engine (``simulator.sweep.compare``, as ``liqsim compare``):
the output folder is a sweep folder (``sweep.yaml``, ``manifest.json``, ``runs.parquet``,
``statistics.parquet``, ``runs/<run_key>/``), so a rerun into the same folder runs only what
is not complete, and ``liqsim report <folder>`` builds its report. This script adds the
charts and the CSV copies; it computes nothing itself.

What to look at (``results/compare/<scenario>/``): ``summary.md`` (printed at the end) --
paired differences whose interval excludes 0 are the mechanism's effect; ``figures/means`` and
``figures/paired_differences`` show the same; ``figures/adl_haircuts`` the haircut
distributions (a steep share curve = close to pro-rata; a long USD tail = a few accounts bore
most). ``runs.csv`` has every run's full summary, ``haircuts.csv`` every deleveraged account,
``compare.json`` the base scenario, variants and seeds to reproduce it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PRESETS = ("binance", "bitmex", "bybit", "okx", "hyperliquid", "dydx", "drift")
SCENARIO_DIR = ROOT / "experiments" / "scenarios"
ALL_SCENARIOS = ("default", "flash_crash", "short_squeeze", "isolated_margin")
QUESTION = ("does the liquidation mechanism change cascade depth, its cost, and how fairly and "
            "efficiently ADL shares the loss (same seeds for every variant)")
SEEDS, QUICK_SEEDS, QUICK_DURATION = 10, 2, "5m"


class UsageError(Exception):
    """A bad option: one message, exit code 2."""


def parse_variant(text: str) -> list[str]:
    """``NAME=override1;override2`` (``preset=P`` among them sets a preset) as the
    ``--variant`` items of ``variants_from_options`` (``NAME=override`` each)."""
    name, _, rest = text.partition("=")
    name = name.strip()
    if not name:
        raise UsageError(f"--variant {text!r}: expected NAME=override1;override2")
    items = [s.strip() for s in rest.split(";") if s.strip()]
    return [f"{name}={item}" for item in items] or [name]


def _presets(arg: str | None, have_variants: bool) -> list[str]:
    if arg is None:
        return [] if have_variants else list(PRESETS)
    names = [p.strip() for p in arg.split(",") if p.strip()]
    return [] if names in ([], ["none"]) else names


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenario", type=Path, help="scenario file (default: the built-in default)")
    p.add_argument("--scenarios", help="comma list of scenarios to compare on, one after the "
                   "other: built-in names, names in experiments/scenarios/, or files")
    p.add_argument("--all-scenarios", action="store_true",
                   help=f"compare on every synthetic scenario ({', '.join(ALL_SCENARIOS)})")
    p.add_argument("--presets", help=f"comma list of presets, or none (default: "
                   f"{','.join(PRESETS)} unless --variant is given)")
    p.add_argument("--variant", action="append", default=[], metavar="NAME=O1;O2",
                   help="a variant by overrides (repeatable); preset=P among them sets a preset")
    p.add_argument("--baseline", help="variant the others are paired against (default: first)")
    p.add_argument("--seeds", type=int, help=f"seeds per variant (default {SEEDS}, "
                   f"--quick {QUICK_SEEDS})")
    p.add_argument("--seed-start", type=int, default=0, help="first seed (default 0)")
    p.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    p.add_argument("--set", action="append", default=[], dest="sets", metavar="PATH=VALUE",
                   help="override on the base scenario (repeatable), e.g. duration=6m")
    p.add_argument("--duration", help="shorthand for --set duration=...")
    p.add_argument("--quick", action="store_true", help=f"smoke run: {QUICK_SEEDS} seeds and "
                   f"duration {QUICK_DURATION} unless --seeds / --duration say otherwise")
    p.add_argument("--metrics", help="comma list of metrics (default: the standard ones present)")
    p.add_argument("--confidence", type=float, default=0.95, help="interval level (0.95)")
    p.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples (2000)")
    p.add_argument("--out", type=Path, help="output folder (default results/compare/<scenario>/)")
    return p


def resolve_scenario(name: str):
    """A scenario by file path, built-in name, or name of a file in experiments/scenarios/."""
    from simulator import ScenarioError, load_scenario
    from simulator.config.scenarios import builtin_scenarios, load_builtin

    path = Path(name)
    if path.suffix in (".yaml", ".yml", ".json") or path.exists():
        return load_scenario(path)
    if name in builtin_scenarios():
        return load_builtin(name)
    if (SCENARIO_DIR / f"{name}.yaml").exists():
        return load_scenario(SCENARIO_DIR / f"{name}.yaml")
    known = sorted(set(builtin_scenarios()) | {p.stem for p in SCENARIO_DIR.glob("*.yaml")})
    raise ScenarioError(f"unknown scenario {name!r} (known: {', '.join(known)}, or a file)")


def _scenario_list(args: argparse.Namespace) -> list[str | None]:
    """The scenarios to compare on, in order; [None] (one run on --scenario or the default)
    unless --scenarios or --all-scenarios is given."""
    chosen = [args.scenarios is not None, args.all_scenarios, args.scenario is not None]
    if sum(chosen) > 1:
        raise UsageError("give only one of --scenario, --scenarios and --all-scenarios")
    if args.all_scenarios:
        return list(ALL_SCENARIOS)
    if args.scenarios is not None:
        names = list(dict.fromkeys(n.strip() for n in args.scenarios.split(",") if n.strip()))
        if not names:
            raise UsageError("--scenarios: expected a comma list of scenario names or files")
        return names
    return [None]


def _setup(args: argparse.Namespace, source: str | None = None):
    """The base scenario, the variants, the baseline and the planned runs (every scenario
    built, so validated), or a UsageError / ScenarioError. ``source``: a scenario name or
    file from --scenarios (default: --scenario, else the built-in default)."""
    from simulator import default_scenario, load_scenario
    from simulator.sweep.compare import comparison_spec, variants_from_options
    from simulator.sweep.plan import plan

    if args.seeds < 1 or args.seed_start < 0 or args.workers < 1:
        raise UsageError("--seeds and --workers must be at least 1, --seed-start at least 0")
    if source is not None:
        base = resolve_scenario(source)
    else:
        base = load_scenario(args.scenario) if args.scenario else default_scenario()
    sets = list(args.sets) + ([f"duration={args.duration}"] if args.duration else [])
    if sets:
        base = base.with_overrides(sets)
    items = [i for text in args.variant for i in parse_variant(text)]
    variants = variants_from_options(_presets(args.presets, bool(args.variant)), items)
    if not variants:
        raise UsageError("nothing to compare: give --presets or --variant")
    names = [v.name for v in variants]
    baseline = args.baseline or names[0]
    if baseline not in names:
        raise UsageError(f"--baseline {baseline!r} is not a variant ({', '.join(names)})")
    runs = plan(comparison_spec(base, variants, _seeds(args)))  # fail before running
    return base, variants, baseline, runs


def _seeds(args: argparse.Namespace) -> list[int]:
    return list(range(args.seed_start, args.seed_start + args.seeds))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.seeds is None:
        args.seeds = QUICK_SEEDS if args.quick else SEEDS
    if args.quick and args.duration is None:
        args.duration = QUICK_DURATION

    from simulator import ScenarioError

    # Every scenario is set up (and so validated) before the first run: a typo in the third
    # name should not surface after an hour of the first two.
    several = args.scenarios is not None or args.all_scenarios
    setups = []
    try:
        for source in _scenario_list(args):
            try:
                setups.append(_setup(args, source))
            except ScenarioError as exc:
                raise ScenarioError(f"{source}: {exc}" if several else str(exc)) from None
    except (UsageError, ScenarioError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    codes = []
    for setup in setups:
        if several:
            print(f"\n=== scenario {setup[0].name} ===", flush=True)
        codes.append(_compare_one(args, setup, several))
    return max(codes)


def _compare_one(args: argparse.Namespace, setup: tuple, several: bool) -> int:
    """One comparison on one scenario (``setup``: what ``_setup`` returned); its exit code.
    With ``several`` scenarios each gets its own folder under --out."""
    from simulator.sweep.compare import ADL_METRICS, DEFAULT_METRICS, compare
    from simulator.sweep.execute import resume_counts
    from simulator.sweep.stats import markdown_table, summarize

    base, variants, baseline, runs = setup
    seeds = _seeds(args)
    if several:  # one folder per scenario, under --out when given
        out = (args.out or ROOT / "results" / "compare") / base.name
    else:
        out = args.out or ROOT / "results" / "compare" / base.name
    skipped, todo = resume_counts(runs, out)
    print(f"{base.name}: {len(variants)} variants x {len(seeds)} seeds = "
          f"{len(variants) * len(seeds)} runs ({skipped} already complete, {todo} to run), "
          f"baseline {baseline}, {args.workers} worker(s)", flush=True)
    finished = 0

    def report(row: dict[str, Any], seconds: float) -> None:
        nonlocal finished
        finished += 1
        what = (f"{row.get('liquidations', 0):,} liquidations" if row["status"] == "complete"
                else f"FAILED: {row['error']}")
        print(f"[{finished}/{todo}] {row['variant']} seed {row['seed']}: {seconds:.2f} s, {what}",
              flush=True)

    t0 = time.perf_counter()
    result = compare(base, variants, seeds, workers=args.workers, on_run=report, out_dir=out)
    wall = time.perf_counter() - t0
    wanted = ([m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics
              else DEFAULT_METRICS + ADL_METRICS)
    metrics = result.metrics(wanted)
    if args.metrics and len(metrics) < len(wanted):
        print(f"note: not in the runs, ignored: {', '.join(sorted(set(wanted) - set(metrics)))}")
    summary = summarize(result.runs, metrics, baseline, confidence=args.confidence,
                        n_boot=args.n_boot)
    table = markdown_table(summary, baseline)
    _write_outputs(out, setup, seeds, metrics, args, result, summary, table, wall)
    print()
    print(table)
    failed = result.runs[result.runs["status"] != "complete"]
    if len(failed):
        print(f"{len(failed)} of {len(result.runs)} runs failed; see runs.csv (status, error)")
    print(f"results written to {out}")
    return 1 if len(failed) == len(result.runs) else 0


def _write_outputs(out, setup, seeds, metrics, args, result, summary, table, wall) -> None:
    """Beside the sweep folder the engine wrote: CSV copies, the summary with this run's
    metrics and interval level, the charts, and compare.json."""
    from simulator.charts.compare import write_charts
    from simulator.run.provenance import provenance
    from simulator.run.result import write_atomic

    base, variants, baseline, runs = setup
    scenarios = {r.variant: r.scenario for r in runs}
    write_atomic(out / "runs.csv", lambda p: result.runs.to_csv(p, index=False))
    write_atomic(out / "summary.csv", lambda p: summary.to_csv(p, index=False))
    write_atomic(out / "haircuts.csv", lambda p: result.haircuts.to_csv(p, index=False))
    text = (f"# {base.name}: mechanism comparison\n\n{len(seeds)} seeds ({seeds[0]}..{seeds[-1]}), "
            f"the same for every variant; {args.confidence:.0%} percentile-bootstrap intervals; "
            f"paired differences against {baseline}.\n\n{table}")
    write_atomic(out / "summary.md", lambda p: Path(p).write_text(text))
    write_charts(summary, result.haircuts, out / "figures", baseline,
                 [v.name for v in variants], title=base.name)
    meta = {
        "question": QUESTION,
        "base_scenario": base.to_dict(),
        "variants": [{"name": v.name, "preset": v.preset, "overrides": list(v.overrides)}
                     for v in variants],
        "variant_scenarios": {name: sc.to_dict() for name, sc in scenarios.items()},
        "seeds": seeds,
        "baseline": baseline,
        "metrics": metrics,
        "confidence": args.confidence,
        "n_boot": args.n_boot,
        "rng_seed": 0,
        "workers": args.workers,
        "runs": int(len(result.runs)),
        "skipped": result.skipped,
        "failed": int((result.runs["status"] != "complete").sum()),
        "wall_s": wall,
        **provenance(),
    }
    text_meta = json.dumps(meta, indent=2) + "\n"
    write_atomic(out / "compare.json", lambda p: Path(p).write_text(text_meta))


if __name__ == "__main__":
    sys.exit(main())
