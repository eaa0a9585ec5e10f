"""The venues: assets, price paths, order books, index and mark prices, margin math, the
liquidation engine, insurance funds, ADL and the market graph.

This package must not know about agents or the simulator assembly: imports point
``markets`` <- ``agents`` <- ``simulator``. Importing it does nothing but define things.
"""
