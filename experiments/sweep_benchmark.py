"""Throughput of the sweep machinery: N runs of the default scenario on 1 and on 2 workers.

Targets (issue: experiments at scale): 2 workers give at least 1.8x the throughput of 1, and
the sweep machinery's per-run overhead (planning, run folders, manifest, tables) is under 5%
of a run. Overhead = sweep wall time on 1 worker / sum of the runs' own ``run()`` times - 1.
Called from ``benchmark.py --sweep N``; the sweep folders go to a temporary directory.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path


def sweep_figures(runs: int, say) -> dict:
    from simulator.sweep import parse_sweep, run_sweep

    spec = parse_sweep({"name": "benchmark", "base": "default", "replications": runs,
                        "seed": 1})
    walls, run_s = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for workers in (1, 2):
            say(f"sweep: {runs} runs of the default scenario on {workers} worker(s) ...")
            out = Path(tmp) / f"w{workers}"
            t0 = time.perf_counter()
            frame = run_sweep(spec, out, workers=workers)
            walls[workers] = time.perf_counter() - t0
            if (frame["status"] != "complete").any():
                raise RuntimeError(f"sweep benchmark: runs failed on {workers} worker(s)")
            run_s[workers] = sum(
                sum(json.loads((out / "runs" / key / "run.json").read_text())["timings"][k]
                    for k in ("build_s", "simulate_s", "collect_s"))
                for key in frame["run_key"])
    speedup = walls[1] / walls[2]
    overhead = walls[1] / run_s[1] - 1.0
    return {
        "runs": runs, "wall_1_worker_s": walls[1], "wall_2_workers_s": walls[2],
        "runs_per_s_1": runs / walls[1], "runs_per_s_2": runs / walls[2],
        "speedup": speedup, "overhead_share": overhead,
        "mean_run_s": run_s[1] / runs,
        "result": "PASS" if speedup >= 1.8 and overhead < 0.05 else "FAIL",
    }
