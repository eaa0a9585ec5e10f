"""Who acts on venues: trader populations, explicit accounts' behaviour, market makers.

Agents know the public interface of ``markets`` and nothing of the simulator assembly.
"""
