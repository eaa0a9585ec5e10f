"""The venues as pure finance: prices, margin, liquidation, books, funds and the market graph.

Layers, lowest first (an import never runs up this order; ``tests/test_layering.py`` checks):

- loose building blocks: ``prices/`` (paths, klines, index and mark prices), ``book``,
  ``events``, ``rules``, ``insurance_fund``, ``risk_controls``, ``attribution``,
  ``market_graph``, ``counters`` (a venue's run totals), ``disruptions`` (scheduled outages),
  ``collateral`` (non-USD collateral and depegs);
- ``margin/``: margin formulas and tiers, the accounts' arrays, the risk index;
- ``venue`` (and what acts on venues: ``funding`` settles on one, ``wiring`` compiles the
  market graph into the links between venues' markets, ``arbitrage`` trades two venues'
  books, ``maker_balance`` reads a maker's balance sheet): markets, accounts and funds
  together, margin checks, the liquidation queue, order entry, the closer it was built with;
- ``liquidation/``: closing a served breach and paying for it (the venue's closer, market
  close, waterfall, settle, ADL, vault and fund takeover, keepers' auctions, sizing).

This package imports neither SimPy nor pydantic, and knows nothing of agents or the simulator:
imports point ``markets`` <- ``agents`` <- ``simulator``. Time is a number passed in. Importing
it does nothing but define things.
"""
