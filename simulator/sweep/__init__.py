"""Declarative sweeps: one sweep file -> a grid of scenario cells x variants x replications,
run resumably into a sweep folder with one table of results (``runs.parquet``)::

    from simulator.sweep import load_sweep, plan, run_sweep

    spec = load_sweep("experiments/sweeps/example.yaml")
    runs = plan(spec)                        # RunSpec per run, scenarios validated
    frame = run_sweep(spec, "results/sweeps/example", workers=4)

``spec`` knows the file format, ``plan`` the expansion and seeds, ``execute`` the running and
the folder, ``stats`` the means, intervals and paired differences. A mechanism comparison
(``compare``) is a sweep with variants and seeds and no axes, run by the same engine. Nothing
here draws charts or writes reports.
"""

from simulator.sweep.execute import run_one, run_sweep
from simulator.sweep.plan import RunSpec, plan, replication_seed, run_key
from simulator.sweep.spec import Axis, SweepSpec, Variant, load_sweep, parse_sweep

__all__ = ["Axis", "RunSpec", "SweepSpec", "Variant", "load_sweep", "parse_sweep", "plan",
           "replication_seed", "run_key", "run_one", "run_sweep"]
