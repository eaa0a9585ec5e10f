"""Margin: tiered maintenance formulas, the accounts' position arrays, and the risk index that
finds the accounts near a threshold without checking all of them.

Knows prices only as arrays passed in; nothing of venues, queues or liquidation.
"""
