"""Who acts on venues: trader populations, explicit accounts' behaviour, market makers,
arbitrageurs, and the clocks of liquidation engines, funding and scheduled disruptions.

Agents know the public interface of ``markets`` and nothing of the simulator assembly.
"""
