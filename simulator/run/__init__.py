"""One run: build the world from a scenario (``build``), wire and run its processes
(``runner``), sample it read-only (``recorder``), check invariants (``invariants``), collect the
tidy tables and summary (``collect``, ``metrics``, ``adl_fairness``, ``graphs``) into a
``RunResult`` (``result``) with its provenance.

Never imports matplotlib: charts of a run are drawn by ``simulator.charts``.
"""
