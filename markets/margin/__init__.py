"""Margin: tiered maintenance formulas, the accounts' position arrays, the risk index that
finds the accounts near a threshold without checking all of them, and breach detection that
reports which accounts are below maintenance or the margin-call level.

Knows prices only as arrays passed in; nothing of venues, the liquidation queue's order,
events or how a breach is liquidated.
"""
