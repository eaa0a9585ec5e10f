"""liqsim experiments: scenario files (``experiments/scenarios/``) and the benchmark script.

Nothing here is part of the installed package; experiments use ``simulator``, ``markets`` and
``agents`` like any other user would.
"""
