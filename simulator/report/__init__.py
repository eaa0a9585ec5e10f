"""Reports: self-contained HTML pages of results and their charts (``sweep``, ``tables``).

Reports only read result folders; nothing here runs a simulation.
"""
