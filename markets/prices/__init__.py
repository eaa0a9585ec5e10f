"""Prices: fundamental paths (shocks, jumps, replays), Binance klines, index and mark prices.

Knows nothing of accounts, margin or liquidation.
"""
