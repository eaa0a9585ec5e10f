"""Charts: the house style (``style``), a run's figures (``run``), comparison figures
(``compare``) and a sweep's charts (``sweep_data`` -> ``sweep`` -> ``sweep_plan``).

Charts only read results; nothing here runs a simulation.
"""
