"""The ``liqsim`` command line: run, validate, show, scenarios, presets, runs, report, sweep,
compare, map, risk, calibrate, audit (entry point ``simulator.cli:app``).

``common`` holds the application and what the commands share, ``summary`` the console
tables, ``checks`` the checks made before anything runs; the commands live by what they are
about: ``single`` (one run), ``browse`` (what exists), ``batch`` (sweeps and comparisons),
``maps`` (a scenario's liquidation map before it runs), ``risk`` (its risk report at t = 0),
``calibrate`` (fitting a scenario to targets), ``audit`` (one account's or event's history).
Importing the package registers every command; the import order is the order of
``liqsim --help``.
"""

# isort: off
from simulator.cli import single  # noqa: F401  (registers run, validate, show)
from simulator.cli import browse  # noqa: F401  (scenarios, presets, runs, report)
from simulator.cli import batch  # noqa: F401  (sweep, compare)
from simulator.cli import maps  # noqa: F401  (map)
from simulator.cli import risk  # noqa: F401  (risk)
from simulator.cli import calibrate  # noqa: F401  (calibrate)
from simulator.cli import audit  # noqa: F401  (audit)
# isort: on
from simulator.cli.common import app, resolve_scenario, run_id

__all__ = ["app", "resolve_scenario", "run_id"]
